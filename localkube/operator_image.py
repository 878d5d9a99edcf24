"""The operator's own image, built offline: Debian's python3 and the project's wheels.

The top-level ``Dockerfile`` is what users build; this module makes the
equivalent image on this registry-less machine and imports it into the local
cluster's containerd:

- the project's wheel is built from a copy of its sources (so no ``build/``
  appears in the checkout), and the wheels of its dependencies are fetched
  by pip, pinned to the versions installed in the running virtualenv (the
  ones the tests ran with);
- the rootfs is Debian ``minbase`` plus ``python3`` and ``python3-venv``, an
  empty venv at ``/opt/mysql-operator`` and the user; this part is cached
  by itself (``CACHE/images/base``), and a copy of it gets the wheels with
  ``pip --no-index``, so a code change costs seconds, not a bootstrap;
- the image runs as uid/gid 10001, like the Dockerfile's.

The image is named ``localhost/mysql-operator:<version>`` and also
``localhost/mysql-operator:<version>-<hash>``: the second tag changes with the
content, so a Deployment naming it rolls out when the code changes.  The
archive is cached by a hash of the wheels' contents (not of the zip files,
whose timestamps change with every build), the Debian packages, the build
commands and the image config.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path

from localkube import images
from localkube.paths import CACHE

REPO = Path(__file__).resolve().parent.parent
REPOSITORY = "localhost/mysql-operator"
UID = 10001
VENV = "/opt/mysql-operator"
PACKAGES = ("python3", "python3-venv")
LIVENESS_URL = "http://0.0.0.0:8080/healthz"
# Only these are copied to build the wheel (as the Dockerfile does).
SOURCES = ("pyproject.toml", "README.md", "mysql_operator")

# The Debian part: python3, an empty venv and the user.  It changes rarely, so
# it is cached by itself; a code change only reinstalls the wheels on a copy.
BASE_HOOKS = (
    f'chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin python3 -m venv {VENV}',
    f'chroot "$1" groupadd --gid {UID} mysql-operator',
    f'chroot "$1" useradd --uid {UID} --gid {UID} --no-create-home --home-dir /nonexistent'
    ' --shell /usr/sbin/nologin mysql-operator',
    'rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/cache/debconf/*-old'
    ' "$1"/var/lib/dpkg/*-old "$1"/var/log/*.log "$1"/var/log/apt/*',
)
# Then, in a copy of that rootfs, with a clean environment (no host PIP_* settings):
# the wheels go in without any index, and pip goes out (of no use at run time).
_IN_ROOTFS = ("chroot", "{rootfs}", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
INSTALL = (
    (*_IN_ROOTFS, f"{VENV}/bin/pip", "install", "--quiet", "--no-index", "--no-cache-dir",
     "--disable-pip-version-check", "--find-links=/tmp/wheels", "mysql-operator=={version}"),
    (*_IN_ROOTFS, f"{VENV}/bin/pip", "uninstall", "--quiet", "--yes", "pip"),
)

CONFIG = images.ImageConfig(
    entrypoint=("mysql-operator",),
    cmd=("run", "--standalone", "--all-namespaces", f"--liveness={LIVENESS_URL}"),
    env=(
        f"PATH={VENV}/bin:{images.DEFAULT_PATH}",
        "LANG=C.UTF-8",
        "PYTHONUNBUFFERED=1",
        # The root filesystem is read-only in the cluster; pip compiled everything.
        "PYTHONDONTWRITEBYTECODE=1",
    ),
    user=f"{UID}:{UID}",
    workdir="/",
    exposed_ports=("8080/tcp",),
)


def version() -> str:
    """The package version, from pyproject.toml (also the chart's appVersion)."""
    with (REPO / "pyproject.toml").open("rb") as stream:
        return str(tomllib.load(stream)["project"]["version"])


def wheel_digest(path: Path) -> str:
    """A hash of a wheel's member names and contents, blind to zip timestamps."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as wheel:
        for name in sorted(wheel.namelist()):
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(wheel.read(name)).digest())
    return digest.hexdigest()


def _constraints() -> str:
    """The running virtualenv's distributions, pinned (the project itself excluded)."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable",
         "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    ).stdout
    return "".join(
        f"{line}\n" for line in frozen.splitlines()
        if "==" in line and not line.lower().startswith(("mysql-operator==", "mysql_operator=="))
    )


def build_wheels(dest: Path) -> list[Path]:
    """The project's wheel and its dependencies' wheels, in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mysql-operator-src-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        for name in SOURCES:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, source / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, source / name)
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(_constraints())
        images.log("building the wheels of mysql-operator and its dependencies")
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
             f"--wheel-dir={dest}", f"--constraint={constraints}", str(source)],
            check=True,
        )
    return sorted(dest.glob("*.whl"))


def _base_args() -> list[str]:
    return images.mmdebstrap_args(Path("OUT"), variant="minbase", include=PACKAGES,
                                  hooks=BASE_HOOKS)


def base_rootfs() -> Path:
    """The cached Debian rootfs tarball (python3, the empty venv, the user)."""
    key = hashlib.sha256(shlex.join(_base_args()).encode()).hexdigest()[:16]
    tarball = CACHE / "images" / "base" / f"mysql-operator-base-{key}.tar"
    if tarball.exists():
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".base-", dir=tarball.parent) as tmp:
        Path(tmp).chmod(0o755)  # apt's _apt user downloads in here
        partial = images.debian_rootfs(Path(tmp) / "rootfs.tar", include=PACKAGES,
                                       hooks=BASE_HOOKS)
        for stale in tarball.parent.glob("mysql-operator-base-*.tar"):
            stale.unlink()
        partial.rename(tarball)
    return tarball


def install_wheels(rootfs: Path, wheel_dir: Path) -> None:
    """Install the wheels into the venv of an unpacked base rootfs."""
    wheels = rootfs / "tmp" / "wheels"
    wheels.mkdir(parents=True)
    for wheel in wheel_dir.glob("*.whl"):
        shutil.copy2(wheel, wheels)
    for command in INSTALL:
        subprocess.run([part.format(rootfs=rootfs, version=version()) for part in command],
                       check=True)
    shutil.rmtree(wheels)


def _inputs(wheels: Sequence[Path]) -> tuple[tuple[str, str], ...]:
    return (
        ("mmdebstrap", shlex.join(_base_args())),
        ("install", json.dumps(INSTALL)),
        *((f"wheel:{wheel.name}", wheel_digest(wheel)) for wheel in wheels),
    )


def image_names(wheels: Sequence[Path]) -> tuple[str, str]:
    """``<repo>:<version>`` and ``<repo>:<version>-<content hash>``."""
    base = f"{REPOSITORY}:{version()}"
    content = images.cache_key((base,), CONFIG, _inputs(wheels))[:12]
    return base, f"{base}-{content}"


def operator_spec(wheel_dir: Path) -> images.ImageSpec:
    """The image spec; ``wheel_dir`` must hold the wheels until the image is built."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not any(w.name.startswith("mysql_operator-") for w in wheels):
        raise ValueError(f"no mysql_operator wheel in {wheel_dir}")

    def make_rootfs(work: Path) -> Path:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        subprocess.run(["tar", "--numeric-owner", "-xpf", base_rootfs(), "-C", rootfs],
                       check=True)
        install_wheels(rootfs, wheel_dir)
        return rootfs

    return images.ImageSpec(
        names=image_names(wheels), config=CONFIG, make_rootfs=make_rootfs,
        inputs=_inputs(wheels),
    )


def build() -> tuple[Path, str]:
    """Build (or find cached) the operator image; return its archive and pinned name."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mysql-operator-wheels-") as tmp:
        build_wheels(Path(tmp))
        spec = operator_spec(Path(tmp))
        archive = images.build_spec(spec)
    images.log(f"operator image ready in {time.monotonic() - started:.0f}s: {spec.names[1]}")
    return archive, spec.names[1]


def build_and_import(containerd_address: str | None = None) -> str:
    """Build the image and import it into the local cluster; return its pinned name."""
    from localkube import config

    archive, name = build()
    images.import_images(containerd_address or str(config.CONTAINERD_SOCKET), [archive])
    return name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localkube.operator_image",
        description="Build the operator's image offline (cached) and print its pinned name.",
    )
    parser.add_argument("--import", dest="import_", action="store_true",
                        help="import it into the local cluster's containerd")
    args = parser.parse_args(argv)
    name = build_and_import() if args.import_ else build()[1]
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
