"""A locust scenario of a realistic mix of players against `minorguard demo` (the middleware) or
`minorguard sidecar --demo`, across the 21:00 end of the nppa-2021 play window.

Each locust user is one player with a token of its own (demo key). The mix of players: adults 67%,
16-17 10% (half with a guardian's publisher consent), 8-15 15%, under 8 5%, unverified 2%, and 1% whose
token has expired. Every player sends a heartbeat once per `--heartbeat-seconds` (`constant_pacing`;
120 s, the real clients' interval, by default: the runner scales time down to a few seconds so a short
run carries the load of many more players). After a heartbeat a player sometimes does one more thing,
weighted per 100 heartbeats by `--mix`: a purchase (game top-up tiers ¥6 .. ¥648), a live-stream tip,
a publisher registration. Some allowed purchases are retried with the same Idempotency-Key, as a client
does after a timeout.

    demo:    GET /game/ping, POST /shop/purchases, POST /live/rooms/{room}/tips, POST /live/publishers
    sidecar: POST /v1/decisions (route form for heartbeats and tips, activity form for purchases and
             registrations) or GET /v1/authz/nginx (every other player), then
             POST /v1/reservations/{id}/commit for what was allowed with a reservation

Denials are the rules at work, so they are successes for locust. A request fails only when it is
unexpected: a connection error, a 5xx or any status the front door does not answer with, or an outcome
the rules forbid (an allow where the demo policy must deny, a deny where it must allow, a deny for a
reason that cannot apply). The expectations below are written from the demo policy's numbers (nppa-2021
caps, demo.yaml tip caps), not computed by minorguard. Outcomes are counted by reason in
`<csv prefix>_outcomes.csv`, minors' heartbeats per server second in `<csv prefix>_timeline.csv`.

The server's clock: `--server-start-at` is the instant given to the server's `--start-at`, and
`--server-clock LAUNCH,READY` brackets (epoch seconds) the real moment its clock started. With both, each
heartbeat is placed before, around (within the bracket) or after `--boundary`, and minors must be
allowed before and denied `outside_play_window` after. Without them the heartbeat of a minor may go
either way. `benchmarks/locust_run.py` starts the server and passes all of this.

    locust -f benchmarks/locustfile.py --headless -u 50 -r 10 -t 30s --host http://127.0.0.1:8000 \
        --target demo --heartbeat-seconds 2
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust import constant_pacing, events, task
from locust.contrib.fasthttp import FastHttpUser, ResponseContextManager
from locust.stats import CSV_STATS_INTERVAL_SEC

from minorguard.demo import DEMO_BACKEND_TOKEN, demo_token

BEIJING = dt.timezone(dt.timedelta(hours=8))
DEFAULT_BOUNDARY = "2026-11-20T21:00:00+08:00"  # a Friday: nppa-2021's window is 20:00-21:00

# the demo policy's numbers (nppa-2019 caps kept by nppa-2021; demo.yaml's adult tip caps), in fen
SINGLE_CAP = {"age_8_15": 5000, "age_16_17": 10000}
ADULT_PER_TIP = 50000
PRICES = (600, 3000, 6800, 12800, 32800, 64800)  # the usual top-up tiers, ¥6 .. ¥648
PRICE_WEIGHTS = (40, 25, 15, 10, 6, 4)
TIPS = (100, 500, 1000, 5000, 20000, 52000)  # the last is over the ¥500 per-tip cap
TIP_WEIGHTS = (40, 25, 15, 12, 6, 2)

# who plays: (kind, weight); picked in a smooth weighted round robin, so any number of users has the
# nearest mix and the first few are already varied
PERSONAS = (
    ("adult", 67),
    ("age_8_15", 15),
    ("age_16_17", 10),
    ("under_8", 5),
    ("unverified", 2),
    ("expired", 1),
)
AGES = {"adult": (18, 60), "age_16_17": (16, 17), "age_8_15": (8, 15), "under_8": (3, 7)}
MINORS = frozenset(("age_16_17", "age_8_15", "under_8"))

# the custom stats: (target, door, activity, persona, outcome, reason, phase, verdict) -> count, where
# verdict is "expected", "wrong" (an outcome the rules forbid) or "error" (no decision: a bad status)
OUTCOMES: Counter[tuple[str, str, str, str, str, str, str, str]] = Counter()
# minors' heartbeats: (server second from the boundary, outcome, reason) -> count
TIMELINE: Counter[tuple[int, str, str]] = Counter()
CROSSING: dict[str, float] = {}  # last allow / first window deny of a minor, server time bounds


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("minorguard scenario")
    group.add_argument("--target", choices=("demo", "sidecar"), default="demo", help="what --host runs")
    group.add_argument("--heartbeat-seconds", type=float, default=120.0, help="each player's pacing")
    group.add_argument(
        "--mix",
        default="purchase=10,tip=5,publisher=2",
        help="actions per 100 heartbeats (at most one after each heartbeat)",
    )
    group.add_argument("--retry-percent", type=float, default=10.0, help="allowed purchases sent twice")
    group.add_argument("--sidecar-doors", default="api,nginx", help="heartbeat doors, one per player")
    group.add_argument("--server-start-at", default="", help="the server's --start-at (ISO 8601)")
    group.add_argument("--server-clock", default="", help="LAUNCH,READY: when its clock started (epoch)")
    group.add_argument("--boundary", default=DEFAULT_BOUNDARY, help="the window end to report around")


@dataclass(frozen=True, slots=True)
class Expect:
    """What the demo policy says: allow, deny, or either (it depends on counters), and the deny
    reasons that may apply."""

    outcome: str  # "allow" | "deny" | "either"
    reasons: frozenset[str] = frozenset()


ALLOW = Expect("allow")


def deny(*reasons: str) -> Expect:
    return Expect("deny", frozenset(reasons))


def either(*reasons: str) -> Expect:
    return Expect("either", frozenset(reasons))


def expect(persona: str, activity: str, amount: int = 0, *, consent: bool = False, phase: str = "") -> Expect:
    if persona == "expired":
        return deny("identity_invalid")
    if persona == "unverified":  # no play (guest mode is off in nppa-2021), no payments, no tips
        return deny("purchase_not_allowed" if activity == "purchase" else "identity_unverified")
    adult = persona == "adult"
    if activity == "game":
        if adult:
            return ALLOW
        window = {"before": ALLOW, "after": deny("outside_play_window")}
        return window.get(phase, either("outside_play_window"))
    if activity == "purchase":
        if adult:
            return ALLOW
        if persona == "under_8":
            return deny("purchase_not_allowed")
        if amount > SINGLE_CAP[persona]:
            return deny("purchase_single_cap")
        return either("purchase_monthly_cap")
    if activity == "livestream_tip":
        if not adult:
            return deny("tip_minor")
        if amount > ADULT_PER_TIP:
            return deny("tip_per_tip_cap")
        return either("tip_daily_cap", "tip_monthly_cap")
    # publisher registration: 16 and over; 16-17 with a guardian's consent
    if adult or (persona == "age_16_17" and consent):
        return ALLOW
    return deny(
        "publisher_guardian_consent_required" if persona == "age_16_17" else "publisher_under_min_age"
    )


class Clock:
    """Where the server's clock stood when a request was decided, as bounds."""

    def __init__(self, start_at: str, bracket: str, boundary: str) -> None:
        self.boundary = dt.datetime.fromisoformat(boundary).timestamp()
        self.start = dt.datetime.fromisoformat(start_at).timestamp() if start_at else None
        launch, ready = (float(x) for x in bracket.split(",")) if bracket else (math.nan, math.nan)
        self.launch, self.ready = launch, ready
        self.known = self.start is not None and not math.isnan(launch)

    def bounds(self, sent: float, received: float) -> tuple[float, float]:
        """The server instant lies in [start + sent - ready, start + received - launch]."""
        assert self.start is not None
        return self.start + sent - self.ready, self.start + received - self.launch

    def phase(self, sent: float, received: float) -> str:
        if not self.known:
            return "unknown"
        low, high = self.bounds(sent, received)
        return "before" if high < self.boundary else "after" if low >= self.boundary else "around"

    def server_date(self) -> dt.date:
        at = self.start if self.start is not None else time.time()
        return dt.datetime.fromtimestamp(at, BEIJING).date()


def weighted_round_robin(items: tuple[tuple[str, int], ...]) -> itertools.cycle[str]:
    total = sum(w for _, w in items)
    current = dict.fromkeys((n for n, _ in items), 0)
    order = []
    for _ in range(total):
        for name, weight in items:
            current[name] += weight
        best = max(current, key=lambda n: current[n])
        current[best] -= total
        order.append(best)
    return itertools.cycle(order)


NEXT_PERSONA = weighted_round_robin(PERSONAS)
USER_NUMBER = itertools.count()
PERSONA_NUMBERS = {name: itertools.count() for name, _ in PERSONAS}
RUN = secrets.token_hex(3)  # fresh subjects on every run, even against a server left running


def birthdate(today: dt.date, years: int, rng: random.Random) -> dt.date:
    """Born `years` years and 1-364 days before `today`: exactly `years` old today."""
    day = 28 if (today.month, today.day) == (2, 29) else today.day
    anniversary = today.replace(year=today.year - years, day=day)
    return anniversary - dt.timedelta(days=rng.randint(1, 364))


def parse_mix(text: str) -> list[tuple[str, float]]:
    mix = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in ("purchase", "tip", "publisher"):
            raise ValueError(f"--mix: unknown action {name!r}")
        mix.append((name, float(weight)))
    if sum(w for _, w in mix) > 100:
        raise ValueError("--mix: at most 100 actions per 100 heartbeats")
    return mix


class Player(FastHttpUser):
    network_timeout = 10.0
    connection_timeout = 5.0
    host = "http://127.0.0.1:8000"

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.number = next(USER_NUMBER)
        self.rng = random.Random(f"{RUN}-{self.number}")
        self.target = options.target
        self.pacing = constant_pacing(options.heartbeat_seconds)
        self.mix = parse_mix(options.mix)
        self.retry_percent = options.retry_percent
        self.clock = Clock(options.server_start_at, options.server_clock, options.boundary)
        self.persona = next(NEXT_PERSONA)
        nth = next(PERSONA_NUMBERS[self.persona])  # doors and consent alternate within each persona
        doors = [d.strip() for d in options.sidecar_doors.split(",") if d.strip()]
        self.door = doors[nth % len(doors)] if self.target == "sidecar" else "middleware"
        self.consent = self.persona == "age_16_17" and nth % 2 == 0
        subject = f"load-{RUN}-{self.number}"
        if self.persona == "unverified":
            self.token = demo_token(subject, None, verified=False)
        elif self.persona == "expired":
            self.token = demo_token(subject, dt.date(1990, 1, 1), expires_in=3600, now=time.time() - 86400)
        else:
            low, high = AGES[self.persona]
            born = birthdate(self.clock.server_date(), self.rng.randint(low, high), self.rng)
            consent = ("livestream_publisher",) if self.consent else ()
            self.token = demo_token(subject, born, consent=consent)
        self.auth = {"Authorization": f"Bearer {self.token}"}
        # players are not in step: each starts at a random point of the heartbeat interval (locust
        # starts a second's worth of users at once, and constant_pacing keeps them together unless
        # its start mark, set when the user was made, is moved to after this pause)
        gevent.sleep(self.rng.uniform(0, options.heartbeat_seconds))
        self._cp_last_run = time.perf_counter()

    def wait_time(self) -> float:
        return self.pacing(self)

    @task
    def play(self) -> None:
        self.heartbeat()
        roll = self.rng.random() * 100
        for action, weight in self.mix:
            if roll < weight:
                getattr(self, action)()
                return
            roll -= weight

    # --- the actions -------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        if self.door == "middleware":
            self.demo("heartbeat GET /game/ping", "GET", "/game/ping", "game")
        elif self.door == "nginx":
            headers = {**self.auth, "X-Original-URI": "/game/ping", "X-Original-Method": "GET"}
            self.decide_nginx("heartbeat GET /v1/authz/nginx", headers, "game")
        else:
            body = {"token": self.token, "method": "GET", "path": "/game/ping"}
            self.decide_api("heartbeat POST /v1/decisions", body, "game")

    def purchase(self) -> None:
        amount = self.rng.choices(PRICES, PRICE_WEIGHTS)[0]
        key = f"order-{RUN}-{self.number}-{self.rng.getrandbits(48):x}"
        retry = self.rng.random() * 100 < self.retry_percent
        if self.target == "demo":
            headers = {"Idempotency-Key": key}
            name = "purchase POST /shop/purchases"
            allowed = self.demo(name, "POST", "/shop/purchases", "purchase", amount, headers=headers)
            if allowed and retry:
                # the same order again: an adult's purchase is not counted, so it simply goes through;
                # a minor's was counted and must not move money twice
                again = ALLOW if self.persona == "adult" else deny("duplicate_request")
                name = "purchase again POST /shop/purchases (same Idempotency-Key)"
                self.demo(name, "POST", "/shop/purchases", "purchase", amount, headers=headers, want=again)
            return
        body = {"token": self.token, "activity": "purchase", "amount_fen": amount, "idempotency_key": key}
        reservation = self.decide_api("purchase POST /v1/decisions", body, "purchase", amount)
        if reservation:
            self.commit(reservation)
        if reservation is not None and retry:
            # a minor's repeated order is answered as a replay of the first: nothing more to commit
            name = "purchase again POST /v1/decisions (same idempotency_key)"
            self.decide_api(name, body, "purchase", amount, replay=self.persona != "adult")

    def tip(self) -> None:
        amount = self.rng.choices(TIPS, TIP_WEIGHTS)[0]
        room = self.rng.randint(1, 50)
        path = f"/live/rooms/{room}/tips"
        if self.target == "demo":
            self.demo("tip POST /live/rooms/[room]/tips", "POST", path, "livestream_tip", amount)
            return
        # the sidecar demo's routes take the amount from X-Amount-Fen, as proxies (no body) need
        body = {"token": self.token, "method": "POST", "path": path, "headers": {"X-Amount-Fen": str(amount)}}
        reservation = self.decide_api("tip POST /v1/decisions", body, "livestream_tip", amount)
        if reservation:
            self.commit(reservation)

    def publisher(self) -> None:
        activity = "livestream_publisher_registration"
        if self.target == "demo":
            self.demo("publisher POST /live/publishers", "POST", "/live/publishers", activity)
            return
        self.decide_api("publisher POST /v1/decisions", {"token": self.token, "activity": activity}, activity)

    # --- the front doors ---------------------------------------------------------------------------

    def demo(
        self,
        name: str,
        method: str,
        path: str,
        activity: str,
        amount: int = 0,
        *,
        headers: dict[str, str] | None = None,
        want: Expect | None = None,
    ) -> bool:
        """One request to the demo backend; True when it was allowed."""
        body = {"amount_fen": amount} if activity in ("purchase", "livestream_tip") else None
        sent = time.time()
        with self.client.request(
            method, path, name=name, headers={**self.auth, **(headers or {})}, json=body, catch_response=True
        ) as response:
            received = time.time()
            status = response.status_code
            if 200 <= status < 300:
                outcome, reason = "allow", "allowed"
            elif status in (401, 403, 409) and response.headers.get("minorguard-reason"):
                outcome, reason = "deny", response.headers["minorguard-reason"]
            else:
                return self.unexpected(response, activity, status)
            self.judge(response, activity, amount, outcome, reason, sent, received, want)
            return outcome == "allow"

    def decide_nginx(self, name: str, headers: dict[str, str], activity: str) -> None:
        sent = time.time()
        with self.client.get("/v1/authz/nginx", name=name, headers=headers, catch_response=True) as response:
            received = time.time()
            status = response.status_code
            if status == 200:
                outcome, reason = "allow", "allowed"
            elif status in (401, 403) and response.headers.get("minorguard-reason"):
                outcome, reason = "deny", response.headers["minorguard-reason"]
            else:
                self.unexpected(response, activity, status)
                return
            self.judge(response, activity, 0, outcome, reason, sent, received, None)

    def decide_api(
        self, name: str, body: dict[str, Any], activity: str, amount: int = 0, *, replay: bool = False
    ) -> str | None:
        """A decision; the reservation id ("" when there is none) when allowed, None when denied."""
        sent = time.time()
        with self.client.post("/v1/decisions", name=name, json=body, catch_response=True) as response:
            received = time.time()
            if response.status_code != 200:
                self.unexpected(response, activity, response.status_code)
                return None
            try:
                answer = json.loads(response.content)
                outcome, reason = answer["outcome"], answer["reason"]
            except (ValueError, KeyError, TypeError):
                response.failure("a decision that is not JSON with outcome and reason")
                self.count(activity, "error", "bad_json", "", "error")
                return None
            want = None
            if replay:
                want = ALLOW
                if outcome == "allow" and not answer.get("replayed"):
                    response.failure(f"{activity}: a repeated idempotency_key was not answered as a replay")
                    self.count(activity, outcome, reason, "", "wrong")
                    return None
                reason = "replayed" if answer.get("replayed") else reason
            if not self.judge(response, activity, amount, outcome, reason, sent, received, want):
                return None
            return (answer.get("reservation_id") or "") if outcome == "allow" else None

    def commit(self, reservation: str) -> None:
        path = f"/v1/reservations/{reservation}/commit"
        name = "commit POST /v1/reservations/[id]/commit"
        settle = {"Authorization": f"Bearer {DEMO_BACKEND_TOKEN}"}  # the demo's backend credential
        with self.client.post(path, name=name, headers=settle, catch_response=True) as response:
            status = response.status_code
            if status == 200 and b'"committed"' in response.content:
                self.count("commit", "allow", "committed", "", "expected")
                response.success()
            else:
                self.unexpected(response, "commit", status)

    # --- judging and counting ----------------------------------------------------------------------

    def judge(
        self,
        response: ResponseContextManager,
        activity: str,
        amount: int,
        outcome: str,
        reason: str,
        sent: float,
        received: float,
        want: Expect | None,
    ) -> bool:
        """Count the outcome and mark the request: True when the rules allow this outcome."""
        phase = self.clock.phase(sent, received) if activity == "game" else ""
        if want is None:
            want = expect(self.persona, activity, amount, consent=self.consent, phase=phase)
        if activity == "game" and self.persona in MINORS and phase != "unknown":
            self.track(outcome, reason, sent, received)
        wrong = None
        if want.outcome == "allow" and outcome != "allow":
            wrong = f"{activity} denied ({reason}) where the rules allow"
        elif want.outcome == "deny" and outcome == "allow":
            wrong = f"{activity} allowed where the rules deny ({', '.join(sorted(want.reasons))})"
        elif outcome == "deny" and reason not in want.reasons:
            wrong = f"{activity} denied for {reason}, which cannot apply here"
        self.count(activity, outcome, reason, phase, "expected" if wrong is None else "wrong")
        if wrong is not None:
            response.failure(f"{self.persona}{' ' + phase if phase else ''}: {wrong}")
            return False
        response.success()
        return True

    def unexpected(self, response: ResponseContextManager, activity: str, status: int) -> bool:
        if status == 0:
            response.failure(f"connection error: {type(response.error).__name__}")
        else:
            response.failure(f"unexpected status {status} for {activity}")
        self.count(activity, "error", f"status_{status}", "", "error")
        return False

    def count(self, activity: str, outcome: str, reason: str, phase: str, verdict: str) -> None:
        OUTCOMES[self.target, self.door, activity, self.persona, outcome, reason, phase, verdict] += 1

    def track(self, outcome: str, reason: str, sent: float, received: float) -> None:
        low, high = self.clock.bounds(sent, received)
        middle = (low + high) / 2
        TIMELINE[math.floor(middle - self.clock.boundary), outcome, reason] += 1
        if outcome == "allow":
            if low > CROSSING.get("last_allow_low", -math.inf):
                CROSSING["last_allow_low"], CROSSING["last_allow_high"] = low, high
        elif reason == "outside_play_window" and high < CROSSING.get("first_deny_high", math.inf):
            CROSSING["first_deny_low"], CROSSING["first_deny_high"] = low, high


@events.quitting.add_listener
def _write_outcomes(environment: Any, **_: Any) -> None:
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    # locust's CSV writer rewrites its files once a second and is not asked for a last write before it
    # closes them: give it one more turn now that every user has stopped, so the CSV has every request
    gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.25)
    with Path(f"{prefix}_outcomes.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["target", "door", "activity", "persona", "outcome", "reason", "phase", "verdict", "count"]
        )
        for key, n in sorted(OUTCOMES.items()):
            writer.writerow([*key, n])
    with Path(f"{prefix}_timeline.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["second_from_boundary", "outcome", "reason", "count"])
        for key, n in sorted(TIMELINE.items()):
            writer.writerow([*key, n])
    with Path(f"{prefix}_crossing.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["event", "server_time_low", "server_time_high"])
        for event in ("last_allow", "first_deny"):
            if f"{event}_low" in CROSSING:
                bounds = (CROSSING[f"{event}_low"], CROSSING[f"{event}_high"])
                writer.writerow([event, *(dt.datetime.fromtimestamp(b, BEIJING).isoformat() for b in bounds)])
