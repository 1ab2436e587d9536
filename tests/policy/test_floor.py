"""The law as a floor (issue 18 item 2): a policy looser than the statute (Arts 74-76) or than the
notice its preset claims is refused with `file:line:col` naming the article, unless the file itself
acknowledges that rule with a reason. Looser is judged by effect, not by value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from minorguard.errors import PolicyError
from minorguard.policy import PRESET_NAMES, load_policy
from minorguard.policy.loader import Policy

REASON = "a staged trial approved by compliance (ticket 42)"
REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"
ACK = f"  looser_than_law: {{reason: {REASON}}}\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(f"name: shop\n{body}", encoding="utf-8")
    return path


def problems(tmp_path: Path, body: str) -> list[str]:
    path = write(tmp_path, body)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return [str(p).replace(str(path), "shop.yaml") for p in caught.value.problems]


def loads(tmp_path: Path, body: str) -> Policy:
    return load_policy(write(tmp_path, body))


def test_the_issues_policy_that_turns_the_law_off_is_refused_article_by_article(tmp_path: Path) -> None:
    """Curfew, windows and purchases off on nppa-2021: each is a problem at its line naming the text."""
    found = problems(
        tmp_path,
        'extends: nppa-2021\ngame:\n  curfew: {mode: "off"}\n  play_windows: {mode: "off"}\n'
        'purchase: {mode: "off"}\n',
    )
    assert [p.split("  ")[0:2] for p in found] == [
        ["shop.yaml:4:11", "game.curfew"],
        ["shop.yaml:5:24", "game.play_windows.mode"],
        ["shop.yaml:6:18", "purchase.mode"],
        ["shop.yaml:6:18", "purchase.mode"],
    ]
    assert (
        "looser than 未成年人保护法 第七十五条 (Art 75 ¶4): no online game for minors 22:00-08:00" in found[0]
    )
    assert "lets them play 00:00-08:00, 22:00-24:00" in found[0]
    assert "国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)" in found[1]
    assert "未成年人保护法 第七十四条 (Art 74 ¶2)" in found[2]
    assert "国新出发〔2019〕34号 第三条 (NPPA notice 2019 §3)" in found[3]
    assert found[0].endswith("acknowledge it under game.curfew with looser_than_law: {reason: ...}")


@pytest.mark.parametrize(
    ("body", "rule", "article"),
    [
        ("extends: law-minimum\ngame:\n  curfew: {mode: report_only}\n", "game.curfew", "Art 75 ¶4"),
        ('extends: law-minimum\ngame:\n  curfew: {end: "07:00"}\n', "game.curfew", "Art 75 ¶4"),
        ('extends: law-minimum\ngame:\n  rating: {mode: "off"}\n', "game.rating", "Art 75 ¶3"),
        ("extends: law-minimum\ngame:\n  guest: {mode: enforce}\n", "game.guest", "Art 75 ¶2"),
        ("extends: law-minimum\npurchase: {allow_unverified: true}\n", "purchase", "Art 75 ¶2"),
        ("extends: law-minimum\nlivestream_publisher: {min_age: 14}\n", "livestream_publisher", "Art 76"),
        ('extends: law-minimum\nlivestream_publisher: {mode: "off"}\n', "livestream_publisher", "Art 76"),
        (
            'extends: nppa-2019\ngame:\n  guest: {mode: "off"}\n  play_time:\n'
            "    daily_minutes: {age_8_15: {default: 120}}\n",
            "game.play_time",
            "NPPA notice 2019 §2",
        ),
        (
            'extends: nppa-2019\ngame:\n  guest: {mode: "off"}\npurchase:\n'
            "  caps: {age_16_17: {monthly: 50000}}\n",
            "purchase",
            "NPPA notice 2019 §3",
        ),
        ("extends: nppa-2021\npurchase: {on_store_error: open}\n", "purchase", "NPPA notice 2019 §3"),
        (
            "extends: nppa-2021\ngame:\n  play_windows: {days: [monday, friday]}\n",
            "game.play_windows",
            "NPPA notice 2021 §1",
        ),
        (
            'extends: nppa-2021\ngame:\n  play_windows: {hours: [{start: "19:00", end: "21:00"}]}\n',
            "game.play_windows",
            "NPPA notice 2021 §1",
        ),
        (
            "extends: minor-mode-2024\ngame:\n  play_time:\n    daily_minutes: {age_16_17: {default: 150}}\n",
            "game.play_time",
            "CAC minor-mode guidelines 2024",
        ),
        ('extends: minor-mode-2024\ngame:\n  curfew: {end: "06:00"}\n', "game.curfew", "Art 75 ¶4"),
        ('extends: livestream-2022\nlivestream_tip: {mode: "off"}\n', "livestream_tip", "tipping opinions"),
        ("extends: livestream-2022\nlivestream_tip: {warn_at_percent: 80}\n", "livestream_tip", "NRTA"),
    ],
)
def test_each_looser_rule_is_refused_and_an_acknowledgement_lets_it_load(
    tmp_path: Path, body: str, rule: str, article: str
) -> None:
    """One shortfall names the rule and the article; the same file with `looser_than_law` under that
    rule loads, and the policy carries the acknowledgement with its articles."""
    found = problems(tmp_path, body)
    assert found, body
    assert all(f"acknowledge it under {rule} with" in p for p in found)
    assert any(article in p for p in found)
    data = yaml.safe_load(body)
    node = data
    for part in rule.split("."):
        node = node.setdefault(part, {})
    node["looser_than_law"] = {"reason": REASON}
    policy = loads(tmp_path, yaml.safe_dump(data, default_style='"'))
    assert policy.looser_rules == (rule,)
    assert any(article in a for a in policy.acknowledged[0].articles)
    assert policy.acknowledged[0].reason == REASON


@pytest.mark.parametrize(
    "body",
    [
        # the curfew may go: the windows keep minors inside 20:00-21:00
        'extends: nppa-2021\ngame:\n  curfew: {mode: "off"}\n',
        # 3 hours on holidays is not more than the one hour the windows leave
        "extends: nppa-2021\ngame:\n  play_time:\n    daily_minutes: {age_8_15: {default: 180}}\n",
        # stricter is always fine
        'extends: nppa-2021\ngame:\n  curfew: {start: "21:00", end: "09:00"}\n',
        "extends: nppa-2021\ngame:\n  play_windows:\n    days: [saturday]\n"
        '    hours: [{start: "20:00", end: "20:30"}]\n',
        "extends: nppa-2021\npurchase:\n  caps: {age_16_17: {single: 5000, monthly: 10000}}\n",
        "extends: nppa-2021\ncalendar: {mode: literal}\n",
    ],
)
def test_what_is_not_looser_in_effect_loads(tmp_path: Path, body: str) -> None:
    """A value that differs but does not let anyone do more than the law allows needs no acknowledgement."""
    assert loads(tmp_path, body).acknowledged == ()


def test_a_presets_acknowledgement_is_not_inherited(tmp_path: Path) -> None:
    """nppa-2019 acknowledges its own guest mode; a file built on it must decide for itself, and the
    problem points at its `extends:` line."""
    assert load_policy("nppa-2019").looser_rules == ("game.guest",)
    found = problems(tmp_path, "extends: nppa-2019\n")
    assert len(found) == 1
    assert found[0].startswith(
        "shop.yaml:2:10  game.guest.mode  looser than 未成年人保护法 第七十五条 (Art 75 ¶2)"
    )
    assert found[0].endswith("(inherited from nppa-2019)")
    assert loads(tmp_path, 'extends: nppa-2019\ngame: {guest: {mode: "off"}}\n').acknowledged == ()


def test_an_acknowledgement_with_nothing_to_acknowledge_is_a_problem(tmp_path: Path) -> None:
    """An acknowledgement left behind after the value was tightened would mislead an auditor."""
    found = problems(tmp_path, "extends: nppa-2021\ngame:\n  curfew:\n" + "  " + ACK)
    assert found == [
        "shop.yaml:5:5  game.curfew.looser_than_law  game.curfew is not looser than the law or its "
        "preset's notice: remove looser_than_law"
    ]


def test_an_acknowledgement_needs_a_real_reason(tmp_path: Path) -> None:
    """`reason: ok` is not a reason."""
    found = problems(
        tmp_path, 'extends: law-minimum\ngame:\n  rating: {mode: "off", looser_than_law: {reason: ok}}\n'
    )
    assert found == [
        "shop.yaml:4:51  game.rating.looser_than_law.reason  write at least 10 characters (got 'ok')"
    ]


def test_a_file_without_extends_still_has_the_statute_as_its_floor(tmp_path: Path) -> None:
    """Every rule is off by default, so a bare file is looser than the law on each statutory rule."""
    rules = {p.split("  ")[1].split(".mode")[0] for p in problems(tmp_path, "description: bare\n")}
    assert rules == {"game.curfew", "game.rating", "purchase", "livestream_publisher"}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_keeps_its_floor(name: str) -> None:
    """The bundled presets load; only nppa-2019 acknowledges anything (its historical guest mode)."""
    expected = ("game.guest",) if name == "nppa-2019" else ()
    assert load_policy(name).looser_rules == expected


def test_a_preset_read_from_its_repository_file_keeps_its_own_floor(tmp_path: Path) -> None:
    """policies/nppa-2021.yaml is the preset itself: it claims N21 as the name nppa-2021 does."""
    assert load_policy(REPO_POLICIES / "nppa-2021.yaml").claims == load_policy("nppa-2021").claims
    assert "nppa-2021" in load_policy(REPO_POLICIES / "nppa-2021.yaml").claims
