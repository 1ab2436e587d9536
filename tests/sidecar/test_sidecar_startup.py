"""Starting the sidecar safely (issue 14 items 10 and 12): without a config it refuses to start rather
than run the demo's in-memory store and public signing key, and a port already in use is an error at
start rather than a second sidecar silently splitting the traffic (granian binds with SO_REUSEPORT)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sidecarkit import SidecarProcess, minorguard_command, write_config

from minorguard.sidecar import serve


def test_the_worker_factory_refuses_to_start_without_a_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(serve.CONFIG_ENV, raising=False)
    with pytest.raises(serve.NoConfigError, match="MINORGUARD_CONFIG is not set"):
        serve.app_from_env()


def test_a_second_sidecar_on_a_port_in_use_exits_with_a_clear_message(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")
    with SidecarProcess.running(tmp_path / "first", "--config", str(config)) as first:
        second = subprocess.run(
            [
                *minorguard_command(),
                "sidecar",
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(first.port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert second.returncode != 0
    assert f"127.0.0.1:{first.port} is in use" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
