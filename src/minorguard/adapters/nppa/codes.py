"""The NPPA interface's error codes as a closed enum, and the exception the client raises.

Every code of the interface specification (V1.8) is a member with its meaning. A code outside the list
(an interface change) is not forced into the enum: `NppaError.code` is then None and `raw_code` keeps it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class NppaCode(IntEnum):
    """The `errcode` of an NPPA answer (and of each loginout item result)."""

    OK = 0
    # system
    SYS_ERROR = 1001
    RESOURCE_NOT_EXIST = 1002
    WRONG_METHOD = 1003
    HEADER_MISSING = 1004
    ILLEGAL_IP = 1005
    OVER_RATE_LIMIT = 1006
    REQUEST_EXPIRED = 1007
    ILLEGAL_PARTNER = 1008
    PARTNER_DISABLED = 1009
    NO_INTERFACE_PERMISSION = 1010
    PARTNER_CHECK_ERROR = 1011
    MESSAGE_CHECK_FAILED = 1012
    # real-name authentication
    ID_FORMAT_INVALID = 2001
    ENTRY_LIMIT_REACHED = 2002
    NO_RECORD_FOR_AI = 2003
    AI_IN_USE = 2004
    # behaviour reporting
    PARTIAL_FAILURE = 3001
    EMPTY_BEHAVIOUR = 3002
    OVER_ITEM_LIMIT = 3003
    BAD_ITEM_NO = 3004
    BAD_BEHAVIOUR_TIME = 3005
    BAD_USER_TYPE = 3006
    BAD_BEHAVIOUR_TYPE = 3007
    PI_MISSING = 3008
    DI_MISSING = 3009
    PI_INVALID = 3010
    # official test system
    TEST_SYSTEM_ERROR = 4001
    TEST_TASK_NOT_EXIST = 4002
    TEST_PARAMS_INVALID = 4003

    @property
    def meaning(self) -> str:
        return MEANINGS[self]

    @property
    def transient(self) -> bool:
        """Worth the same request again shortly (with a fresh timestamp and signature)."""
        return self in TRANSIENT

    @classmethod
    def parse(cls, value: object) -> NppaCode | None:
        """The member for an errcode as received (int or numeric string); None when it is not one."""
        try:
            return cls(int(str(value)))
        except ValueError:
            return None


MEANINGS: dict[NppaCode, str] = {
    NppaCode.OK: "OK",
    NppaCode.SYS_ERROR: "system error (SYS ERROR)",
    NppaCode.RESOURCE_NOT_EXIST: "the requested resource does not exist",
    NppaCode.WRONG_METHOD: "request method not supported",
    NppaCode.HEADER_MISSING: "a core header is missing or wrong (appId, bizId, timestamps, sign)",
    NppaCode.ILLEGAL_IP: "the caller's IP is not on the whitelist",
    NppaCode.OVER_RATE_LIMIT: "over the rate limit: the game is throttled for 1 minute",
    NppaCode.REQUEST_EXPIRED: "request expired: `timestamps` is more than 5 s away from the server's clock",
    NppaCode.ILLEGAL_PARTNER: "unknown partner (appId)",
    NppaCode.PARTNER_DISABLED: "the partner's authorisation is not enabled",
    NppaCode.NO_INTERFACE_PERMISSION: "no permission for this interface",
    NppaCode.PARTNER_CHECK_ERROR: "partner identity check failed (signature)",
    NppaCode.MESSAGE_CHECK_FAILED: "message check failed (body not decryptable or malformed)",
    NppaCode.ID_FORMAT_INVALID: "the ID number's format is invalid",
    NppaCode.ENTRY_LIMIT_REACHED: "entry limit reached for this identity",
    NppaCode.NO_RECORD_FOR_AI: "no authentication record for this ai",
    NppaCode.AI_IN_USE: "this ai is already in use (its result is not deleted yet)",
    NppaCode.PARTIAL_FAILURE: "some items of the batch failed (see the per-item results)",
    NppaCode.EMPTY_BEHAVIOUR: "the behaviour data is empty",
    NppaCode.OVER_ITEM_LIMIT: "more than 128 items in one batch",
    NppaCode.BAD_ITEM_NO: "invalid item number `no` (1..128, unique in the batch)",
    NppaCode.BAD_BEHAVIOUR_TIME: "invalid behaviour time `ot` (seconds; within 180 s before `timestamps`)",
    NppaCode.BAD_USER_TYPE: "invalid user type `ct` (0 verified, 2 guest)",
    NppaCode.BAD_BEHAVIOUR_TYPE: "invalid behaviour type `bt` (1 online, 0 offline)",
    NppaCode.PI_MISSING: "`pi` is missing for a verified user (ct=0)",
    NppaCode.DI_MISSING: "`di` is missing for a guest (ct=2)",
    NppaCode.PI_INVALID: "`pi` is invalid",
    NppaCode.TEST_SYSTEM_ERROR: "test system error",
    NppaCode.TEST_TASK_NOT_EXIST: "the test task (test code) does not exist",
    NppaCode.TEST_PARAMS_INVALID: "invalid test parameters",
}

# Retried at once with a fresh timestamp: a server hiccup, or a request that took too long to arrive.
TRANSIENT = frozenset({NppaCode.SYS_ERROR, NppaCode.REQUEST_EXPIRED, NppaCode.TEST_SYSTEM_ERROR})
# Problems of the account set-up (key, whitelist, permissions): no request can succeed until a person acts.
CONFIGURATION = frozenset(
    {
        NppaCode.RESOURCE_NOT_EXIST,
        NppaCode.WRONG_METHOD,
        NppaCode.HEADER_MISSING,
        NppaCode.ILLEGAL_IP,
        NppaCode.ILLEGAL_PARTNER,
        NppaCode.PARTNER_DISABLED,
        NppaCode.NO_INTERFACE_PERMISSION,
        NppaCode.PARTNER_CHECK_ERROR,
        NppaCode.MESSAGE_CHECK_FAILED,
        NppaCode.TEST_TASK_NOT_EXIST,
        NppaCode.TEST_PARAMS_INVALID,
    }
)


class Failure(StrEnum):
    """What kind of failure an `NppaError` is, for metrics labels and the retry decision."""

    ANSWER = "answer"  # NPPA answered with a non-zero errcode
    NETWORK = "network"  # connection refused/reset, timeout: no usable answer
    HTTP = "http"  # an HTTP status other than 200
    RESPONSE = "response"  # a 200 whose body is not the documented JSON
    THROTTLED = "throttled"  # not sent: the game is inside NPPA's 1-minute throttle (after a 1006)


class NppaError(Exception):
    """A call to NPPA did not give a usable answer. The message never contains the secret key, a name,
    an ID number or a pi; `raw_code` is the errcode as received (None when there was no answer)."""

    def __init__(
        self,
        failure: Failure,
        message: str,
        *,
        raw_code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.failure = failure
        self.raw_code = raw_code
        self.code = NppaCode.parse(raw_code) if raw_code is not None else None
        self.http_status = http_status
        self.retry_after = retry_after
        self.errmsg = ""
        # Set by the client: an earlier attempt of the same call may have reached NPPA (answer lost).
        self.after_ambiguous = False
        super().__init__(message)

    @property
    def transient(self) -> bool:
        """The same request may succeed later without anybody changing anything."""
        if self.failure in (Failure.NETWORK, Failure.THROTTLED):
            return True
        if self.failure is Failure.HTTP:
            return self.http_status is not None and (self.http_status >= 500 or self.http_status == 429)
        if self.code is None:
            return False
        return self.code.transient or self.code is NppaCode.OVER_RATE_LIMIT

    @property
    def label(self) -> str:
        """A short metrics label: the errcode, or the failure kind (with the HTTP status)."""
        if self.raw_code is not None:
            return str(self.raw_code)
        if self.failure is Failure.HTTP:
            return f"http_{self.http_status}"
        return self.failure.value

    @classmethod
    def from_answer(cls, raw_code: int, errmsg: object, *, what: str) -> NppaError:
        code = NppaCode.parse(raw_code)
        meaning = code.meaning if code is not None else "an error code the specification does not list"
        retry_after = 60.0 if code is NppaCode.OVER_RATE_LIMIT else None
        error = cls(
            Failure.ANSWER,
            f"NPPA {what}: errcode {raw_code} ({meaning})",
            raw_code=raw_code,
            retry_after=retry_after,
        )
        # NPPA's own text is kept for debugging but left out of str(): it is not ours to vouch for.
        error.errmsg = str(errmsg)[:200] if errmsg else ""
        return error
