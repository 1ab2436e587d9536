"""The JSON Schema of policy files, generated from the pydantic models (policies/policy.schema.json is
this output; a test keeps the file in sync)."""

from __future__ import annotations

from typing import Any

from minorguard.policy.schema import PolicyFile

SCHEMA_ID = "https://minorguard.dev/schemas/policy.schema.json"


def policy_json_schema() -> dict[str, Any]:
    schema = PolicyFile.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
