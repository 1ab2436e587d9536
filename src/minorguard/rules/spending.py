"""Money: in-game purchases by minors (N19 §3) and live-stream tips (LS22 §1, LS20).

Caps that need no counter (an amount over the single cap, a band that may not pay) are decided here
without the store. Otherwise the result is a SpendCheck: the engine reserves the amount in ONE atomic
store call that checks the calendar-month (and day) totals, and `finish_spend` turns the answer into a
Decision. Money is integer fen throughout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from minorguard.counters import Bucket, BucketTotals, ReserveResult, SpendDenial, SpendKind
from minorguard.policy.schema import SpendCap
from minorguard.policy.values import MinorBand
from minorguard.rules.age import ADULT_AGE
from minorguard.rules.compiled import CompiledPolicy, Instant
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.outcome import Findings, finding
from minorguard.rules.person import Person
from minorguard.rules.spendcheck import SpendCheck
from minorguard.rules.spendguardian import guardian_budget, guardian_finding, simulate_guardian
from minorguard.types import (
    AgeBand,
    Decision,
    Facts,
    Finding,
    Mode,
    Reason,
    Warning,
    WarningCode,
)

MONTH_KEY_SLACK = 32 * 86400  # a month bucket outlives its month by a month: refunds still find it
DAY_KEY_SLACK = 86400


def check_purchase(cp: CompiledPolicy, person: Person, facts: Facts, now: Instant) -> Decision | SpendCheck:
    rule = cp.policy.spec.purchase
    found = Findings(person.band)
    guarded = cp.guardian_on and person.band.is_minor
    if person.band is AgeBand.ADULT or (rule.mode is Mode.OFF and not guarded):
        return found.allow()
    amount = _amount(facts)
    if person.band is AgeBand.UNVERIFIED:
        if rule.allow_unverified:
            return found.allow()
        return (
            found.check(
                rule.mode,
                finding(
                    Reason.PURCHASE_NOT_ALLOWED,
                    "purchase",
                    rule.basis("unverified"),
                    rule.mode,
                    "payments need a verified identity",
                ),
            )
            or found.allow()
        )
    cap = rule.caps.get(MinorBand(person.band.value)) if rule.mode is not Mode.OFF else None
    if cap is None and not guarded:
        return found.allow()
    if cap is not None and cap.monthly == 0:
        denied = found.check(
            rule.mode,
            finding(
                Reason.PURCHASE_NOT_ALLOWED,
                "purchase",
                rule.basis("purchase_not_allowed"),
                rule.mode,
                "no paid services at this age",
                person.turns(8),
            ),
        )
        return denied or found.allow()
    if cap is not None and amount > cap.single:
        denied = found.check(
            rule.mode,
            finding(
                Reason.PURCHASE_SINGLE_CAP,
                "purchase",
                rule.basis("purchase_single_cap"),
                rule.mode,
                f"one purchase may be at most {cap.single} fen",
            ),
        )
        if denied is not None:
            return denied
    return _purchase_check(cp, found, now, amount, cap, guarded)


def _purchase_check(
    cp: CompiledPolicy, found: Findings, now: Instant, amount: int, cap: SpendCap | None, guarded: bool
) -> SpendCheck:
    """The reservation of a minor's purchase: in the month's bucket, and in the day's where a daily cap
    may apply (the policy's, or one a guardian may set at any time: the day counts from its start)."""
    rule = cp.policy.spec.purchase
    enforce = rule.mode is Mode.ENFORCE
    month, month_end = _month(cp, now)
    buckets: list[Bucket] = []
    caps: list[int | None] = []
    again = {month: month_end.at}
    daily = None if cap is None else cap.daily
    if daily is not None or guarded:
        day, day_end = _day(cp, now)
        buckets.append(Bucket(day, daily if enforce else None, day_end.epoch_ttl(now) + DAY_KEY_SLACK))
        caps.append(daily)
        again[day] = day_end.at
    monthly = None if cap is None else cap.monthly
    ttl = month_end.epoch_ttl(now) + MONTH_KEY_SLACK
    buckets.append(Bucket(month, monthly if enforce else None, ttl))
    caps.append(monthly)
    return SpendCheck(
        found,
        now,
        SpendKind.PURCHASE,
        amount,
        cap.single if cap is not None and enforce else None,
        tuple(buckets),
        tuple(caps),
        rule.mode,
        rule.on_store_error,
        rule.reservation_ttl_seconds,
        "purchase",
        rule.basis("purchase_monthly_cap"),
        rule.basis,
        None,
        again,
        guarded,
        cp.policy.spec.guardian.legal_basis,
    )


def check_tip(cp: CompiledPolicy, person: Person, facts: Facts, now: Instant) -> Decision | SpendCheck:
    rule = cp.policy.spec.livestream_tip
    found = Findings(person.band)
    guarded = cp.guardian_on and person.band.is_minor
    if rule.mode is Mode.OFF and not guarded:
        return found.allow()
    amount = _amount(facts)
    if person.band is AgeBand.UNVERIFIED:
        return (
            found.check(
                rule.mode,
                finding(
                    Reason.IDENTITY_UNVERIFIED,
                    "livestream_tip",
                    rule.basis("unverified"),
                    rule.mode,
                    "tipping needs a verified identity",
                ),
            )
            or found.allow()
        )
    if person.band.is_minor:
        denied = found.check(
            rule.mode,
            finding(
                Reason.TIP_MINOR,
                "livestream_tip",
                rule.basis("tip_minor"),
                rule.mode,
                "minors may not tip",
                person.turns(ADULT_AGE),
            ),
        )
        return denied or _minor_tip(cp, found, now, amount)
    caps = rule.adult_caps
    if caps.per_tip is not None and amount > caps.per_tip:
        denied = found.check(
            rule.mode,
            finding(
                Reason.TIP_PER_TIP_CAP,
                "livestream_tip",
                rule.basis("tip_per_tip_cap"),
                rule.mode,
                f"one tip may be at most {caps.per_tip} fen",
            ),
        )
        if denied is not None:
            return denied
    if caps.daily is None and caps.monthly is None:
        return found.allow()
    enforce = rule.mode is Mode.ENFORCE
    day, day_end = _day(cp, now)
    month, month_end = _month(cp, now)
    buckets = (
        Bucket(day, caps.daily if enforce else None, day_end.epoch_ttl(now) + DAY_KEY_SLACK),
        Bucket(month, caps.monthly if enforce else None, month_end.epoch_ttl(now) + MONTH_KEY_SLACK),
    )
    return SpendCheck(
        found,
        now,
        SpendKind.TIP,
        amount,
        caps.per_tip if enforce else None,
        buckets,
        (caps.daily, caps.monthly),
        rule.mode,
        rule.on_store_error,
        rule.reservation_ttl_seconds,
        "livestream_tip",
        rule.basis("tip_monthly_cap" if caps.monthly is not None else "tip_daily_cap"),
        rule.basis,
        rule.warn_at_percent,
        {day: day_end.at, month: month_end.at},
    )


def _minor_tip(cp: CompiledPolicy, found: Findings, now: Instant, amount: int) -> SpendCheck:
    """A minor's tip the policy lets through (no tipping rule, or a report-only one): reserved, so a
    guardian who turned tipping off is heard atomically."""
    rule = cp.policy.spec.livestream_tip
    day, day_end = _day(cp, now)
    month, month_end = _month(cp, now)
    buckets = (
        Bucket(day, None, day_end.epoch_ttl(now) + DAY_KEY_SLACK),
        Bucket(month, None, month_end.epoch_ttl(now) + MONTH_KEY_SLACK),
    )
    basis = cp.policy.spec.guardian.legal_basis
    again = {day: day_end.at, month: month_end.at}
    return SpendCheck(
        found, now, SpendKind.TIP, amount, None, buckets, (None, None), rule.mode, rule.on_store_error,
        rule.reservation_ttl_seconds, "livestream_tip", basis, rule.basis, None, again, True, basis,
    )  # fmt: skip


def finish_spend(
    check: SpendCheck, result: ReserveResult, guardian: GuardianSettings | None = None
) -> Decision:
    """Decide from the store's answer to the reservation (and the guardian settings it read)."""
    found = check.findings
    if not result.ok:
        own = guardian_finding(check, result, guardian)
        if own is not None:
            return found.deny(own)
        denied = found.check(check.mode, _denial(check, result))
        return denied or found.allow()
    for cap, totals in zip(check.caps, result.totals, strict=True):
        if cap is not None and totals.committed + totals.pending > cap and check.mode is Mode.REPORT_ONLY:
            found.check(check.mode, _over(check, totals.period, cap))
    budget = _budget(check.caps[-1], result.totals[-1])
    if check.kind is SpendKind.PURCHASE:
        for cap, totals in zip(check.caps[:-1], result.totals[:-1], strict=True):
            budget = _least(budget, _budget(cap, totals))
        if guardian is not None:
            budget = _least(budget, guardian_budget(check, result, guardian))
    return found.allow(
        remaining_budget_fen=budget,
        warnings=_half_warnings(check, result.totals),
        reservation_id=result.reservation_id,
        replayed=result.replayed,
    )


def simulate_reserve(
    check: SpendCheck, spent: dict[str, int], guardian: GuardianSettings | None = None
) -> ReserveResult:
    """What a store would answer given the totals already spent per period (for explain and cases)."""
    totals = tuple(BucketTotals(b.period, spent.get(b.period, 0), 0) for b in check.buckets)
    if check.single_cap is not None and check.amount > check.single_cap:
        return ReserveResult(False, None, SpendDenial.SINGLE_CAP, totals)
    for bucket, total in zip(check.buckets, totals, strict=True):
        if bucket.cap is not None and total.committed + check.amount > bucket.cap:
            return ReserveResult(False, None, _denial_kind(bucket.period), totals)
    denial = simulate_guardian(check, totals, guardian) if check.guardian else None
    if denial is not None:
        return ReserveResult(False, None, denial, totals)
    after = tuple(BucketTotals(t.period, t.committed, check.amount) for t in totals)
    return ReserveResult(True, "explain", None, after)


def _denial(check: SpendCheck, result: ReserveResult) -> Finding:
    if result.denial is SpendDenial.SINGLE_CAP:
        reason = Reason.PURCHASE_SINGLE_CAP if check.kind is SpendKind.PURCHASE else Reason.TIP_PER_TIP_CAP
        basis = check.basis(reason.value)
        return finding(reason, check.rule, basis, check.mode, "over the single-payment cap")
    index = 0 if result.denial is SpendDenial.DAILY_CAP or len(check.buckets) == 1 else 1
    bucket = check.buckets[index]
    return _over(check, bucket.period, check.caps[index] or 0)


def _over(check: SpendCheck, period: str, cap: int) -> Finding:
    daily = len(period) == 10
    if check.kind is SpendKind.PURCHASE:
        reason = Reason.PURCHASE_DAILY_CAP if daily else Reason.PURCHASE_MONTHLY_CAP
    else:
        reason = Reason.TIP_DAILY_CAP if daily else Reason.TIP_MONTHLY_CAP
    what = "day" if daily else "month"
    return finding(
        reason,
        check.rule,
        check.basis(reason.value),
        check.mode,
        f"this would pass the {what}'s cap of {cap} fen",
        check.again.get(period),
    )


def _denial_kind(period: str) -> SpendDenial:
    return SpendDenial.DAILY_CAP if len(period) == 10 else SpendDenial.MONTHLY_CAP


def _budget(cap: int | None, totals: BucketTotals) -> int | None:
    return None if cap is None else max(cap - totals.committed - totals.pending, 0)


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _half_warnings(check: SpendCheck, totals: tuple[BucketTotals, ...]) -> tuple[Warning, ...]:
    """LS20: remind and confirm when a user reaches half of the daily or monthly tipping limit."""
    if check.warn_at_percent is None:
        return ()
    warnings = []
    for cap, total in zip(check.caps, totals, strict=True):
        if cap and (total.committed + total.pending) * 100 >= cap * check.warn_at_percent:
            daily = len(total.period) == 10
            code = WarningCode.TIP_HALF_DAILY if daily else WarningCode.TIP_HALF_MONTHLY
            warnings.append(
                Warning(
                    code,
                    f"{check.warn_at_percent}% of the {'daily' if daily else 'monthly'} "
                    "tipping limit is reached",
                )
            )
    return tuple(warnings)


@dataclass(frozen=True, slots=True)
class _Edge:
    at: dt.datetime

    def epoch_ttl(self, now: Instant) -> int:
        return max(int(self.at.timestamp()) - now.epoch, 1)


def _month(cp: CompiledPolicy, now: Instant) -> tuple[str, _Edge]:
    year, month = now.date.year, now.date.month
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return f"{year:04d}-{month:02d}", _Edge(cp.midnight(first_next))


def _day(cp: CompiledPolicy, now: Instant) -> tuple[str, _Edge]:
    return now.date.isoformat(), _Edge(cp.midnight(now.date + dt.timedelta(days=1)))


def _amount(facts: Facts) -> int:
    if facts.amount_fen is None or facts.amount_fen < 0:
        raise ValueError(f"{facts.activity.value} needs a non-negative amount_fen")
    return facts.amount_fen
