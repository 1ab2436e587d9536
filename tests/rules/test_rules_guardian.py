"""A guardian's settings at decision time: stricter limits always apply, a loosening only within the
policy in force (re-clamped at each decision), hours narrow the policy's, and the reason says when
the guardian's limit decided."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from rulekit import bj, custom, iso, person, preset

from minorguard.explain import guardian_settings
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.evaluate import KnownUsage, explain
from minorguard.rules.guardian import GuardianSettings
from minorguard.types import Activity, Decision, Facts, Reason, WarningCode

TEEN_15 = person("2011-05-01")
TEEN_17 = person("2009-03-10")
FRIDAY = "2026-11-20 20:30:00"  # a working day in the calendar (nppa-2021's play window is open)
SATURDAY = "2026-11-21 15:00:00"
LOOSE = """extends: minor-mode-2024
guardian:
  may_loosen:
    daily_minutes: {age_8_15: 90}
    rest_reminder: true
"""


def settings(cp: CompiledPolicy, body: dict[str, object], at: str = FRIDAY) -> GuardianSettings:
    return guardian_settings(cp, json.dumps(body).encode(), bj(at))


def game(
    cp: CompiledPolicy, body: dict[str, object] | None, at: str, *, played: int = 0, continuous: int = 0
) -> Decision:
    given = None if body is None else settings(cp, body, at)
    usage = KnownUsage(played_seconds=played, continuous_seconds=continuous)
    return explain(cp, TEEN_15, Facts(Activity.GAME), bj(at), usage, given)


@pytest.fixture
def loose(tmp_path: Path) -> CompiledPolicy:
    return custom(tmp_path, "loose", LOOSE)


def test_a_guardians_lower_daily_limit_refuses_with_a_reason_of_its_own() -> None:
    """30 minutes under minor-mode-2024's 60: at 30 minutes played, guardian_limit, not the policy's."""
    cp = preset("minor-mode-2024")
    body = {"daily_play_minutes": {"default": 30}}
    assert game(cp, body, SATURDAY, played=29 * 60).remaining_seconds == 60
    denied = game(cp, body, SATURDAY, played=30 * 60)
    assert (denied.reason, denied.rule) == (Reason.GUARDIAN_LIMIT, "guardian.play_time")
    assert "30 minutes your guardian set" in denied.detail
    assert iso(denied.allowed_again_at) == "2026-11-22T08:00:00+08:00"
    assert game(cp, None, SATURDAY, played=30 * 60).allowed


def test_a_guardians_limit_for_one_day_type_leaves_the_others_to_the_policy() -> None:
    """Weekends 20 minutes: a Saturday refuses at 20, a Friday still has the policy's 60."""
    cp = preset("minor-mode-2024")
    body = {"daily_play_minutes": {"weekend": 20}}
    assert game(cp, body, SATURDAY, played=20 * 60).reason is Reason.GUARDIAN_LIMIT
    assert game(cp, body, "2026-11-20 15:00:00", played=20 * 60).remaining_seconds == 40 * 60


def test_a_loosening_applies_only_up_to_the_bound_the_policy_gives(loose: CompiledPolicy) -> None:
    """may_loosen age_8_15: 90: a guardian's 80 minutes apply; their refusal names the guardian."""
    body = {"daily_play_minutes": {"default": 80}}
    assert game(loose, body, SATURDAY, played=70 * 60).remaining_seconds == 10 * 60
    denied = game(loose, body, SATURDAY, played=80 * 60)
    assert (denied.reason, denied.rule) == (Reason.GUARDIAN_LIMIT, "guardian.play_time")


def test_a_stored_loosening_is_clamped_by_the_policy_in_force(loose: CompiledPolicy) -> None:
    """Settings stored under a looser policy: the policy in force decides how far they go, at once."""
    stored = settings(loose, {"daily_play_minutes": {"default": 90}})
    strict = preset("minor-mode-2024")  # lets no guardian raise the time: 60 minutes
    usage = KnownUsage(played_seconds=60 * 60)
    denied = explain(strict, TEEN_15, Facts(Activity.GAME), bj(SATURDAY), usage, stored)
    assert (denied.reason, denied.rule) == (Reason.DAILY_PLAY_LIMIT, "game.play_time")
    assert explain(loose, TEEN_15, Facts(Activity.GAME), bj(SATURDAY), usage, stored).allowed


def test_a_loosening_past_the_bound_is_clamped_to_it_and_the_policy_decides(
    loose: CompiledPolicy, tmp_path: Path
) -> None:
    """Stored 90 under a bound later narrowed to 75: refused at 75 minutes, as the policy's limit."""
    stored = settings(loose, {"daily_play_minutes": {"default": 90}})
    narrower = custom(tmp_path, "narrower", LOOSE.replace("age_8_15: 90", "age_8_15: 75"))
    denied = explain(narrower, TEEN_15, Facts(Activity.GAME), bj(SATURDAY), KnownUsage(75 * 60), stored)
    assert (denied.reason, denied.detail) == (
        Reason.DAILY_PLAY_LIMIT,
        "the daily play time of 75 minutes is used up",
    )


def test_outside_the_guardians_hours_play_is_refused_until_their_next_period() -> None:
    """Hours 16:00-17:00 on weekends: at 15:00 refused until 16:00; inside, the period's end bounds
    the remaining seconds."""
    cp = preset("minor-mode-2024")
    body = {"allowed_hours": {"weekend": [{"start": "16:00", "end": "17:00"}]}}
    denied = game(cp, body, SATURDAY)
    assert (denied.reason, denied.rule) == (Reason.GUARDIAN_LIMIT, "guardian.hours")
    assert iso(denied.allowed_again_at) == "2026-11-21T16:00:00+08:00"
    inside = game(cp, body, "2026-11-21 16:50:00")
    assert inside.remaining_seconds == 600
    assert inside.warnings[0].code is WarningCode.PLAY_TIME_LOW


def test_guardian_hours_never_open_what_the_policy_closes() -> None:
    """nppa-2021 allows 20:00-21:00 on play days; a guardian's 18:00-24:00 leaves exactly that, and
    after 21:00 the policy's refusal stands."""
    cp = preset("nppa-2021")
    body = {"allowed_hours": {"default": [{"start": "18:00", "end": "24:00"}]}}
    assert game(cp, body, FRIDAY).allowed
    late = game(cp, body, "2026-11-20 21:30:00")
    assert late.reason is Reason.OUTSIDE_PLAY_WINDOW


def test_no_hours_on_a_day_type_means_no_play_that_day_type_and_again_names_the_next_day() -> None:
    """An empty list on weekends: a Saturday is refused until Monday's policy hours (08:00)."""
    cp = preset("minor-mode-2024")
    denied = game(cp, {"allowed_hours": {"weekend": []}}, SATURDAY)
    assert denied.rule == "guardian.hours"
    assert iso(denied.allowed_again_at) == "2026-11-23T08:00:00+08:00"


def test_the_rest_reminder_warns_after_thirty_minutes_of_continuous_play() -> None:
    """minor-mode-2024 reminds (G24): a warning, never a refusal."""
    cp = preset("minor-mode-2024")
    assert game(cp, None, SATURDAY, continuous=29 * 60).warnings == ()
    reminded = game(cp, None, SATURDAY, continuous=30 * 60)
    assert reminded.allowed
    assert [w.code for w in reminded.warnings] == [WarningCode.REST_REMINDER]


def test_an_enforced_rest_refuses_until_the_break_is_over(tmp_path: Path) -> None:
    """mode enforce: after 30 minutes a rest_required refusal until the break (10 minutes) has passed."""
    cp = custom(tmp_path, "rest", "extends: minor-mode-2024\ngame: {rest_reminder: {mode: enforce}}\n")
    denied = game(cp, None, SATURDAY, continuous=30 * 60)
    assert (denied.reason, denied.rule) == (Reason.REST_REQUIRED, "game.rest_reminder")
    assert iso(denied.allowed_again_at) == "2026-11-21T15:10:01+08:00"


def test_a_guardian_exempts_from_the_rest_reminder_only_where_the_policy_lets_them(
    loose: CompiledPolicy,
) -> None:
    """The exemption silences the reminder under a policy that allows it; others refuse to store it."""
    exempt = game(loose, {"exemptions": ["rest_reminder"]}, SATURDAY, continuous=45 * 60)
    assert exempt.warnings == ()
    with pytest.raises(ValueError, match="exempt from the rest reminder"):
        settings(preset("nppa-2021"), {"exemptions": ["rest_reminder"]})


def test_a_guardians_caps_refuse_after_the_policys_with_the_guardians_numbers() -> None:
    """nppa-2021, a 15-year-old: the guardian's ¥10 single cap refuses ¥20 (the policy's ¥50 would
    not); over the policy's own cap the policy's reason stands."""
    cp = preset("nppa-2021")
    given = settings(cp, {"purchase_caps": {"single": 1000, "daily": 3000, "monthly": 4000}})

    def buy(amount: int, **usage: int) -> Decision:
        facts = Facts(Activity.PURCHASE, amount)
        return explain(cp, TEEN_15, facts, bj(FRIDAY), KnownUsage(**usage), given)

    single = buy(2000)
    assert (single.reason, single.rule, single.detail) == (
        Reason.GUARDIAN_LIMIT,
        "guardian.purchase",
        "your guardian set a cap of 1000 fen for one purchase",
    )
    assert buy(5001).reason is Reason.PURCHASE_SINGLE_CAP
    daily = buy(1000, day_spent_fen=2500, month_spent_fen=2500)
    assert (daily.rule, iso(daily.allowed_again_at)) == ("guardian.purchase", "2026-11-21T00:00:00+08:00")
    monthly = buy(1000, day_spent_fen=0, month_spent_fen=3500)
    assert iso(monthly.allowed_again_at) == "2026-12-01T00:00:00+08:00"
    fine = buy(500, day_spent_fen=1000, month_spent_fen=3000)
    assert fine.remaining_budget_fen == 500  # the guardian's month leaves 500, the policy's 16500


def test_a_policy_daily_purchase_cap_refuses_with_its_own_reason(tmp_path: Path) -> None:
    """R23 Art 44's daily dimension: purchase_daily_cap, allowed again at the next local midnight."""
    cp = custom(tmp_path, "daily", "extends: nppa-2021\npurchase: {caps: {age_8_15: {daily: 8000}}}\n")
    usage = KnownUsage(month_spent_fen=7000, day_spent_fen=7000)
    denied = explain(cp, TEEN_15, Facts(Activity.PURCHASE, 1500), bj(FRIDAY), usage)
    assert (denied.reason, iso(denied.allowed_again_at)) == (
        Reason.PURCHASE_DAILY_CAP,
        "2026-11-21T00:00:00+08:00",
    )


def test_tipping_off_refuses_a_minors_tip_the_policy_would_allow() -> None:
    """law-minimum has no tipping rule: a 15-year-old may tip, unless their guardian turned it off."""
    cp = preset("law-minimum")
    facts = Facts(Activity.LIVESTREAM_TIP, 100)
    assert explain(cp, TEEN_15, facts, bj(FRIDAY), KnownUsage()).allowed
    off = explain(cp, TEEN_15, facts, bj(FRIDAY), KnownUsage(), settings(cp, {"tipping": False}))
    assert (off.reason, off.rule) == (Reason.GUARDIAN_LIMIT, "guardian.tips")


@pytest.mark.parametrize(
    ("token_consent", "guardian", "expected"),
    [
        (False, None, Reason.PUBLISHER_CONSENT_REQUIRED),
        (False, True, Reason.ALLOWED),
        (True, None, Reason.ALLOWED),
        (True, False, Reason.GUARDIAN_LIMIT),  # a withdrawal wins over the token's claim
    ],
)
def test_a_17_year_olds_consent_comes_from_the_token_or_the_guardian_and_a_withdrawal_wins(
    token_consent: bool, guardian: bool | None, expected: Reason
) -> None:
    cp = preset("livestream-2022")
    subject = person("2009-03-10", consent=("livestream_publisher",) if token_consent else ())
    given = None if guardian is None else settings(cp, {"publisher_consent": guardian})
    facts = Facts(Activity.LIVESTREAM_PUBLISHER_REGISTRATION)
    assert explain(cp, subject, facts, bj(FRIDAY), KnownUsage(), given).reason is expected


def test_settings_past_the_policys_bounds_are_refused_naming_field_and_bound() -> None:
    """600 minutes and a cap above the policy's: both named, with the most a guardian may set."""
    with pytest.raises(ValueError, match=r"daily_play_minutes.default: .*at most 60.*purchase_caps.single"):
        settings(
            preset("nppa-2021"), {"daily_play_minutes": {"default": 600}, "purchase_caps": {"single": 20000}}
        )


def test_the_stored_form_reads_back_as_the_same_settings() -> None:
    given = settings(
        preset("minor-mode-2024"),
        {
            "daily_play_minutes": {"default": 30, "holiday": 45},
            "allowed_hours": {
                "default": [{"start": "19:00", "end": "20:00"}, {"start": "19:30", "end": "21:00"}]
            },
            "purchase_caps": {"single": 0},
            "tipping": False,
            "publisher_consent": False,
            "exemptions": ["rest_reminder"],
        },
    )
    assert GuardianSettings.decode(given.encode()) == given
    assert given.hours[next(iter(given.hours))] == ((19 * 60, 21 * 60),)  # overlaps merged


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[]",
        '{"v": 2}',
        '{"v": 1, "m": {"x": 1}}',
        '{"v": 1, "m": {"w": 1441}}',
        '{"v": 1, "h": {"w": [[60, 30]]}}',
        '{"v": 1, "c": {"s": -1}}',
        '{"v": 1, "p": "yes"}',
        '{"v": 1, "z": 1}',
        "[" * 10000,
    ],
)
def test_a_stored_value_the_service_never_writes_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^guardian (settings|hours|period|consent)"):
        GuardianSettings.decode(raw)


def test_settings_do_nothing_under_a_policy_that_reads_none(tmp_path: Path) -> None:
    """guardian.enabled: false: explain refuses settings, and a decision never sees them."""
    cp = custom(tmp_path, "off", "extends: nppa-2021\nguardian: {enabled: false}\n")
    with pytest.raises(ValueError, match="reads no guardian settings"):
        settings(cp, {"purchase_caps": {"single": 0}})
    stored = settings(preset("nppa-2021"), {"purchase_caps": {"single": 0}})
    assert explain(cp, TEEN_15, Facts(Activity.PURCHASE, 100), bj(FRIDAY), KnownUsage(), stored).allowed


def test_a_guardians_limit_gives_the_child_a_remaining_time_of_their_own() -> None:
    """The remaining seconds are the least of the guardian's time left and the policy's window."""
    cp = preset("nppa-2021")
    decided = game(cp, {"daily_play_minutes": {"default": 40}}, "2026-11-20 20:00:00", played=10 * 60)
    assert decided.remaining_seconds == 30 * 60
    assert game(cp, None, "2026-11-20 20:50:00", played=10 * 60).remaining_seconds == 600
    assert dt.timedelta(seconds=decided.remaining_seconds or 0) < dt.timedelta(hours=1)
