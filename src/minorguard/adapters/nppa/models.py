"""Values of the NPPA interface: endpoints, authentication results, behaviour items and their results."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import quote

from minorguard.adapters.nppa.codes import NppaCode
from minorguard.adapters.nppa_pi import PI_LENGTH, birthdate_from_pi

PRODUCTION_CHECK = "https://api.wlc.nppa.gov.cn/idcard/authentication/check"
PRODUCTION_API2 = "api2.wlc.nppa.gov.cn"
CHECK_PATH = "/idcard/authentication/check"
QUERY_PATH = "/idcard/authentication/query"
LOGINOUT_PATH = "/behavior/collection/loginout"
TEST_SYSTEM = "https://wlc.nppa.gov.cn"
MAX_BATCH = 128
SI_LENGTH = DI_LENGTH = 32
AI_MAX = 32
_TEST_CODE = re.compile(r"[0-9A-Za-z_-]{1,64}", re.ASCII)
_AI = re.compile(r"[0-9A-Za-z_-]{1,32}", re.ASCII)
_ID32 = re.compile(r"[0-9A-Za-z]{32}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The three URLs a client calls. Build with `production()`, `test_system(code)` or `under(base)`."""

    check: str
    query: str
    loginout: str

    @classmethod
    def production(cls, *, api2_scheme: str = "https") -> Endpoints:
        """NPPA production. The V1.8 document gives api2 (query, loginout) as plain http; NPPA later moved
        its interfaces to https (FAQ #131), so https is the default and `api2_scheme="http"` the fallback."""
        if api2_scheme not in ("http", "https"):
            raise ValueError("api2_scheme is http or https")
        api2 = f"{api2_scheme}://{PRODUCTION_API2}"
        return cls(PRODUCTION_CHECK, api2 + QUERY_PATH, api2 + LOGINOUT_PATH)

    @classmethod
    def choose(cls, base_url: str | None, test_code: str | None, *, api2_scheme: str = "https") -> Endpoints:
        """The official test system when a test code is given (under `base_url` if set), else the
        production paths under `base_url`, else NPPA production."""
        if test_code is not None:
            return cls.test_system(test_code, base_url or TEST_SYSTEM)
        if base_url is not None:
            return cls.under(base_url)
        return cls.production(api2_scheme=api2_scheme)

    @classmethod
    def under(cls, base_url: str) -> Endpoints:
        """The production paths under another base URL (a proxy, a gateway, a fake server in tests)."""
        base = _base(base_url)
        return cls(base + CHECK_PATH, base + QUERY_PATH, base + LOGINOUT_PATH)

    @classmethod
    def test_system(cls, test_code: str, base_url: str = TEST_SYSTEM) -> Endpoints:
        """The official test system: `{base}/test/.../{testCode}` (a base ending in /test is accepted)."""
        if not _TEST_CODE.fullmatch(test_code):
            raise ValueError("a test code is letters, digits, '-' or '_' (as the NPPA portal shows it)")
        base = _base(base_url).removesuffix("/test") + "/test"
        code = quote(test_code, safe="")
        return cls(
            f"{base}/authentication/check/{code}",
            f"{base}/authentication/query/{code}",
            f"{base}/collection/loginout/{code}",
        )


def _base(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("a base URL starts with http:// or https://")
    return url.rstrip("/")


def validate_ai(ai: str) -> str:
    """An `ai` (the game's id of one authentication act): 1..32 letters, digits, '-' or '_'. Hash longer
    ids down to 32 characters (FAQ #94), e.g. hashlib.sha256(x).hexdigest()[:32]."""
    if not _AI.fullmatch(ai):
        raise ValueError(f"an ai is 1 to {AI_MAX} letters, digits, '-' or '_'")
    return ai


class AuthStatus(IntEnum):
    """`data.result.status` of check and query."""

    SUCCESS = 0  # 认证成功
    IN_PROGRESS = 1  # 认证中: query again (results stay queryable for 48 h)
    FAILED = 2  # 认证失败

    @property
    def label(self) -> str:
        return ("success", "in_progress", "failed")[self]


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The answer of check or query. `pi` (and the birth date it encodes) only with SUCCESS."""

    status: AuthStatus
    pi: str | None = field(default=None, repr=False)
    birthdate: dt.date | None = None

    @classmethod
    def from_data(cls, data: Any) -> AuthResult:
        """From the answer's `data`; ValueError when it is not the documented shape."""
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, dict):
            raise ValueError("the answer has no data.result")
        try:
            status = AuthStatus(int(result["status"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError("data.result.status is not 0, 1 or 2") from None
        pi = result.get("pi") or None
        if status is not AuthStatus.SUCCESS:
            return cls(status)
        if not isinstance(pi, str):
            raise ValueError("a successful authentication answer has no pi")
        return cls(status, pi, birthdate_from_pi(pi))

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.label,
            "code": int(self.status),
            "pi": self.pi,
            "birthdate": self.birthdate.isoformat() if self.birthdate else None,
        }


class BehaviourType(IntEnum):
    """`bt`: 1 is online (上线), 0 is offline (下线) — not the other way round."""

    OFFLINE = 0
    ONLINE = 1


class UserType(IntEnum):
    """`ct`: 0 is a verified user (with `pi`), 2 a guest (with `di`)."""

    VERIFIED = 0
    GUEST = 2


@dataclass(frozen=True, slots=True)
class LoginoutItem:
    """One item of a loginout batch. `ot` is in SECONDS since the epoch."""

    no: int
    si: str
    bt: BehaviourType
    ot: int
    ct: UserType
    pi: str | None = field(default=None, repr=False)
    di: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.no <= MAX_BATCH:
            raise ValueError(f"an item number is 1..{MAX_BATCH}")
        if not _ID32.fullmatch(self.si):
            raise ValueError(f"a session id si is {SI_LENGTH} letters or digits")
        if self.ot > 10**11:
            raise ValueError("ot is in seconds since the epoch, not milliseconds")
        if self.ct is UserType.VERIFIED and (self.pi is None or len(self.pi) != PI_LENGTH):
            raise ValueError(f"a verified user's item has a pi of {PI_LENGTH} characters")
        if self.ct is UserType.GUEST and (self.di is None or not _ID32.fullmatch(self.di)):
            raise ValueError(f"a guest's item has a device id di of {DI_LENGTH} letters or digits")

    def wire(self) -> dict[str, Any]:
        item: dict[str, Any] = {"no": self.no, "si": self.si, "bt": int(self.bt), "ot": self.ot}
        item["ct"] = int(self.ct)
        if self.ct is UserType.VERIFIED:
            item["pi"] = self.pi
        else:
            item["di"] = self.di
        return item


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One entry of a loginout answer's `data.results`: an item that was not accepted."""

    no: int
    raw_code: int
    errmsg: str = ""

    @property
    def code(self) -> NppaCode | None:
        return NppaCode.parse(self.raw_code)


@dataclass(frozen=True, slots=True)
class LoginoutResult:
    """A loginout answer with errcode 0 or 3001; `failed` lists the items NPPA did not accept."""

    raw_code: int
    failed: tuple[ItemResult, ...] = ()

    @classmethod
    def from_answer(cls, raw_code: int, data: Any) -> LoginoutResult:
        results = data.get("results") if isinstance(data, dict) else None
        failed: list[ItemResult] = []
        for entry in results if isinstance(results, list) else []:
            if not isinstance(entry, dict):
                raise ValueError("data.results holds something other than objects")
            try:
                no, code = int(entry["no"]), int(entry.get("errcode", 0))
                item = ItemResult(no, code, str(entry.get("errmsg", "")))
            except (KeyError, TypeError, ValueError):
                raise ValueError("a data.results entry has no numeric no/errcode") from None
            if item.raw_code != 0:
                failed.append(item)
        return cls(raw_code, tuple(failed))
