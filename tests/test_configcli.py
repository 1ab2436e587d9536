"""`minorguard config check`: every problem of a deployment config at once, each with file:line:col
(deploymentchecks.py for what the schema cannot see); the sidecar refuses to start on the same
problems, all listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minorguard.cli import main
from minorguard.deployment import check_deployment, load_deployment
from minorguard.errors import PolicyError

DEMO = Path(__file__).resolve().parents[1] / "policies" / "examples"

BROKEN = """\
policy: nppa-2021
store: rediss://cache:6380/0?ssl_ca_certs=/no/such/ca.pem&health_check_interval=30
subject_secret: {env: MG_TEST_UNSET_SUBJECT}
admin_token: {file: no-such-token}
identity:
  algorithms: [HS256, RS256]
  hs_secret: {value: short}
routes:
  - {method: GET, path: /game, activity: game}
  - {method: POST, path: /buy, activity: purchase}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "deployment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_config_is_ok_with_what_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "check", str(DEMO / "demo-deployment.yaml"))
    assert code == 0
    assert "ok  " in out
    assert "store memory://" in out
    assert "5 routes" in out


def test_every_problem_comes_at_once_each_at_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MG_TEST_UNSET_SUBJECT", raising=False)
    file = write(tmp_path, BROKEN)
    code, _, err = run(capsys, "config", "check", str(file))
    assert code == 1
    lines = err.splitlines()
    expected = [
        (2, "store", "health_check_interval"),
        (3, "subject_secret.env", "MG_TEST_UNSET_SUBJECT is not set"),
        (4, "admin_token.file", "cannot read the secret file"),
        (6, "identity.algorithms", "cannot be mixed"),
        (10, "routes[1]", "needs `amount"),
    ]
    for line, path, words in expected:
        assert any(
            re.match(rf"{re.escape(str(file))}:{line}:\d+  {re.escape(path)}  .*{re.escape(words)}", text)
            for text in lines
        ), (line, path, words, err)
    assert lines[-1] == "5 problems in 1 file"


@pytest.mark.parametrize(
    ("store", "words"),
    [
        ("mongodb://db:27017", "unknown store scheme 'mongodb'"),
        ("redis://cache:6379/0?lean=false", "does not take lean"),
        ("redis+sentinel://a:26379", "service name"),
        ("rediss://cache/0?ssl_ca_certs=/no/such/ca.pem", "ssl_ca_certs: no such file"),
        ("redis://a:1,b:2/0", "names one server"),
    ],
)
def test_store_urls_are_checked_as_the_store_reads_them(tmp_path: Path, store: str, words: str) -> None:
    text = BROKEN.replace(BROKEN.splitlines()[1], f"store: {store}")
    _, problems = check_deployment(write(tmp_path, text))
    store_problems = [p for p in problems if p.path == "store"]
    assert len(store_problems) == 1
    assert (store_problems[0].line, words in store_problems[0].message) == (2, True), store_problems


def test_an_hs_secret_shorter_than_its_hash_and_a_key_of_the_wrong_family(tmp_path: Path) -> None:
    text = BROKEN.replace("[HS256, RS256]", "[HS512]")
    _, problems = check_deployment(write(tmp_path, text))
    assert [p.message for p in problems if p.path == "identity.hs_secret"] == [
        "the secret must be at least 64 bytes for ['HS512']"
    ]
    text = BROKEN.replace("[HS256, RS256]", "[RS256]")
    _, problems = check_deployment(write(tmp_path, text))
    assert [p.path for p in problems if p.path.startswith("identity")] == ["identity.hs_secret"]


def test_the_sidecar_will_not_start_and_lists_the_same_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MG_TEST_UNSET_SUBJECT", raising=False)
    file = write(tmp_path, BROKEN)
    with pytest.raises(PolicyError) as refused:
        load_deployment(file)
    assert len(refused.value.problems) == 5
    code, _, err = run(capsys, "sidecar", "--config", str(file))
    assert code == 1
    assert "MG_TEST_UNSET_SUBJECT is not set" in err


def test_a_policy_with_problems_is_reported_in_its_own_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "name: mine\nextends: nppa-2021\ngame:\n  curfew: {start: 22:00}\n", "mine.yaml")
    config = (DEMO / "demo-deployment.yaml").read_text().replace("policy: demo.yaml", "policy: mine.yaml")
    code, _, err = run(capsys, "config", "check", str(write(tmp_path, config)))
    assert code == 1
    assert re.search(r"mine\.yaml:4:\d+  game\.curfew", err), err


def test_an_unknown_policy_name_is_located_at_the_policy_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = (DEMO / "demo-deployment.yaml").read_text().replace("policy: demo.yaml", "policy: nppa-2031")
    file = write(tmp_path, config)
    line = config.splitlines().index("policy: nppa-2031") + 1
    code, _, err = run(capsys, "config", "check", str(file))
    assert code == 1
    assert re.search(rf"{re.escape(str(file))}:{line}:\d+  policy  ", err), err


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_checked_without_an_exception(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """A hostile file gets problems, never a traceback."""
    file = tmp_path_factory.mktemp("fuzz") / "deployment.yaml"
    file.write_text(text, encoding="utf-8")
    loaded, problems = check_deployment(file)
    assert loaded is not None or problems


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["store", "subject_secret", "identity", "store_password", "nppa", "policy"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=8,
        ),
    )
)
def test_any_shape_of_the_checked_keys_is_checked_without_an_exception(data: dict[str, object]) -> None:
    """The semantic checks run on documents the schema refused too: they must take any shape."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "deployment.yaml"
        file.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML 1.2
        loaded, problems = check_deployment(file)
    assert loaded is not None or problems
