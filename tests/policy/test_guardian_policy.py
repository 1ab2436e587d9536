"""The policy sections of issue 17 in policy files: what a guardian may loosen is held to the floor
(file:line:col naming the notice), minor-mode-2024 keeps G24's rest reminder and guardian settings,
the daily spending cap sits between single and monthly, and a break outlasts a heartbeat gap."""

from __future__ import annotations

from pathlib import Path

from test_floor import REASON, loads, problems

from minorguard.policy.guardianrules import ReminderMode
from minorguard.policy.values import MinorBand


def test_a_guardian_loosening_past_n19s_daily_time_is_a_located_problem(tmp_path: Path) -> None:
    """nppa-2019 caps a day at 90 minutes: a guardian allowed 120 is refused at its key."""
    body = (
        'extends: nppa-2019\ngame: {guest: {mode: "off"}}\n'
        "guardian:\n  may_loosen:\n    daily_minutes: {age_8_15: 120}\n"
    )
    found = problems(tmp_path, body)
    assert [p.split("  ")[0:2] for p in found] == [
        ["shop.yaml:6:31", "guardian.may_loosen.daily_minutes.age_8_15"]
    ]
    assert "国新出发〔2019〕34号 第二条 (NPPA notice 2019 §2)" in found[0]
    assert "a guardian may allow age_8_15 120" in found[0]


def test_a_guardian_loosening_the_windows_make_moot_is_not_looser(tmp_path: Path) -> None:
    """nppa-2021 leaves one hour a play day: a guardian's 120 minutes cannot be played, so it is no
    shortfall (looser is judged by effect)."""
    policy = loads(tmp_path, "extends: nppa-2021\nguardian: {may_loosen: {daily_minutes: {age_8_15: 120}}}\n")
    assert policy.spec.guardian.may_loosen.daily_minutes == {MinorBand.AGE_8_15: 120}


def test_minor_mode_lets_guardians_loosen_its_defaults(tmp_path: Path) -> None:
    """G24's durations are defaults parents may adjust: a bound above 60 is no shortfall."""
    policy = loads(
        tmp_path, "extends: minor-mode-2024\nguardian: {may_loosen: {daily_minutes: {age_8_15: 180}}}\n"
    )
    assert policy.acknowledged == ()


def test_minor_mode_keeps_the_rest_reminder_and_guardian_settings(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        'extends: minor-mode-2024\ngame:\n  rest_reminder: {mode: "off"}\nguardian: {enabled: false}\n',
    )
    assert [p.split("  ")[0:2] for p in found] == [
        ["shop.yaml:4:25", "game.rest_reminder.mode"],
        ["shop.yaml:5:21", "guardian.enabled"],
    ]
    assert "a reminder to rest after 30 minutes" in found[0]
    assert "guardian settings are not enabled" in found[1]
    later = problems(tmp_path, "extends: minor-mode-2024\ngame:\n  rest_reminder: {after_minutes: 45}\n")
    assert "not after 45" in later[0]


def test_an_acknowledged_rest_reminder_off_loads_with_its_reason(tmp_path: Path) -> None:
    policy = loads(
        tmp_path,
        'extends: minor-mode-2024\ngame:\n  rest_reminder:\n    mode: "off"\n'
        f"    looser_than_law: {{reason: {REASON}}}\n",
    )
    assert policy.spec.game.rest_reminder.mode is ReminderMode.OFF
    assert policy.looser_rules == ("game.rest_reminder",)


def test_a_break_shorter_than_a_counted_gap_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, "extends: minor-mode-2024\ngame:\n  rest_reminder: {break_minutes: 4}\n")
    assert found[0].split("  ")[0:2] == ["shop.yaml:4:3", "game"]
    assert "break_minutes (4) is shorter than play_time.max_gap_seconds (300 s)" in found[0]


def test_a_daily_cap_must_lie_between_single_and_monthly(tmp_path: Path) -> None:
    found = problems(tmp_path, "extends: nppa-2021\npurchase:\n  caps:\n    age_8_15: {daily: 30000}\n")
    assert found[0].split("  ")[0:2] == ["shop.yaml:5:15", "purchase.caps.age_8_15"]
    assert "daily must lie between single and monthly" in found[0]
    policy = loads(tmp_path, "extends: nppa-2021\npurchase:\n  caps:\n    age_8_15: {daily: 8000}\n")
    assert policy.spec.purchase.caps[MinorBand.AGE_8_15].daily == 8000


def test_the_presets_read_guardian_settings_and_leave_daily_caps_empty() -> None:
    """R23 Art 43 asks for guardian tools (every preset reads settings); no document sets a daily
    spending number, so no preset has one."""
    from minorguard.policy import PRESET_NAMES, load_policy

    for name in PRESET_NAMES:
        spec = load_policy(name).spec
        assert spec.guardian.enabled, name
        assert all(cap.daily is None for cap in spec.purchase.caps.values()), name
    assert load_policy("minor-mode-2024").spec.game.rest_reminder.mode is ReminderMode.REMIND
