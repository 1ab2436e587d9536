"""Median time of one stateless decision in-process (issue target: <= 20 µs).

Runs the pure engine (policy compiled at load, holiday calendar cached) on decisions that need no
store: an adult's game request, a minor denied by the curfew, a minor denied by the play windows, a
minor's purchase over the single cap, a publisher registration. Prints the median of several rounds per
case and, as a same-run baseline, the median cost of an empty Python call, so figures from this noisy
shared machine can be compared as ratios.

    .venv/bin/python benchmarks/stateless_decision.py [--rounds 15] [--number 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import timeit
from collections.abc import Callable
from zoneinfo import ZoneInfo

from minorguard.explain import compile_policy
from minorguard.rules.evaluate import evaluate
from minorguard.types import Activity, Decision, Facts, Subject

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    cp = compile_policy("nppa-2021")
    adult = Subject("a", dt.date(1990, 1, 1), True)
    minor = Subject("m", dt.date(2011, 5, 1), True)
    cases: dict[str, Callable[[], object]] = {
        "adult game": lambda: evaluate(cp, adult, Facts(Activity.GAME), _FRI_2030),
        "minor game, curfew (23:00)": lambda: evaluate(cp, minor, Facts(Activity.GAME), _FRI_2300),
        "minor game, outside window (Thu)": lambda: evaluate(cp, minor, Facts(Activity.GAME), _THU_2030),
        "minor purchase over single cap": lambda: evaluate(
            cp, minor, Facts(Activity.PURCHASE, 5001), _FRI_2030
        ),
        "minor publisher registration": lambda: evaluate(
            cp, minor, Facts(Activity.LIVESTREAM_PUBLISHER_REGISTRATION), _FRI_2030
        ),
    }
    for name, call in cases.items():
        assert isinstance(call(), Decision), name  # each case must be decided without the store
    baseline = _median(lambda: None, args)
    print(f"{'case':<36}{'median µs':>10}{'× empty call':>14}")
    print(f"{'(empty Python call, same run)':<36}{baseline:>10.2f}{1:>14.1f}")
    for name, call in cases.items():
        median = _median(call, args)
        print(f"{name:<36}{median:>10.2f}{median / baseline:>14.1f}")


def _median(call: Callable[[], object], args: argparse.Namespace) -> float:
    rounds = [timeit.timeit(call, number=args.number) / args.number * 1e6 for _ in range(args.rounds)]
    return statistics.median(rounds)


_FRI_2030 = _epoch("2026-11-20T20:30:00")
_FRI_2300 = _epoch("2026-11-20T23:00:00")
_THU_2030 = _epoch("2026-11-19T20:30:00")

if __name__ == "__main__":
    main()
