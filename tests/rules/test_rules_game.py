"""The game activity beyond the curfew: daily play time (N19 §2, N21 §1, G24), its warnings and
remaining seconds, guest mode (N19 §1), age ratings, and live-stream publisher registration (LAW Art 76)."""

from __future__ import annotations

import pytest
from rulekit import bj, custom, decide, iso, person, preset

from minorguard.types import Activity, AgeBand, Outcome, Reason, Subject

AGE_15 = person("2011-05-01")
AGE_17 = person("2009-05-01")
ADULT = person("1990-05-01")
GUEST = person(None, device="device-1")
UNVERIFIED = person(None)
MONDAY_10 = bj("2026-11-23 10:00:00")

# -- daily play time ----------------------------------------------------------------------------------

# (preset, who, Beijing time, played seconds, outcome, remaining_seconds, warning thresholds, allowed again)
PLAY_TIME = [
    # nppa-2019 on a working day: 90 minutes
    ("nppa-2019", "15", "2026-11-23 10:00:00", 5400, "deny", None, [], "2026-11-24T08:00:00+08:00"),
    ("nppa-2019", "15", "2026-11-23 10:00:00", 5399, "allow", 1, [60], None),
    ("nppa-2019", "15", "2026-11-23 10:00:00", 5340, "allow", 60, [60], None),
    ("nppa-2019", "15", "2026-11-23 10:00:00", 5339, "allow", 61, [900], None),
    ("nppa-2019", "15", "2026-11-23 10:00:00", 4500, "allow", 900, [900], None),
    ("nppa-2019", "15", "2026-11-23 10:00:00", 4499, "allow", 901, [], None),
    ("nppa-2019", "15", "2026-11-23 10:00:00", 0, "allow", 5400, [], None),
    # ... on a Sunday that is not a holiday: still 90 minutes
    ("nppa-2019", "15", "2026-11-22 10:00:00", 5400, "deny", None, [], "2026-11-23T08:00:00+08:00"),
    # ... on a holiday: 3 hours
    ("nppa-2019", "15", "2026-10-01 10:00:00", 10799, "allow", 1, [60], None),
    ("nppa-2019", "15", "2026-10-01 10:00:00", 10800, "deny", None, [], "2026-10-02T08:00:00+08:00"),
    # remaining = min(time left today, time until the curfew at 22:00)
    ("nppa-2019", "15", "2026-11-23 21:30:00", 0, "allow", 1800, [], None),
    ("nppa-2019", "15", "2026-11-23 21:30:00", 3600, "allow", 1800, [], None),
    ("nppa-2019", "15", "2026-11-23 21:30:00", 4000, "allow", 1400, [], None),
    ("nppa-2019", "15", "2026-11-23 21:50:00", 0, "allow", 600, [900], None),
    # nppa-2021 on a Friday: one hour inside 20:00-21:00
    ("nppa-2021", "15", "2026-11-20 20:00:00", 3600, "deny", None, [], "2026-11-21T20:00:00+08:00"),
    ("nppa-2021", "15", "2026-11-20 20:00:00", 3599, "allow", 1, [60], None),
    ("nppa-2021", "15", "2026-11-20 20:30:00", 0, "allow", 1800, [], None),
    ("nppa-2021", "15", "2026-11-20 20:30:00", 2000, "allow", 1600, [], None),
    ("nppa-2021", "15", "2026-11-20 20:45:00", 0, "allow", 900, [900], None),
    ("nppa-2021", "15", "2026-11-20 20:59:00", 0, "allow", 60, [60], None),
    ("nppa-2021", "15", "2026-11-22 20:30:00", 3600, "deny", None, [], "2026-11-27T20:00:00+08:00"),
    ("nppa-2021", "15", "2026-02-13 20:30:00", 3600, "deny", None, [], "2026-02-15T20:00:00+08:00"),
    # ... and on a holiday: still one hour (N21 §1 一小时; nppa-2019's 3 holiday hours are superseded)
    ("nppa-2021", "15", "2026-10-01 20:30:00", 3600, "deny", None, [], "2026-10-02T20:00:00+08:00"),
    ("nppa-2021", "15", "2026-10-01 20:00:00", 1, "allow", 3599, [], None),
    # minor-mode-2024: 1 hour under 16, 2 hours at 16-17
    ("minor-mode-2024", "15", "2026-11-23 10:00:00", 3600, "deny", None, [], "2026-11-24T08:00:00+08:00"),
    ("minor-mode-2024", "17", "2026-11-23 10:00:00", 3600, "allow", 3600, [], None),
    ("minor-mode-2024", "17", "2026-11-23 10:00:00", 7199, "allow", 1, [60], None),
    ("minor-mode-2024", "17", "2026-11-23 10:00:00", 7200, "deny", None, [], "2026-11-24T08:00:00+08:00"),
    # adults have no limit
    ("nppa-2019", "adult", "2026-11-23 10:00:00", 86400, "allow", None, [], None),
]
WHO = {"15": AGE_15, "17": AGE_17, "adult": ADULT}


@pytest.mark.parametrize(
    ("name", "who", "at", "played", "outcome", "remaining", "thresholds", "again"),
    PLAY_TIME,
    ids=[f"{p[0]}-{p[1]}@{p[2][5:]}+{p[3]}s" for p in PLAY_TIME],
)
def test_daily_play_time_ends_exactly_at_the_limit_and_warns_at_15_and_1_minutes(
    name: str,
    who: str,
    at: str,
    played: int,
    outcome: str,
    remaining: int | None,
    thresholds: list[int],
    again: str | None,
) -> None:
    """Reaching the limit denies until the next day's first allowed instant; 1 s under is allowed with
    remaining_seconds = min(time left today, time until the allowed interval closes)."""
    decision = decide(preset(name), WHO[who], bj(at), played=played)
    assert decision.outcome is Outcome(outcome)
    assert decision.remaining_seconds == remaining
    assert [w.threshold_seconds for w in decision.warnings] == thresholds
    assert iso(decision.allowed_again_at) == again
    if outcome == "deny":
        assert (decision.reason, decision.rule) == (Reason.DAILY_PLAY_LIMIT, "game.play_time")


def test_daily_limit_deny_names_the_18th_birthday_when_it_comes_first() -> None:
    """A 17-year-old who used up the day before turning 18 may play again from midnight, not from 08:00."""
    decision = decide(preset("nppa-2019"), person("2008-11-24"), MONDAY_10, played=5400)
    assert decision.reason is Reason.DAILY_PLAY_LIMIT
    assert iso(decision.allowed_again_at) == "2026-11-24T00:00:00+08:00"


def test_warnings_follow_the_policys_thresholds(tmp_path_factory: pytest.TempPathFactory) -> None:
    """With warn_before_minutes [30, 5] the warning comes at 30 minutes left, then at 5."""
    body = (
        'extends: nppa-2019\ngame:\n  guest: {mode: "off"}\n  play_time:\n    warn_before_minutes: [30, 5]\n'
    )
    cp = custom(tmp_path_factory.mktemp("warn"), "warn-30-5", body)
    assert [w.threshold_seconds for w in decide(cp, AGE_15, MONDAY_10, played=5400 - 1801).warnings] == []
    assert [w.threshold_seconds for w in decide(cp, AGE_15, MONDAY_10, played=5400 - 1800).warnings] == [1800]
    assert [w.threshold_seconds for w in decide(cp, AGE_15, MONDAY_10, played=5400 - 300).warnings] == [300]


# -- guest mode (nppa-2019) ---------------------------------------------------------------------------

# (Beijing time, guest seconds used, outcome, reason, remaining, thresholds, allowed again)
GUESTS = [
    ("2026-11-23 10:00:00", 0, "allow", "allowed", 3600, [], None),
    ("2026-11-23 10:00:00", 2700, "allow", "allowed", 900, [900], None),
    ("2026-11-23 10:00:00", 3599, "allow", "allowed", 1, [60], None),
    ("2026-11-23 10:00:00", 3600, "deny", "guest_limit", None, [], "2026-12-08T10:00:00+08:00"),
    ("2026-11-23 21:30:00", 0, "allow", "allowed", 1800, [], None),
    ("2026-11-23 23:00:00", 0, "deny", "curfew", None, [], "2026-11-24T08:00:00+08:00"),
]


@pytest.mark.parametrize(
    ("at", "used", "outcome", "reason", "remaining", "thresholds", "again"),
    GUESTS,
    ids=[f"{g[0][11:]}+{g[1]}s" for g in GUESTS],
)
def test_guest_mode_gives_a_device_one_hour_within_the_curfew_rules(
    at: str,
    used: int,
    outcome: str,
    reason: str,
    remaining: int | None,
    thresholds: list[int],
    again: str | None,
) -> None:
    """N19 §1: an unverified player on a device gets 60 minutes, then nothing for 15 days."""
    decision = decide(preset("nppa-2019"), GUEST, bj(at), guest_used=used)
    assert (decision.outcome, decision.reason, decision.band) == (
        Outcome(outcome),
        Reason(reason),
        AgeBand.UNVERIFIED,
    )
    assert decision.remaining_seconds == remaining
    assert [w.threshold_seconds for w in decision.warnings] == thresholds
    assert iso(decision.allowed_again_at) == again
    if reason == "guest_limit":
        assert decision.rule == "game.guest"


@pytest.mark.parametrize(("name", "who"), [("nppa-2019", "no device"), ("nppa-2021", "guest")])
def test_unverified_play_is_refused_without_guest_mode(name: str, who: str) -> None:
    """Without a device id (nppa-2019) or under nppa-2021 (guest mode abolished) play needs an identity."""
    subject = GUEST if who == "guest" else UNVERIFIED
    decision = decide(preset(name), subject, MONDAY_10)
    assert (decision.outcome, decision.reason, decision.rule) == (
        Outcome.DENY,
        Reason.IDENTITY_UNVERIFIED,
        "identity",
    )


def test_a_guest_may_not_pay() -> None:
    """N19 §1: no paid services in guest mode."""
    decision = decide(preset("nppa-2019"), GUEST, MONDAY_10, Activity.PURCHASE, amount=100)
    assert (decision.outcome, decision.reason) == (Outcome.DENY, Reason.PURCHASE_NOT_ALLOWED)


# -- age ratings --------------------------------------------------------------------------------------

ELEVEN = person("2014-12-01")  # 11 on 2026-11-23, 12 from 2026-12-01


RATINGS = [
    # law-minimum: a minor may play from 08:00 of the birthday (the curfew still holds at midnight)
    ("law-minimum", ELEVEN, 12, "deny", "2026-12-01T08:00:00+08:00"),
    ("law-minimum", ELEVEN, 11, "allow", None),
    ("law-minimum", ELEVEN, 0, "allow", None),
    ("law-minimum", AGE_15, 16, "deny", "2027-05-01T08:00:00+08:00"),
    ("law-minimum", AGE_17, 16, "allow", None),
    ("law-minimum", AGE_17, 18, "deny", "2027-05-01T00:00:00+08:00"),  # an adult at once
    ("law-minimum", ADULT, 18, "allow", None),
    # nppa-2021: 2026-12-01 is a Tuesday, so the first window from the birthday is Friday's
    ("nppa-2021", ELEVEN, 12, "deny", "2026-12-04T20:00:00+08:00"),
    ("nppa-2021", AGE_17, 18, "deny", "2027-05-01T00:00:00+08:00"),
]


@pytest.mark.parametrize(
    ("name", "who", "rating", "outcome", "again"),
    RATINGS,
    ids=[f"{r[0]}-{r[1].birthdate}-{r[2]}+" for r in RATINGS],  # type: ignore[attr-defined]
)
def test_a_game_rated_above_the_players_age_is_refused_until_the_first_allowed_instant_of_the_birthday(
    name: str, who: Subject, rating: int, outcome: str, again: str | None
) -> None:
    """LAW Art 75 ¶3: a game rated N+ is refused below age N; allowed_again_at is the first instant from
    the N-th birthday at which the schedule lets the player in."""
    cp = preset(name)
    decision = decide(cp, who, MONDAY_10, game_rating=rating)
    assert decision.outcome is Outcome(outcome)
    assert iso(decision.allowed_again_at) == again
    if outcome == "deny":
        assert (decision.reason, decision.rule) == (Reason.GAME_RATING, "game.rating")
        assert decision.allowed_again_at is not None
        assert decide(cp, who, decision.allowed_again_at, game_rating=rating).allowed


def test_a_game_id_takes_its_rating_from_the_policy(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`game.rating.games` maps a game id to its minimum age when the request sends no rating."""
    body = "extends: law-minimum\ngame:\n  rating:\n    games: {star-fleet: 12}\n"
    cp = custom(tmp_path_factory.mktemp("rating"), "rated", body)
    assert decide(cp, ELEVEN, MONDAY_10, game_id="star-fleet").reason is Reason.GAME_RATING
    assert decide(cp, ELEVEN, MONDAY_10, game_id="other-game").allowed
    assert decide(cp, person("2014-11-01"), MONDAY_10, game_id="star-fleet").allowed


@pytest.mark.parametrize(("rating", "outcome"), [(12, "allow"), (17, "allow"), (18, "deny")])
def test_a_guest_of_unknown_age_is_refused_only_adult_only_games(rating: int, outcome: str) -> None:
    """A guest's age is unknown: only games rated 18+ are refused."""
    decision = decide(preset("nppa-2019"), GUEST, MONDAY_10, game_rating=rating)
    assert decision.outcome is Outcome(outcome)
    if outcome == "deny":
        assert decision.reason is Reason.GAME_RATING
        assert decision.allowed_again_at is None


# -- live-stream publisher registration (LAW Art 76) --------------------------------------------------

REGISTRATION = Activity.LIVESTREAM_PUBLISHER_REGISTRATION


@pytest.mark.parametrize("name", ["law-minimum", "livestream-2022"])
@pytest.mark.parametrize(
    ("birthdate", "consent", "outcome", "reason", "again"),
    [
        (
            "2012-01-01",
            ("livestream_publisher",),
            "deny",
            "publisher_under_min_age",
            "2028-01-01T00:00:00+08:00",
        ),
        # at 18 no consent is needed: that is when the answer changes by itself
        ("2010-11-23", (), "deny", "publisher_guardian_consent_required", "2028-11-23T00:00:00+08:00"),
        (
            "2010-11-23",
            ("something_else",),
            "deny",
            "publisher_guardian_consent_required",
            "2028-11-23T00:00:00+08:00",
        ),
        ("2010-11-23", ("livestream_publisher",), "allow", "allowed", None),
        ("2009-05-01", ("livestream_publisher",), "allow", "allowed", None),
        ("1990-05-01", (), "allow", "allowed", None),
        (None, (), "deny", "identity_unverified", None),
    ],
    ids=["under-16", "16-no-consent", "16-other-consent", "16-consent", "17-consent", "adult", "unverified"],
)
def test_publisher_accounts_none_under_16_consent_at_16_17_identity_for_all(
    name: str, birthdate: str | None, consent: tuple[str, ...], outcome: str, reason: str, again: str | None
) -> None:
    """LAW Art 76: under 16 no account; 16-17 need the guardian's consent; adults need only an identity."""
    decision = decide(preset(name), person(birthdate, consent=consent), MONDAY_10, REGISTRATION)
    assert (decision.outcome, decision.reason) == (Outcome(outcome), Reason(reason))
    assert iso(decision.allowed_again_at) == again
    if outcome == "deny":
        assert decision.rule == "livestream_publisher"
        assert decision.legal_basis is not None
        assert "第七十六条" in decision.legal_basis
