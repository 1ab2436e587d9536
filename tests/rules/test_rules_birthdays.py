"""Birthdays at local midnight, Beijing time: 23:59:59 the day before vs 00:00:00 (16:00 UTC the day
before), for the age edges 8 (paid services), 16 (publisher accounts, higher caps) and 18 (adult), with
the default `birthday: on_birthday` and with `birthday: day_after`, and 29 February birthdays."""

from __future__ import annotations

import datetime as dt

import pytest
from rulekit import UTC, bj, custom, decide, decide_json, iso, person, preset

from minorguard.rules.compiled import CompiledPolicy
from minorguard.types import Activity, AgeBand, Outcome, Reason


@pytest.fixture(scope="module")
def day_after(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    """nppa-2021 (with law-minimum's publisher rule and nppa-2019's caps) where a year of age begins
    at midnight after the birthday."""
    directory = tmp_path_factory.mktemp("day-after")
    return custom(directory, "day-after", "extends: nppa-2021\nbirthday: day_after\n")


def test_midnight_beijing_is_16_00_utc_the_day_before() -> None:
    """The helper's Beijing times are the UTC instants the docstring of this module promises."""
    assert bj("2026-03-10 00:00:00") == dt.datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def test_turning_8_opens_paid_services_at_local_midnight() -> None:
    """Under nppa-2019 a child born 2018-03-10 may not pay at 23:59:59 on 03-09, and may at 00:00:00."""
    cp, child = preset("nppa-2019"), person("2018-03-10")
    before = decide(cp, child, bj("2026-03-09 23:59:59"), Activity.PURCHASE, amount=1000)
    assert (before.outcome, before.reason, before.band) == (
        Outcome.DENY,
        Reason.PURCHASE_NOT_ALLOWED,
        AgeBand.UNDER_8,
    )
    assert iso(before.allowed_again_at) == "2026-03-10T00:00:00+08:00"
    on = decide(cp, child, bj("2026-03-10 00:00:00"), Activity.PURCHASE, amount=1000)
    assert (on.outcome, on.band, on.remaining_budget_fen) == (Outcome.ALLOW, AgeBand.AGE_8_15, 19000)


def test_turning_16_opens_publisher_registration_with_consent_at_local_midnight() -> None:
    """Born 2010-03-10: under-16 refusal until 23:59:59, then a guardian's consent is what is needed."""
    cp = preset("law-minimum")
    activity = Activity.LIVESTREAM_PUBLISHER_REGISTRATION
    before = decide(cp, person("2010-03-10"), bj("2026-03-09 23:59:59"), activity)
    assert before.reason is Reason.PUBLISHER_UNDER_MIN_AGE
    assert iso(before.allowed_again_at) == "2026-03-10T00:00:00+08:00"
    on = decide(cp, person("2010-03-10"), bj("2026-03-10 00:00:00"), activity)
    assert on.reason is Reason.PUBLISHER_CONSENT_REQUIRED
    consented = person("2010-03-10", consent=("livestream_publisher",))
    assert decide(cp, consented, bj("2026-03-09 23:59:59"), activity).reason is Reason.PUBLISHER_UNDER_MIN_AGE
    assert decide(cp, consented, bj("2026-03-10 00:00:00"), activity).allowed


def test_turning_16_raises_the_single_purchase_cap_at_local_midnight() -> None:
    """A 10000-fen top-up is over the 8-15 single cap at 23:59:59 and within the 16-17 cap at 00:00:00."""
    cp, teen = preset("nppa-2019"), person("2010-03-10")
    before = decide(cp, teen, bj("2026-03-09 23:59:59"), Activity.PURCHASE, amount=10000)
    assert (before.reason, before.band) == (Reason.PURCHASE_SINGLE_CAP, AgeBand.AGE_8_15)
    on = decide(cp, teen, bj("2026-03-10 00:00:00"), Activity.PURCHASE, amount=10000)
    assert (on.outcome, on.band, on.remaining_budget_fen) == (Outcome.ALLOW, AgeBand.AGE_16_17, 30000)


def test_turning_18_ends_the_curfew_and_the_tipping_ban_at_local_midnight() -> None:
    """Born 2008-03-12: a minor at 23:59:59 on Wednesday 03-11 (curfew, no tips), an adult at 00:00:00."""
    teen = person("2008-03-12")
    game = preset("nppa-2021")
    before = decide(game, teen, bj("2026-03-11 23:59:59"))
    assert (before.reason, before.band) == (Reason.CURFEW, AgeBand.AGE_16_17)
    assert iso(before.allowed_again_at) == "2026-03-12T00:00:00+08:00"
    on = decide(game, teen, bj("2026-03-12 00:00:00"))
    assert (on.outcome, on.band) == (Outcome.ALLOW, AgeBand.ADULT)
    assert decide_json(game, teen, bj("2026-03-11 23:59:59"))["age"] == 17
    assert decide_json(game, teen, bj("2026-03-12 00:00:00"))["age"] == 18

    tips = preset("livestream-2022")
    tip_before = decide(tips, teen, bj("2026-03-11 23:59:59"), Activity.LIVESTREAM_TIP, amount=100)
    assert tip_before.reason is Reason.TIP_MINOR
    assert iso(tip_before.allowed_again_at) == "2026-03-12T00:00:00+08:00"
    assert decide(tips, teen, bj("2026-03-12 00:00:00"), Activity.LIVESTREAM_TIP, amount=100).allowed


def test_day_after_birthday_rule_counts_the_new_year_from_the_next_midnight(
    day_after: CompiledPolicy,
) -> None:
    """With `birthday: day_after` a person born 2008-03-12 is 17 all of 03-12 and 18 from 03-13 00:00."""
    teen = person("2008-03-12")
    on = decide(day_after, teen, bj("2026-03-12 00:00:00"))
    assert (on.reason, on.band) == (Reason.CURFEW, AgeBand.AGE_16_17)
    assert iso(on.allowed_again_at) == "2026-03-13T00:00:00+08:00"
    last = decide(day_after, teen, bj("2026-03-12 23:59:59"))
    assert (last.reason, iso(last.allowed_again_at)) == (Reason.CURFEW, "2026-03-13T00:00:00+08:00")
    after = decide(day_after, teen, bj("2026-03-13 00:00:00"))
    assert (after.outcome, after.band) == (Outcome.ALLOW, AgeBand.ADULT)


def test_day_after_birthday_rule_moves_the_8_and_16_edges_too(day_after: CompiledPolicy) -> None:
    """With `birthday: day_after` paying at 8 and registering at 16 start a day later."""
    child = person("2018-03-10")
    on = decide(day_after, child, bj("2026-03-10 00:00:00"), Activity.PURCHASE, amount=1000)
    assert on.reason is Reason.PURCHASE_NOT_ALLOWED
    assert iso(on.allowed_again_at) == "2026-03-11T00:00:00+08:00"
    assert decide(day_after, child, bj("2026-03-11 00:00:00"), Activity.PURCHASE, amount=1000).allowed

    activity = Activity.LIVESTREAM_PUBLISHER_REGISTRATION
    teen = person("2010-03-10", consent=("livestream_publisher",))
    on16 = decide(day_after, teen, bj("2026-03-10 12:00:00"), activity)
    assert on16.reason is Reason.PUBLISHER_UNDER_MIN_AGE
    assert iso(on16.allowed_again_at) == "2026-03-11T00:00:00+08:00"
    assert decide(day_after, teen, bj("2026-03-11 00:00:00"), activity).allowed


def test_a_29_february_birthday_turns_18_on_1_march_of_a_common_year(day_after: CompiledPolicy) -> None:
    """Born 2008-02-29: adult from 2026-03-01 00:00 Beijing time (from 03-02 with `birthday: day_after`)."""
    leapling = person("2008-02-29")
    cp = preset("nppa-2021")
    before = decide(cp, leapling, bj("2026-02-28 23:59:59"))
    assert (before.reason, iso(before.allowed_again_at)) == (Reason.CURFEW, "2026-03-01T00:00:00+08:00")
    assert decide(cp, leapling, bj("2026-03-01 00:00:00")).band is AgeBand.ADULT

    # 03-01 is a Sunday: with day_after the minor's Sunday window comes before the 18th birthday.
    late = decide(day_after, leapling, bj("2026-03-01 00:00:00"))
    assert (late.band, iso(late.allowed_again_at)) == (AgeBand.AGE_16_17, "2026-03-01T20:00:00+08:00")
    later = decide(day_after, leapling, bj("2026-03-01 21:30:00"))
    assert (later.band, iso(later.allowed_again_at)) == (AgeBand.AGE_16_17, "2026-03-02T00:00:00+08:00")
    assert decide(day_after, leapling, bj("2026-03-02 00:00:00")).band is AgeBand.ADULT


def test_a_29_february_birthday_turns_8_on_29_february_of_a_leap_year(day_after: CompiledPolicy) -> None:
    """Born 2016-02-29: paid services from 2024-02-29 00:00 (from 2024-03-01 with `birthday: day_after`)."""
    leapling = person("2016-02-29")
    cp = preset("nppa-2019")
    before = decide(cp, leapling, bj("2024-02-28 23:59:59"), Activity.PURCHASE, amount=100)
    assert (before.reason, iso(before.allowed_again_at)) == (
        Reason.PURCHASE_NOT_ALLOWED,
        "2024-02-29T00:00:00+08:00",
    )
    assert decide(cp, leapling, bj("2024-02-29 00:00:00"), Activity.PURCHASE, amount=100).allowed
    late = decide(day_after, leapling, bj("2024-02-29 00:00:00"), Activity.PURCHASE, amount=100)
    assert iso(late.allowed_again_at) == "2024-03-01T00:00:00+08:00"
