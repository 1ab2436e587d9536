"""`minorguard guardian show|set|clear`: a child's guardian settings, for support staff, against the store
of a deployment config (the same service as the sidecar's /v1/guardian endpoints).

    minorguard guardian show  --config deployment.yaml --subject child-42
    minorguard guardian set   --config deployment.yaml --subject child-42 --by li.wei \\
        --settings '{"daily_play_minutes": {"default": 30}}'        # or --settings @settings.json
    minorguard guardian clear --config deployment.yaml --subject child-42 --by li.wei

Each change is written as one JSON line of the `minorguard.audit` log on standard error (keep it) and
counted. The answer is the settings document, as the API gives it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from minorguard.guardians import AUDIT, Actor, GuardianService, Refused
from minorguard.wiring import build_gate

EXIT_OK, EXIT_REFUSED = 0, 1
MAX_SETTINGS_BYTES = 64 * 1024


def add_guardian_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    guardian = commands.add_parser("guardian", help="a child's guardian settings (for support staff)")
    actions = guardian.add_subparsers(metavar="ACTION")
    for name, help_text in (
        ("show", "print a child's settings and what a guardian may set"),
        ("set", "replace a child's settings (audit-logged)"),
        ("clear", "forget a child's settings: the policy's values apply (audit-logged)"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--config", required=True, metavar="FILE", help="the deployment config")
        action.add_argument("--subject", required=True, metavar="ID", help="the child's subject id")
        if name != "show":
            action.add_argument("--by", metavar="NAME", help="who makes the change (default: your login)")
        if name == "set":
            action.add_argument(
                "--settings",
                required=True,
                metavar="JSON",
                help="the settings as JSON, or @FILE holding them",
            )
        action.set_defaults(run=run_guardian, action=name)


def run_guardian(args: argparse.Namespace) -> int:
    body = _settings(args.settings) if args.action == "set" else b""
    by = getattr(args, "by", None) or _login()
    with _audit_to_stderr():
        answer = asyncio.run(_run(args.config, args.action, args.subject, body, Actor.cli(by)))
    if isinstance(answer, Refused):
        print(f"minorguard: {answer.title}: {answer.detail}", file=sys.stderr)
        for error in answer.errors:
            bound = f" (bound {error['bound']})" if "bound" in error else ""
            print(f"  {error['field']}: {error['message']}{bound}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return EXIT_OK


async def _run(config: str, action: str, subject: str, body: bytes, actor: Actor) -> dict[str, Any] | Refused:
    gate = build_gate(config)
    service = GuardianService(gate.engine, metrics=gate.metrics)
    try:
        if action == "show":
            return await service.show(subject)
        if action == "clear":
            return await service.clear(subject, actor)
        return await service.replace(subject, body, actor)
    finally:
        await gate.store.close()


def _settings(value: str) -> bytes:
    """The settings text: given outright, or read from @FILE (at most 64 KiB)."""
    if not value.startswith("@"):
        return value.encode()
    path = Path(value[1:])
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SETTINGS_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_SETTINGS_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SETTINGS_BYTES} bytes")
    return data


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextlib.contextmanager
def _audit_to_stderr() -> Iterator[None]:
    """The audit line of a change goes to standard error, as JSON, while the command runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = AUDIT.level
    AUDIT.addHandler(handler)
    AUDIT.setLevel(logging.INFO)
    try:
        yield
    finally:
        AUDIT.removeHandler(handler)
        AUDIT.setLevel(level)
