"""Build the cluster's binaries from the Go module proxy, cached by version.

Each component is built from a small wrapper module in the cache directory:
``k8s.io/kubernetes`` cannot be built with ``go install pkg@version`` because
its go.mod replaces the staging modules with local paths, so the wrapper
requires it and replaces each staging module with its published ``v0.Y.Z``.
A finished build is moved into place atomically; its presence is the cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from localkube import versions
from localkube.paths import CACHE

KUBE_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)


def bin_dir(component: str, version: str) -> Path:
    return CACHE / "bin" / f"{component}-{version}"


def log(message: str) -> None:
    print(f"[localkube] {message}", file=sys.stderr, flush=True)


def _go(args: Sequence[str], cwd: Path, extra_env: dict[str, str] | None = None) -> None:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env.update(extra_env or {})
    log(f"$ go {' '.join(args)}  (in {cwd})")
    # Output is streamed, never captured: a long build must show progress.
    subprocess.run(["go", *args], cwd=cwd, env=env, check=True)


def _wrapper(name: str, requires: dict[str, str], replaces: dict[str, str], main: str = "") -> Path:
    src = CACHE / "src" / name
    src.mkdir(parents=True, exist_ok=True)
    lines = [f"module localkube.build/{name}", "", "go 1.24.0", "", "require ("]
    lines += [f"\t{mod} {ver}" for mod, ver in requires.items()]
    lines += [")", ""]
    if replaces:
        lines += ["replace ("]
        lines += [f"\t{mod} => {mod} {ver}" for mod, ver in replaces.items()]
        lines += [")", ""]
    (src / "go.mod").write_text("\n".join(lines))
    if main:
        (src / "main.go").write_text(main)
    return src


def _module_gomod(module: str, version: str, cwd: Path) -> str:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout
    match = re.search(r'"GoMod":\s*"([^"]+)"', out)
    if not match:
        raise RuntimeError(f"go mod download gave no go.mod for {module}@{version}")
    return Path(match.group(1)).read_text()


def _install(built: Path, dest: Path) -> None:
    """Move a finished build into the cache in one rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    built.rename(dest)


def build_kubernetes(version: str = versions.KUBERNETES) -> Path:
    dest = bin_dir("kubernetes", version)
    if all((dest / cmd).exists() for cmd in KUBE_COMMANDS):
        return dest
    started = time.monotonic()
    staging = versions.staging_version(version)
    src = _wrapper(f"kubernetes-{version}", {"k8s.io/kubernetes": version}, {})
    gomod = _module_gomod("k8s.io/kubernetes", version, src)
    staged = re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging/", gomod, flags=re.M)
    src = _wrapper(
        f"kubernetes-{version}",
        {"k8s.io/kubernetes": version},
        {mod: staging for mod in staged},
    )
    minor = version.lstrip("v").split(".")[1]
    stamp = {
        "gitVersion": version,
        "gitMajor": "1",
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    ldflags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += [f"-X {pkg}.{key}={value}" for key, value in stamp.items()]
    out = src / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    log(f"building Kubernetes {version} ({', '.join(KUBE_COMMANDS)}); "
        "20-40 minutes cold on 2 cores")
    # One `go build` for all commands: shared packages compile once.
    _go(
        ["build", "-trimpath", "-v", "-ldflags", " ".join(ldflags), "-o", f"{out}/",
         *[f"k8s.io/kubernetes/cmd/{cmd}" for cmd in KUBE_COMMANDS]],
        src,
    )
    _install(out, dest)
    log(f"Kubernetes {version} built in {time.monotonic() - started:.0f}s")
    return dest


def _build_module(component: str, version: str, module: str, package: str,
                  ldflags: str = "-s -w") -> Path:
    """Build ``package`` of Go module ``module@version`` into ``bin/<component>-<version>``."""
    dest = bin_dir(component, version)
    if (dest / component).exists():
        return dest
    src = _wrapper(f"{component}-{version}", {module: version}, {})
    out = src / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    log(f"building {component} {version}")
    _go(["build", "-trimpath", "-ldflags", ldflags, "-o", f"{out}/{component}", package], src)
    _install(out, dest)
    return dest


def build_etcd(version: str = versions.ETCD) -> Path:
    # server/v3 is itself `package main`.
    return _build_module("etcd", version, "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/server/v3")


def build_coredns(version: str = versions.COREDNS) -> Path:
    return _build_module("coredns", version, "github.com/coredns/coredns",
                         "github.com/coredns/coredns")


def build_helm(version: str = versions.HELM) -> Path:
    return _build_module("helm", version, "helm.sh/helm/v3", "helm.sh/helm/v3/cmd/helm",
                         f"-s -w -X helm.sh/helm/v3/internal/version.version={version}")


def build_local_path_provisioner(version: str = versions.LOCAL_PATH_PROVISIONER) -> Path:
    return _build_module("local-path-provisioner", version,
                         "github.com/rancher/local-path-provisioner",
                         "github.com/rancher/local-path-provisioner")


def build_all() -> dict[str, Path]:
    """Build (or find in the cache) every binary the cluster runs."""
    return {
        "kubernetes": build_kubernetes(),
        "etcd": build_etcd(),
        "coredns": build_coredns(),
        "helm": build_helm(),
        "local-path-provisioner": build_local_path_provisioner(),
    }


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    builders = {
        "kubernetes": build_kubernetes,
        "etcd": build_etcd,
        "coredns": build_coredns,
        "helm": build_helm,
        "local-path-provisioner": build_local_path_provisioner,
    }
    if what == "all":
        print(build_all())
    else:
        print(builders[what]())
