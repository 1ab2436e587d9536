"""The OpenAPI document of the sidecar (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from minorguard import __version__
from minorguard.policy.guardiansettings import GuardianSettingsInput
from minorguard.sidecar.inputs import DecisionRequest
from minorguard.types import Reason

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _request_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The decision request's schema with its definitions moved where OpenAPI resolves them."""
    schema = DecisionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    return schema, schema.pop("$defs", {})


def _guardian_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """GET | PUT | DELETE of a child's guardian settings, and the schemas the PUT body refers to."""
    schema = GuardianSettingsInput.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    subject = {"name": "subject", "in": "path", "required": True, "schema": {"type": "string"}}
    document = {"description": "settings (null: none), updated_at, bounds a guardian may set, policy",
                "content": {"application/json": {"schema": {"type": "object"}}}}  # fmt: skip
    auth = {
        "401": _problem("no guardian token or service credential, or an invalid token"),
        "403": _problem("not a verified adult guardian of the child, or a credential that may not guardian"),
        "503": _problem("store unavailable"),
    }
    item = {
        "description": "A child's guardian settings (Authorization: Bearer <a guardian's token whose "
        "guardian_of claim names the child, or a service credential that may guardian>)",
        "parameters": [subject],
        "get": {"summary": "Read a child's guardian settings", "responses": {"200": document, **auth}},
        "put": {
            "summary": "Replace a child's guardian settings",
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": document,
                "400": _problem("invalid settings (errors: field, message)"),
                "409": _problem("the policy in force reads no guardian settings"),
                "413": _problem("body too large"),
                "422": _problem("beyond what the policy lets a guardian set (errors: field, message, bound)"),
                **auth,
            },
        },
        "delete": {"summary": "Clear a child's guardian settings", "responses": {"200": document, **auth}},
    }
    return {"/v1/guardian/children/{subject}/settings": item}, definitions


def openapi_document(envoy_prefix: str) -> dict[str, Any]:
    request_schema, definitions = _request_schema()
    guardian_paths, guardian_definitions = _guardian_paths()
    decision = {
        "type": "object",
        "required": ["outcome", "reason", "enforced"],
        "properties": {
            "outcome": {"type": "string", "enum": ["allow", "deny"]},
            "reason": {"type": "string", "enum": [r.value for r in Reason] + ["not_enforced"]},
            "enforced": {"type": "boolean"},
            "activity": {"type": ["string", "null"]},
            "band": {"type": "string"},
            "rule": {"type": ["string", "null"]},
            "legal_basis": {"type": ["string", "null"]},
            "detail": {"type": "string"},
            "allowed_again_at": {"type": ["string", "null"], "format": "date-time"},
            "remaining_seconds": {"type": ["integer", "null"]},
            "remaining_budget_fen": {"type": ["integer", "null"]},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "report_only": {"type": "array", "items": {"type": "object"}},
            "reservation_id": {"type": ["string", "null"]},
            "replayed": {"type": "boolean"},
            "failed_open": {"type": "boolean"},
        },
    }
    settle = {
        "post": {
            "summary": "Settle a reservation",
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "description": "the reservation_id a decision answered"},
                },
            ],
            "responses": {
                "200": {
                    "description": "settled (or already was)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": _problem("not a reservation id"),
                "404": _problem("unknown or expired reservation"),
                "409": _problem("conflicts with its state (e.g. commit after release)"),
                "503": _problem("store unavailable"),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "minorguard sidecar", "version": __version__},  # the release serving it
        "paths": {
            "/v1/decisions": {
                "post": {
                    "summary": "Decide one request",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": request_schema}},
                    },
                    "responses": {
                        "200": {
                            "description": "the decision",
                            "content": {"application/json": {"schema": decision}},
                        },
                        "400": _problem("invalid request"),
                        "413": _problem("body too large"),
                    },
                }
            },
            "/v1/reservations/{id}/commit": settle,
            "/v1/reservations/{id}/release": settle,
            "/v1/reservations/{id}/refund": settle,
            "/v1/policy": {
                "get": {
                    "summary": "The policy in force",
                    "responses": {
                        "200": {
                            "description": "name, revision, effective values, minorguard_version",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/v1/policy/week": {
                "get": {
                    "summary": "The week of the policy in force: a days x hours grid per age band (HTML)",
                    "parameters": [
                        {"name": "week", "in": "query", "schema": {"type": "string", "format": "date"}},
                        {"name": "lang", "in": "query", "schema": {"enum": ["zh-CN", "en"]}},
                    ],
                    "responses": {
                        "200": {"description": "a self-contained page", "content": {"text/html": {}}},
                        "400": {"description": "a week or language that cannot be drawn"},
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Alive",
                    "responses": {
                        "200": {
                            "description": "alive",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Policy loaded and store reachable",
                    "responses": {
                        "200": {
                            "description": "ready",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "503": _problem("not ready"),
                    },
                }
            },
            "/v1/subjects/{id}/usage": {
                "get": {
                    "summary": "A subject's counters for support staff (Authorization: Bearer <admin token>)",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "usage",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "401": _problem("admin token missing or wrong"),
                        "503": _problem("store unavailable"),
                    },
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}
            },
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "JSON"}}}
            },
            f"{envoy_prefix}/{{path}}": {
                "description": "Envoy ext_authz HTTP service (any method, any path below)"
            },
            "/v1/authz/nginx": {"description": "nginx auth_request (X-Original-URI, X-Original-Method)"},
            "/v1/authz/traefik": {"description": "Traefik ForwardAuth (X-Forwarded-Method, -Uri, -Host)"},
            **guardian_paths,
        },
        "components": {
            "schemas": {
                **definitions,
                **guardian_definitions,
                "Problem": {
                    "type": "object",
                    "required": ["title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                },
            }
        },
    }
