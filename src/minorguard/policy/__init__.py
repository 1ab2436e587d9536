"""The policy file format: strict schema, YAML 1.2 loading with file:line:col problems, bundled presets."""

from __future__ import annotations

from minorguard.policy.loader import Policy, load_policy
from minorguard.policy.presets import PRESET_NAMES

__all__ = ["PRESET_NAMES", "Policy", "load_policy"]
