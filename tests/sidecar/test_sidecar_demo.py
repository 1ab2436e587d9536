"""`minorguard sidecar --demo` tried as a new user would: start it, copy the tour it prints (the token
exports and the curl commands) into a shell, and see each command do what its title says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sidecarkit import SidecarProcess, write_config

START_AT = "2026-11-20T20:50:00+08:00"  # a Friday, ten minutes before a minor's window closes


def tour(stdout: str) -> tuple[list[str], dict[str, str]]:
    """The export lines, and each command by its title (the `# ...` line above it)."""
    exports = re.findall(r"^export TOKEN_\w+=\S+$", stdout, re.MULTILINE)
    commands = dict(re.findall(r"^# (.+)\n(curl .+)$", stdout, re.MULTILINE))
    return exports, commands


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict[str, str]]]:
    assert shutil.which("curl"), "the tour's commands use curl"
    folder = tmp_path_factory.mktemp("sidecar-demo")
    with SidecarProcess.running(folder, "--demo", "--start-at", START_AT) as process:
        exports, commands = tour(process.stdout)
        assert len(exports) == 6, process.stdout
        results = {title: run(exports, command) for title, command in commands.items()}
        yield exports, results


def run(exports: list[str], command: str) -> str:
    script = "\n".join([*exports, command])
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def status_and_body(output: str) -> tuple[int, dict[str, str], str]:
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def find(results: dict[str, str], words: str) -> str:
    found = [output for title, output in results.items() if words in title]
    assert len(found) == 1, (words, list(results))
    return found[0]


def test_the_tour_prints_tokens_and_a_command_for_each_front_door(
    demo: tuple[list[str], dict[str, str]],
) -> None:
    _, results = demo
    titles = " | ".join(results)
    for door in ("decision API", "nginx", "Traefik", "Envoy", "policy", "metrics"):
        assert door in titles


def test_the_decision_api_lines(demo: tuple[list[str], dict[str, str]]) -> None:
    _, results = demo
    single = json.loads(find(results, "top up"))
    assert (single["outcome"], single["reason"]) == ("deny", "purchase_single_cap")
    routed = json.loads(find(results, "classified by the routes"))
    assert (routed["outcome"], routed["activity"]) == ("allow", "game")
    assert routed["remaining_seconds"] <= 600
    assert "play_time_low" in routed["warnings"]


def test_the_nginx_line_allows_the_teen_in_the_window(demo: tuple[list[str], dict[str, str]]) -> None:
    status, headers, _ = status_and_body(find(demo[1], "nginx"))
    assert status == 200
    assert headers["x-minorguard-decision"] == "allow"
    assert headers["x-minorguard-band"] == "age_8_15"


def test_the_traefik_line_shows_a_deny_body_reaching_the_client(
    demo: tuple[list[str], dict[str, str]],
) -> None:
    """The tour's Traefik line (a 15-year-old registering as a publisher) shows a deny whose status and
    problem+json body reach the client verbatim. (It once used a tip, whose amount is in the JSON body
    that ForwardAuth does not forward, and got a 400 instead.)"""
    status, headers, body = status_and_body(find(demo[1], "Traefik"))
    assert status == 403, body
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["reason"] == "publisher_under_min_age"


def test_the_envoy_policy_and_metrics_lines(demo: tuple[list[str], dict[str, str]]) -> None:
    _, results = demo
    status, headers, _ = status_and_body(find(results, "Envoy"))
    assert (status, headers["x-minorguard-band"]) == (200, "adult")
    assert '"name": "demo"' in find(results, "policy in force")
    metrics = find(results, "metrics")
    assert re.search(
        r'^minorguard_decisions_total\{activity="purchase",outcome="deny"', metrics, re.MULTILINE
    )


def test_workers_with_the_demo_are_refused(tmp_path: Path) -> None:
    """--demo counts in memory: more than one worker would count per process."""
    process = SidecarProcess(tmp_path, "--demo", "--workers", "2")
    done = subprocess.run(process.args, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "one worker" in done.stderr


def test_a_broken_config_is_reported_as_file_line_col_before_serving(tmp_path: Path) -> None:
    config = write_config(tmp_path, routes=[{"method": "POST", "path": "/shop", "activity": "purchase"}])
    config.write_text(config.read_text().replace('"store": "memory://"', '"store": "memory://", "colour": 1'))
    process = SidecarProcess(tmp_path, "--config", str(config))
    done = subprocess.run(process.args, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert re.search(r"deployment\.yaml:\d+:\d+ +routes\[0\]", done.stderr), done.stderr
    assert re.search(r"deployment\.yaml:\d+:\d+ +colour", done.stderr), done.stderr


def test_several_workers_on_the_memory_store_are_refused(tmp_path: Path) -> None:
    process = SidecarProcess(tmp_path, "--config", str(write_config(tmp_path)), "--workers", "2")
    done = subprocess.run(process.args, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "shared store" in done.stderr


def test_the_guardian_lines_show_a_stricter_limit_acting_and_a_loosening_refused(
    demo: tuple[list[str], dict[str, str]],
) -> None:
    """The tour's guardian persona lowers the single cap to ¥10, the 15-year-old's ¥20 is then refused
    as guardian_limit, a loosening to 600 minutes is a 422, and the settings are cleared."""
    _, results = demo
    lowered = json.loads(find(results, "lowers the cap of one top-up"))
    assert lowered["settings"] == {"purchase_caps": {"single": 1000}}
    status, headers, body = status_and_body(find(results, "next ¥20 top-up"))
    assert (status, headers["minorguard-reason"], headers["minorguard-rule"]) == (
        403,
        "guardian_limit",
        "guardian.purchase",
    ), body
    refused = json.loads(find(results, "may not loosen"))
    assert (refused["status"], refused["errors"][0]["bound"]) == (422, 60)
    assert json.loads(find(results, "clears the settings"))["cleared"] is True


def test_the_amount_header_line_is_judged_by_its_amount(demo: tuple[list[str], dict[str, str]]) -> None:
    """The sidecar demo's routes take amounts from X-Amount-Fen, as proxies (which forward no body)
    need: the 15-year-old's ¥50.01 is over the single cap, not an invalid request."""
    status, headers, body = status_and_body(find(demo[1], "X-Amount-Fen"))
    assert status == 403, body
    assert headers["minorguard-reason"] == "purchase_single_cap"


def test_the_example_configs_in_policies_are_the_shipped_ones() -> None:
    """policies/examples (what a reader of the repository sees) and the package's copies (what
    `minorguard demo` and `minorguard sidecar --demo` run) are the same files."""
    shipped = Path(__file__).resolve().parents[2] / "src" / "minorguard" / "presets" / "examples"
    shown = shipped.parents[3] / "policies" / "examples"
    names = sorted(p.name for p in shipped.glob("*.yaml"))
    assert names == sorted(p.name for p in shown.glob("*.yaml"))
    assert "sidecar-demo-deployment.yaml" in names
    for name in names:
        assert (shipped / name).read_text() == (shown / name).read_text(), name
