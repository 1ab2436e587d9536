"""The engine with guardian settings: still exactly one store call for a minor's heartbeat or capped
purchase (the call that counts also reads the settings), a guardian's change applied on the next
request, and no local cache keeping a refusal a guardian could lift for longer than
GUARDIAN_FRESH_SECONDS."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from minorguard.engine import GUARDIAN_FRESH_SECONDS, Engine
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.explain import compile_policy
from minorguard.guardians import Actor, GuardianService
from minorguard.types import Activity, Facts, Reason, Subject
from test_engine import CountingStore, beijing, engine_on

KID = Subject("kid-7", dt.date(2011, 5, 1), True)  # 15 in November 2026
TEEN_17 = Subject("teen-17", dt.date(2009, 3, 10), True)
SUPPORT = Actor.cli("test")
GAME = Facts(Activity.GAME)


@pytest.fixture
def counting() -> CountingStore:
    return CountingStore()


async def guard(engine: Engine, body: bytes, subject: Subject = KID) -> None:
    done = await GuardianService(engine).replace(subject.subject_id, body, SUPPORT)
    assert isinstance(done, dict), done


async def test_a_minors_heartbeat_and_capped_purchase_stay_one_store_call_with_settings(
    counting: CountingStore,
) -> None:
    """With guardian settings stored, each decision still makes exactly one call, the same as
    without: the heartbeat and the reserve read the settings themselves."""
    engine = engine_on(counting)
    at = beijing("2026-11-20T20:10:00")
    await engine.decide(KID, GAME, at=at)
    await engine.decide(KID, Facts(Activity.PURCHASE, 100), at=at)
    without = list(counting.calls)
    await guard(engine, b'{"daily_play_minutes": {"default": 45}, "purchase_caps": {"monthly": 10000}}')
    counting.calls.clear()
    played = await engine.decide(KID, GAME, at=at + 60)
    bought = await engine.decide(KID, Facts(Activity.PURCHASE, 100), at=at + 61)
    assert counting.calls == without == ["play_heartbeat", "reserve"]
    assert played.remaining_seconds == 45 * 60 - 60
    assert bought.remaining_budget_fen == 10000 - 200


async def test_a_guardians_change_applies_on_the_next_request(counting: CountingStore) -> None:
    engine = engine_on(counting)
    at = beijing("2026-11-20T20:10:00")
    assert (await engine.decide(KID, Facts(Activity.PURCHASE, 2000), at=at)).allowed
    await guard(engine, b'{"purchase_caps": {"single": 1000}}')
    denied = await engine.decide(KID, Facts(Activity.PURCHASE, 2000), at=at + 1)
    assert (denied.reason, denied.rule) == (Reason.GUARDIAN_LIMIT, "guardian.purchase")
    await GuardianService(engine).clear(KID.subject_id, SUPPORT)
    assert (await engine.decide(KID, Facts(Activity.PURCHASE, 2000), at=at + 2)).allowed


async def test_a_guardians_refusal_is_kept_locally_a_few_seconds_at_most(counting: CountingStore) -> None:
    """Used up the guardian's 20 minutes: refusals within GUARDIAN_FRESH_SECONDS come from the
    engine, the next one asks the store, and a guardian's clear is heard then."""
    engine = engine_on(counting)
    at = beijing("2026-11-20T20:00:00")
    await guard(engine, b'{"daily_play_minutes": {"default": 20}}')
    for minute in range(0, 21, 2):
        last = await engine.decide(KID, GAME, at=at + minute * 60)
    assert last.reason is Reason.GUARDIAN_LIMIT
    stamp = at + 20 * 60
    calls = len(counting.calls)
    assert (
        await engine.decide(KID, GAME, at=stamp + GUARDIAN_FRESH_SECONDS - 1)
    ).reason is Reason.GUARDIAN_LIMIT
    assert len(counting.calls) == calls
    await GuardianService(engine).clear(KID.subject_id, SUPPORT)
    again = await engine.decide(KID, GAME, at=stamp + GUARDIAN_FRESH_SECONDS)
    assert again.allowed
    assert len(counting.calls) == calls + 2  # the clear, then the heartbeat


async def test_a_policy_limit_no_guardian_may_lift_stays_cached_to_the_next_play_day(
    counting: CountingStore,
) -> None:
    """nppa-2019 lets no guardian raise its 90 minutes: that refusal is kept until the next day."""
    engine = engine_on(counting, "nppa-2019")
    start = beijing("2026-11-19T10:00")
    for minute in range(0, 95, 5):
        await engine.decide(KID, GAME, at=start + minute * 60)
    calls = len(counting.calls)
    hour_later = await engine.decide(KID, GAME, at=start + 160 * 60)
    assert (hour_later.reason, len(counting.calls)) == (Reason.DAILY_PLAY_LIMIT, calls)


async def test_a_policy_limit_a_guardian_may_raise_is_cached_a_few_seconds_at_most(tmp_path: Path) -> None:
    """Under a policy that lets a guardian raise the time, the policy's refusal is asked again after
    GUARDIAN_FRESH_SECONDS: the guardian's 90 minutes then apply."""
    path = tmp_path / "loose.yaml"
    path.write_text(
        "name: loose\nextends: minor-mode-2024\nguardian: {may_loosen: {daily_minutes: {age_8_15: 90}}}\n"
    )
    counting = CountingStore()
    engine = Engine(compile_policy(path), counting, subject_secret=b"s")
    start = beijing("2026-11-21T10:00")
    for minute in range(0, 61, 2):
        last = await engine.decide(KID, GAME, at=start + minute * 60)
    assert last.reason is Reason.DAILY_PLAY_LIMIT
    await guard(engine, b'{"daily_play_minutes": {"default": 90}}')
    assert (await engine.decide(KID, GAME, at=start + 3601)).reason is Reason.DAILY_PLAY_LIMIT
    assert (await engine.decide(KID, GAME, at=start + 3600 + GUARDIAN_FRESH_SECONDS)).allowed


async def test_a_17_year_olds_registration_reads_the_guardians_consent_in_one_call(
    counting: CountingStore,
) -> None:
    engine = engine_on(counting, "livestream-2022")
    registration = Facts(Activity.LIVESTREAM_PUBLISHER_REGISTRATION)
    at = beijing("2026-11-20T12:00")
    refused = await engine.decide(TEEN_17, registration, at=at)
    assert refused.reason is Reason.PUBLISHER_CONSENT_REQUIRED
    await guard(engine, b'{"publisher_consent": true}', TEEN_17)
    counting.calls.clear()
    assert (await engine.decide(TEEN_17, registration, at=at + 1)).allowed
    assert counting.calls == ["guardian_settings"]


@pytest.mark.parametrize(
    ("consent", "outcome"), [((), Reason.STORE_UNAVAILABLE), (("livestream_publisher",), Reason.ALLOWED)]
)
async def test_without_the_store_a_registration_rests_on_the_tokens_consent(
    consent: tuple[str, ...], outcome: Reason
) -> None:
    """The guardian's settings cannot be read: the token's consent stands (failed open), and without
    it the registration is refused as unverifiable."""
    store = CountingStore()

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreError(StoreErrorKind.CONNECTION, "down")

    store.guardian_settings = down  # type: ignore[method-assign]
    engine = engine_on(store, "livestream-2022")
    teen = Subject("teen", TEEN_17.birthdate, True, frozenset(consent))
    decided = await engine.decide(
        teen, Facts(Activity.LIVESTREAM_PUBLISHER_REGISTRATION), at=beijing("2026-11-20T12:00")
    )
    assert decided.reason is outcome
    assert decided.failed_open is bool(consent)


async def test_unreadable_settings_fall_to_each_activitys_failure_policy(counting: CountingStore) -> None:
    """A value the service never writes: play fails open (counted as a store error), money closed."""
    engine = engine_on(counting)
    at = beijing("2026-11-20T20:10:00")
    key = engine.user_key(KID.subject_id)
    await counting.inner.set_guardian_settings(key, "garbage", now=int(at), keep_seconds=86_400)
    assert (await engine.decide(KID, GAME, at=at)).failed_open
    money = await engine.decide(KID, Facts(Activity.PURCHASE, 100), at=at)
    assert money.reason is Reason.STORE_UNAVAILABLE


async def test_a_policy_that_reads_no_settings_ignores_stored_ones(
    tmp_path: Path, counting: CountingStore
) -> None:
    path = tmp_path / "off.yaml"
    path.write_text("name: off\nextends: nppa-2021\nguardian: {enabled: false}\n")
    reading = engine_on(counting)
    await guard(reading, b'{"purchase_caps": {"single": 0}}')
    engine = Engine(compile_policy(path), counting, subject_secret=b"test-secret")
    assert (await engine.decide(KID, Facts(Activity.PURCHASE, 100), at=beijing("2026-11-20T12:00"))).allowed
