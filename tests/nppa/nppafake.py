"""A local fake of NPPA's real-name system, written from the interface specification (not from the
client): it decrypts bodies, verifies the signature and the 5-second timestamp window, enforces per-game
rate limits, answers from the official test system's preset data, and checks loginout batches (size, item
fields, the 180-second window, online/offline order per session). Served by a real uvicorn on loopback.

Its preset data is typed here independently of minorguard's selftest module, so a typo in either shows.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from minorguard.adapters.nppa import Endpoints, NppaClient, SecretKey
from minorguard.adapters.nppa_pi import birthdate_from_pi, make_pi_prefix

APP_ID = "fake-app-id"
BIZ_ID = "1100000000"
SECRET = "00112233445566778899aabbccddeeff"
TEST_CODE = "fakecode01"

OK_IDS = [
    "110000190101010001",
    "110000190101020007",
    "110000190101030002",
    "110000190101040008",
    "11000019010101001X",
    "110000190101020015",
    "110000190101030010",
    "110000190101040016",
]
PENDING_IDS = [
    "110000190201010009",
    "110000190201020004",
    "11000019020103000X",
    "110000190201040005",
    "110000190201010017",
    "110000190201020012",
    "110000190201030018",
    "110000190201040013",
]
PIS = [
    "1fffbjzos82bs9cnyj1dna7d6d29zg4esnh99u",
    "1fffbkmd9ebtwi7u7f4oswm9li6twjydqs7qjv",
    "1fffblf892i0p1zh6wlec2quukxtw29v4yismp",
    "1fffbmr55j92gttv5wxspm0mgvw8x3p0n7cy0j",
    "1fffbjqfba5y6uwr55cdak6faokhm4s02qkyue",
    "1fffbkrwndszes1sngfx3v6pdqh87fi4zhz9ur",
    "1fffbl6st3fbp199i8zh5ggcp84fgo3rj7pn1y",
    "1fffbmzwmr1k3y8bri2linqbhnvmu510u5jj6z",
]
NUMERALS = "一二三四五六七八"
OK_PEOPLE = {(f"1{n:017d}", f"某一{NUMERALS[n - 1]}", OK_IDS[n - 1]): PIS[n - 1] for n in range(1, 9)}
PENDING_PEOPLE = {(f"2{n:017d}", f"某二{NUMERALS[n - 1]}", PENDING_IDS[n - 1]) for n in range(1, 9)}
LIMITS = {"check": 100, "query": 300, "loginout": 10}


@dataclass
class FakeNppa:
    clock: Callable[[], float] = time.time
    limits: dict[str, int] = field(default_factory=lambda: dict(LIMITS))
    # fault injection: "http503" answers HTTP 503, an int answers that errcode (consumed one per request)
    fail_next: list[int | str] = field(default_factory=list)
    reject_pis: set[str] = field(default_factory=set)
    reject_pi_batch: bool = False  # refuse a whole batch (top-level 3010) instead of the item
    resolve_after: int | None = None  # production query: a pending ai succeeds after this many queries
    requests: list[dict[str, Any]] = field(default_factory=list)
    seen: Counter[tuple[str, int]] = field(default_factory=Counter)  # every (si, bt) that arrived
    accepted: Counter[tuple[str, int]] = field(default_factory=Counter)
    accepted_items: list[dict[str, Any]] = field(default_factory=list)
    _arrivals: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _throttled_until: dict[str, float] = field(default_factory=dict)
    _sessions: dict[str, tuple[int, int]] = field(default_factory=dict)  # si -> (last bt, online ot)
    _checked: dict[str, dict[str, Any]] = field(default_factory=dict)
    _queries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        fresh = FakeNppa()
        for name in self.__dataclass_fields__:
            if name != "lock":
                setattr(self, name, getattr(fresh, name))

    def app(self) -> Starlette:
        routes = [
            Route(
                "/test/authentication/check/{code}", self._endpoint("check", "POST"), methods=["GET", "POST"]
            ),
            Route(
                "/test/authentication/query/{code}", self._endpoint("query", "GET"), methods=["GET", "POST"]
            ),
            Route(
                "/test/collection/loginout/{code}",
                self._endpoint("loginout", "POST"),
                methods=["GET", "POST"],
            ),
            Route("/idcard/authentication/check", self._endpoint("check", "POST"), methods=["GET", "POST"]),
            Route("/idcard/authentication/query", self._endpoint("query", "GET"), methods=["GET", "POST"]),
            Route(
                "/behavior/collection/loginout", self._endpoint("loginout", "POST"), methods=["GET", "POST"]
            ),
        ]
        return Starlette(routes=routes)

    def arrivals(self, interface: str) -> list[float]:
        return list(self._arrivals[f"all:{interface}"])

    def _endpoint(self, interface: str, method: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                return self._handle(interface, method, request, body)

        return endpoint

    def _handle(self, interface: str, method: str, request: Request, body: bytes) -> Response:  # noqa: PLR0912
        now = time.monotonic()
        record: dict[str, Any] = {"interface": interface, "headers": dict(request.headers), "body": body}
        self.requests.append(record)
        self._arrivals[f"all:{interface}"].append(now)
        if self.fail_next:
            fault = self.fail_next.pop(0)
            if fault == "http503":
                record["errcode"] = "http503"
                return Response("unavailable", status_code=503)
            return self._answer(record, int(fault))
        test_code = request.path_params.get("code")
        if test_code is not None and test_code != TEST_CODE:
            return self._answer(record, 4002)
        if request.method != method:
            return self._answer(record, 1003)
        h = request.headers
        if not all(h.get(k) for k in ("appid", "bizid", "timestamps", "sign")):
            return self._answer(record, 1004)
        if method == "POST" and h.get("content-type") != "application/json; charset=utf-8":
            return self._answer(record, 1004)
        if h["appid"] != APP_ID:
            return self._answer(record, 1008)
        if h["bizid"] != BIZ_ID:
            return self._answer(record, 1010)
        if not h["timestamps"].isdigit() or abs(self.clock() * 1000 - int(h["timestamps"])) > 5000:
            return self._answer(record, 1007)
        params = {"appId": h["appid"], "bizId": h["bizid"], "timestamps": h["timestamps"]}
        params.update(parse_qsl(request.url.query, keep_blank_values=True))
        expected = hashlib.sha256(
            (SECRET + "".join(k + v for k, v in sorted(params.items()))).encode() + body
        ).hexdigest()
        if h["sign"] != expected:
            return self._answer(record, 1011)
        if self._over_limit(f"{h['bizid']}:{interface}", interface, now):
            return self._answer(record, 1006)
        payload: dict[str, Any] = {}
        if method == "POST":
            try:
                raw = base64.b64decode(json.loads(body)["data"], validate=True)
                payload = json.loads(AESGCM(bytes.fromhex(SECRET)).decrypt(raw[:12], raw[12:], None))
            except Exception:
                return self._answer(record, 1012)
        record["payload"] = payload
        if interface == "check":
            return self._check(record, payload, production=test_code is None)
        if interface == "query":
            return self._query(record, dict(parse_qsl(request.url.query)).get("ai", ""), test_code is None)
        return self._loginout(record, payload, int(h["timestamps"]))

    def _over_limit(self, key: str, interface: str, now: float) -> bool:
        if self._throttled_until.get(key, 0.0) > now:
            return True
        window = self._arrivals[key]
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.limits[interface]:
            self._throttled_until[key] = now + 60
            return True
        window.append(now)
        return False

    def _answer(self, record: dict[str, Any], errcode: int, data: Any = None) -> Response:
        record["errcode"] = errcode
        return JSONResponse({"errcode": errcode, "errmsg": "OK" if errcode == 0 else "ERROR", "data": data})

    def _check(self, record: dict[str, Any], payload: dict[str, Any], *, production: bool) -> Response:
        ai, name, id_num = (str(payload.get(k, "")) for k in ("ai", "name", "idNum"))
        if len(id_num) != 18:
            return self._answer(record, 2001)
        if production and ai in self._checked:
            return self._answer(record, 2004)
        person = (ai, name, id_num)
        if person in OK_PEOPLE:
            result = {"status": 0, "pi": OK_PEOPLE[person]}
        elif person in PENDING_PEOPLE:
            result = {"status": 1}
        else:
            result = {"status": 2}
        if production:
            self._checked[ai] = {**result, "born": id_num[6:14]}
        return self._answer(record, 0, {"result": result})

    def _query(self, record: dict[str, Any], ai: str, production: bool) -> Response:
        self._queries[ai] += 1
        if production and ai in self._checked:
            result = dict(self._checked[ai])
            born = result.pop("born")
            if (
                result["status"] == 1
                and self.resolve_after is not None
                and self._queries[ai] >= self.resolve_after
            ):
                date = dt.date(int(born[:4]), int(born[4:6]), int(born[6:]))
                result = {"status": 0, "pi": make_pi_prefix(date) + "q" * 32}
            return self._answer(record, 0, {"result": result})
        if ai.startswith("1") and ai in {p[0] for p in OK_PEOPLE}:
            index = int(ai[-2:]) - 1
            return self._answer(record, 0, {"result": {"status": 0, "pi": PIS[index]}})
        if ai in {p[0] for p in PENDING_PEOPLE}:
            return self._answer(record, 0, {"result": {"status": 1}})
        if ai in {f"3{n:017d}" for n in range(1, 9)}:
            return self._answer(record, 0, {"result": {"status": 2}})
        return self._answer(record, 2003)

    def _loginout(self, record: dict[str, Any], payload: dict[str, Any], stamp_ms: int) -> Response:
        items = payload.get("collections")
        if not isinstance(items, list) or not items:
            return self._answer(record, 3002)
        if len(items) > 128:
            return self._answer(record, 3003)
        ots: list[int] = [i["ot"] for i in items if isinstance(i, dict) and isinstance(i.get("ot"), int)]
        if len(ots) != len(items):
            return self._answer(record, 3005)
        if stamp_ms - min(ots) * 1000 >= 180_000 or max(ots) * 1000 >= stamp_ms:
            return self._answer(record, 3005)  # the batch's time window (an ot in ms is far in the future)
        if self.reject_pi_batch and any(i.get("pi") in self.reject_pis for i in items):
            return self._answer(record, 3010)
        numbers = [i.get("no") for i in items]
        failures: list[dict[str, Any]] = []
        for item in items:
            code = self._item_code(item, numbers)
            if code:
                failures.append({"no": item.get("no"), "errcode": code, "errmsg": "ERROR"})
        record["item_failures"] = failures
        if failures:
            return self._answer(record, 3001, {"results": failures})
        return self._answer(record, 0, {"results": []})

    def _item_code(self, item: dict[str, Any], numbers: list[Any]) -> int:  # noqa: PLR0912
        no, si, bt, ct = (item.get(k) for k in ("no", "si", "bt", "ct"))
        ot = int(item["ot"])
        if not isinstance(no, int) or not 1 <= no <= 128 or numbers.count(no) != 1:
            return 3004
        if ct not in (0, 2):
            return 3006
        if bt not in (0, 1):
            return 3007
        if ct == 0:
            pi = item.get("pi")
            if not pi:
                return 3008
            try:
                birthdate_from_pi(pi)
            except ValueError:
                return 3010
            if pi in self.reject_pis:
                return 3010
        elif not isinstance(item.get("di"), str) or len(item["di"]) != 32:
            return 3009
        if not isinstance(si, str) or len(si) != 32:
            return 3007
        self.seen[(si, bt)] += 1
        state = self._sessions.get(si)
        if bt == 1:
            if state is not None:
                return 3007  # a second online for the session
            self._sessions[si] = (1, ot)
        else:
            if state is None or state[0] != 1:
                return 3007  # offline before online (swapped bt), or a second offline
            if ot < state[1]:
                return 3005  # offline earlier than the session's online
            self._sessions[si] = (0, state[1])
        self.accepted[(si, bt)] += 1
        self.accepted_items.append(dict(item))
        return 0


class ServerThread:
    """uvicorn in a background thread on a fixed loopback port; stop() and start() again keep the URL."""

    def __init__(self, app: Any) -> None:
        self.app = app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> ServerThread:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", ws="none", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn exited during start-up"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None or self._sock is None:
            return
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        assert not self._thread.is_alive(), "uvicorn did not stop"
        self._server = self._thread = self._sock = None


@dataclass
class ShiftClock:
    """Real time plus an offset the test moves (shared by the fake server and the client)."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Fake:
    nppa: FakeNppa
    server: ServerThread

    @property
    def url(self) -> str:
        return self.server.url


def make_client(url: str, *, test_code: str | None = None, **options: object) -> NppaClient:
    endpoints = Endpoints.test_system(test_code, url) if test_code else Endpoints.under(url)
    options.setdefault("backoff", 0.01)
    return NppaClient(endpoints, app_id=APP_ID, biz_id=BIZ_ID, secret_key=SecretKey(SECRET), **options)  # type: ignore[arg-type]
