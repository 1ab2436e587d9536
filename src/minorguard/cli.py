"""The `minorguard` command line: check, explain and test policies and deployment configs; run the demo
and the sidecar; show the holiday calendar."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from minorguard import version_line
from minorguard.adapters.calendars import StatutoryCalendar
from minorguard.calendar_import import import_notice, summary, write_output
from minorguard.clihelp import document
from minorguard.configcli import add_config_commands
from minorguard.errors import MinorguardError, PolicyError
from minorguard.explain import compile_policy, decision_json, guardian_settings, run_cases
from minorguard.guardiancli import add_guardian_commands
from minorguard.nppa_cli import add_nppa_commands
from minorguard.policy.cases import load_cases, parse_at, parse_duration
from minorguard.policy.jsonschema import policy_json_schema
from minorguard.policy.loader import load_policy
from minorguard.policy.presets import PRESET_NAMES
from minorguard.policy.schema import MissingCalendarData
from minorguard.policyinfo import acknowledgement_lines, guardian_lines, info_lines, policy_info
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.evaluate import KnownUsage, explain
from minorguard.types import Activity, Facts, Subject
from minorguard.weekpage import LANGUAGES, render_week_html, render_week_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130  # clihelp.EXIT_CODES
EXIT_PIPE = 141  # what a shell reports for a filter ended by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is caught below
    except BrokenPipeError:  # the reader (head, less) stopped reading: no traceback, like any filter
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    except (MinorguardError, ValueError) as exc:
        print(f"minorguard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minorguard", description=__doc__)
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(metavar="COMMAND")
    policy = commands.add_parser("policy", help="check, explain and test policy files").add_subparsers(
        metavar="ACTION"
    )

    check = policy.add_parser("check", help="validate policy files; list every problem")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(run=_check)

    _explain_parser(policy)

    test = policy.add_parser("test", help="run table cases (*.cases.yaml)")
    test.add_argument("paths", nargs="+", metavar="PATH")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    test.set_defaults(run=_test)

    schema = policy.add_parser("schema", help="print the JSON Schema of policy files")
    schema.set_defaults(run=_schema)

    _staff_commands(policy)

    _service_commands(commands)
    nppa = commands.add_parser("nppa", help="the NPPA real-name system: check, query, selftest")
    add_nppa_commands(nppa.add_subparsers(metavar="ACTION"))
    calendar = commands.add_parser("calendar", help="the holiday calendar").add_subparsers(metavar="ACTION")
    show = calendar.add_parser("show", help="day types of a year and the days of data left")
    show.add_argument("--year", type=int, required=True)
    show.add_argument("--policy", metavar="FILE_OR_PRESET", help="use its calendar override files")
    show.add_argument("--today", metavar="YYYY-MM-DD", help="count data left from this day (default: today)")
    show.set_defaults(run=_calendar_show)
    notice = calendar.add_parser("import", help="the State Council's holiday notice into an override file")
    notice.add_argument("notice", metavar="NOTICE.txt", help="the notice's text, as published (UTF-8)")
    notice.add_argument("--year", type=int, help="when the text lacks its title (关于YYYY年…的通知)")
    notice.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    notice.set_defaults(run=_calendar_import)
    add_config_commands(commands)
    add_guardian_commands(commands)
    document(parser)
    return parser


def _explain_parser(policy: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = policy.add_parser("explain", help="the decision for one person, activity and instant")
    explain.add_argument(
        "--policy", required=True, metavar="FILE_OR_PRESET", help=f"a file or {PRESET_NAMES}"
    )
    explain.add_argument("--activity", required=True, choices=[a.value for a in Activity])
    explain.add_argument("--birthdate", metavar="YYYY-MM-DD", help="the verified birth date")
    explain.add_argument("--at", required=True, metavar="ISO8601", help="no offset: the policy's time zone")
    explain.add_argument("--unverified", action="store_true", help="the identity is not verified")
    explain.add_argument("--device", help="a guest's device id (guest mode)")
    explain.add_argument("--played", default="0", metavar="DURATION", help='played today, e.g. "45m"')
    explain.add_argument("--guest-used", default="0", metavar="DURATION")
    explain.add_argument("--amount", type=int, metavar="FEN")
    explain.add_argument("--month-spent", type=int, default=0, metavar="FEN")
    explain.add_argument("--day-tipped", type=int, default=0, metavar="FEN")
    explain.add_argument("--day-spent", type=int, default=0, metavar="FEN", help="purchases today")
    explain.add_argument(
        "--continuous", default="0", metavar="DURATION", help='played without a break, e.g. "35m"'
    )
    explain.add_argument("--guardian", metavar="JSON", help="the child's guardian settings, as JSON or @FILE")
    explain.add_argument("--guardian-consent", action="append", default=[], metavar="SCOPE")
    explain.add_argument("--game-id")
    explain.add_argument("--game-rating", type=int, metavar="AGE")
    explain.add_argument("--format", choices=["text", "json"], default="text")
    explain.set_defaults(run=_explain)


def _staff_commands(policy: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    week = policy.add_parser("week", help="a picture of the week: days x hours per age band")
    week.add_argument("--policy", required=True, metavar="FILE_OR_PRESET")
    week.add_argument("--week", metavar="YYYY-MM-DD", help="a day of the week to show (default: this week)")
    week.add_argument("--format", choices=["text", "html"], default="text")
    week.add_argument("--lang", choices=LANGUAGES, default="zh-CN", help="of the HTML page")
    week.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    week.set_defaults(run=_week)

    info = policy.add_parser("info", help="where a policy comes from, its floor, calendar and exceptions")
    info.add_argument("policy", metavar="FILE_OR_PRESET")
    info.add_argument("--format", choices=["text", "json"], default="text")
    info.set_defaults(run=_info)


def _service_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run a demo game and streaming backend with the middleware")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--start-at", metavar="ISO8601", help="start the demo clock at this instant")
    demo.set_defaults(run=_demo)

    sidecar = commands.add_parser("sidecar", help="run the decision service for proxies and any backend")
    source = sidecar.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", metavar="FILE", help="the deployment config (policy, store, identity, routes)"
    )
    source.add_argument("--demo", action="store_true", help="the demo: in-memory store, demo key and routes")
    sidecar.add_argument("--host", default="127.0.0.1")
    sidecar.add_argument("--port", type=int, default=8080)
    sidecar.add_argument("--workers", type=int, default=1, help="server processes (needs a Redis store)")
    sidecar.add_argument(
        "--grpc-port", type=int, metavar="PORT", help="also serve Envoy ext_authz over gRPC on this port"
    )
    sidecar.add_argument("--start-at", metavar="ISO8601", help="(demo) start the clock at this instant")
    sidecar.set_defaults(run=_sidecar)

    token = commands.add_parser("token", help="print a token the demo accepts")
    token.add_argument("--sub", required=True, metavar="ID")
    token.add_argument("--birthdate", metavar="YYYY-MM-DD")
    token.add_argument("--unverified", action="store_true")
    token.add_argument("--guardian-consent", action="append", default=[], metavar="SCOPE")
    token.set_defaults(run=_token)


def _check(args: argparse.Namespace) -> int:
    failed = 0
    for file in args.files:
        try:
            policy = load_policy(file)
            StatutoryCalendar(policy.calendar_files)  # its override files must be valid too
        except PolicyError as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        print(f"ok  {file}  {policy.name} (revision {policy.revision})")
        print(*acknowledgement_lines(policy), sep="\n", end="\n" if policy.acknowledged else "")
        print(*guardian_lines(policy), sep="\n")
    return EXIT_FAILED if failed else EXIT_OK


def _week(args: argparse.Namespace) -> int:
    cp = compile_policy(args.policy)
    day = dt.date.fromisoformat(args.week) if args.week else dt.datetime.now(cp.zone).date()
    monday = day - dt.timedelta(days=day.weekday())
    page = render_week_html(cp, monday, args.lang) if args.format == "html" else render_week_text(cp, monday)
    if args.output is None:
        sys.stdout.write(page)
    else:
        Path(args.output).write_text(page, encoding="utf-8")
    return EXIT_OK


def _info(args: argparse.Namespace) -> int:
    info = policy_info(load_policy(args.policy), dt.date.today())
    if args.format == "json":
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        print("\n".join(info_lines(info)))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    cp = compile_policy(args.policy)
    at = parse_at(args.at, cp.zone)
    if args.birthdate is None and not args.unverified:
        raise ValueError("give --birthdate YYYY-MM-DD, or --unverified")
    birthdate = None if args.unverified else dt.date.fromisoformat(args.birthdate)
    subject = Subject(
        "explain", birthdate, not args.unverified, frozenset(args.guardian_consent), args.device
    )
    activity = Activity(args.activity)
    if activity in (Activity.PURCHASE, Activity.LIVESTREAM_TIP) and args.amount is None:
        raise ValueError(f"{activity.value} needs --amount FEN")
    facts = Facts(activity, args.amount, args.game_id, args.game_rating)
    usage = KnownUsage(
        parse_duration(args.played),
        args.month_spent,
        args.day_tipped,
        parse_duration(args.guest_used),
        parse_duration(args.continuous),
        args.day_spent,
    )
    guardian = None if args.guardian is None else guardian_settings(cp, _text_or_file(args.guardian), at)
    result = decision_json(cp, explain(cp, subject, facts, at, usage, guardian), at, subject, guardian)
    if args.format == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_decision(result)
    return EXIT_OK


def _text_or_file(value: str) -> bytes:
    """JSON given outright, or read from @FILE."""
    if not value.startswith("@"):
        return value.encode()
    try:
        return Path(value[1:]).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {value[1:]}: {exc.strerror}") from None


def _print_decision(result: dict[str, object]) -> None:
    rows = [
        ("policy", f"{result['policy']} (revision {result['revision']})"),
        (
            "at",
            f"{result['at']} ({_weekday(str(result['at']))}, {result['day_type']}{_calendar_note(result)})",
        ),
        ("person", f"{result['band']}" + (f", age {result['age']}" if result["age"] is not None else "")),
        ("outcome", str(result["outcome"]).upper()),
        ("reason", f"{result['reason']}" + (f" — {result['detail']}" if result["detail"] else "")),
    ]
    for key in ("rule", "legal_basis", "allowed_again_at", "remaining_seconds", "remaining_budget_fen"):
        if result.get(key) is not None:
            rows.append((key.replace("_", " "), str(result[key])))
    if result.get("guardian") is not None:
        rows.append(("guardian settings", json.dumps(result["guardian"], ensure_ascii=False)))
    rows += [("warning", str(w["message"])) for w in result["warnings"]]  # type: ignore[attr-defined]
    rows += [("report-only", f"{f['reason']} ({f['rule']})") for f in result["report_only"]]  # type: ignore[attr-defined]
    for key, value in rows:
        print(f"{key:<22}{value}")


def _calendar_note(result: dict[str, object]) -> str:
    if result["calendar_known"]:
        return ""
    return ", provisional calendar" if result["calendar_provisional"] else ", no calendar data"


def _weekday(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).strftime("%A")


def _test(args: argparse.Namespace) -> int:
    files = sorted(
        {f for p in map(Path, args.paths) for f in ([p] if p.is_file() else p.rglob("*.cases.yaml"))}
    )
    if not files:
        raise ValueError(f"no *.cases.yaml files under {' '.join(args.paths)}")
    cache: dict[str, CompiledPolicy] = {}
    passed = failed = 0
    for file in files:
        for result in run_cases(load_cases(file), cache):
            if result.failures:
                failed += 1
                print(f"FAIL {result.file}:{result.line}  {result.name}")
                for failure in result.failures:
                    print(f"       {failure}")
            else:
                passed += 1
                if args.verbose:
                    print(f"ok   {result.file}:{result.line}  {result.name}")
    print(f"{passed} passed, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(policy_json_schema(), ensure_ascii=False, indent=2))
    return EXIT_OK


def _calendar_show(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy) if args.policy else None
    files = policy.calendar_files if policy else ()
    provisional = policy is None or policy.spec.calendar.missing_data is MissingCalendarData.PROVISIONAL
    calendar = StatutoryCalendar(files, provisional=provisional)
    today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    day, unknown = dt.date(args.year, 1, 1), 0
    while day.year == args.year:
        info = calendar.day_info(day)
        unknown += not info.known
        if info.day_type.value in ("holiday", "makeup_workday"):
            note = " statutory" if info.statutory else ""
            name = f" {info.name}" if info.name else ""
            flag = "" if info.known else " (provisional)"
            print(f"{day.isoformat()} {day.strftime('%a')}  {info.day_type.value}{note}{name}{flag}")
        day += dt.timedelta(days=1)
    if unknown and provisional:
        print(
            f"no official holiday data for {args.year}: its statutory days are provisional (the decree and "
            "the lunar calendar), other days are judged by their weekday; when the State Council's notice "
            "appears, import it: minorguard calendar import (see docs/calendar.md)"
        )
    elif unknown:
        print(
            f"no holiday data for {unknown} days of {args.year}: they are judged by their weekday "
            "(add an override file: see policies/README.md)"
        )
    print(
        f"data covers {calendar.first_covered_date} .. {calendar.last_covered_date}; "
        f"{calendar.days_of_data_left(today)} days of data left from {today}"
    )
    return EXIT_OK


def _calendar_import(args: argparse.Namespace) -> int:
    rendered, schedule = import_notice(Path(args.notice), args.year)
    write_output(rendered, args.output)
    print("\n".join(summary(schedule, dt.date.today())), file=sys.stderr)
    return EXIT_OK


def _web() -> None:
    try:
        import starlette  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError:
        raise ValueError("this command needs the web extra: pip install 'minorguard[web]'") from None


def _demo(args: argparse.Namespace) -> int:
    _web()
    import uvicorn  # noqa: PLC0415  (optional dependency)

    from minorguard.clocks import offset_clock  # noqa: PLC0415
    from minorguard.demo import build_demo_app, print_tour  # noqa: PLC0415

    start = parse_at(args.start_at, dt.timezone(dt.timedelta(hours=8))) if args.start_at else None
    clock = offset_clock(start)
    app = build_demo_app(clock=clock)
    print_tour(f"http://{args.host}:{args.port}", clock())
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


def _sidecar(args: argparse.Namespace) -> int:
    _web()
    from minorguard.deployment import load_deployment  # noqa: PLC0415
    from minorguard.sidecar.serve import serve  # noqa: PLC0415  (optional dependency)

    if args.config is not None:
        store = load_deployment(args.config).settings.store
        if args.workers > 1 and store.startswith("memory"):
            raise ValueError("several workers need a shared store: memory:// counts per process (use Redis)")
    elif args.workers != 1:
        raise ValueError("--demo keeps its counters in memory: it runs one worker")
    if args.grpc_port is not None and not 0 < args.grpc_port < 65536:
        raise ValueError(f"--grpc-port must be a port number (1-65535), not {args.grpc_port}")
    start = parse_at(args.start_at, dt.timezone(dt.timedelta(hours=8))) if args.start_at else None
    config = args.config
    if args.demo:
        from minorguard.demo import print_tour, sidecar_demo_config  # noqa: PLC0415

        config = str(sidecar_demo_config())
        print_tour(
            f"http://{args.host}:{args.port}",
            time.time() if start is None else start.timestamp(),
            sidecar=True,
        )
    serve(
        config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        start_at=start,
        grpc_port=args.grpc_port,
    )
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    _web()
    from minorguard.demo import demo_token  # noqa: PLC0415  (optional dependency)

    if args.birthdate is None and not args.unverified:
        raise ValueError("give --birthdate YYYY-MM-DD, or --unverified")
    birthdate = dt.date.fromisoformat(args.birthdate) if args.birthdate else None
    print(demo_token(args.sub, birthdate, verified=not args.unverified, consent=tuple(args.guardian_consent)))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
