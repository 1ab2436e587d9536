"""`minorguard config check FILE...`: every problem of deployment configs at once, as
`file:line:col  path  message` (the policy a config names included), before a sidecar or a deploy
meets them one per start. Connects to nothing: the store is checked as far as its URL goes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minorguard.deployment import check_deployment
from minorguard.errors import MinorguardError, PolicyError, Problem
from minorguard.policy.presets import PRESET_NAMES

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_config_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="check deployment configs (the sidecar's --config)")
    actions = config.add_subparsers(metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="list every problem of deployment configs, with file:line:col",
        description="Validate deployment configs and the policies they name; list every problem at once. "
        "Exit status 0: no problem; 1: problems were found.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="deployment config files (YAML).")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    failed = 0
    for file in args.files:
        problems, summary = config_problems(file)
        if problems:
            failed += 1
            print(PolicyError(problems), file=sys.stderr)
        else:
            print(f"ok  {file}  {summary}")
    return EXIT_PROBLEMS if failed else EXIT_OK


def config_problems(file: str) -> tuple[list[Problem], str]:
    """The config's problems and, when it has none, a one-line summary of what it runs."""
    loaded, problems = check_deployment(file)
    if loaded is None:
        return problems, ""
    from minorguard.explain import compile_policy  # noqa: PLC0415  (the rules load only now)

    source = loaded.policy_source
    if isinstance(source, Path) and not source.is_file():
        presets = ", ".join(PRESET_NAMES)
        message = f"no file {source.name} beside this config, and no preset of that name ({presets})"
        return [*problems, loaded.problem("policy", message)], ""
    try:
        compiled = compile_policy(loaded.policy_source)
    except PolicyError as exc:
        return [*problems, *exc.problems], ""
    except (MinorguardError, ValueError, OSError) as exc:
        return [*problems, loaded.problem("policy", str(exc))], ""
    if problems:
        return problems, ""
    settings = loaded.settings
    scheme = settings.store.partition("://")[0]
    policy = compiled.policy
    return (
        [],
        f"policy {policy.name} (revision {policy.revision}), store {scheme}://, "
        f"{len(settings.routes)} routes",
    )
