"""The JSON Schema editors use (policies/policy.schema.json) is the one the models generate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from minorguard.policy.jsonschema import policy_json_schema
from minorguard.policy.loader import load_policy

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "policies" / "policy.schema.json"


def test_the_schema_file_matches_the_policy_models() -> None:
    """policies/policy.schema.json equals policy_json_schema(); when it does not, say how to regenerate."""
    on_disk = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert on_disk == policy_json_schema(), (
        "policies/policy.schema.json is out of date with the policy models; regenerate it with:\n"
        "    minorguard policy schema > policies/policy.schema.json"
    )


PARTIAL_FILES = [
    "name: shop\nextends: nppa-2021\npurchase:\n  caps:\n    age_16_17: {monthly: 30000}\n",
    'name: shop\nextends: nppa-2019\ngame:\n  guest: {mode: "off"}\n  play_time:\n'
    "    daily_minutes:\n      age_8_15: {holiday: 60}\n",
]


@pytest.mark.parametrize("text", PARTIAL_FILES)
def test_a_file_that_gives_only_what_it_changes_is_valid_for_editors_and_the_cli(
    text: str, tmp_path: Path
) -> None:
    """`{monthly: 30000}` and `{holiday: 60}` merge with the preset: the schema (issue 18 item 4) and
    policy check both accept them."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))
    path = tmp_path / "shop.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_policy(path).name == "shop"


def test_the_schema_still_refuses_what_the_cli_refuses() -> None:
    """An unknown key, a float amount and an unquoted time stay errors for editors too."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    for bad in (
        {"name": "x", "purchas": {}},
        {"name": "x", "purchase": {"caps": {"age_8_15": {"monthly": 300.5}}}},
        {"name": "x", "game": {"curfew": {"start": 1320}}},
        {"extends": "nppa-2021"},
    ):
        assert list(validator.iter_errors(bad)), bad
