"""The JSON Schema editors use (policies/policy.schema.json) is the one the models generate."""

from __future__ import annotations

import json
from pathlib import Path

from minorguard.policy.jsonschema import policy_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "policies" / "policy.schema.json"


def test_the_schema_file_matches_the_policy_models() -> None:
    """policies/policy.schema.json equals policy_json_schema(); when it does not, say how to regenerate."""
    on_disk = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert on_disk == policy_json_schema(), (
        "policies/policy.schema.json is out of date with the policy models; regenerate it with:\n"
        "    minorguard policy schema > policies/policy.schema.json"
    )
