"""A child's guardian settings: read, replace, clear. The one service behind the sidecar's
/v1/guardian endpoints, the same endpoints mounted in a middleware app, and `minorguard guardian`.

Settings are validated strictly, then against the policy in force (a loosening beyond its bounds is
refused, naming the field and the bound), and stored in the child's user hash (rules/guardian.py).
Every change is written to the `minorguard.audit` log (who: a guardian's keyed hash, a credential's
name or a support person's; when; what changed; the child's keyed hash) and counted in
`minorguard_guardian_changes_total{action,via}`. No subject id or birth date is ever logged.

    service = GuardianService(middleware.gate.engine, metrics=middleware.gate.metrics)
    await service.replace("child-42", b'{"daily_play_minutes": {"default": 30}}', Actor.cli("li.wei"))
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from minorguard.errors import StoreError
from minorguard.policy.guardiansettings import GuardianSettingsInput
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.guardianbounds import beyond, bounds_json, settings_json, to_settings

if TYPE_CHECKING:
    from minorguard.engine import Engine
    from minorguard.metrics import Metrics

AUDIT = logging.getLogger("minorguard.audit")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes a child's settings: `via` guardian (their own token), credential or cli, and the
    name the audit log gives them (a guardian's keyed hash, never their id)."""

    via: str
    name: str

    @classmethod
    def cli(cls, name: str) -> Actor:
        return cls("cli", name)


@dataclass(frozen=True, slots=True)
class Refused:
    """A change the service will not make: the HTTP status and problem it answers."""

    status: int
    title: str
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)


class GuardianService:
    def __init__(self, engine: Engine, *, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics

    async def show(self, subject_id: str) -> dict[str, Any]:
        """The child's settings in words (null when none), with what the policy lets a guardian set.
        Raises StoreError when the store cannot answer."""
        key = self.engine.user_key(subject_id)
        now = self._now()
        raw = await self.engine.store.guardian_settings(key, now=now)
        return self._document(key, self.engine.guardian_of(raw))

    async def replace(self, subject_id: str, body: bytes, actor: Actor) -> dict[str, Any] | Refused:
        """Replace the child's settings with `body` (JSON, GuardianSettingsInput); a Refused when it is
        malformed, past the policy's bounds, or the policy reads no guardian settings."""
        cp = self.engine.policy
        off = self._off()
        if off is not None:
            return off
        try:
            given = GuardianSettingsInput.model_validate_json(body or b"null", strict=True)
        except ValidationError as exc:
            errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
            return Refused(400, "Invalid guardian settings", "see errors", errors)
        past = beyond(given, cp)
        if past:
            detail = f"the policy {cp.name} does not let a guardian set this (see errors)"
            return Refused(422, "Beyond what a guardian may set", detail, [b.json() for b in past])
        now = self._now()
        keep = cp.policy.spec.guardian.keep_days * 86400
        settings = to_settings(given, now=now, keep_seconds=keep)
        key = self.engine.user_key(subject_id)
        before = await self.engine.store.set_guardian_settings(
            key, settings.encode(), now=now, keep_seconds=keep
        )
        self._changed("set", key, actor, self._lenient(before), settings)
        return self._document(key, settings)

    async def clear(self, subject_id: str, actor: Actor) -> dict[str, Any]:
        """Forget the child's settings: the policy's values apply again."""
        now = self._now()
        key = self.engine.user_key(subject_id)
        keep = self.engine.policy.policy.spec.guardian.keep_days * 86400
        before = await self.engine.store.set_guardian_settings(key, None, now=now, keep_seconds=keep)
        self._changed("clear", key, actor, self._lenient(before), None)
        return {**self._document(key, None), "cleared": bool(before)}

    def _lenient(self, raw: str) -> GuardianSettings | None:
        """Settings replaced or cleared, for the audit line: an unreadable old value reads as none
        (replacing or clearing it is how support repairs it)."""
        try:
            return self.engine.guardian_of(raw)
        except StoreError:
            return None

    def _off(self) -> Refused | None:
        cp = self.engine.policy
        if cp.guardian_on:
            return None
        detail = f"the policy in force ({cp.name}) does not read guardian settings (guardian.enabled)"
        return Refused(409, "Guardian settings are off", detail)

    def _document(self, key: str, settings: GuardianSettings | None) -> dict[str, Any]:
        cp = self.engine.policy
        updated = None
        if settings is not None and settings.updated_at:
            updated = dt.datetime.fromtimestamp(settings.updated_at, cp.zone).isoformat()
        return {
            "subject_key": key,
            "settings": None if settings is None else settings_json(settings),
            "updated_at": updated,
            "enabled": cp.guardian_on,
            "policy": {"name": cp.name, "revision": cp.policy.revision},
            "bounds": bounds_json(cp),
        }

    def _changed(
        self,
        action: str,
        key: str,
        actor: Actor,
        before: GuardianSettings | None,
        after: GuardianSettings | None,
    ) -> None:
        if self.metrics is not None:
            self.metrics.guardian_changes.labels(action, actor.via).inc()
        if AUDIT.isEnabledFor(logging.INFO):
            line = {
                "event": "guardian_settings",
                "ts": round(time.time(), 3),
                "action": action,
                "subject": key,
                "via": actor.via,
                "by": actor.name,
                "changed": changes(before, after),
            }
            AUDIT.info(json.dumps(line, ensure_ascii=False))

    def _now(self) -> int:
        return int(self.engine.clock())


def changes(before: GuardianSettings | None, after: GuardianSettings | None) -> dict[str, list[Any]]:
    """What a change changed: each setting (in words) whose value differs, as [before, after]."""
    old = {} if before is None else settings_json(before)
    new = {} if after is None else settings_json(after)
    return {k: [old.get(k), new.get(k)] for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)}


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"
