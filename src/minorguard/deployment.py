"""The deployment config file of the middleware and the sidecar: which policy, which store, how tokens
are verified, and which routes carry which activity. Problems are reported as file:line:col, like
policy files.

    policy: policies/star-fleet.yaml        # a file (relative to this one) or a preset name
    store: redis://redis:6379/0
    subject_secret: {env: MINORGUARD_SUBJECT_SECRET}
    identity:
      algorithms: [RS256]
      issuer: https://id.example.com
      audience: star-fleet
      jwks_url: https://id.example.com/.well-known/jwks.json
    routes:
      - {method: POST, path: /shop/purchases, activity: purchase, amount: {from: body, name: amount_fen}}
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml.error import YAMLError

from minorguard.deploymentchecks import semantic_problems
from minorguard.errors import MinorguardError, PolicyError, Problem
from minorguard.policy.loader import problem_of
from minorguard.policy.presets import PRESET_NAMES
from minorguard.policy.yamlfile import Document, load_document
from minorguard.types import Activity
from minorguard.web.routes import Route, RouteTable, Source, Where, compile_pattern


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SecretRef(_Strict):
    """A secret from an environment variable or a mounted file (never written in the config itself,
    except `value` for demos and tests)."""

    env: str | None = None
    file: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if sum(x is not None for x in (self.env, self.file, self.value)) != 1:
            raise ValueError("give exactly one of env, file or value")
        return self

    def read(self, base: Path) -> bytes:
        if self.env is not None:
            found = os.environ.get(self.env)
            if not found:
                raise MinorguardError(f"the environment variable {self.env} is not set")
            return found.encode()
        if self.file is not None:
            return (base / self.file).read_bytes().strip()
        return (self.value or "").encode()


class SourceSettings(_Strict):
    from_: Where = Field(alias="from")
    name: str = Field(min_length=1)


class RouteSettings(_Strict):
    method: str | list[str] = "*"
    path: str
    activity: Activity
    amount: SourceSettings | None = None
    game_id: SourceSettings | None = None
    game_rating: int | None = Field(default=None, ge=0, le=18)

    @model_validator(mode="after")
    def _valid(self) -> RouteSettings:
        compile_pattern(self.path)
        if self.activity in (Activity.PURCHASE, Activity.LIVESTREAM_TIP) and self.amount is None:
            raise ValueError(
                f"a {self.activity.value} route needs `amount: {{from: body, name: amount_fen}}`"
            )
        return self

    def route(self) -> Route:
        methods = [self.method] if isinstance(self.method, str) else self.method
        upper = frozenset(m.upper() for m in methods if m != "*")
        amount = Source(self.amount.from_, self.amount.name) if self.amount else None
        game_id = Source(self.game_id.from_, self.game_id.name) if self.game_id else None
        return Route(upper, self.path, self.activity, amount, game_id, self.game_rating)


class Claims(_Strict):
    subject: str = "sub"
    birthdate: str = "birthdate"
    verified: str = "identity_verified"
    guardian_consent: str = "guardian_consent"
    pi: str = "pi"
    device: str = "device_id"
    guardian_of: str = "guardian_of"  # on a guardian's token: the subject ids of their children


class IdentitySettings(_Strict):
    algorithms: list[str] = Field(min_length=1)
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    hs_secret: SecretRef | None = None
    pem_file: str | None = None
    jwks_url: str | None = None
    claims: Claims = Field(default_factory=Claims)
    cache_size: int = Field(default=10000, ge=0)

    @model_validator(mode="after")
    def _one_key_source(self) -> IdentitySettings:
        if sum(x is not None for x in (self.hs_secret, self.pem_file, self.jwks_url)) != 1:
            raise ValueError("give exactly one key source: hs_secret, pem_file or jwks_url")
        return self


class SidecarSettings(_Strict):
    """Where the proxies put the original request (nginx passes it in headers you name)."""

    envoy_prefix: str = Field(default="/v1/authz/envoy", pattern=r"^/")
    original_uri_header: str = "X-Original-URI"
    original_method_header: str = "X-Original-Method"
    # after SIGTERM: answer /readyz 503 but serve everything this long, then stop accepting and drain
    shutdown_delay_seconds: float = Field(default=5.0, ge=0, le=120)
    # Envoy ext_authz over gRPC on this port (off when unset; `minorguard sidecar --grpc-port` wins)
    grpc_port: int | None = Field(default=None, ge=1, le=65535)


class NppaSettings(_Strict):
    """The NPPA real-name system (one appId/secret per enterprise, one bizId per game)."""

    app_id: str = Field(min_length=1)
    biz_id: str = Field(min_length=1)
    secret_key: SecretRef
    base_url: str | None = None  # None: production; else e.g. a gateway, or the test system's base
    test_code: str | None = None  # the official test system's code for one test case
    wait_seconds: float = Field(default=2.0, ge=0, le=10)  # how long a verify waits on a pending result
    # behaviour reporting (loginout): sessions from the game heartbeats this sidecar judges, queued in a
    # Redis stream at this URL (default: the counter store's, when that is Redis)
    report_behaviour: bool = False
    queue_url: str | None = None


class Permission(StrEnum):
    """What a service credential may do at the sidecar's state-changing and support endpoints."""

    COMMIT = "commit"
    RELEASE = "release"
    REFUND = "refund"
    USAGE = "usage"  # GET /v1/subjects/{id}/usage
    IDENTITY = "identity"  # NPPA real-name verification: /v1/identity/*
    GUARDIAN = "guardian"  # a child's guardian settings: /v1/guardian/children/{subject}/settings


MIN_TOKEN_BYTES = 32
MIN_REFUND_TOKEN_BYTES = 48


class CredentialSettings(_Strict):
    """A caller of the sidecar's state-changing endpoints (a backend that runs purchases, a support
    tool): its name (in audit logs), its bearer token (a secret) and what it may do."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    token: SecretRef
    may: list[Permission] = Field(min_length=1)

    @model_validator(mode="after")
    def _refunds_alone(self) -> CredentialSettings:
        if Permission.REFUND in self.may and {Permission.COMMIT, Permission.RELEASE} & set(self.may):
            raise ValueError(
                "refunds take a credential of their own: a refund gives quota back, so the token that "
                "commits and releases purchases must not also refund them"
            )
        return self


class LogSettings(_Strict):
    """The sidecar's logs (logs.py): JSON lines or text on standard error; the decision log's switch."""

    format: Literal["json", "text"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    decisions: bool = False


class Deployment(_Strict):
    policy: str
    store: str = "memory://"
    store_timeout_ms: int = Field(default=20, ge=1, le=5000)
    store_password: SecretRef | None = None  # put into the store URL at start, never written in config
    store_sentinel_password: SecretRef | None = None  # redis+sentinel://: the Sentinels' own password
    subject_secret: SecretRef
    # play-time leases (engine.py): a heartbeat charges this much play ahead and the subject's
    # heartbeats up to its end are answered without the store (0: every heartbeat asks the store)
    play_lease_seconds: int = Field(default=30, ge=0, le=300)
    # how often a process with leases reads the guardian feed: a guardian's change applies within it
    guardian_feed_seconds: float = Field(default=5.0, ge=0.5, le=60)
    admin_token: SecretRef | None = None  # the usage endpoint, as a credential that may only `usage`
    credentials: list[CredentialSettings] = Field(default_factory=list)
    identity: IdentitySettings
    routes: list[RouteSettings] = Field(min_length=1)
    exempt_paths: list[str] = Field(default_factory=lambda: ["/healthz", "/readyz", "/metrics"])
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    language: Literal["zh-CN", "en"] = "zh-CN"
    policy_reload_seconds: float = Field(default=2.0, ge=0.1)
    sidecar: SidecarSettings = Field(default_factory=SidecarSettings)
    nppa: NppaSettings | None = None
    logging: LogSettings = Field(default_factory=LogSettings)

    @model_validator(mode="after")
    def _unique_credentials(self) -> Deployment:
        names = [c.name for c in self.credentials]
        if len(set(names)) != len(names):
            raise ValueError("two credentials have the same name")
        return self


class LoadedDeployment:
    """A validated deployment config and the folder its relative paths are read from."""

    def __init__(self, settings: Deployment, base: Path, document: Document | None = None) -> None:
        self.settings = settings
        self.base = base
        self.document = document  # where each setting was written, for located problems

    def problem(self, key: str, message: str) -> Problem:
        """A problem located at the top-level `key` (at the file's start when not known)."""
        if self.document is None:
            return Problem("(config)", 1, 1, key, message)
        mark = self.document.mark((key,))
        return Problem(mark.file, mark.line, mark.column, key, message)

    @property
    def policy_source(self) -> str | Path:
        name = self.settings.policy
        candidate = self.base / name
        return candidate if candidate.exists() or name not in PRESET_NAMES else name

    def route_table(self) -> RouteTable:
        return RouteTable([r.route() for r in self.settings.routes], self.settings.exempt_paths)

    def credentials(self) -> list[tuple[str, bytes, frozenset[Permission]]]:
        """Every service credential with its token read, `admin_token` as one that may `usage`.
        Short tokens are refused: they are the only thing between the network and a user's money."""
        found = []
        for credential in self.settings.credentials:
            token = credential.token.read(self.base)
            least = MIN_REFUND_TOKEN_BYTES if Permission.REFUND in credential.may else MIN_TOKEN_BYTES
            if len(token) < least:
                raise MinorguardError(
                    f"the token of credential {credential.name!r} is {len(token)} bytes: give at least "
                    f"{least} (e.g. openssl rand -hex 32)"
                )
            found.append((credential.name, token, frozenset(credential.may)))
        if self.settings.admin_token is not None:
            found.append(("admin", self.settings.admin_token.read(self.base), frozenset({Permission.USAGE})))
        return found

    def subject_secret(self) -> bytes:
        return self.settings.subject_secret.read(self.base)

    def store_url(self) -> str:
        """The store URL, with the passwords from their secrets when they are configured: the data
        nodes' (beside the URL's user, kept) and the Sentinels' (a query option)."""
        url = self.settings.store
        secret, sentinel = self.settings.store_password, self.settings.store_sentinel_password
        if "://" not in url:
            return url
        if secret is not None:
            scheme, rest = url.split("://", 1)
            userinfo, at, hosts = rest.rpartition("@")
            user = userinfo.partition(":")[0] if at else ""
            password = quote(secret.read(self.base).decode(), safe="")
            url = f"{scheme}://{user}:{password}@{hosts}"
        if sentinel is not None:
            password = quote(sentinel.read(self.base).decode(), safe="")
            url += f"{'&' if '?' in url else '?'}sentinel_password={password}"
        return url


def load_deployment(path: str | Path) -> LoadedDeployment:
    """The deployment config at `path`; raises PolicyError with every problem at once: the schema's,
    and what it cannot see (the store URL, unset secrets, the identity keys: deploymentchecks.py)."""
    loaded, problems = check_deployment(path)
    if loaded is None or problems:
        raise PolicyError(problems or [Problem(str(path), 1, 1, "", "a deployment config is a mapping")])
    return loaded


def check_deployment(path: str | Path) -> tuple[LoadedDeployment | None, list[Problem]]:
    """Every problem of the config at `path`, sorted by place, and the config when the schema took it."""
    try:
        doc = load_document(path)
    except YAMLError as exc:  # a character YAML does not allow: ruamel raises it outside its marks
        return None, [Problem(str(path), 1, 1, "", f"not valid YAML: {exc}".splitlines()[0])]
    problems = list(doc.problems)
    if doc.data is None or not isinstance(doc.data, dict):
        return None, problems or [Problem(str(path), 1, 1, "", "a deployment config is a mapping")]
    base = Path(path).resolve().parent
    loaded = None
    try:
        settings = Deployment.model_validate_json(json.dumps(doc.data), strict=True)
        loaded = LoadedDeployment(settings, base, doc)
    except ValidationError as exc:
        problems.extend(problem_of(Deployment, error, {}, doc) for error in exc.errors())
    problems.extend(semantic_problems(doc, base))
    unique = list(dict.fromkeys(problems))
    return loaded, sorted(unique, key=lambda p: (p.file, p.line, p.column))
