"""`minorguard nppa …`: call NPPA's real-name interfaces from a shell, and run its 8 official test cases.

    minorguard nppa check --app-id ID --biz-id ID --secret-key-env VAR --ai AI --name NAME --id-num ID
    minorguard nppa query --app-id ID --biz-id ID --secret-key-env VAR --ai AI
    minorguard nppa selftest --test-code CODE --app-id ID --biz-id ID --secret-key-env VAR

`--base-url` defaults to NPPA production for check/query and to the official test system for selftest;
with `--test-code`, check and query use the test system's paths. The secret key is read from an
environment variable (`--secret-key-env`) or a file (`--secret-key-file`), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

# httpx and cryptography are imported when a command runs, not when `minorguard` builds its parser.
if TYPE_CHECKING:
    import httpx

    from minorguard.adapters.nppa.client import NppaClient
    from minorguard.adapters.nppa.crypto import SecretKey
    from minorguard.adapters.nppa.models import Endpoints
    from minorguard.adapters.nppa.ratelimit import RateLimiter

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PRODUCTION = "production"
TEST_SYSTEM = "https://wlc.nppa.gov.cn"  # the official test system (also models.TEST_SYSTEM)
CASES = range(1, 9)


def add_nppa_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `check`, `query` and `selftest` on the subparsers of a `nppa` command."""
    check = subparsers.add_parser(
        "check", help="real-name authentication of one person (prints status and pi)"
    )
    _common(check, default_base=PRODUCTION)
    check.add_argument("--ai", required=True, help="the game's id of this authentication (≤ 32 characters)")
    check.add_argument("--name", required=True, help="the real name")
    check.add_argument("--id-num", required=True, metavar="ID", help="the 18-character ID number")
    check.set_defaults(run=_check)

    query = subparsers.add_parser("query", help="the result of an earlier check (pending results: 48 h)")
    _common(query, default_base=PRODUCTION)
    query.add_argument("--ai", required=True)
    query.set_defaults(run=_query)

    selftest = subparsers.add_parser("selftest", help="run NPPA's 8 official test cases; PASS/FAIL each")
    _common(selftest, default_base=TEST_SYSTEM, test_code_help="the portal's test code: once for all "
            "cases, or once per selected case in order")  # fmt: skip
    selftest.add_argument(
        "--case", type=int, action="append", choices=sorted(CASES), help="run only these cases (repeatable)"
    )
    selftest.set_defaults(run=_selftest)


def _common(parser: argparse.ArgumentParser, *, default_base: str, test_code_help: str = "") -> None:
    parser.add_argument(
        "--base-url",
        default=default_base,
        help=f"'{PRODUCTION}' (NPPA's production hosts) or a base URL (default: {default_base})",
    )
    parser.add_argument(
        "--test-code",
        action="append",
        required=bool(test_code_help),
        help=test_code_help or "use the official test system's paths with this test code",
    )
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--biz-id", required=True, help="the game's 游戏备案识别码")
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--secret-key-env", metavar="VAR", help="environment variable holding the secret key")
    key.add_argument(
        "--secret-key-file", metavar="PATH", help="file holding the secret key (a mounted secret)"
    )
    parser.add_argument(
        "--api2-scheme",
        choices=["https", "http"],
        default="https",
        help="scheme of the production host api2 (query, loginout); V1.8 documents http (default https)",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")


def _key(args: argparse.Namespace) -> SecretKey:
    from minorguard.adapters.nppa.crypto import SecretKey  # noqa: PLC0415  (optional dependencies)

    if args.secret_key_env:
        return SecretKey.from_env(args.secret_key_env)
    return SecretKey.from_file(args.secret_key_file)


def _endpoints(args: argparse.Namespace, test_code: str | None) -> Endpoints:
    from minorguard.adapters.nppa.models import Endpoints  # noqa: PLC0415  (optional dependencies)

    base = None if args.base_url == PRODUCTION else args.base_url
    return Endpoints.choose(base, test_code, api2_scheme=args.api2_scheme)


def _client(
    args: argparse.Namespace,
    endpoints: Endpoints,
    http: httpx.AsyncClient,
    limiter: RateLimiter,
    key: SecretKey | None = None,
) -> NppaClient:
    from minorguard.adapters.nppa.client import NppaClient  # noqa: PLC0415  (optional dependencies)

    secret_key = key if key is not None else _key(args)
    return NppaClient(
        endpoints, app_id=args.app_id, biz_id=args.biz_id, secret_key=secret_key, http=http, limiter=limiter
    )


def _one_code(args: argparse.Namespace) -> str | None:
    codes: list[str] = args.test_code or []
    if len(codes) > 1:
        raise ValueError("check and query take one --test-code")
    return codes[0] if codes else None


async def _call(args: argparse.Namespace, what: str) -> int:
    import httpx  # noqa: PLC0415  (optional dependencies)

    from minorguard.adapters.nppa.codes import NppaError  # noqa: PLC0415  (optional dependencies)
    from minorguard.adapters.nppa.ratelimit import RateLimiter  # noqa: PLC0415  (optional dependencies)

    endpoints = _endpoints(args, _one_code(args))
    async with httpx.AsyncClient(timeout=args.timeout) as http:
        client = _client(args, endpoints, http, RateLimiter())
        try:
            if what == "check":
                result = await client.check(args.ai, args.name, args.id_num)
            else:
                result = await client.query(args.ai)
        except NppaError as exc:
            print(f"minorguard nppa {what}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(json.dumps({"ai": args.ai, **result.as_dict()}, ensure_ascii=False))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    return asyncio.run(_call(args, "check"))


def _query(args: argparse.Namespace) -> int:
    return asyncio.run(_call(args, "query"))


def _selftest(args: argparse.Namespace) -> int:
    import httpx  # noqa: PLC0415  (optional dependencies)

    from minorguard.adapters.nppa.ratelimit import RateLimiter  # noqa: PLC0415  (optional dependencies)
    from minorguard.adapters.nppa.selftest import run_selftest  # noqa: PLC0415  (optional dependencies)

    cases: list[int] = sorted(set(args.case or CASES))
    codes: list[str] = args.test_code
    if len(codes) not in (1, len(cases)):
        raise ValueError(f"give one --test-code for all cases or one per case ({len(cases)})")
    code_for = {n: codes[0] if len(codes) == 1 else codes[i] for i, n in enumerate(cases)}
    endpoints = {n: _endpoints(args, code_for[n]) for n in cases}
    key = _key(args)  # read once: a missing variable fails before any request

    async def run() -> int:
        limiter = RateLimiter()
        async with httpx.AsyncClient(timeout=args.timeout) as http:

            def client_for(n: int) -> NppaClient:
                return _client(args, endpoints[n], http, limiter, key)

            results = await run_selftest(client_for, cases)
        for result in results:
            print(result.line())
        failed = sum(not r.passed for r in results)
        print(f"{len(results) - failed}/{len(results)} cases passed")
        return EXIT_FAILED if failed else EXIT_OK

    return asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m minorguard.nppa_cli …` (the same commands before they are mounted under minorguard)."""
    parser = argparse.ArgumentParser(prog="minorguard nppa", description=__doc__.splitlines()[0])
    add_nppa_commands(parser.add_subparsers(metavar="COMMAND"))
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except ValueError as exc:
        print(f"minorguard nppa: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
