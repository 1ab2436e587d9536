"""The 8 test cases of NPPA's official test system, with its preset data (测试系统说明 V1.2).

Each case gets a test code in the NPPA portal; the URLs are `{base}/test/.../{testCode}`.
    01 check → success        ai 100000000000000001..08 with the preset names and ID numbers
    02 check → in progress    ai 200000000000000001..08
    03 check → failed         any other data (here: ai 300000000000000001..08, other valid ID numbers)
    04 query → success        ai 100000000000000001..08
    05 query → in progress    ai 200000000000000001..08
    06 query → failed         ai 300000000000000001..08
    07 loginout, guests       8 online items, ct=2 with a random 32-character di
    08 loginout, verified     8 online items, ct=0 with the 8 preset pis
The preset names and numbers are NPPA's published test data, not people.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from minorguard.adapters.nppa.client import NppaClient
from minorguard.adapters.nppa.codes import NppaError
from minorguard.adapters.nppa.models import AuthResult, AuthStatus, BehaviourType, LoginoutItem, UserType

_DIGITS = "一二三四五六七八"
SUCCESS_AIS = tuple(f"1000000000000000{n:02d}" for n in range(1, 9))
PENDING_AIS = tuple(f"2000000000000000{n:02d}" for n in range(1, 9))
FAILED_AIS = tuple(f"3000000000000000{n:02d}" for n in range(1, 9))


def _people(ais: tuple[str, ...], middle: str, ids: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """The test system's preset people: ai N pairs with the name 某<middle><N> and ID number N."""
    return tuple(zip(ais, (f"某{middle}{d}" for d in _DIGITS), ids, strict=True))


SUCCESS_PEOPLE = _people(SUCCESS_AIS, "一", (
    "110000190101010001", "110000190101020007", "110000190101030002", "110000190101040008",
    "11000019010101001X", "110000190101020015", "110000190101030010", "110000190101040016",
))  # fmt: skip
PENDING_PEOPLE = _people(PENDING_AIS, "二", (
    "110000190201010009", "110000190201020004", "11000019020103000X", "110000190201040005",
    "110000190201010017", "110000190201020012", "110000190201030018", "110000190201040013",
))  # fmt: skip
# Not preset: well-formed (valid check character) numbers the test system does not know.
FAILED_PEOPLE = _people(FAILED_AIS, "三", (
    "110000190301010006", "110000190301020001", "110000190301030007", "110000190301040002",
    "110000190301050008", "110000190301060003", "110000190301070009", "110000190301080004",
))  # fmt: skip
PRESET_PIS = (
    "1fffbjzos82bs9cnyj1dna7d6d29zg4esnh99u", "1fffbkmd9ebtwi7u7f4oswm9li6twjydqs7qjv",
    "1fffblf892i0p1zh6wlec2quukxtw29v4yismp", "1fffbmr55j92gttv5wxspm0mgvw8x3p0n7cy0j",
    "1fffbjqfba5y6uwr55cdak6faokhm4s02qkyue", "1fffbkrwndszes1sngfx3v6pdqh87fi4zhz9ur",
    "1fffbl6st3fbp199i8zh5ggcp84fgo3rj7pn1y", "1fffbmzwmr1k3y8bri2linqbhnvmu510u5jj6z",
)  # fmt: skip
CASES: dict[int, str] = {
    1: "check → success",
    2: "check → in progress",
    3: "check → failed",
    4: "query → success",
    5: "query → in progress",
    6: "query → failed",
    7: "loginout, guests (ct=2 + di)",
    8: "loginout, verified (ct=0 + pi)",
}


@dataclass(frozen=True, slots=True)
class CaseResult:
    number: int
    title: str
    passed: bool
    detail: str

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"case {self.number:02d}  {self.title:<32} {verdict}  {self.detail}"


def _verdict(results: Sequence[AuthResult], want: AuthStatus) -> tuple[bool, str]:
    wrong = [f"#{i}: {r.status.label}" for i, r in enumerate(results, 1) if r.status is not want]
    # A success must carry a pi that decodes (AuthResult.from_data checked it) to the test people's 1901.
    odd_pi = [
        f"#{i}: pi born {r.birthdate}"
        for i, r in enumerate(results, 1)
        if r.birthdate and r.birthdate.year != 1901
    ]
    problems = wrong + odd_pi
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(results)}/{len(results)} {want.label}"


async def _run(client: NppaClient, number: int, now: Callable[[], float]) -> tuple[bool, str]:
    if number in (1, 2, 3):
        people = (SUCCESS_PEOPLE, PENDING_PEOPLE, FAILED_PEOPLE)[number - 1]
        want = (AuthStatus.SUCCESS, AuthStatus.IN_PROGRESS, AuthStatus.FAILED)[number - 1]
        return _verdict([await client.check(ai, name, id_num) for ai, name, id_num in people], want)
    if number in (4, 5, 6):
        ais = (SUCCESS_AIS, PENDING_AIS, FAILED_AIS)[number - 4]
        want = (AuthStatus.SUCCESS, AuthStatus.IN_PROGRESS, AuthStatus.FAILED)[number - 4]
        return _verdict([await client.query(ai) for ai in ais], want)
    ot = int(now()) - 1
    items = [
        LoginoutItem(no, uuid.uuid4().hex, BehaviourType.ONLINE, ot, UserType.GUEST, di=uuid.uuid4().hex)
        if number == 7
        else LoginoutItem(no, uuid.uuid4().hex, BehaviourType.ONLINE, ot, UserType.VERIFIED, pi=pi)
        for no, pi in enumerate(PRESET_PIS, start=1)
    ]
    result = await client.loginout(items)
    if result.failed:
        return False, "; ".join(f"item {r.no}: errcode {r.raw_code}" for r in result.failed)
    return True, f"{len(items)}/{len(items)} items accepted"


async def run_selftest(
    client_for: Callable[[int], NppaClient],
    cases: Sequence[int] = tuple(CASES),
    *,
    clock: Callable[[], float] = time.time,
) -> list[CaseResult]:
    """Run the cases; `client_for(case)` gives the client whose endpoints carry that case's test code."""
    results: list[CaseResult] = []
    for number in cases:
        client = client_for(number)
        try:
            passed, detail = await _run(client, number, clock)
        except NppaError as exc:
            passed, detail = False, str(exc)
        results.append(CaseResult(number, CASES[number], passed, detail))
    return results
