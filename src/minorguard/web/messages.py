"""What a person reads when minorguard says no, in Simplified Chinese and English. One entry per reason
(a closed enum), so every deny has a title in both languages."""

from __future__ import annotations

from minorguard.types import Reason

TITLES: dict[Reason, tuple[str, str]] = {
    Reason.IDENTITY_MISSING: ("请先登录", "Sign-in required"),
    Reason.IDENTITY_INVALID: ("身份凭证无效", "Invalid identity token"),
    Reason.IDENTITY_UNVERIFIED: ("请先完成实名认证", "Real-name verification required"),
    Reason.CURFEW: ("该时段不向未成年人提供游戏服务", "No game service for minors at this hour"),
    Reason.OUTSIDE_PLAY_WINDOW: ("当前不在未成年人可游戏时段", "Outside the hours minors may play"),
    Reason.DAILY_PLAY_LIMIT: ("今日游戏时长已用完", "Today's play time is used up"),
    Reason.GUEST_LIMIT: ("游客体验时长已用完", "Guest play time is used up"),
    Reason.GAME_RATING: ("该游戏不适合你的年龄", "This game is rated above your age"),
    Reason.PURCHASE_NOT_ALLOWED: ("当前不可充值", "Payments are not available"),
    Reason.PURCHASE_SINGLE_CAP: ("超过单次充值限额", "Over the limit for one top-up"),
    Reason.PURCHASE_DAILY_CAP: ("超过今日充值限额", "Over today's top-up limit"),
    Reason.PURCHASE_MONTHLY_CAP: ("超过本月充值限额", "Over this month's top-up limit"),
    Reason.TIP_MINOR: ("未成年人不可打赏", "Minors may not tip"),
    Reason.TIP_PER_TIP_CAP: ("超过单次打赏限额", "Over the limit for one tip"),
    Reason.TIP_DAILY_CAP: ("超过今日打赏限额", "Over today's tipping limit"),
    Reason.TIP_MONTHLY_CAP: ("超过本月打赏限额", "Over this month's tipping limit"),
    Reason.PUBLISHER_UNDER_MIN_AGE: (
        "未达到注册主播账号的年龄",
        "Below the minimum age for publisher accounts",
    ),
    Reason.PUBLISHER_CONSENT_REQUIRED: ("注册主播账号需监护人同意", "A guardian's consent is required"),
    Reason.CALENDAR_NO_DATA: ("节假日数据缺失，暂不提供服务", "No holiday-calendar data for today"),
    Reason.REST_REQUIRED: ("已连续游戏较长时间，请休息一下", "Time for a break"),
    Reason.GUARDIAN_LIMIT: ("监护人设置了限制", "Your guardian set a limit"),
    Reason.STORE_UNAVAILABLE: ("服务暂时不可用，请稍后再试", "Temporarily unavailable, try again shortly"),
    Reason.DUPLICATE_REQUEST: ("该请求已处理或正在处理", "This request was already made"),
    Reason.ALLOWED: ("允许", "Allowed"),
}

# The zh-CN detail of a refusal whose rule says more than its reason's title (English details come
# from the decision itself, e.g. "your guardian set a cap of 1000 fen for one purchase").
RULE_DETAILS_ZH: dict[str, str] = {
    "guardian.play_time": "监护人设置的今日游戏时长已用完",
    "guardian.hours": "当前不在监护人允许的游戏时段",
    "guardian.purchase": "超过监护人设置的充值限额",
    "guardian.tips": "监护人已关闭打赏",
    "guardian.consent": "监护人已撤回注册主播账号的同意",
}

AGAIN = ("可于 {at} 后再试", "allowed again at {at}")
BAD_AMOUNT = ("请求金额无效", "Invalid amount")
BODY_TOO_LARGE = ("请求体过大", "Request body too large")
BAD_BODY = ("请求体不是有效的 JSON 对象", "The body is not a JSON object")
BAD_PATH = ("无法判断该请求路径", "The request path cannot be judged")
BAD_REQUEST = ("请求无效", "Invalid request")


def pick_language(accept_language: str | None, default: int = 0) -> int:
    """0 for zh-CN, 1 for English: the first language in Accept-Language (by q) that we speak."""
    if not accept_language:
        return default
    best: tuple[float, int] | None = None
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        tag = tag.strip().lower()
        language = 0 if tag.startswith("zh") else 1 if tag.startswith("en") else None
        if language is not None and quality > 0 and (best is None or quality > best[0]):
            best = (quality, language)
    return default if best is None else best[1]
