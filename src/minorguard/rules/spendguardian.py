"""A guardian's spending settings in a reservation: the caps a guardian set (single, day, month) and
tipping turned off. The store applies them in the same atomic step as the policy's caps, after them
(lua/reserve.lua), and answers a denial of its own; this module words that denial, works out the
budget left under the guardian's caps, and simulates the store for `policy explain` and cases."""

from __future__ import annotations

from minorguard.counters import BucketTotals, ReserveResult, SpendDenial, SpendKind
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.outcome import finding
from minorguard.rules.spendcheck import SpendCheck
from minorguard.types import Finding, Mode, Reason

_CAP_LETTERS = {
    SpendDenial.GUARDIAN_SINGLE: "s",
    SpendDenial.GUARDIAN_DAILY: "d",
    SpendDenial.GUARDIAN_MONTHLY: "m",
}
_WHAT = {"s": "one purchase", "d": "a day", "m": "a month"}


def guardian_finding(
    check: SpendCheck, result: ReserveResult, guardian: GuardianSettings | None
) -> Finding | None:
    """The refusal of a reservation the guardian's settings denied (None: another denial). Always
    enforced: a guardian's choice is no trial."""
    denial = result.denial
    if denial is SpendDenial.GUARDIAN_TIPS:
        detail = "your guardian turned tipping off"
        return finding(Reason.GUARDIAN_LIMIT, "guardian.tips", check.guardian_basis, Mode.ENFORCE, detail)
    letter = _CAP_LETTERS.get(denial) if denial is not None else None
    if letter is None:
        return None
    cap = None if guardian is None else guardian.caps.get(letter)
    detail = (
        f"your guardian set a cap of {cap} fen for {_WHAT[letter]}"
        if cap is not None
        else "over a spending cap your guardian set"
    )
    again = None
    if letter != "s":
        periods = [b.period for b in check.buckets if (len(b.period) == 10) == (letter == "d")]
        again = check.again.get(periods[0]) if periods else None
    return finding(
        Reason.GUARDIAN_LIMIT, "guardian.purchase", check.guardian_basis, Mode.ENFORCE, detail, again
    )


def guardian_budget(check: SpendCheck, result: ReserveResult, guardian: GuardianSettings) -> int | None:
    """What the guardian's day and month caps leave after this reservation (None: no such cap)."""
    budget = None
    for totals in result.totals:
        cap = _cap(guardian, totals.period)
        if cap is not None:
            left = max(cap - totals.committed - totals.pending, 0)
            budget = left if budget is None else min(budget, left)
    return budget


def simulate_guardian(
    check: SpendCheck, totals: tuple[BucketTotals, ...], guardian: GuardianSettings | None
) -> SpendDenial | None:
    """What the store's guardian step would deny (lua/reserve.lua), given the totals before it."""
    if guardian is None:
        return None
    if check.kind is SpendKind.TIP:
        return SpendDenial.GUARDIAN_TIPS if guardian.tips_off else None
    if guardian.single is not None and check.amount > guardian.single:
        return SpendDenial.GUARDIAN_SINGLE
    for total in totals:
        cap = _cap(guardian, total.period)
        if cap is not None and total.committed + total.pending + check.amount > cap:
            return SpendDenial.GUARDIAN_DAILY if len(total.period) == 10 else SpendDenial.GUARDIAN_MONTHLY
    return None


def _cap(guardian: GuardianSettings, period: str) -> int | None:
    return guardian.daily if len(period) == 10 else guardian.monthly
