"""The chart, its derived files, the Dockerfile and the operator image: no cluster.

The tests that render the chart need helm (on PATH, or built with the local
cluster); they are skipped without it.
"""

from __future__ import annotations

import json
import re
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from localkube import chart, images, operator_image
from mysql_operator import _kube

REPO = chart.REPO


def _helm_or_skip() -> None:
    try:
        chart.helm_binary()
    except FileNotFoundError:
        pytest.skip("no helm here")


@pytest.fixture(scope="module")
def helm() -> None:
    _helm_or_skip()


def render(values: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    return chart.objects(chart.template(values, **kwargs))


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def rules_of(obj: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs."""
    found: dict[tuple[str, str], set[str]] = {}
    for rule in obj["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


NAMESPACED = {
    ("otus.homework", "mysqls"): {"list", "watch", "patch"},
    ("otus.homework", "mysqls/status"): {"patch"},
    ("", "events"): {"create"},
    ("", "secrets"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "persistentvolumeclaims"): {"get", "create", "patch", "delete"},
    ("", "services"): {"get", "create", "patch", "delete"},
    ("", "pods"): {"list"},
    ("", "pods/log"): {"get"},
    ("apps", "deployments"): {"get", "create", "patch", "delete"},
    ("batch", "jobs"): {"get", "create", "patch", "delete"},
}
CRDS = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}
VOLUMES = {("", "persistentvolumes"): {"get", "create", "delete"}}
NAMESPACES = {("", "namespaces"): {"list", "watch"}}


# --- sources of truth ---------------------------------------------------------


def test_chart_crds_are_the_top_level_crds() -> None:
    top = {p.name: p.read_bytes() for p in chart.CRDS.glob("*.yaml")}
    copied = {p.name: p.read_bytes() for p in chart.CHART_CRDS.iterdir()}
    assert top, "no CRD in crds/"
    assert copied == top, "charts/mysql-operator/crds/ drifted from crds/: run `make manifests`"


def test_plain_manifests_are_the_rendered_chart(helm: None) -> None:
    assert chart.stale_files() == [], "run `make manifests`"
    rendered = chart.plain_manifests(chart.template())
    assert sorted(rendered) == ["deploy-operator.yml", "role-binding.yml", "role.yml",
                                "service-account.yml"]
    for name, text in rendered.items():
        assert (chart.PLAIN_DIR / name).read_text() == text


def test_plain_manifests_keep_the_seeds_other_files() -> None:
    assert (chart.PLAIN_DIR / "cr.yml").is_file()
    crd = chart.PLAIN_DIR / "crd.yml"
    assert crd.is_symlink()
    assert crd.resolve() == (chart.CRDS / "mysqls.otus.homework.yaml")


def test_plain_manifests_refuse_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="ConfigMap"):
        chart.plain_manifests("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")


def test_versions_follow_pyproject() -> None:
    with (REPO / "pyproject.toml").open("rb") as stream:
        version = tomllib.load(stream)["project"]["version"]
    meta = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["version"] == meta["appVersion"] == version == operator_image.version()


# --- helm lint and the schema -----------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--set", "watchNamespaces={a,b}"],
                                  ["--set", "rbac.persistentVolumes=false,verbose=true"]])
def test_helm_lint_is_clean(helm: None, args: list[str]) -> None:
    done = chart.helm("lint", "--strict", str(chart.CHART), *args)
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout, done.stdout
    assert "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize(("values", "error"), [
    ({"watchNamespaces": ["team-*"]}, "does not match pattern"),
    ({"watchNamespaces": ["a", "a"]}, "are equal"),
    ({"image": {"repository": "x", "tag": "latest", "pullPolicy": "IfNotPresent"}}, "tag"),
    ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
    ({"replicas": 2}, "additional properties 'replicas'"),
])
def test_schema_refuses_bad_values(helm: None, values: dict[str, Any], error: str) -> None:
    with pytest.raises(RuntimeError, match=error):
        chart.template(values)


# --- RBAC -------------------------------------------------------------------------


def test_every_namespace_is_one_cluster_role(helm: None) -> None:
    objects = render(release="op", namespace="ops")
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"]
    (role,) = by_kind(objects, "ClusterRole")
    assert rules_of(role) == NAMESPACED | CRDS | VOLUMES
    (binding,) = by_kind(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "op-mysql-operator", "namespace": "ops"}]


def test_a_namespace_list_is_a_role_in_each(helm: None) -> None:
    objects = render({"watchNamespaces": ["a", "b"]}, release="op", namespace="ops")
    roles = by_kind(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["a", "b"]
    for role in roles:
        assert rules_of(role) == NAMESPACED
    bindings = by_kind(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a", "b"]
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": "op-mysql-operator"}
        assert binding["subjects"][0]["namespace"] == "ops"
    # Only cluster-scoped things (and namespace names) are granted cluster-wide.
    (cluster_role,) = by_kind(objects, "ClusterRole")
    assert rules_of(cluster_role) == CRDS | NAMESPACES | VOLUMES
    off = render({"watchNamespaces": ["a"], "rbac": {"persistentVolumes": False}})
    assert rules_of(by_kind(off, "ClusterRole")[0]) == CRDS | NAMESPACES


def test_no_wildcards(helm: None) -> None:
    for values in ({}, {"watchNamespaces": ["a"]}):
        for obj in render(values):
            for rule in obj.get("rules", []):
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in json.dumps(rule[field]), rule


def test_rbac_covers_every_kind_the_operator_touches(helm: None) -> None:
    (role,) = by_kind(render(), "ClusterRole")
    granted = {resource for (_, resource) in rules_of(role)}
    assert set(_kube._PLURALS.values()) <= granted


def test_rbac_off_renders_no_rbac(helm: None) -> None:
    kinds = {o["kind"] for o in render({"rbac": {"create": False},
                                        "serviceAccount": {"create": False, "name": "mine"}})}
    assert kinds == {"Deployment"}


# --- the Deployment ---------------------------------------------------------------


def deployment(values: dict[str, Any] | None = None) -> dict[str, Any]:
    (found,) = by_kind(render(values, release="op", namespace="ops"), "Deployment")
    return found


def test_deployment_runs_one_hardened_operator(helm: None) -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "op-mysql-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == operator_image.UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "runAsNonRoot": True, "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["image"] == "localhost/mysql-operator:" + operator_image.version()
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == ["run", "--standalone",
                                 f"--liveness={operator_image.LIVENESS_URL}", "--all-namespaces"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["ports"][0]["containerPort"] == 8080
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_deployment_serves_the_listed_namespaces(helm: None) -> None:
    (container,) = deployment({"watchNamespaces": ["a", "b"], "verbose": True,
                               "image": {"repository": "r.example/op", "tag": "1.2",
                                         "pullPolicy": "Never"}}
                              )["spec"]["template"]["spec"]["containers"]
    assert container["args"][-3:] == ["--namespace=a", "--namespace=b", "--verbose"]
    assert "--all-namespaces" not in container["args"]
    assert container["image"] == "r.example/op:1.2"
    assert container["imagePullPolicy"] == "Never"


def test_deployment_args_are_valid_cli_arguments(helm: None) -> None:
    from mysql_operator.__main__ import _parser

    for values in ({}, {"watchNamespaces": ["a", "b"], "verbose": True}):
        (container,) = deployment(values)["spec"]["template"]["spec"]["containers"]
        args = _parser().parse_args(container["args"])
        assert args.command == "run"
        assert args.standalone
        assert args.liveness == operator_image.LIVENESS_URL
        assert args.namespace == values.get("watchNamespaces", [])


# --- the Dockerfile and the offline image ----------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_matches_the_offline_image() -> None:
    found = dockerfile_instructions()
    froms = [arg for op, arg in found if op == "FROM"]
    assert froms
    assert all(re.fullmatch(r"python:3\.11-slim-\w+( AS \w+)?", f) for f in froms)
    final = found[max(i for i, (op, _) in enumerate(found) if op == "FROM"):]
    last = {op: arg for op, arg in final}
    assert last["USER"] == operator_image.CONFIG.user
    assert json.loads(last["ENTRYPOINT"]) == list(operator_image.CONFIG.entrypoint)
    assert json.loads(last["CMD"]) == list(operator_image.CONFIG.cmd)
    assert "mysql-operator" in last["RUN"]
    assert "--no-index" in last["RUN"]


def test_operator_image_config() -> None:
    config = operator_image.CONFIG
    assert config.user == "10001:10001"
    assert config.entrypoint == ("mysql-operator",)
    assert config.cmd[0] == "run"
    assert "--standalone" in config.cmd
    assert any(env.startswith(f"PATH={operator_image.VENV}/bin:") for env in config.env)


def _wheel(path: Path, files: dict[str, bytes], date: tuple[int, ...]) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=date), data)  # type: ignore[arg-type]
    return path


def test_wheel_digest_ignores_timestamps_not_content(tmp_path: Path) -> None:
    files = {"mysql_operator/__init__.py": b"x = 1\n", "m-0.1.0.dist-info/RECORD": b"r"}
    a = _wheel(tmp_path / "a.whl", files, (2020, 1, 1, 0, 0, 0))
    b = _wheel(tmp_path / "b.whl", dict(reversed(files.items())), (2024, 5, 5, 5, 5, 5))
    c = _wheel(tmp_path / "c.whl", {**files, "mysql_operator/__init__.py": b"x = 2\n"},
               (2020, 1, 1, 0, 0, 0))
    assert operator_image.wheel_digest(a) == operator_image.wheel_digest(b)
    assert operator_image.wheel_digest(a) != operator_image.wheel_digest(c)


def test_image_names_are_pinned_and_follow_the_wheels(tmp_path: Path) -> None:
    date = (2020, 1, 1, 0, 0, 0)
    wheel = _wheel(tmp_path / "mysql_operator-0.1.0-py3-none-any.whl", {"a": b"1"}, date)
    base, pinned = operator_image.image_names([wheel])
    assert base == f"localhost/mysql-operator:{operator_image.version()}"
    assert re.fullmatch(re.escape(base) + r"-[0-9a-f]{12}", pinned)
    for name in (base, pinned):
        images.split_name(name)
    _wheel(wheel, {"a": b"2"}, date)
    assert operator_image.image_names([wheel])[1] != pinned
    spec = operator_image.operator_spec(tmp_path)
    assert spec.names == operator_image.image_names([wheel])
    assert spec.archive_path().name.startswith(f"mysql-operator-{operator_image.version()}-")
    with pytest.raises(ValueError, match="no mysql_operator wheel"):
        operator_image.operator_spec(tmp_path / "empty")


def test_local_cluster_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    from localkube import config

    assert chart.is_local_cluster("")
    assert chart.is_local_cluster(str(config.KUBECONFIG))
    assert not chart.is_local_cluster("/elsewhere/kubeconfig")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert chart.is_local_cluster()
    assert chart.image_values("localhost/mysql-operator:0.1.0-abc") == {
        "image": {"repository": "localhost/mysql-operator", "tag": "0.1.0-abc"}}
