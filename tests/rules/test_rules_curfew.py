"""The game curfew (LAW Art 75: no game service to minors 22:00-08:00 Beijing time) at its edges."""

from __future__ import annotations

import datetime as dt

import pytest
from rulekit import UTC, bj, decide, iso, person, preset

from minorguard.types import AgeBand, Outcome, Reason

FIFTEEN = "2011-05-01"  # 15 years old throughout November 2026

# (preset, Beijing wall clock, outcome, allowed_again_at, remaining_seconds)
CURFEW_EDGES = [
    ("law-minimum", "2026-11-23 21:59:59", "allow", None, 1),
    ("law-minimum", "2026-11-23 22:00:00", "deny", "2026-11-24T08:00:00+08:00", None),
    ("law-minimum", "2026-11-24 00:00:00", "deny", "2026-11-24T08:00:00+08:00", None),
    ("law-minimum", "2026-11-24 07:59:59", "deny", "2026-11-24T08:00:00+08:00", None),
    ("law-minimum", "2026-11-24 08:00:00", "allow", None, 14 * 3600),
    ("nppa-2019", "2026-11-23 21:59:59", "allow", None, 1),
    ("nppa-2019", "2026-11-23 22:00:00", "deny", "2026-11-24T08:00:00+08:00", None),
    ("nppa-2019", "2026-11-24 07:59:59", "deny", "2026-11-24T08:00:00+08:00", None),
    ("nppa-2019", "2026-11-24 08:00:00", "allow", None, 90 * 60),
    ("nppa-2019", "2026-12-31 22:00:00", "deny", "2027-01-01T08:00:00+08:00", None),
    ("nppa-2019", "2026-10-01 08:00:00", "allow", None, 180 * 60),
    # G24 ends its night at 06:00, but for the `game` activity the law's 08:00 holds (issue 18)
    ("minor-mode-2024", "2026-11-24 07:00:00", "deny", "2026-11-24T08:00:00+08:00", None),
    ("minor-mode-2024", "2026-11-24 07:59:59", "deny", "2026-11-24T08:00:00+08:00", None),
    ("minor-mode-2024", "2026-11-24 08:00:00", "allow", None, 60 * 60),
    ("minor-mode-2024", "2026-11-23 22:00:00", "deny", "2026-11-24T08:00:00+08:00", None),
]


@pytest.mark.parametrize(
    ("name", "at", "outcome", "again", "remaining"),
    CURFEW_EDGES,
    ids=[f"{c[0]}@{c[1][5:]}" for c in CURFEW_EDGES],
)
def test_curfew_edges_deny_from_22_00_and_allow_from_08_00_beijing_time(
    name: str, at: str, outcome: str, again: str | None, remaining: int | None
) -> None:
    """A minor is refused from 22:00:00 until 07:59:59 and served at 21:59:59 and 08:00:00 Beijing time."""
    cp = preset(name)
    decision = decide(cp, person(FIFTEEN), bj(at))
    assert decision.outcome is Outcome(outcome)
    assert iso(decision.allowed_again_at) == again
    assert decision.remaining_seconds == remaining
    if outcome == "deny":
        assert decision.reason is Reason.CURFEW
        assert decision.rule == "game.curfew"
        assert decision.legal_basis == cp.policy.spec.game.curfew.legal_basis


def test_curfew_starts_at_14_00_utc_and_ends_at_00_00_utc() -> None:
    """Instants written in UTC are judged on the Beijing clock: 14:00Z is 22:00, 00:00Z is 08:00."""
    cp = preset("law-minimum")
    assert decide(cp, person(FIFTEEN), dt.datetime(2026, 11, 23, 13, 59, 59, tzinfo=UTC)).allowed
    decision = decide(cp, person(FIFTEEN), dt.datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    assert decision.reason is Reason.CURFEW
    assert iso(decision.allowed_again_at) == "2026-11-24T08:00:00+08:00"
    assert not decide(cp, person(FIFTEEN), dt.datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC)).allowed
    assert decide(cp, person(FIFTEEN), dt.datetime(2026, 11, 24, 0, 0, tzinfo=UTC)).allowed


@pytest.mark.parametrize("name", ["law-minimum", "nppa-2019", "nppa-2021"])
def test_an_adult_plays_through_the_curfew(name: str) -> None:
    """Adults are not subject to the curfew: allowed at 23:30 with nothing counted down."""
    decision = decide(preset(name), person("1990-01-01"), bj("2026-11-20 23:30:00"))
    assert decision.outcome is Outcome.ALLOW
    assert decision.band is AgeBand.ADULT
    assert decision.remaining_seconds is None


def test_curfew_allowed_again_at_is_the_18th_birthday_when_it_comes_before_08_00() -> None:
    """A 17-year-old refused at 22:00 the night before turning 18 may play from midnight on."""
    cp = preset("law-minimum")
    turning_18 = person("2008-11-24")
    decision = decide(cp, turning_18, bj("2026-11-23 22:00:00"))
    assert decision.reason is Reason.CURFEW
    assert iso(decision.allowed_again_at) == "2026-11-24T00:00:00+08:00"
    assert decide(cp, turning_18, bj("2026-11-24 00:00:00")).band is AgeBand.ADULT
    assert decide(cp, turning_18, bj("2026-11-24 00:00:00")).allowed


def test_nppa_2021_curfew_points_to_the_next_play_window_not_to_08_00() -> None:
    """Under nppa-2021 a curfew deny points to 20:00 of the next play day (Thursday 07:59 → Friday 20:00)."""
    cp = preset("nppa-2021")
    thursday_morning = decide(cp, person(FIFTEEN), bj("2026-11-19 07:59:59"))
    assert thursday_morning.reason is Reason.CURFEW
    assert iso(thursday_morning.allowed_again_at) == "2026-11-20T20:00:00+08:00"
    friday_night = decide(cp, person(FIFTEEN), bj("2026-11-20 22:00:00"))
    assert friday_night.reason is Reason.CURFEW
    assert iso(friday_night.allowed_again_at) == "2026-11-21T20:00:00+08:00"


def test_curfew_warns_in_the_last_minute_before_22_00() -> None:
    """At 21:59:00 one minute is left before the curfew: a play_time_low warning at the 1-minute mark."""
    decision = decide(preset("nppa-2019"), person(FIFTEEN), bj("2026-11-23 21:59:00"))
    assert decision.allowed
    assert decision.remaining_seconds == 60
    assert [(w.code.value, w.threshold_seconds) for w in decision.warnings] == [("play_time_low", 60)]
