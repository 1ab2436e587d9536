"""The composition root of a process: from a deployment config to a ready engine, verifier, routes,
metrics and reloader. The middleware's `from_config` and the sidecar both build through here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from minorguard.adapters.base import CounterStore
from minorguard.adapters.identity import IdentityConfig, JwtVerifier
from minorguard.adapters.stores import open_store
from minorguard.deployment import IdentitySettings, LoadedDeployment, load_deployment
from minorguard.engine import Clock, Engine
from minorguard.explain import compile_policy
from minorguard.metrics import Metrics
from minorguard.middleware.hotpath import AdultPasses
from minorguard.middleware.reload import PolicyReloader
from minorguard.middleware.routes import RouteTable
from minorguard.policy.schema import MissingCalendarData


@dataclass
class Guard:
    """Everything a front door needs, built once per process."""

    deployment: LoadedDeployment
    engine: Engine
    verifier: JwtVerifier
    routes: RouteTable
    metrics: Metrics
    reloader: PolicyReloader
    store: CounterStore
    passes: AdultPasses = field(default_factory=AdultPasses)

    async def close(self) -> None:
        await self.verifier.close()
        await self.store.close()

    def refresh_gauges(self, today_epoch: float) -> None:
        cp = self.engine.policy
        self.metrics.set_policy(cp.name, cp.policy.revision)

    def watch_calendar(self) -> None:
        """The calendar gauges and acknowledged rules are computed at each scrape from the policy in
        force (a hot reload may bring new override files; the date moves on): never frozen at start."""
        self.metrics.watch(self._days_left, self._provisional_today, self._looser)

    def _days_left(self) -> float:
        cp = self.engine.policy
        return 0 if cp.coverage is None else cp.coverage(cp.instant(self.engine.clock()).date)

    def _provisional_today(self) -> float:
        cp = self.engine.policy
        info = cp.day(cp.instant(self.engine.clock()).date)
        return float(
            not info.known and cp.policy.spec.calendar.missing_data is MissingCalendarData.PROVISIONAL
        )

    def _looser(self) -> tuple[str, tuple[str, ...]]:
        policy = self.engine.policy.policy
        return policy.name, policy.looser_rules


def build_guard(
    config: str | Path | LoadedDeployment,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = time.time,
) -> Guard:
    deployment = config if isinstance(config, LoadedDeployment) else load_deployment(config)
    settings = deployment.settings
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    compiled = compile_policy(deployment.policy_source)
    store = open_store(deployment.store_url(), timeout=settings.store_timeout_ms / 1000)
    engine = Engine(
        compiled, store, subject_secret=deployment.subject_secret(), clock=clock, observer=metrics
    )
    verifier = JwtVerifier(identity_config(settings.identity, deployment.base))
    reloader = PolicyReloader(
        deployment.policy_source,
        metrics=metrics,
        interval=settings.policy_reload_seconds,
        watching=compiled.policy.calendar_files,
    )
    guard = Guard(deployment, engine, verifier, deployment.route_table(), metrics, reloader, store)
    guard.refresh_gauges(clock())
    guard.watch_calendar()
    return guard


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
        cache_size=settings.cache_size,
    )
