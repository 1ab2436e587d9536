"""The gate: the one check every front door calls.

A door translates what it was given into an `Inquiry` (method, path, headers, query, body or none,
or the activity given outright) and calls `Gate.check` with its `Door`; it gets back a `Verdict`
(the decision and the answer to give, shaped for the door) and translates that out. Between the two,
in this order and nowhere else:

1. the route the backend will route (every spelling of the path; exempt and unrouted paths pass);
2. the policy reload check;
3. the fast paths: an admitted adult's raw token (one dict probe), a cached token's adult;
4. identity (a missing or invalid token is a 401 deny);
5. the request's facts (amount, game id) from where the route says, the body read at most once;
6. the engine: stateless rules, then at most one store call (its minute memo and blocked-until cache
   answer repeat heartbeats and used-up days without the store);
7. the metrics, the decision log and NPPA behaviour reporting.

`Gate.settle` commits or releases the reservation a decision made, the same for every door.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import NamedTuple, Protocol

from minorguard import decisionlog
from minorguard.adapters.base import CounterStore, SettleResult
from minorguard.engine import ADULT_ALLOWED, Engine
from minorguard.errors import StoreError
from minorguard.gate.identify import Verifier, bearer, identify
from minorguard.gate.passes import AdultPasses, cached_adult
from minorguard.gate.reload import PolicyReloader
from minorguard.gate.verdicts import Door, Style, Verdict, decided, not_enforced, refused
from minorguard.metrics import Metrics
from minorguard.types import Activity, Decision, Facts, Outcome, Subject
from minorguard.web import messages
from minorguard.web.body import BodyTooLarge, json_object
from minorguard.web.facts import BadFact, request_facts
from minorguard.web.headers import declared_length, header, text_header
from minorguard.web.paths import UnsafePath, split_target
from minorguard.web.routes import Match, RouteTable, Unjudgeable, Where

RESERVATION = re.compile(r"([0-9a-f]{32})\.([0-9a-f]{32})", re.ASCII)


class BodyReader(Protocol):
    async def read(self, limit: int, declared: int | None) -> bytes:
        """The whole body, at most `limit` bytes (else BodyTooLarge)."""
        ...


class Reporter(Protocol):
    """NPPA behaviour reporting: told every game decision of a reportable player."""

    async def saw(self, subject: Subject, activity: Activity, decision: Decision) -> None: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Inquiry(NamedTuple):
    """What a door extracted from the request it judges."""

    method: str
    target: str  # the path (a decoded door's) or the request target as the client sent it
    headers: list[tuple[bytes, bytes]]  # names in lower case, as ASGI gives them
    query: str = ""  # the query string, when `target` does not carry it
    body: bytes | BodyReader | None = None  # None: the door cannot see a body (nginx, Traefik)
    given: Facts | None = None  # the decision API's activity and numbers, given outright


class Screened(NamedTuple):
    """What `Gate.screen` found when no fast path answered: the facts (or the route to read them
    from), the activity, the cached subject (None: verify the token), the Authorization header, the
    query and when the check started."""

    what: Facts | Match
    activity: Activity
    subject: Subject | None
    auth: bytes | None
    query: str | None  # the query of a request target that carried one; else the Inquiry's
    started: float


class Gate:
    def __init__(
        self,
        *,
        engine: Engine,
        verifier: Verifier,
        routes: RouteTable,
        store: CounterStore,
        metrics: Metrics | None = None,
        reloader: PolicyReloader | None = None,
        passes: AdultPasses | None = None,
        reporter: Reporter | None = None,
        max_body_bytes: int = 64 * 1024,
        default_language: int = 0,
    ) -> None:
        self.engine = engine
        self.verifier = verifier
        self.routes = routes
        self.store = store
        self.metrics = metrics
        self.reloader = reloader
        self.passes = AdultPasses() if passes is None else passes
        self.reporter = reporter
        self.max_body_bytes = max_body_bytes
        self.default_language = default_language
        self._not_enforced = {style: not_enforced(style) for style in Style}
        self._passed: dict[tuple[Style, Activity], Verdict] = {}

    async def check(self, door: Door, inquiry: Inquiry) -> Verdict:
        """The whole check: `screen`, then `complete` when the fast paths did not answer."""
        screened = self.screen(door, inquiry.method, inquiry.target, inquiry.headers, inquiry.given)
        if isinstance(screened, Verdict):
            return screened
        return await self.complete(door, inquiry, screened)

    def screen(
        self,
        door: Door,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        given: Facts | None = None,
    ) -> Verdict | Screened:
        """The fast paths, without an await or an allocation a door would have to make: the route
        (exempt and unrouted paths pass), the reload check, an admitted adult's token, a cached
        token's adult. A Verdict answers the request; Screened is what `complete` goes on from. The
        middleware calls this first and builds its Inquiry (and body reader) only for the rest."""
        style = door.style
        query = None
        if given is None:
            path = target
            if not door.decoded:
                try:
                    path, query = split_target(path)
                except UnsafePath as exc:
                    return self._refused(door, headers, 400, messages.BAD_PATH, str(exc))
            match = self.routes.judged(method, path, decoded=door.decoded)
            if match is None:
                return self._not_enforced[style]
            if isinstance(match, Unjudgeable):
                return self._refused(door, headers, 400, messages.BAD_PATH, match.detail)
            plain, activity = match.plain, match.route.activity
            what: Facts | Match = match if plain is None else plain
        else:
            plain, activity, what = given, given.activity, given
        reloader = self.reloader
        if reloader is not None and time.monotonic() >= reloader.due:
            reloader.maybe_reload(self.engine)
        auth = header(headers, b"authorization")
        # NPPA behaviour reporting sees every game decision, adults' too: no short cut for those
        reported = self.reporter is not None and activity is Activity.GAME
        plain_for_pass = None if reported else plain
        if self.passes.let_through(auth, plain_for_pass, self.engine, self.metrics):
            return self._adult(style, activity)
        started = time.perf_counter()
        subject, adult = cached_adult(
            self.passes, self.verifier, self.engine, self.metrics, auth, plain_for_pass, started, door.name
        )
        if adult:
            return self._adult(style, activity)
        return Screened(what, activity, subject, auth, query, started)

    async def complete(self, door: Door, inquiry: Inquiry, screened: Screened) -> Verdict:
        """Identity (unless cached), the facts, the engine, the record and the report."""
        what, activity, subject, auth, in_target, started = screened
        query = inquiry.query if in_target is None else in_target
        engine = self.engine
        if subject is None:
            identified = await identify(self.verifier, bearer(auth), self.metrics)
            if isinstance(identified, Decision):
                decisionlog.record(self.metrics, engine, None, activity, identified, started, door.name)
                return self._decided(door, inquiry.headers, identified, activity, None)
            subject = identified
        if isinstance(what, Facts):
            facts = what
        else:
            read = await self._facts(door, inquiry, what, query)
            if isinstance(read, Verdict):
                return read
            facts = read
        result = engine.evaluate(subject, facts)
        if not isinstance(result, Decision):
            # a spend's retry is the same purchase when it repeats its Idempotency-Key
            key = None if facts.amount_fen is None else header(inquiry.headers, b"idempotency-key")
            result = await engine.settle(
                subject, facts, result, None if key is None else key.decode("latin-1")
            )
        decisionlog.record(
            self.metrics, engine, subject.subject_id, facts.activity, result, started, door.name
        )
        if self.reporter is not None and facts.activity is Activity.GAME:
            await self.reporter.saw(subject, facts.activity, result)
        reservation = None
        if result.reservation_id is not None:
            reservation = f"{engine.user_key(subject.subject_id)}.{result.reservation_id}"
        return self._decided(door, inquiry.headers, result, facts.activity, reservation, facts.amount_fen)

    async def _facts(self, door: Door, inquiry: Inquiry, match: Match, query: str) -> Facts | Verdict:
        """The facts of a routed request, or the refusal naming what is wrong."""
        route = match.route
        field = route.amount.name if route.amount is not None else None
        body = None
        if route.needs_body:
            source = inquiry.body
            if source is None:
                detail = f"{door.name} does not forward the request body: take the amount from a header"
                return self._refused(door, inquiry.headers, 400, messages.BAD_AMOUNT, detail, field)
            if not isinstance(source, bytes):
                try:
                    source = await source.read(self.max_body_bytes, declared_length(inquiry.headers))
                except BodyTooLarge:
                    detail = f"the body may be at most {self.max_body_bytes} bytes"
                    return self._refused(door, inquiry.headers, 413, messages.BODY_TOO_LARGE, detail)
            body = json_object(source)
            if body is None:
                return self._refused(door, inquiry.headers, 400, messages.BAD_BODY, "send a JSON object")
        headers = {}
        for wanted in (route.amount, route.game_id):
            if wanted is not None and wanted.where is Where.HEADER:
                value = text_header(inquiry.headers, wanted.name.lower())
                if value is not None:
                    headers[wanted.name.lower()] = value
        try:
            return request_facts(route, match.params, headers, query, body)
        except BadFact as exc:
            return self._refused(door, inquiry.headers, 400, messages.BAD_AMOUNT, str(exc), field)

    def _decided(
        self,
        door: Door,
        headers: list[tuple[bytes, bytes]],
        decision: Decision,
        activity: Activity,
        reservation: str | None,
        amount: int | None = None,
    ) -> Verdict:
        if decision.outcome is Outcome.ALLOW:  # most answers: no language, no clock (no Retry-After)
            language, now = None, 0.0
        else:
            language, now = text_header(headers, "accept-language"), self.engine.clock()
        return decided(
            door.style,
            decision,
            activity,
            reservation,
            language,
            now=now,
            default_language=self.default_language,
            amount=amount,
        )

    def _refused(
        self,
        door: Door,
        headers: list[tuple[bytes, bytes]],
        status: int,
        title: tuple[str, str],
        detail: str,
        field: str | None = None,
    ) -> Verdict:
        return refused(
            door.style,
            status,
            title,
            detail,
            text_header(headers, "accept-language"),
            default_language=self.default_language,
            field=field,
        )

    def _adult(self, style: Style, activity: Activity) -> Verdict:
        key = (style, activity)
        verdict = self._passed.get(key)
        if verdict is None:
            verdict = self._passed[key] = decided(
                style, ADULT_ALLOWED, activity, None, None, now=0.0, default_language=self.default_language
            )
        return verdict

    def start(self) -> None:
        """Start background work (NPPA behaviour reporting) in the running event loop."""
        if self.reporter is not None:
            self.reporter.start()

    async def close(self) -> None:
        if self.reporter is not None:
            await self.reporter.stop()
        await self.engine.close()  # its background cancels of unanswered reserves use the store
        await self.verifier.close()
        await self.store.close()

    async def unready(self) -> str | None:
        """Why this gate cannot decide well now (None: it can): the store does not answer a ping
        within a second, or no key to verify tokens is at hand."""
        try:
            await asyncio.wait_for(self.store.ping(), timeout=1.0)
        except (StoreError, TimeoutError) as exc:
            return f"the counter store is unreachable: {exc}"
        try:
            usable = await asyncio.wait_for(self.verifier.usable(), timeout=2.0)
        except TimeoutError:
            usable = False
        if self.metrics is not None:
            self.metrics.identity_keys.set(1 if usable else 0)
        return (
            None if usable else "no key to verify tokens: the identity provider's key set cannot be fetched"
        )

    async def settle(self, reservation: str, action: str) -> SettleResult | None:
        """Commit, release or refund the reservation a decision handed out ("<user key>.<store id>"),
        retried by the engine; None when the id is not one. Raises StoreError when every try failed."""
        found = RESERVATION.fullmatch(reservation)
        if found is None:
            return None
        return await self.engine.settle_reservation(action, found.group(1), found.group(2))
