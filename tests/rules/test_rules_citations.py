"""Each refusal cites the article it rests on, reason by reason and preset by preset (issue 18 item 1).

The expected citations are written from the texts (policies/README.md "Sources"), not read back from
the presets: an unverified guest's purchase in nppa-2019 is N19 §1 (no payments in guest mode), not the
caps of §3; law-minimum's refusals are the statute's alone; the adults' tipping caps are LS20's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rulekit import bj, custom, decide, person, preset

from minorguard.types import Activity, Reason

ART_74 = (
    "未成年人保护法 第七十四条; 未成年人网络保护条例 第四十四条"
    " (Minors Protection Law Art 74; Regulations Art 44)"
)
ART_75 = "未成年人保护法 第七十五条 (Minors Protection Law Art 75)"
ART_76 = "未成年人保护法 第七十六条 (Minors Protection Law Art 76)"
RATING = "未成年人保护法 第七十五条; 未成年人网络保护条例 第四十七条 (Art 75; Regulations Art 47)"
N19_1 = "国新出发〔2019〕34号 第一条 (NPPA notice 2019 §1)"
N19_2 = "国新出发〔2019〕34号 第二条 (NPPA notice 2019 §2)"
N19_3 = "国新出发〔2019〕34号 第三条 (NPPA notice 2019 §3)"
N21_1 = "国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)"
N21_2 = "国新出发〔2021〕14号 第二条 (NPPA notice 2021 §2)"
G24 = "移动互联网未成年人模式建设指南 (CAC minor-mode guidelines 2024); 未成年人网络保护条例 第四十三条"
LS20 = "国家广播电视总局关于加强网络秀场直播和电商直播管理的通知 (NRTA notice on live streaming 2020)"
LS22 = "关于规范网络直播打赏 加强未成年人保护的意见 第一条 (live-stream tipping opinions 2022 §1)"

WEDNESDAY_NOON = "2026-11-18 12:00"
FIFTEEN, SEVEN, SEVENTEEN = "2011-05-01", "2019-05-01", "2009-05-01"

# situation -> (who, activity, at, keyword arguments of `decide`, the reason it must give)
GAME, BUY, TIP = Activity.GAME, Activity.PURCHASE, Activity.LIVESTREAM_TIP
SITUATIONS: dict[str, tuple[str | None, Activity, str, dict[str, int], Reason]] = {
    "unverified game": (None, GAME, WEDNESDAY_NOON, {}, Reason.IDENTITY_UNVERIFIED),
    "curfew": (FIFTEEN, GAME, "2026-11-18 23:30", {}, Reason.CURFEW),
    "play window": (FIFTEEN, GAME, "2026-11-19 20:30", {}, Reason.OUTSIDE_PLAY_WINDOW),
    "daily play time": (FIFTEEN, GAME, "2026-11-20 20:30", {"played": 5400}, Reason.DAILY_PLAY_LIMIT),
    "rating": (FIFTEEN, GAME, "2026-11-20 20:30", {"game_rating": 18}, Reason.GAME_RATING),
    "unverified purchase": (None, BUY, WEDNESDAY_NOON, {"amount": 100}, Reason.PURCHASE_NOT_ALLOWED),
    "under-8 purchase": (SEVEN, BUY, WEDNESDAY_NOON, {"amount": 100}, Reason.PURCHASE_NOT_ALLOWED),
    "single cap": (FIFTEEN, BUY, WEDNESDAY_NOON, {"amount": 5001}, Reason.PURCHASE_SINGLE_CAP),
    "monthly cap": (
        FIFTEEN,
        Activity.PURCHASE,
        WEDNESDAY_NOON,
        {"amount": 5000, "month_spent": 16000},
        Reason.PURCHASE_MONTHLY_CAP,
    ),
    "unverified tipper": (None, TIP, WEDNESDAY_NOON, {"amount": 100}, Reason.IDENTITY_UNVERIFIED),
    "minor tipper": (SEVENTEEN, TIP, WEDNESDAY_NOON, {"amount": 100}, Reason.TIP_MINOR),
    "unverified publisher": (
        None,
        Activity.LIVESTREAM_PUBLISHER_REGISTRATION,
        WEDNESDAY_NOON,
        {},
        Reason.IDENTITY_UNVERIFIED,
    ),
    "publisher under 16": (
        FIFTEEN,
        Activity.LIVESTREAM_PUBLISHER_REGISTRATION,
        WEDNESDAY_NOON,
        {},
        Reason.PUBLISHER_UNDER_MIN_AGE,
    ),
    "publisher without consent": (
        SEVENTEEN,
        Activity.LIVESTREAM_PUBLISHER_REGISTRATION,
        WEDNESDAY_NOON,
        {},
        Reason.PUBLISHER_CONSENT_REQUIRED,
    ),
}
PUBLISHER = dict.fromkeys(("unverified publisher", "publisher under 16", "publisher without consent"), ART_76)

# preset -> situation -> the citation; a situation a preset never refuses is absent
CITATIONS: dict[str, dict[str, str]] = {
    "law-minimum": {
        "unverified game": ART_75,
        "curfew": ART_75,
        "rating": RATING,
        "unverified purchase": ART_75,
        **PUBLISHER,
    },
    "nppa-2019": {
        "unverified game": "未成年人保护法 第七十五条; 国新出发〔2019〕34号 第一条"
        " (Art 75; NPPA notice 2019 §1)",
        "curfew": ART_75,
        "daily play time": N19_2,
        "rating": RATING,
        "unverified purchase": N19_1,
        "under-8 purchase": N19_3,
        "single cap": N19_3,
        "monthly cap": N19_3,
        **PUBLISHER,
    },
    "nppa-2021": {
        "unverified game": "未成年人保护法 第七十五条; 国新出发〔2021〕14号 第二条"
        " (Art 75; NPPA notice 2021 §2)",
        "curfew": ART_75,
        "play window": N21_1,
        "daily play time": N21_1,
        "rating": RATING,
        "unverified purchase": N21_2,
        "under-8 purchase": N19_3,
        "single cap": N19_3,
        "monthly cap": N19_3,
        **PUBLISHER,
    },
    "minor-mode-2024": {
        "unverified game": ART_75,
        "curfew": f"未成年人保护法 第七十五条; {G24}",
        "daily play time": G24,
        "rating": RATING,
        "unverified purchase": ART_75,
        **PUBLISHER,
    },
    "livestream-2022": {
        "unverified game": ART_75,
        "curfew": ART_75,
        "rating": RATING,
        "unverified purchase": ART_75,
        "unverified tipper": LS20,
        "minor tipper": LS22,
        **PUBLISHER,
    },
}


@pytest.mark.parametrize("name", sorted(CITATIONS))
def test_every_refusal_of_a_preset_cites_its_own_article(name: str) -> None:
    """Each situation a preset refuses gives the expected reason and the citation of that reason."""
    cp = preset(name)
    for situation, expected in CITATIONS[name].items():
        who, activity, at, kwargs, reason = SITUATIONS[situation]
        decision = decide(cp, person(who), bj(at), activity, **kwargs)
        assert (decision.reason, decision.legal_basis) == (reason, expected), f"{name}: {situation}"


@pytest.mark.parametrize("name", sorted(CITATIONS))
def test_situations_a_preset_has_no_rule_for_are_allowed(name: str) -> None:
    """The table is complete: what a preset does not cite, it does not refuse."""
    cp = preset(name)
    for situation in sorted(set(SITUATIONS) - set(CITATIONS[name])):
        who, activity, at, kwargs, _ = SITUATIONS[situation]
        assert decide(cp, person(who), bj(at), activity, **kwargs).allowed, f"{name}: {situation}"


def test_the_adults_tipping_caps_cite_ls20(tmp_path: Path) -> None:
    """A platform's per-tip, daily and monthly caps on livestream-2022 cite the NRTA 2020 notice."""
    cp = custom(
        tmp_path,
        "tips",
        "extends: livestream-2022\nlivestream_tip:\n"
        "  adult_caps: {per_tip: 1000, daily: 2000, monthly: 3000}\n",
    )
    adult = person("1990-01-01")
    at = bj(WEDNESDAY_NOON)
    for kwargs, reason in (
        ({"amount": 1001}, Reason.TIP_PER_TIP_CAP),
        ({"amount": 1000, "day_tipped": 1500}, Reason.TIP_DAILY_CAP),
        ({"amount": 1000, "day_tipped": 0, "month_spent": 2500}, Reason.TIP_MONTHLY_CAP),
    ):
        decision = decide(cp, adult, at, Activity.LIVESTREAM_TIP, **kwargs)
        assert (decision.reason, decision.legal_basis) == (reason, LS20)


def test_one_citation_for_every_reason_of_a_rule_is_still_accepted(tmp_path: Path) -> None:
    """`legal_basis: TEXT` (the old form) applies to every refusal of the rule."""
    cp = custom(tmp_path, "one", "extends: nppa-2021\npurchase:\n  legal_basis: Company rule 7\n")
    at = bj(WEDNESDAY_NOON)
    assert decide(cp, person(None), at, BUY, amount=1).legal_basis == "Company rule 7"
    assert decide(cp, person(FIFTEEN), at, BUY, amount=5001).legal_basis == "Company rule 7"
