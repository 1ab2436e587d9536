"""The composition root of a process: from a deployment config to a ready gate (engine, verifier,
routes, metrics, reloader, NPPA reporting). The middleware's `from_config` and the sidecar both build
through here, and only here are concrete adapters chosen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from minorguard.adapters.identity import IdentityConfig, JwtVerifier
from minorguard.adapters.stores import open_store
from minorguard.deployment import IdentitySettings, LoadedDeployment, load_deployment
from minorguard.engine import Clock, Engine
from minorguard.explain import compile_policy
from minorguard.gate.gate import Gate, Reporter
from minorguard.gate.gauges import watch
from minorguard.gate.reload import PolicyReloader
from minorguard.metrics import Metrics

if TYPE_CHECKING:
    from minorguard.adapters.nppa.client import NppaClient


def build_gate(
    config: str | Path | LoadedDeployment,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = time.time,
    nppa: NppaClient | None = None,
) -> Gate:
    """The gate of a deployment. Nothing connects yet: stores and key sets connect on first use."""
    deployment = config if isinstance(config, LoadedDeployment) else load_deployment(config)
    settings = deployment.settings
    registry = registry if registry is not None else CollectorRegistry()
    metrics = Metrics(registry)
    compiled = compile_policy(deployment.policy_source)
    store = open_store(deployment.store_url(), timeout=settings.store_timeout_ms / 1000)
    engine = Engine(
        compiled,
        store,
        subject_secret=deployment.subject_secret(),
        clock=clock,
        observer=metrics,
        lease_seconds=settings.play_lease_seconds,
        feed_seconds=settings.guardian_feed_seconds,
    )
    reloader = PolicyReloader(
        deployment.policy_source,
        compile_policy=compile_policy,
        metrics=metrics,
        interval=settings.policy_reload_seconds,
        watching=compiled.policy.calendar_files,
    )
    max_gap = compiled.policy.spec.game.play_time.max_gap_seconds
    gate = Gate(
        engine=engine,
        verifier=JwtVerifier(identity_config(settings.identity, deployment.base)),
        routes=deployment.route_table(),
        store=store,
        metrics=metrics,
        reloader=reloader,
        reporter=None if nppa is None else build_reporter(deployment, nppa, registry, clock, max_gap),
        max_body_bytes=settings.max_body_bytes,
        default_language=0 if settings.language == "zh-CN" else 1,
    )
    if gate.metrics is not None:
        watch(engine, gate.metrics)
    return gate


def nppa_client(deployment: LoadedDeployment) -> NppaClient | None:
    """The NPPA client of a deployment, or None when none is configured. Nothing connects yet."""
    settings = deployment.settings.nppa
    if settings is None:
        return None
    from minorguard.adapters.nppa.client import NppaClient  # noqa: PLC0415  (httpx only when configured)
    from minorguard.adapters.nppa.crypto import SecretKey  # noqa: PLC0415
    from minorguard.adapters.nppa.models import Endpoints  # noqa: PLC0415

    endpoints = Endpoints.choose(settings.base_url, settings.test_code)
    secret = SecretKey(settings.secret_key.read(deployment.base).decode())
    return NppaClient(endpoints, app_id=settings.app_id, biz_id=settings.biz_id, secret_key=secret)


def build_reporter(
    deployment: LoadedDeployment,
    client: NppaClient,
    registry: CollectorRegistry,
    clock: Clock,
    max_gap: float,
) -> Reporter | None:
    """NPPA behaviour reporting, when the deployment asks for it: sessions queued in a Redis stream."""
    settings = deployment.settings.nppa
    if settings is None or not settings.report_behaviour:
        return None
    import redis.asyncio as aioredis  # noqa: PLC0415  (only for reporting deployments)

    from minorguard.adapters.nppa.metrics import NppaMetrics  # noqa: PLC0415
    from minorguard.adapters.nppa.queue import BehaviourQueue  # noqa: PLC0415
    from minorguard.adapters.nppa.reporter import Reporter as NppaReporter  # noqa: PLC0415
    from minorguard.adapters.nppa.reporting import BehaviourSender  # noqa: PLC0415
    from minorguard.adapters.nppa.sessions import SessionTracker  # noqa: PLC0415

    url = settings.queue_url or deployment.store_url()
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("behaviour reporting needs a Redis queue: set nppa.queue_url (redis://...)")
    queue = BehaviourQueue(aioredis.from_url(url), settings.biz_id)
    tracker = SessionTracker(queue, max_gap=max_gap)
    sender = BehaviourSender(client, queue, metrics=NppaMetrics(registry))
    return NppaReporter(tracker, sender, queue, clock)


def identity_config(settings: IdentitySettings, base: Path) -> IdentityConfig:
    claims = settings.claims
    return IdentityConfig(
        algorithms=tuple(settings.algorithms),
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_seconds=settings.leeway_seconds,
        hs_secret=settings.hs_secret.read(base) if settings.hs_secret else None,
        pem_file=str(base / settings.pem_file) if settings.pem_file else None,
        jwks_url=settings.jwks_url,
        subject_claim=claims.subject,
        birthdate_claim=claims.birthdate,
        verified_claim=claims.verified,
        consent_claim=claims.guardian_consent,
        pi_claim=claims.pi,
        device_claim=claims.device,
        guardian_of_claim=claims.guardian_of,
        cache_size=settings.cache_size,
    )
