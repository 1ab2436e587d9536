"""The law as a floor: where a policy is looser than the statute, or than the notices its presets claim.

Every policy must keep what the Law on the Protection of Minors itself requires (Arts 75-76). A policy
that extends a preset must also keep the numbers of the document that preset implements (nppa-2019: the
NPPA notice of 2019; nppa-2021: the notice of 2021; minor-mode-2024: the CAC guidelines; livestream-2022:
the tipping rules). Looser is judged by effect, not by value: a curfew turned off is not looser while
enforced play windows keep minors inside 20:00-21:00, and a daily limit of 3 hours is not looser than
90 minutes when the windows leave only one hour. A rule that is `report_only` or `off` does not refuse,
so it counts as not there. Each shortfall names its rule and the article it falls short of; the loader
refuses it unless the policy file acknowledges that rule (`looser_than_law: {reason: ...}`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from minorguard.policy.guardianrules import ReminderMode
from minorguard.policy.schema import DayName, Game, PolicyFile
from minorguard.policy.values import MinorBand, minutes_of
from minorguard.types import FailurePolicy, Mode

Span = tuple[int, int]  # minutes from local midnight, [start, end)
DAY: Span = (0, 1440)

ART_74 = "未成年人保护法 第七十四条 (Art 74 ¶2)"
ART_75_2 = "未成年人保护法 第七十五条 (Art 75 ¶2)"
ART_75_3 = "未成年人保护法 第七十五条 (Art 75 ¶3)"
ART_75_4 = "未成年人保护法 第七十五条 (Art 75 ¶4)"
ART_76 = "未成年人保护法 第七十六条 (Art 76)"
N19_1 = "国新出发〔2019〕34号 第一条 (NPPA notice 2019 §1)"
N19_2 = "国新出发〔2019〕34号 第二条 (NPPA notice 2019 §2)"
N19_3 = "国新出发〔2019〕34号 第三条 (NPPA notice 2019 §3)"
N21_1 = "国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)"
G24 = "移动互联网未成年人模式建设指南 (CAC minor-mode guidelines 2024)"
G24_R23 = f"{G24}; 未成年人网络保护条例 第四十三条 (Regulations Art 43)"
LS22_1 = "关于规范网络直播打赏 加强未成年人保护的意见 第一条 (tipping opinions 2022 §1)"
LS20 = "国家广播电视总局关于加强网络秀场直播和电商直播管理的通知 (NRTA notice 2020)"


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One way a policy is looser than a text: the rule (the key an acknowledgement goes under), the
    article, what the policy does instead, and the key to point at."""

    rule: str
    article: str
    detail: str
    path: tuple[str, ...]


Check = Callable[[PolicyFile], list[Shortfall]]


def shortfalls(spec: PolicyFile, claimed: Iterable[str]) -> list[Shortfall]:
    """Every shortfall of `spec` against the statute and against the presets named in `claimed`."""
    checks = [*STATUTE, *(check for name in claimed for check in CLAIMED.get(name, ()))]
    found: list[Shortfall] = []
    for check in checks:
        found.extend(s for s in check(spec) if s not in found)
    return found


# -- minutes of the day ------------------------------------------------------------------------------


def _intersect(a: list[Span], b: list[Span]) -> list[Span]:
    out = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return sorted(span for span in out if span[0] < span[1])


def _outside(spans: list[Span], limit: Span) -> list[Span]:
    """The parts of `spans` outside `limit`."""
    out: list[Span] = []
    for start, end in spans:
        out += [
            span for span in ((start, min(end, limit[0])), (max(start, limit[1]), end)) if span[0] < span[1]
        ]
    return out


def _clock(spans: list[Span]) -> str:
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in spans)


def minors_hours(game: Game) -> list[Span]:
    """When enforced rules let a minor play on the most open day: outside the curfew, inside the
    windows of a play day."""
    allowed = [DAY]
    curfew = game.curfew
    if curfew.mode is Mode.ENFORCE:
        start, end = minutes_of(curfew.start) % 1440, minutes_of(curfew.end) % 1440
        free = [(end, start)] if start > end else [(0, start), (end, 1440)]
        allowed = _intersect(allowed, [s for s in free if s[0] < s[1]])
    windows = game.play_windows
    if windows.mode is Mode.ENFORCE:
        if not windows.days:
            return []
        allowed = _intersect(allowed, [(minutes_of(h.start), minutes_of(h.end)) for h in windows.hours])
    return allowed


def _not_enforced(mode: Mode, rule: str, article: str, what: str) -> list[Shortfall]:
    if mode is Mode.ENFORCE:
        return []
    return [Shortfall(rule, article, f"{what}, but the rule is {mode.value}", (*rule.split("."), "mode"))]


# -- the statute (every policy) ----------------------------------------------------------------------


def _curfew(spec: PolicyFile) -> list[Shortfall]:
    late = _outside(minors_hours(spec.game), (8 * 60, 22 * 60))
    if not late:
        return []
    detail = f"no online game for minors 22:00-08:00, but this policy lets them play {_clock(late)}"
    return [Shortfall("game.curfew", ART_75_4, detail, ("game", "curfew"))]


def _real_names(spec: PolicyFile) -> list[Shortfall]:
    found = []
    if spec.game.guest.mode is not Mode.OFF:
        detail = "minors play only under their real identity, but guest mode serves unverified players"
        found.append(Shortfall("game.guest", ART_75_2, detail, ("game", "guest", "mode")))
    if spec.purchase.allow_unverified:
        detail = "minors use games under their real identity, but unverified players may pay"
        found.append(Shortfall("purchase", ART_75_2, detail, ("purchase", "allow_unverified")))
    return found


def _statute_modes(spec: PolicyFile) -> list[Shortfall]:
    publisher = spec.livestream_publisher
    found = [
        *_not_enforced(
            spec.game.rating.mode, "game.rating", ART_75_3, "games unsuitable for an age are kept away"
        ),
        *_not_enforced(spec.purchase.mode, "purchase", ART_74, "minors' spending is managed"),
        *_not_enforced(publisher.mode, "livestream_publisher", ART_76, "no publisher accounts under 16"),
    ]
    if publisher.min_age < 16:
        detail = f"no publisher accounts under 16, but min_age is {publisher.min_age}"
        found.append(Shortfall("livestream_publisher", ART_76, detail, ("livestream_publisher", "min_age")))
    return found


STATUTE: tuple[Check, ...] = (_curfew, _real_names, _statute_modes)


# -- what the presets claim ----------------------------------------------------------------------------


def _daily_minutes(spec: PolicyFile, article: str, most: dict[MinorBand, tuple[int, int]]) -> list[Shortfall]:
    """Daily play time within `most` (band -> minutes on an ordinary day, on a holiday). The hours the
    schedule leaves bound play as well as the limit does."""
    play = spec.game.play_time
    open_minutes = sum(end - start for start, end in minors_hours(spec.game))
    found = []
    for band, (ordinary, holiday) in most.items():
        limits = play.daily_minutes.get(band) if play.mode is Mode.ENFORCE else None
        for day_type in ("working_day", "weekend", "makeup_workday", "holiday"):
            value = None if limits is None else getattr(limits, day_type)
            limit = limits.default if limits is not None and value is None else value
            allowed = open_minutes if limit is None else min(limit, open_minutes)
            cap = holiday if day_type == "holiday" else ordinary
            if allowed > cap:
                detail = f"at most {cap} minutes a day ({day_type}), but {band.value} may play {allowed}"
                path = ("game", "play_time", "daily_minutes", band.value)
                found.append(Shortfall("game.play_time", article, detail, path))
                break
    return found


def _guardian_minutes(spec: PolicyFile, article: str, most: int) -> list[Shortfall]:
    """What a guardian may allow a day (`guardian.may_loosen.daily_minutes`) within `most` minutes on an
    ordinary day: a guardian's loosening is bounded by the same notice as the policy's own limit (and,
    in effect, by the hours the schedule leaves)."""
    rules = spec.guardian
    if not rules.enabled:
        return []
    open_minutes = sum(end - start for start, end in minors_hours(spec.game))
    found = []
    for band, bound in rules.may_loosen.daily_minutes.items():
        allowed = min(bound, open_minutes)
        if allowed > most:
            detail = f"at most {most} minutes a day, but a guardian may allow {band.value} {allowed}"
            path = ("guardian", "may_loosen", "daily_minutes", band.value)
            found.append(Shortfall("guardian", article, detail, path))
    return found


def _n19_play_time(spec: PolicyFile) -> list[Shortfall]:
    most = dict.fromkeys(MinorBand, (90, 180))  # N19 §2: 1.5 hours, 3 hours on statutory holidays
    return [*_daily_minutes(spec, N19_2, most), *_guardian_minutes(spec, N19_2, 90)]


def _n19_guest(spec: PolicyFile) -> list[Shortfall]:
    guest = spec.game.guest
    if guest.mode is Mode.OFF or (guest.minutes <= 60 and guest.cooldown_days >= 15):
        return []
    detail = f"guests at most 60 minutes per device in 15 days, not {guest.minutes} in {guest.cooldown_days}"
    return [Shortfall("game.guest", N19_1, detail, ("game", "guest"))]


N19_CAPS = {
    MinorBand.UNDER_8: (0, 0),
    MinorBand.AGE_8_15: (5000, 20000),
    MinorBand.AGE_16_17: (10000, 40000),
}


def _n19_purchase(spec: PolicyFile) -> list[Shortfall]:
    rule = spec.purchase
    found = _not_enforced(rule.mode, "purchase", N19_3, "top-ups are capped by age")
    if rule.on_store_error is not FailurePolicy.CLOSED:
        detail = "the caps are never passed, but on_store_error: open lets purchases through unchecked"
        found.append(Shortfall("purchase", N19_3, detail, ("purchase", "on_store_error")))
    for band, (single, monthly) in N19_CAPS.items():
        cap = rule.caps.get(band)
        path = ("purchase", "caps", band.value)
        if cap is None:
            detail = f"{band.value} at most {single} fen a purchase and {monthly} a month, but no cap is set"
            found.append(Shortfall("purchase", N19_3, detail, ("purchase", "caps")))
        elif cap.single > single or cap.monthly > monthly:
            detail = f"{band.value} at most {single}/{monthly} fen, not {cap.single}/{cap.monthly}"
            found.append(Shortfall("purchase", N19_3, detail, path))
    return found


N21_DAYS = frozenset({DayName.FRIDAY, DayName.SATURDAY, DayName.SUNDAY, DayName.HOLIDAY})


def _n21_windows(spec: PolicyFile) -> list[Shortfall]:
    hours = minors_hours(spec.game)
    if not hours:
        return []
    windows = spec.game.play_windows
    path = ("game", "play_windows")
    if windows.mode is not Mode.ENFORCE:
        detail = f"play only on Fri/Sat/Sun and holidays, but minors may play every day ({_clock(hours)})"
        return [Shortfall("game.play_windows", N21_1, detail, (*path, "mode"))]
    found = []
    extra = sorted(d.value for d in set(windows.days) - N21_DAYS)
    if extra:
        detail = f"play only on Fri/Sat/Sun and holidays, but also on {', '.join(extra)}"
        found.append(Shortfall("game.play_windows", N21_1, detail, (*path, "days")))
    late = _outside(hours, (20 * 60, 21 * 60))
    if late:
        detail = f"play only 20:00-21:00, but minors may play {_clock(late)}"
        found.append(Shortfall("game.play_windows", N21_1, detail, (*path, "hours")))
    return found


def _g24_play_time(spec: PolicyFile) -> list[Shortfall]:
    """G24's defaults (a guardian may loosen them: G24 lets parents adjust durations)."""
    most = {MinorBand.UNDER_8: (60, 60), MinorBand.AGE_8_15: (60, 60), MinorBand.AGE_16_17: (120, 120)}
    return _daily_minutes(spec, G24, most)


def _g24_rest(spec: PolicyFile) -> list[Shortfall]:
    rest = spec.game.rest_reminder
    path = ("game", "rest_reminder")
    if rest.mode is ReminderMode.OFF:
        detail = "a reminder to rest after 30 minutes of continuous play, but the reminder is off"
        return [Shortfall("game.rest_reminder", G24, detail, (*path, "mode"))]
    if rest.after_minutes > 30:
        detail = f"a reminder to rest after 30 minutes of continuous play, not after {rest.after_minutes}"
        return [Shortfall("game.rest_reminder", G24, detail, (*path, "after_minutes"))]
    return []


def _g24_guardian(spec: PolicyFile) -> list[Shortfall]:
    if spec.guardian.enabled:
        return []
    detail = "guardians manage their child's time and spending, but guardian settings are not enabled"
    return [Shortfall("guardian", G24_R23, detail, ("guardian", "enabled"))]


def _tipping(spec: PolicyFile) -> list[Shortfall]:
    tip = spec.livestream_tip
    found = _not_enforced(tip.mode, "livestream_tip", LS22_1, "minors may not tip")
    if tip.warn_at_percent > 50:
        detail = f"a reminder at half of a tipping limit, not at {tip.warn_at_percent}%"
        found.append(Shortfall("livestream_tip", LS20, detail, ("livestream_tip", "warn_at_percent")))
    return found


CLAIMED: dict[str, tuple[Check, ...]] = {
    "nppa-2019": (_n19_play_time, _n19_guest, _n19_purchase),
    "nppa-2021": (_n21_windows,),
    "minor-mode-2024": (_g24_play_time, _g24_rest, _g24_guardian),
    "livestream-2022": (_tipping,),
}
