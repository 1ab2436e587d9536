"""The bundled presets: the YAML files of the repository's top-level `policies/` folder, shipped inside
the package as `minorguard/presets/` (one source, no copies)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PRESET_NAMES = ("law-minimum", "nppa-2019", "nppa-2021", "minor-mode-2024", "livestream-2022")


def preset_path(name: str) -> Path:
    """The file of a bundled preset. `name` must be one of PRESET_NAMES."""
    if name not in PRESET_NAMES:
        raise KeyError(name)
    root = resources.files("minorguard") / "presets"
    return Path(str(root / f"{name}.yaml"))
