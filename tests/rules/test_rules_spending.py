"""Money (integer fen): N19 §3 purchase caps at exactly the cap and one fen over, calendar-month
roll-over in Beijing time, report_only purchase rules, and live-stream tipping (LS22 §1, LS20)."""

from __future__ import annotations

import pytest
from rulekit import bj, codes, custom, decide, decide_json, iso, person, preset

from minorguard.rules.compiled import CompiledPolicy
from minorguard.types import Activity, AgeBand, Mode, Outcome, Reason

AGE_15 = person("2011-05-01")
AGE_17 = person("2009-05-01")
AGE_6 = person("2020-05-01")
ADULT = person("1990-05-01")
UNVERIFIED = person(None)
NOON = bj("2026-11-15 12:00:00")

# (who, amount, spent this month, outcome, reason, remaining budget)
PURCHASES = [
    ("15", 5000, 0, "allow", "allowed", 15000),
    ("15", 5001, 0, "deny", "purchase_single_cap", None),
    ("15", 5000, 15000, "allow", "allowed", 0),
    ("15", 5000, 15001, "deny", "purchase_monthly_cap", None),
    ("15", 1, 19999, "allow", "allowed", 0),
    ("15", 1, 20000, "deny", "purchase_monthly_cap", None),
    ("17", 10000, 30000, "allow", "allowed", 0),
    ("17", 10001, 0, "deny", "purchase_single_cap", None),
    ("17", 10000, 30001, "deny", "purchase_monthly_cap", None),
    ("6", 1, 0, "deny", "purchase_not_allowed", None),
    ("adult", 1_000_000, 9_000_000, "allow", "allowed", None),
    ("unverified", 100, 0, "deny", "purchase_not_allowed", None),
]
WHO = {"15": AGE_15, "17": AGE_17, "6": AGE_6, "adult": ADULT, "unverified": UNVERIFIED}


@pytest.mark.parametrize(
    ("who", "amount", "spent", "outcome", "reason", "budget"),
    PURCHASES,
    ids=[f"{p[0]}-{p[1]}+{p[2]}" for p in PURCHASES],
)
def test_purchase_caps_allow_exactly_the_cap_and_refuse_one_fen_over(
    who: str, amount: int, spent: int, outcome: str, reason: str, budget: int | None
) -> None:
    """nppa-2019: ¥50/¥200 a month at 8-15, ¥100/¥400 at 16-17, nothing under 8 or unverified; adults free."""
    decision = decide(
        preset("nppa-2019"), WHO[who], NOON, Activity.PURCHASE, amount=amount, month_spent=spent
    )
    assert decision.outcome is Outcome(outcome)
    assert decision.reason is Reason(reason)
    assert decision.remaining_budget_fen == budget
    if outcome == "deny":
        assert decision.rule == "purchase"
        situation = "unverified" if who == "unverified" else reason
        assert decision.legal_basis == preset("nppa-2019").policy.spec.purchase.basis(situation)


def test_a_single_cap_deny_has_no_allowed_again_at() -> None:
    """Waiting does not make a ¥50.01 top-up acceptable for a 15-year-old: allowed_again_at is None."""
    decision = decide(preset("nppa-2019"), AGE_15, NOON, Activity.PURCHASE, amount=5001)
    assert decision.reason is Reason.PURCHASE_SINGLE_CAP
    assert decision.allowed_again_at is None


MONTH_ENDS = [
    ("2026-11-15 12:00:00", "2026-12-01T00:00:00+08:00"),
    ("2026-11-30 23:59:59", "2026-12-01T00:00:00+08:00"),
    ("2026-12-01 00:00:00", "2027-01-01T00:00:00+08:00"),  # 2026-11-30 16:00 UTC is already December
    ("2026-12-31 23:59:59", "2027-01-01T00:00:00+08:00"),
    ("2026-01-31 23:59:59", "2026-02-01T00:00:00+08:00"),
    ("2026-02-28 12:00:00", "2026-03-01T00:00:00+08:00"),
    ("2024-02-29 12:00:00", "2024-03-01T00:00:00+08:00"),
    ("2025-12-01 00:00:00", "2026-01-01T00:00:00+08:00"),
]


@pytest.mark.parametrize(("at", "again"), MONTH_ENDS, ids=[m[0] for m in MONTH_ENDS])
def test_a_monthly_cap_deny_is_lifted_at_the_first_of_the_next_month_beijing_time(
    at: str, again: str
) -> None:
    """The month is the Beijing calendar month: allowed again on the 1st at 00:00 +08:00 (Dec → Jan)."""
    decision = decide(preset("nppa-2019"), AGE_15, bj(at), Activity.PURCHASE, amount=5000, month_spent=20000)
    assert decision.reason is Reason.PURCHASE_MONTHLY_CAP
    assert iso(decision.allowed_again_at) == again


@pytest.fixture(scope="module")
def report_only(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    directory = tmp_path_factory.mktemp("report-only")
    body = (
        'extends: nppa-2019\ngame: {guest: {mode: "off"}}\npurchase:\n  mode: report_only\n'
        "  looser_than_law: {reason: a trial of the caps before they refuse anyone}\n"
    )
    return custom(directory, "caps-report-only", body)


def test_report_only_purchase_over_the_single_cap_is_allowed_and_reported(
    report_only: CompiledPolicy,
) -> None:
    """A report_only purchase rule lets ¥60 through and lists the single-cap finding in report_only."""
    decision = decide(report_only, AGE_15, NOON, Activity.PURCHASE, amount=6000)
    assert decision.outcome is Outcome.ALLOW
    assert decision.reason is Reason.ALLOWED
    assert [(f.reason, f.rule, f.mode) for f in decision.report_only] == [
        (Reason.PURCHASE_SINGLE_CAP, "purchase", Mode.REPORT_ONLY)
    ]
    assert decision.remaining_budget_fen == 14000


def test_report_only_purchase_over_the_monthly_cap_is_allowed_and_reported(
    report_only: CompiledPolicy,
) -> None:
    """Going past ¥200 in a month under report_only is allowed; the finding names the next month's start."""
    decision = decide(report_only, AGE_15, NOON, Activity.PURCHASE, amount=5000, month_spent=18000)
    assert decision.outcome is Outcome.ALLOW
    assert [(f.reason, iso(f.allowed_again_at)) for f in decision.report_only] == [
        (Reason.PURCHASE_MONTHLY_CAP, "2026-12-01T00:00:00+08:00")
    ]
    assert decision.remaining_budget_fen == 0
    as_json = decide_json(report_only, AGE_15, NOON, Activity.PURCHASE, amount=5000, month_spent=18000)
    assert as_json["outcome"] == "allow"
    assert [f["reason"] for f in as_json["report_only"]] == ["purchase_monthly_cap"]  # type: ignore[index]


def test_report_only_purchase_within_the_caps_reports_nothing(report_only: CompiledPolicy) -> None:
    """Exactly at both caps nothing is reported."""
    decision = decide(report_only, AGE_15, NOON, Activity.PURCHASE, amount=5000, month_spent=15000)
    assert decision.allowed
    assert decision.report_only == ()


@pytest.mark.parametrize("who", ["6", "unverified"])
def test_report_only_purchase_by_someone_who_may_not_pay_is_allowed_and_reported(
    who: str, report_only: CompiledPolicy
) -> None:
    """Under-8s and unverified users are let through under report_only, with purchase_not_allowed listed."""
    decision = decide(report_only, WHO[who], NOON, Activity.PURCHASE, amount=100)
    assert decision.outcome is Outcome.ALLOW
    assert [f.reason for f in decision.report_only] == [Reason.PURCHASE_NOT_ALLOWED]


# -- tipping ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tip_caps(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    """livestream-2022 with a platform's adult caps: ¥100 a tip, ¥200 a day, ¥1000 a month."""
    directory = tmp_path_factory.mktemp("tips")
    body = (
        "extends: livestream-2022\n"
        "livestream_tip:\n"
        "  adult_caps: {per_tip: 10000, daily: 20000, monthly: 100000}\n"
    )
    return custom(directory, "tips-capped", body)


@pytest.mark.parametrize("name", ["livestream-2022", "tips-capped"])
def test_a_minor_may_never_tip_until_18(name: str, tip_caps: CompiledPolicy) -> None:
    """LS22 §1: a 17-year-old's 1-fen tip is refused, allowed again on the 18th birthday at 00:00 Beijing."""
    cp = preset(name) if name == "livestream-2022" else tip_caps
    decision = decide(cp, AGE_17, NOON, Activity.LIVESTREAM_TIP, amount=1)
    assert (decision.outcome, decision.reason, decision.rule) == (
        Outcome.DENY,
        Reason.TIP_MINOR,
        "livestream_tip",
    )
    assert iso(decision.allowed_again_at) == "2027-05-01T00:00:00+08:00"


def test_an_unverified_user_may_not_tip() -> None:
    """LS20: tipping needs a verified identity."""
    decision = decide(preset("livestream-2022"), UNVERIFIED, NOON, Activity.LIVESTREAM_TIP, amount=1)
    assert (decision.outcome, decision.reason, decision.band) == (
        Outcome.DENY,
        Reason.IDENTITY_UNVERIFIED,
        AgeBand.UNVERIFIED,
    )


def test_an_adult_tips_freely_when_the_platform_set_no_caps() -> None:
    """The preset leaves the adult caps to the platform (null): any tip is allowed, with no budget."""
    decision = decide(preset("livestream-2022"), ADULT, NOON, Activity.LIVESTREAM_TIP, amount=10**7)
    assert decision.allowed
    assert decision.remaining_budget_fen is None
    assert decision.warnings == ()


# (amount, tipped today, tipped this month, outcome, reason, warnings, remaining monthly budget)
TIPS = [
    (9999, 0, 0, "allow", "allowed", [], 90001),
    (10000, 0, 0, "allow", "allowed", ["tip_half_daily_limit"], 90000),
    (10001, 0, 0, "deny", "tip_per_tip_cap", [], None),
    (5000, 15000, 15000, "allow", "allowed", ["tip_half_daily_limit"], 80000),
    (5001, 15000, 15000, "deny", "tip_daily_cap", [], None),
    (1000, 0, 49000, "allow", "allowed", ["tip_half_monthly_limit"], 50000),
    (999, 0, 49000, "allow", "allowed", [], 50001),
    (5000, 15000, 95000, "allow", "allowed", ["tip_half_daily_limit", "tip_half_monthly_limit"], 0),
    (5000, 0, 95001, "deny", "tip_monthly_cap", [], None),
]


@pytest.mark.parametrize(
    ("amount", "today", "month", "outcome", "reason", "warnings", "budget"),
    TIPS,
    ids=[f"{t[0]}+{t[1]}d+{t[2]}m" for t in TIPS],
)
def test_adult_tips_stop_at_the_platform_caps_and_warn_at_half(
    amount: int,
    today: int,
    month: int,
    outcome: str,
    reason: str,
    warnings: list[str],
    budget: int | None,
    tip_caps: CompiledPolicy,
) -> None:
    """LS20: per-tip, daily and monthly caps are exact; reaching half of a daily or monthly cap warns."""
    decision = decide(
        tip_caps, ADULT, NOON, Activity.LIVESTREAM_TIP, amount=amount, day_tipped=today, month_spent=month
    )
    assert decision.outcome is Outcome(outcome)
    assert decision.reason is Reason(reason)
    assert codes(decision) == warnings
    assert decision.remaining_budget_fen == budget


@pytest.mark.parametrize(
    ("at", "daily_again", "monthly_again"),
    [
        ("2026-11-15 12:00:00", "2026-11-16T00:00:00+08:00", "2026-12-01T00:00:00+08:00"),
        ("2026-11-30 23:59:59", "2026-12-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00"),
        ("2026-12-31 00:00:00", "2027-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
    ],
)
def test_tip_cap_denies_are_lifted_at_the_next_beijing_day_or_month(
    at: str, daily_again: str, monthly_again: str, tip_caps: CompiledPolicy
) -> None:
    """A daily-cap deny lasts until the next local midnight, a monthly one until the 1st of next month."""
    daily = decide(tip_caps, ADULT, bj(at), Activity.LIVESTREAM_TIP, amount=5001, day_tipped=15000)
    assert (daily.reason, iso(daily.allowed_again_at)) == (Reason.TIP_DAILY_CAP, daily_again)
    monthly = decide(tip_caps, ADULT, bj(at), Activity.LIVESTREAM_TIP, amount=5000, month_spent=95001)
    assert (monthly.reason, iso(monthly.allowed_again_at)) == (Reason.TIP_MONTHLY_CAP, monthly_again)
