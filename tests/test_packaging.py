"""The wheel as pip builds it: exactly the bundled presets and the demo's examples from policies/ (not
a company's own policy files kept there, nor cases or notes), the Lua scripts, LICENSE, and no
deprecation warning from the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from minorguard.policy.presets import PRESET_NAMES

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], str]:
    """The names in a wheel built from a copy of the repository in which policy staff left their own
    files in policies/, and the build's output."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "src",
        source / "src",
        symlinks=True,
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
    )
    shutil.copytree(REPO / "policies", source / "policies")
    (source / "policies" / "star-fleet.yaml").write_text("name: star-fleet\nextends: nppa-2021\n")
    (source / "policies" / "examples" / "star-fleet-deployment.yaml").write_text("policy: star-fleet.yaml\n")
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (built,) = out.glob("minorguard-*.whl")
    with zipfile.ZipFile(built) as archive:
        return archive.namelist(), build.stdout + build.stderr


def test_the_wheel_ships_exactly_the_presets_and_the_demo_examples(wheel: tuple[list[str], str]) -> None:
    names, _ = wheel
    presets = sorted(
        n.removeprefix("minorguard/presets/") for n in names if n.startswith("minorguard/presets/")
    )
    assert presets == sorted(
        [f"{name}.yaml" for name in PRESET_NAMES] + ["examples/demo.yaml", "examples/demo-deployment.yaml"]
    )
    assert sum(n.startswith("minorguard/adapters/lua/") for n in names) == 11
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "minorguard/py.typed" in names


def test_the_build_gives_no_deprecation_warning(wheel: tuple[list[str], str]) -> None:
    _, output = wheel
    assert "deprecat" not in output.lower(), [line for line in output.splitlines() if "eprecat" in line]
