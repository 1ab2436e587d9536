"""`--help` of every `minorguard` command: a sentence for each option, its default, and the exit
codes. The sentences live here, by command and option, so the command definitions stay short;
`document(parser)` puts them in place (a test checks that no option is left without one)."""

from __future__ import annotations

import argparse
from typing import Final

EXIT_CODES: Final = """exit status:
  0    success: the command did its work; checks and tests found no problem
  1    problems found: a policy, config or case check failed, a table case failed, an NPPA
       self-test case failed; or the sidecar could not start because its config has problems
       (listed as file:line:col)
  2    usage: bad arguments or option values, a missing extra (pip install 'minorguard[...]'),
       a file that cannot be read, a store URL option that cannot be honoured
  130  interrupted (Ctrl-C)"""

_NPPA_COMMON: Final = {
    "base_url": "'production' for NPPA's production hosts, or the base URL of a gateway or the test system.",
    "test_code": "Use the official test system's paths with this test code.",
    "app_id": "The appId NPPA gave the enterprise.",
    "biz_id": "The game's filing code (游戏备案识别码, bizId).",
    "secret_key_env": "The environment variable that holds the secret key.",
    "secret_key_file": "The file that holds the secret key (a mounted secret).",
    "api2_scheme": "The scheme of the production host api2 (query, loginout); NPPA's V1.8 documents http.",
    "timeout": "Seconds per request.",
}

HELP: Final[dict[tuple[str, str], str]] = {
    ("policy check", "files"): "Policy files (YAML) to validate.",
    ("policy explain", "policy"): "A policy file, or the name of a bundled preset.",
    ("policy week", "policy"): "A policy file, or the name of a bundled preset.",
    ("policy week", "week"): "A day of the week to show, YYYY-MM-DD; the week runs from its Monday.",
    ("policy week", "format"): "A text grid for a terminal, or a self-contained HTML page.",
    ("policy week", "lang"): "The language of the HTML page.",
    ("policy week", "output"): "Write the grid or page to this file instead of standard output.",
    ("policy info", "policy"): "A policy file, or the name of a bundled preset.",
    ("policy info", "format"): "Text for people, or JSON for tools.",
    ("calendar import", "year"): "The year of the notice, when its text lacks the title (关于YYYY年…的通知).",
    ("calendar import", "output"): "Write the override file here instead of standard output.",
    ("policy explain", "activity"): "What the person does.",
    ("policy explain", "birthdate"): "The verified birth date, YYYY-MM-DD.",
    ("policy explain", "at"): "The instant, ISO 8601; without an offset it is in the policy's time zone.",
    ("policy explain", "unverified"): "The identity is not verified (no birth date is known).",
    ("policy explain", "device"): "A guest's device id, for guest mode.",
    ("policy explain", "played"): 'Time already played today, e.g. "45m" or "1h10m".',
    ("policy explain", "guest_used"): "Time a guest device already used in its window.",
    ("policy explain", "amount"): "The amount of a purchase or tip, in whole fen.",
    ("policy explain", "month_spent"): "Fen already spent this calendar month.",
    ("policy explain", "day_tipped"): "Fen already tipped today.",
    ("policy explain", "guardian_consent"): "A scope the guardian consented to (repeatable).",
    ("policy explain", "game_id"): "The game's id, for per-game rules.",
    ("policy explain", "game_rating"): "The game's age rating, in years.",
    ("policy explain", "format"): "Print a table of text or a JSON object.",
    ("policy test", "paths"): "Case files (*.cases.yaml), or folders searched for them.",
    ("policy test", "verbose"): "List passing cases too.",
    ("demo", "host"): "The address to listen on.",
    ("demo", "port"): "The port to listen on.",
    ("demo", "start_at"): "Start the demo's clock at this instant (ISO 8601); it runs on from there.",
    ("sidecar", "config"): "The deployment config: policy, store, identity, routes, logging.",
    ("sidecar", "demo"): "Run the demo instead: in-memory store, the demo's key and routes.",
    ("sidecar", "host"): "The address to listen on (0.0.0.0 in a container).",
    ("sidecar", "port"): "The port to listen on.",
    (
        "sidecar",
        "workers",
    ): "Server processes; more than one needs a Redis store, and /metrics sums them all.",
    ("sidecar", "start_at"): "(--demo only) Start the clock at this instant (ISO 8601).",
    ("token", "sub"): "The subject id the token names.",
    ("token", "birthdate"): "The verified birth date, YYYY-MM-DD.",
    ("token", "unverified"): "Mint a token of an unverified identity.",
    ("token", "guardian_consent"): "A scope the guardian consented to (repeatable).",
    ("calendar show", "year"): "The year to list.",
    ("calendar show", "policy"): "A policy file or preset whose calendar override files are used too.",
    (
        "calendar show",
        "today",
    ): "Count the days of data left from this day, YYYY-MM-DD (the machine's today if absent).",
    ("config check", "files"): "Deployment config files (YAML).",
    **{("nppa check", k): v for k, v in _NPPA_COMMON.items()},
    **{("nppa query", k): v for k, v in _NPPA_COMMON.items()},
    **{("nppa selftest", k): v for k, v in _NPPA_COMMON.items()},
    ("nppa check", "ai"): "The game's id of this authentication (at most 32 characters).",
    ("nppa check", "name"): "The real name.",
    ("nppa check", "id_num"): "The 18-character ID number.",
    ("nppa query", "ai"): "The game's id of the authentication to look up.",
    (
        "nppa selftest",
        "test_code",
    ): "The portal's test code: once for all cases, or once per selected case in order.",
    ("nppa selftest", "case"): "Run only these cases (repeatable).",
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the exit-code table's layout; adds each option's default to its sentence."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "(default" in text or default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def document(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Put the sentences of HELP in place, in `parser` and every subcommand, and the exit codes at
    the foot of each command's help."""
    parser.formatter_class = _Formatter
    parser.epilog = EXIT_CODES
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                document(sub, f"{path} {name}".strip())
        elif (path, action.dest) in HELP:
            action.help = HELP[path, action.dest]


def undocumented(parser: argparse.ArgumentParser, path: str = "") -> list[str]:
    """Options and arguments without a sentence: `command --option` each."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += undocumented(sub, f"{path} {name}".strip())
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction) and not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing
