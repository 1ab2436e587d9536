"""The JSON Schema of policy files, generated from the pydantic models (policies/policy.schema.json is
this output; a test keeps the file in sync).

A policy file gives only what it changes: `extends` supplies the rest, and mappings merge key by key
(policy/loader.py). So the schema requires nothing but `name`: `age_16_17: {monthly: 30000}` and
`{holiday: 60}` are whole files' worth of valid YAML, as `policy check` says. What the merge does not
fill stays required: the items of a list (lists are replaced whole, so each `{start, end}` of
`play_windows.hours` is complete) and an acknowledgement's reason (never inherited). Whether the merged
policy is complete is the loader's check, which editors cannot make.
"""

from __future__ import annotations

from typing import Any

from minorguard.policy.schema import PolicyFile

SCHEMA_ID = "https://minorguard.dev/schemas/policy.schema.json"
WHOLE = frozenset({"Hours", "Acknowledgement"})  # never merged with a preset's value


def policy_json_schema() -> dict[str, Any]:
    schema = PolicyFile.model_json_schema(mode="validation")
    for name, definition in schema.get("$defs", {}).items():
        if name not in WHOLE:
            definition.pop("required", None)
    schema["required"] = ["name"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
