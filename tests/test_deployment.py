"""The deployment config's store URL as the store gets it: passwords come from their secrets, the URL's
user and options stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from minorguard.adapters.redisurls import parse_redis_url
from minorguard.deployment import load_deployment

BASE = """\
policy: nppa-2021
subject_secret: {value: s}
identity: {algorithms: [RS256], jwks_url: "https://id.example.com/jwks"}
routes: [{path: /game, activity: game}]
"""


def store_url(tmp_path: Path, settings: str) -> str:
    config = tmp_path / "deployment.yaml"
    config.write_text(BASE + settings)
    return load_deployment(config).store_url()


@pytest.mark.parametrize(
    ("settings", "user", "password", "sentinel_password"),
    [
        ("store: redis://app@cache:6379/2\nstore_password: {value: 'p@ss:w/rd'}\n", "app", "p@ss:w/rd", None),
        ("store: redis://cache/0\nstore_password: {value: pw}\n", None, "pw", None),
        (
            "store: redis+sentinel://s1:26379,s2:26379/mymaster?db=1\n"
            "store_password: {value: data}\nstore_sentinel_password: {value: 's&p=1'}\n",
            None,
            "data",
            "s&p=1",
        ),
    ],
)
def test_passwords_come_from_their_secrets_and_the_user_stays(
    tmp_path: Path, settings: str, user: str | None, password: str, sentinel_password: str | None
) -> None:
    target = parse_redis_url(store_url(tmp_path, settings))
    assert (target.username, target.password, target.sentinel_password) == (user, password, sentinel_password)


def test_a_sentinel_password_for_another_form_is_a_located_problem(tmp_path: Path) -> None:
    from minorguard.errors import PolicyError

    with pytest.raises(PolicyError) as refused:
        store_url(tmp_path, "store: redis://cache/0\nstore_sentinel_password: {value: x}\n")
    assert "deployment.yaml:6:" in str(refused.value)
    assert "only a redis+sentinel:// store asks Sentinels" in str(refused.value)
