"""The operator's Helm chart: plain manifests made from it, and ``make deploy``.

``charts/mysql-operator`` is the single source of the operator's deployment.
Two things are derived from it and checked by the tests:

- ``deploy/{service-account,role,role-binding,deploy-operator}.yml``, the
  seed's plain manifests for ``kubectl apply -f``: ``helm template`` with the
  default values (release ``mysql-operator`` in namespace ``default``), split
  by kind;
- the chart's ``crds/`` directory, a copy of the top-level ``crds/`` (Helm
  packages no symlinks reliably, so a copy, and a test fails on drift).

``deploy`` is ``helm upgrade --install`` into the cluster in ``KUBECONFIG``;
on the local cluster it first builds the operator's image and imports it
(:mod:`localkube.operator_image`).  ``undeploy`` is ``helm uninstall``: as
always with Helm, the CRD and the user's data stay.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from localkube import build, images, versions
from localkube import config as localconfig

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "mysql-operator"
CRDS = REPO / "crds"
CHART_CRDS = CHART / "crds"
PLAIN_DIR = REPO / "deploy"
# The plain manifests: helm template's defaults, as the seed deploys (namespace default).
PLAIN_RELEASE = "mysql-operator"
PLAIN_NAMESPACE = "default"
PLAIN_FILES = {
    "ServiceAccount": "service-account.yml",
    "ClusterRole": "role.yml",
    "Role": "role.yml",
    "ClusterRoleBinding": "role-binding.yml",
    "RoleBinding": "role-binding.yml",
    "Deployment": "deploy-operator.yml",
}
PLAIN_HEADER = (
    "# Generated from charts/mysql-operator by `make manifests` (helm template with the\n"
    "# default values: release mysql-operator, namespace default). Do not edit.\n"
)
DEPLOY_RELEASE = "mysql-operator"
DEPLOY_NAMESPACE = "mysql-operator"


def helm_binary() -> str:
    """helm from PATH, else the one built with the local cluster."""
    for candidate in (shutil.which("helm"), localconfig.BIN / "helm",
                      build.bin_dir("helm", versions.HELM) / "helm"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise FileNotFoundError("helm not found: put it on PATH or run `make cluster`")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [helm_binary(), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def template(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = PLAIN_RELEASE,
    namespace: str = PLAIN_NAMESPACE,
) -> str:
    """``helm template`` of the chart with ``values`` over the defaults."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as stream:
        json.dump(dict(values or {}), stream)
        stream.flush()
        return helm("template", release, str(CHART), f"--namespace={namespace}",
                    f"--values={stream.name}").stdout


def documents(rendered: str) -> list[str]:
    """The YAML documents of helm's output, without its ``# Source:`` comments."""
    found: list[str] = []
    for chunk in rendered.split("\n---\n"):
        lines = [line for line in chunk.removeprefix("---\n").splitlines()
                 if not line.startswith("# Source: ")]
        text = "\n".join(lines).strip("\n")
        if yaml.safe_load(text) is not None:
            found.append(text + "\n")
    return found


def objects(rendered: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(document) for document in documents(rendered)]


def plain_manifests(rendered: str) -> dict[str, str]:
    """Split rendered manifests into the seed's files, by kind."""
    files: dict[str, list[str]] = {}
    for document in documents(rendered):
        kind = yaml.safe_load(document)["kind"]
        if kind not in PLAIN_FILES:
            raise ValueError(f"no plain manifest file for kind {kind}")
        files.setdefault(PLAIN_FILES[kind], []).append(document)
    return {name: PLAIN_HEADER + "---\n".join(docs) for name, docs in sorted(files.items())}


def expected_files() -> dict[Path, str]:
    """Every file derived from the chart or copied into it, with its content."""
    expected = {PLAIN_DIR / name: text for name, text in plain_manifests(template()).items()}
    for crd in sorted(CRDS.glob("*.yaml")):
        expected[CHART_CRDS / crd.name] = crd.read_text()
    return expected


def stale_files() -> list[Path]:
    """Derived files that differ from what the chart and crds/ give (or are extra)."""
    expected = expected_files()
    stale = [path for path, text in expected.items()
             if not path.exists() or path.read_text() != text]
    stale += [path for path in sorted(CHART_CRDS.glob("*")) if path not in expected]
    return stale


def write_files() -> list[Path]:
    """Regenerate the plain manifests and the chart's copy of the CRDs."""
    expected = expected_files()
    for path in sorted(CHART_CRDS.glob("*")):
        if path not in expected:
            path.unlink()
    for path, text in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(expected)


def is_local_cluster(kubeconfig: str | None = None) -> bool:
    """Whether KUBECONFIG (unset counts as the local one) names the local cluster."""
    value = os.environ.get("KUBECONFIG", "") if kubeconfig is None else kubeconfig
    return not value or Path(value).resolve() == localconfig.KUBECONFIG.resolve()


def image_values(name: str) -> dict[str, Any]:
    repository, tag = images.split_name(name)
    return {"image": {"repository": repository, "tag": tag}}


def deploy(
    release: str = DEPLOY_RELEASE,
    namespace: str = DEPLOY_NAMESPACE,
    values: Mapping[str, Any] | None = None,
    helm_args: Sequence[str] = (),
    timeout: str = "5m",
) -> None:
    """Install or upgrade the chart and wait for the operator; build its image if local."""
    started = time.monotonic()
    merged: dict[str, Any] = dict(values or {})
    env = dict(os.environ)
    if is_local_cluster():
        from localkube import operator_image

        env["KUBECONFIG"] = str(localconfig.KUBECONFIG)
        name = operator_image.build_and_import()
        merged = {**image_values(name), **merged}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as stream:
        json.dump(merged, stream)
        stream.flush()
        argv = [helm_binary(), "upgrade", "--install", release, str(CHART),
                f"--namespace={namespace}", "--create-namespace", f"--values={stream.name}",
                "--wait", f"--timeout={timeout}", *helm_args]
        images.log(f"$ {' '.join(argv)}")
        subprocess.run(argv, check=True, env=env)
    images.log(f"deployed release {release} in namespace {namespace} "
               f"in {time.monotonic() - started:.0f}s")


def undeploy(release: str = DEPLOY_RELEASE, namespace: str = DEPLOY_NAMESPACE) -> None:
    """``helm uninstall``: the operator goes; the CRD, MySQL objects and volumes stay."""
    env = dict(os.environ)
    if is_local_cluster():
        env["KUBECONFIG"] = str(localconfig.KUBECONFIG)
    argv = [helm_binary(), "uninstall", release, f"--namespace={namespace}",
            "--ignore-not-found", "--wait"]
    images.log(f"$ {' '.join(argv)}")
    subprocess.run(argv, check=True, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localkube.chart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    manifests = sub.add_parser("manifests", help="regenerate deploy/*.yml and the chart's CRDs")
    manifests.add_argument("--check", action="store_true",
                           help="only say whether they are up to date (exit 1 if not)")
    for name, what in (("deploy", "helm upgrade --install (and the image, if local)"),
                       ("undeploy", "helm uninstall (the CRD and the data stay)")):
        command = sub.add_parser(name, help=what)
        command.add_argument("--release", default=DEPLOY_RELEASE)
        command.add_argument("--namespace", default=DEPLOY_NAMESPACE)
        if name == "deploy":
            command.add_argument("helm_args", nargs="*", metavar="HELM_ARG",
                                 help="passed to helm (after --), e.g. --set verbose=true")
    args = parser.parse_args(argv)
    if args.command == "manifests":
        if args.check:
            stale = stale_files()
            for path in stale:
                print(f"out of date: {path.relative_to(REPO)}", file=sys.stderr)
            return 1 if stale else 0
        for path in write_files():
            print(path.relative_to(REPO))
    elif args.command == "deploy":
        deploy(args.release, args.namespace, helm_args=args.helm_args)
    else:
        undeploy(args.release, args.namespace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
