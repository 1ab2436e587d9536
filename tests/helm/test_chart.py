"""The Helm chart, rendered by the real helm (v4, from scripts/helm-tools): lint, the Kubernetes schemas
(kubernetes-validate --strict; the Prometheus Operator's kinds against the fields this chart uses), the
values schema, the security settings, the checksum roll, and the deployment config the sidecar loads."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from crds import CRD_SCHEMAS
from helmkit import (
    CHART,
    DASHBOARD,
    OPERATIONS,
    RUNBOOK_TOKEN,
    VALUES_ALL,
    VALUES_EXTERNAL,
    alert_rules,
    find,
    github_anchors,
    helm,
    one,
    render,
    template_text,
)

import minorguard
from minorguard.deployment import (
    Claims,
    Deployment,
    IdentitySettings,
    NppaSettings,
    RouteSettings,
    SidecarSettings,
    load_deployment,
)

VALUE_SETS = {"default": (), "all": (VALUES_ALL,), "external": (VALUES_EXTERNAL,)}
# the oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate knows
KUBERNETES_VERSIONS = ("1.25.0", None)


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, str, list[dict[str, Any]]]:
    text = template_text(*VALUE_SETS[request.param])
    return request.param, text, [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.mark.parametrize("values", sorted(VALUE_SETS))
def test_helm_lint_strict(values: str) -> None:
    args = ["lint", "--strict", str(CHART), "--namespace", "games"]
    for path in VALUE_SETS[values]:
        args += ["-f", str(path)]
    done = helm(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_rendered_objects_pass_kubernetes_validate_strict(
    rendered: tuple[str, str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    name, text, docs = rendered
    manifest = tmp_path / f"{name}.yaml"
    manifest.write_text(text)
    for version in KUBERNETES_VERSIONS:
        command = [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet"]
        command += ["-k", version] if version else []
        done = subprocess.run([*command, str(manifest)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        # only the Prometheus Operator's kinds have no schema there: they are checked below
        expected = re.compile(r"WARN .*Couldn't find schema for kind (ServiceMonitor|PrometheusRule) ")
        for line in done.stdout.splitlines():
            assert expected.match(line), line
    for doc in docs:
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])


def test_defaults_make_a_working_trial_install() -> None:
    docs = render()
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert kinds == [
        "ConfigMap/mg-minorguard-config",
        "ConfigMap/mg-minorguard-dashboard",
        "ConfigMap/mg-minorguard-policy",
        "Deployment/mg-minorguard",
        "Deployment/mg-minorguard-redis",
        "Pod/mg-minorguard-test-readyz",
        "PodDisruptionBudget/mg-minorguard",
        "Secret/mg-minorguard-redis",
        "Secret/mg-minorguard-subject",
        "Service/mg-minorguard",
        "Service/mg-minorguard-redis",
        "ServiceAccount/mg-minorguard",
    ]
    config = yaml.safe_load(one(docs, "ConfigMap", "mg-minorguard-config")["data"]["deployment.yaml"])
    assert config["store"] == "redis://mg-minorguard-redis:6379/0"
    assert config["store_password"] == {"file": "/etc/minorguard/secrets/store-password"}
    assert one(docs, "Secret", "mg-minorguard-subject")["metadata"]["annotations"] == {
        "helm.sh/resource-policy": "keep"
    }


def test_every_optional_part_renders() -> None:
    docs = render(VALUES_ALL)
    for kind in ("HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule"):
        assert len(find(docs, kind)) == 1, kind
    assert len(find(docs, "NetworkPolicy")) == 2  # the sidecar's and the in-chart Redis'
    deployment = one(docs, "Deployment", "mg-minorguard")
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "minAvailable": 2,
        "selector": deployment["spec"]["selector"],
    }
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu", "memory"]
    assert one(docs, "ServiceMonitor")["metadata"]["namespace"] == "monitoring"
    monitor = one(docs, "ServiceMonitor")["spec"]
    assert monitor["namespaceSelector"] == {"matchNames": ["games"]}
    selector = monitor["selector"]["matchLabels"].items()
    assert selector <= one(docs, "Service", "mg-minorguard")["metadata"]["labels"].items()
    assert not selector <= one(docs, "Service", "mg-minorguard-redis")["metadata"]["labels"].items()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/minorguard@sha256:" + "0123456789abcdef" * 4
    assert container["args"][-2:] == ["--workers", "2"]


def test_external_redis_sentinel_and_existing_secrets() -> None:
    docs = render(VALUES_EXTERNAL)
    assert not [d for d in docs if d["metadata"]["name"].startswith("mg-minorguard-redis")]
    assert not find(docs, "Secret")  # every secret is an existing one
    assert not find(docs, "ConfigMap", "mg-minorguard-policy")
    config = yaml.safe_load(one(docs, "ConfigMap", "mg-minorguard-config")["data"]["deployment.yaml"])
    assert config["store"].startswith("redis+sentinel://sentinel-0.redis:26379,")
    assert config["policy"] == "/etc/minorguard/policy/star-fleet.yaml"
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["policy"]["configMap"] == {"name": "star-fleet-policy"}
    assert [s["secret"] for s in volumes["secrets"]["projected"]["sources"]] == [
        {"name": "minorguard-keys", "items": [{"key": "subject", "path": "subject-secret"}]},
        {"name": "minorguard-keys", "items": [{"key": "admin", "path": "admin-token"}]},
        {"name": "redis-credentials", "items": [{"key": "password", "path": "store-password"}]},
        {
            "name": "redis-credentials",
            "items": [{"key": "sentinel-password", "path": "store-sentinel-password"}],
        },
    ]
    assert config["store_sentinel_password"] == {"file": "/etc/minorguard/secrets/store-sentinel-password"}
    policy = one(docs, "NetworkPolicy")["spec"]
    egress_ports = [[p["port"] for p in rule["ports"]] for rule in policy["egress"]]
    assert egress_ports == [[53, 53], [6379, 26379], [8443]]  # DNS, Sentinel and Redis, the JWKS host
    rules = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
    assert "MinorguardDenyRateChanged" not in [r["alert"] for r in rules]


def _pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    pods = [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in find(docs, "Deployment")]
    return pods + [(d["metadata"]["name"], d["spec"]) for d in find(docs, "Pod")]


def test_every_pod_is_locked_down(rendered: tuple[str, str, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    pods = _pods(docs)
    assert pods
    for name, pod in pods:
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            for mount in container.get("volumeMounts", []):
                assert "subPath" not in mount, f"{name}: a subPath mount never sees ConfigMap updates"


def test_sidecar_probes_ports_and_tmp(rendered: tuple[str, str, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    pod = one(docs, "Deployment", "mg-minorguard")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert pod["securityContext"]["runAsUser"] == 10001
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    service = one(docs, "Service", "mg-minorguard")["spec"]
    assert service["ports"][0]["port"] == 8080
    assert service["selector"] == one(docs, "Deployment", "mg-minorguard")["spec"]["selector"]["matchLabels"]


def test_helm_test_hook_checks_readyz(rendered: tuple[str, str, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    pod = one(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    command = pod["spec"]["containers"][0]["command"]
    assert command[-1] == "http://mg-minorguard.games.svc:8080/readyz"


def _checksums(*sets: str, extra: dict[str, Any] | None = None) -> dict[str, str]:
    docs = render(sets=sets, extra=extra)
    annotations = one(docs, "Deployment", "mg-minorguard")["spec"]["template"]["metadata"]["annotations"]
    return {k: v for k, v in annotations.items() if k.startswith("checksum/")}


def test_config_changes_roll_the_pods_and_policy_changes_are_hot_reloaded() -> None:
    pinned = ("secrets.subjectSecret.value=s", "redis.password.value=p")
    base = _checksums(*pinned)
    assert set(base) == {"checksum/config", "checksum/secret", "checksum/redis-password"}
    assert _checksums(*pinned) == base  # stable
    changed = _checksums(*pinned, "config.language=en")
    assert changed["checksum/config"] != base["checksum/config"]
    assert changed["checksum/secret"] == base["checksum/secret"]
    rotated = _checksums(*pinned[1:], "secrets.subjectSecret.value=t")
    assert rotated["checksum/secret"] != base["checksum/secret"]
    # a policy edit changes only the policy ConfigMap, which the sidecar hot-reloads: no roll
    policy = {"policy": {"content": "name: other\nextends: nppa-2019\n"}}
    assert _checksums(*pinned, extra=policy) == base
    rolled = _checksums(*pinned, "policy.rollOnChange=true", extra=policy)
    assert set(rolled) == {*base, "checksum/policy"}
    assert _checksums("secrets.subjectSecret.value=s", "redis.password.value=q") != base


def _materialize(docs: list[dict[str, Any]], root: Path) -> Path:
    """The deployment config and the policy as the pod sees them, under root instead of /etc/minorguard."""
    config = one(docs, "ConfigMap", "mg-minorguard-config")["data"]["deployment.yaml"]
    (root / "config").mkdir(parents=True)
    path = root / "config" / "deployment.yaml"
    path.write_text(config.replace("/etc/minorguard/", f"{root}/"))
    for policy in find(docs, "ConfigMap", "mg-minorguard-policy"):
        (root / "policy").mkdir()
        for key, value in policy["data"].items():
            (root / "policy" / key).write_text(value)
    # the mounted secrets: the chart's own Secret, and a stand-in for each file of an existing one
    (root / "secrets").mkdir()
    for secret in find(docs, "Secret", "mg-minorguard"):
        for key, value in secret.get("data", {}).items():
            (root / "secrets" / key).write_bytes(base64.b64decode(value))
    for named in re.findall(rf"{re.escape(str(root))}/secrets/[\w.-]+", path.read_text()):
        if not Path(named).exists():
            Path(named).write_text("stand-in-for-an-existing-secret-" + "x" * 64)
    return path


def test_the_rendered_config_is_one_the_sidecar_loads(
    rendered: tuple[str, str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, _, docs = rendered
    loaded = load_deployment(_materialize(docs, tmp_path))
    assert loaded.route_table() is not None
    secrets = {s.file for s in (loaded.settings.subject_secret, loaded.settings.store_password) if s}
    assert secrets <= {f"{tmp_path}/secrets/subject-secret", f"{tmp_path}/secrets/store-password"}
    policy = tmp_path / "policy" / "policy.yaml"
    if policy.exists():
        done = subprocess.run(
            [sys.executable, "-m", "minorguard.cli", "policy", "check", str(policy)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_chart_secret_holds_what_values_give() -> None:
    docs = render(VALUES_ALL)
    data = one(docs, "Secret", "mg-minorguard")["data"]
    decoded = {k: base64.b64decode(v).decode() for k, v in data.items()}
    assert decoded["subject-secret"] == "subject-secret-for-tests-only-0123456789"
    assert decoded["admin-token"] == "admin-token-for-tests-only"
    assert decoded["jwt-public-key.pem"].startswith("-----BEGIN PUBLIC KEY-----")
    config = yaml.safe_load(one(docs, "ConfigMap", "mg-minorguard-config")["data"]["deployment.yaml"])
    assert config["identity"]["pem_file"] == "/etc/minorguard/secrets/jwt-public-key.pem"
    assert "jwks_url" not in config["identity"]
    assert config["admin_token"] == {"file": "/etc/minorguard/secrets/admin-token"}
    credentials = {c["name"]: (c["token"], c["may"]) for c in config["credentials"]}
    assert credentials == {
        "settle": ({"file": "/etc/minorguard/secrets/settle-token"}, ["commit", "release"]),
        "refund": ({"file": "/etc/minorguard/secrets/refund-token"}, ["refund"]),
        "guardian": ({"file": "/etc/minorguard/secrets/guardian-token"}, ["guardian"]),
    }
    assert decoded["settle-token"] == "settle-token-for-tests-only-0123456789abcdef"
    assert config["nppa"]["secret_key"] == {"file": "/etc/minorguard/secrets/nppa-secret-key"}
    assert decoded["nppa-secret-key"] == "0123456789abcdef0123456789abcdef"


def test_values_schema_config_matches_the_deployment_model() -> None:
    """values.schema.json's `config` is the deployment file minus what the chart fills in: a field
    added to or renamed in src/minorguard/deployment.py must show up here."""
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]["properties"]
    owned = {"policy", "store", "store_password", "store_sentinel_password", "subject_secret", "admin_token"}
    assert set(schema) == set(Deployment.model_fields) - owned
    identity = schema["identity"]["properties"]
    assert set(identity) == set(IdentitySettings.model_fields) - {"hs_secret", "pem_file"}
    assert set(identity["claims"]["properties"]) == set(Claims.model_fields)
    route_fields = {field.alias or name for name, field in RouteSettings.model_fields.items()}
    assert set(schema["routes"]["items"]["properties"]) == route_fields
    assert set(schema["sidecar"]["properties"]) == set(SidecarSettings.model_fields)
    assert set(schema["nppa"]["properties"]) == set(NppaSettings.model_fields) - {"secret_key"}


BAD_VALUES = [
    (("config.identity.leeway_seconds=500",), "leeway_seconds"),
    (("replicaCount=0",), "replicaCount"),
    (("config.store=redis://elsewhere:6379/0",), "'store' not allowed"),
    (("config.routes[0].activity=gaming",), "activity"),
    (("policy.preset=nppa-2099",), "preset"),
    (("redis.enabled=false", "store.url=http://redis:6379"), "store/url"),
    (("autoscaling.enabled=yes",), "autoscaling/enabled"),
    (("unknownSetting=1",), "'unknownSetting' not allowed"),
    (("image.digest=latest",), "digest"),
]


@pytest.mark.parametrize(("sets", "message"), BAD_VALUES)
def test_values_schema_rejects_bad_values(sets: tuple[str, ...], message: str) -> None:
    args = [arg for item in sets for arg in ("--set", item)]
    for command in (["template", "mg", str(CHART)], ["lint", "--strict", str(CHART)]):
        done = helm(*command, *args)
        assert done.returncode != 0, f"{command[0]} accepted {sets}"
        output = done.stdout + done.stderr
        assert "values don't meet the specifications of the schema" in output, output
        assert message in output, output


BAD_COMBINATIONS = [
    (("store.url=redis://redis:6379/0",), "turn redis.enabled off"),
    (("redis.enabled=false",), "set store.url to your Redis"),
    (("redis.enabled=false", "store.url=redis://:pw@redis:6379/0"), "must not carry credentials"),
    (("secrets.jwtPublicKey.value=pem",), "exactly one token key source"),
    (("config.identity.jwks_url=",), "exactly one token key source"),
    (("config.identity.jwks_url=", "secrets.jwtHsSecret.value=k"), "set config.identity.algorithms to HS*"),
    (("policy.existingConfigMap=p", "policy.preset=nppa-2021"), "not both"),
    (("policy.content=",), "give policy.content, policy.existingConfigMap or policy.preset"),
    (("config.nppa.app_id=a", "config.nppa.biz_id=b"), "config.nppa needs its secret key"),
    (("secrets.nppaSecretKey.value=k",), "config.nppa is not"),
]


@pytest.mark.parametrize(("sets", "message"), BAD_COMBINATIONS)
def test_contradictory_values_fail_with_a_clear_message(sets: tuple[str, ...], message: str) -> None:
    done = helm("template", "mg", str(CHART), *[arg for item in sets for arg in ("--set", item)])
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_prometheus_rule_is_the_rules_file_with_runbooks_and_labels() -> None:
    docs = render(VALUES_ALL)
    groups = one(docs, "PrometheusRule")["spec"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    originals = alert_rules()
    assert [r["alert"] for r in rules] == [r["alert"] for r in originals]
    base = "https://git.example.com/platform/minorguard/-/blob/main/docs/operations.md"
    anchors = github_anchors(OPERATIONS.read_text())
    for rule, original in zip(rules, originals, strict=True):
        assert rule["expr"] == original["expr"]
        assert rule["labels"] == {**original["labels"], "team": "platform"}
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(base + "#"), url
        assert url.removeprefix(base + "#") in anchors, f"docs/operations.md has no section for {url}"
        assert RUNBOOK_TOKEN not in json.dumps(rule)


def test_runbooks_default_to_the_docs_of_this_release() -> None:
    """No runbookBaseUrl: each runbook_url opens docs/operations.md at the tag of the chart's appVersion."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == minorguard.__version__
    rules = one(render(VALUES_EXTERNAL), "PrometheusRule")["spec"]["groups"][0]["rules"]
    base = f"{chart['home']}/blob/v{chart['appVersion']}/docs/operations.md#"
    assert all(rule["annotations"]["runbook_url"].startswith(base) for rule in rules)


def test_the_decision_log_is_switched_in_values() -> None:
    default = render(VALUES_EXTERNAL)
    switched = render(VALUES_EXTERNAL, sets=("config.logging.decisions=true", "config.logging.format=text"))
    logs = [
        yaml.safe_load(one(docs, "ConfigMap", "mg-minorguard-config")["data"]["deployment.yaml"])["logging"]
        for docs in (default, switched)
    ]
    assert logs == [
        {"format": "json", "level": "info", "decisions": False},
        {"format": "text", "level": "info", "decisions": True},
    ]


def test_dashboard_configmap_carries_the_dashboard_file() -> None:
    docs = render(VALUES_ALL)
    configmap = one(docs, "ConfigMap", "mg-minorguard-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert json.loads(configmap["data"]["minorguard.json"]) == json.loads(DASHBOARD.read_text())


def test_network_policy_admits_the_test_pod_and_reaches_the_in_chart_redis() -> None:
    docs = render(VALUES_ALL)
    policy = one(docs, "NetworkPolicy", "mg-minorguard")["spec"]
    peers = policy["ingress"][0]["from"]
    test_labels = one(docs, "Pod")["metadata"]["labels"]
    assert any(
        set(p.get("podSelector", {}).get("matchLabels", {}).items()) <= set(test_labels.items())
        and "namespaceSelector" not in p
        for p in peers
    )
    redis_labels = one(docs, "Deployment", "mg-minorguard-redis")["spec"]["template"]["metadata"]["labels"]
    store_rule = policy["egress"][1]
    assert store_rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
    assert set(store_rule["to"][0]["podSelector"]["matchLabels"].items()) <= set(redis_labels.items())
    redis_policy = one(docs, "NetworkPolicy", "mg-minorguard-redis")["spec"]
    sidecar_labels = one(docs, "Deployment", "mg-minorguard")["spec"]["template"]["metadata"]["labels"]
    allowed = redis_policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert set(allowed.items()) <= set(sidecar_labels.items())


def test_a_preset_policy_needs_no_policy_configmap() -> None:
    docs = render(sets=("policy.preset=minor-mode-2024",))
    assert not find(docs, "ConfigMap", "mg-minorguard-policy")
    config = yaml.safe_load(one(docs, "ConfigMap", "mg-minorguard-config")["data"]["deployment.yaml"])
    assert config["policy"] == "minor-mode-2024"
    pod = one(docs, "Deployment", "mg-minorguard")["spec"]["template"]["spec"]
    assert "policy" not in [v["name"] for v in pod["volumes"]]


def test_dashboard_is_well_formed() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "minorguard"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        box = panel["gridPos"]
        cells = {
            (x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])
        }
        assert box["x"] + box["w"] <= 24, panel["title"]
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
            assert panel.get("description"), panel["title"]
