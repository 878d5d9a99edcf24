"""Build the cluster's container images offline and import them into containerd.

No registry is reachable from this machine, so every image a pod names must
already be in containerd's ``k8s.io`` namespace under its full name and a
pinned tag (an untagged or ``:latest`` image gets pull policy Always, and the
pull fails).  Each image is made here from Debian packages (``mmdebstrap``) or
from a binary built by :mod:`localkube.build`, wrapped by ``umoci`` into an
OCI layout, and written as an OCI archive whose index names every tag in the
``io.containerd.image.name`` annotation, which ``ctr images import`` uses as
the full image name.

A finished archive is cached under ``CACHE/images``; its file name carries a
hash of everything that defines the image (names, OCI config, package list,
build commands, the entrypoint script, the binary), so any change rebuilds it
and an unchanged image is never rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localkube import build, versions
from localkube.paths import CACHE

# Bump when the way images are assembled changes without a change in any
# input below, so that cached archives are rebuilt.
FORMAT_VERSION = 1

IMAGE_FILES = Path(__file__).with_name("image_files")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
# umoci's working tag inside a layout; never leaves it.
_BUILD_TAG = "localkube-build"

# Debian's packages that MariaDB's image is made of.  Every tool the operator's
# backup and restore Jobs run (sh, mv, ls, date, stat, wc, gzip) is in minbase.
MARIADB_PACKAGES = ("mariadb-server", "mariadb-client")
# Files of no use in a container, kept out of every Debian rootfs.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)


def log(message: str) -> None:
    build.log(message)


def _run(args: Sequence[str | Path], *, quiet: bool = False) -> None:
    """Run a command, output streamed unless ``quiet`` (short, chatty steps)."""
    argv = [str(arg) for arg in args]
    if quiet:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise subprocess.CalledProcessError(done.returncode, argv)
        return
    log(f"$ {shlex.join(argv)}")
    subprocess.run(argv, check=True)


def debian_arch() -> str:
    """The Debian (and OCI) architecture name of this machine, e.g. ``amd64``."""
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def debian_sources(suite: str = versions.DEBIAN_SUITE) -> tuple[str, ...]:
    """The apt source lines a rootfs is bootstrapped from (with security fixes)."""
    return (
        f"deb http://deb.debian.org/debian {suite} main",
        f"deb http://deb.debian.org/debian {suite}-updates main",
        f"deb http://deb.debian.org/debian-security {suite}-security main",
    )


def split_name(name: str) -> tuple[str, str]:
    """Split a full image name into repository and tag; the tag is required.

    Pods on this cluster can only use images that are already present, so an
    image without an explicit, pinned tag is refused here rather than failing
    later as ErrImagePull.
    """
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon <= slash or "@" in name:
        raise ValueError(f"image name {name!r} needs an explicit tag")
    repo, tag = name[:colon], name[colon + 1 :]
    if tag == "latest":
        raise ValueError(f"image name {name!r}: pin a tag, not :latest")
    registry = repo.split("/")[0]
    # As in the Docker reference grammar: a domain has a dot or a port, or is localhost.
    if "/" not in repo or ("." not in registry and ":" not in registry
                           and registry != "localhost"):
        raise ValueError(f"image name {name!r} must be fully qualified (registry/repo:tag)")
    return repo, tag


@dataclass(frozen=True)
class ImageConfig:
    """The OCI image config fields a container runtime uses to start a container."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (f"PATH={DEFAULT_PATH}",)
    user: str = ""
    workdir: str = "/"
    exposed_ports: tuple[str, ...] = ()
    stop_signal: str = ""

    def umoci_args(self) -> list[str]:
        args: list[str] = []
        args += [f"--config.entrypoint={part}" for part in self.entrypoint]
        args += [f"--config.cmd={part}" for part in self.cmd]
        args += [f"--config.env={var}" for var in self.env]
        args += [f"--config.exposedports={port}" for port in self.exposed_ports]
        if self.user:
            args.append(f"--config.user={self.user}")
        if self.workdir:
            args.append(f"--config.workingdir={self.workdir}")
        if self.stop_signal:
            args.append(f"--config.stopsignal={self.stop_signal}")
        return args


@dataclass(frozen=True)
class ImageSpec:
    """One image: its names, config, and how to make its root filesystem.

    ``inputs`` lists everything else that defines the image (package lists,
    commands, file hashes); together with the names and the config it forms
    the cache key.  ``make_rootfs(workdir)`` returns a rootfs directory or an
    uncompressed tarball made inside ``workdir``.
    """

    names: tuple[str, ...]
    config: ImageConfig
    make_rootfs: Callable[[Path], Path] = field(compare=False)
    inputs: tuple[tuple[str, str], ...] = ()

    def cache_key(self) -> str:
        return cache_key(self.names, self.config, self.inputs)

    def archive_path(self) -> Path:
        repo, tag = split_name(self.names[0])
        return CACHE / "images" / f"{repo.rsplit('/', 1)[-1]}-{tag}-{self.cache_key()[:16]}.tar"


def cache_key(
    names: Sequence[str], config: ImageConfig, inputs: Iterable[tuple[str, str]]
) -> str:
    """A stable hash of everything that defines an image."""
    document = {
        "format": FORMAT_VERSION,
        "names": list(names),
        "config": asdict(config),
        "inputs": sorted([list(item) for item in inputs]),
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- the generic builder ----------------------------------------------------


def build_image(
    names: Sequence[str],
    rootfs: Path,
    archive: Path,
    config: ImageConfig | None = None,
    *,
    entrypoint: Sequence[str] = (),
    cmd: Sequence[str] = (),
    env: Sequence[str] = (f"PATH={DEFAULT_PATH}",),
    user: str = "",
    workdir: str = "/",
    exposed_ports: Sequence[str] = (),
) -> Path:
    """Wrap ``rootfs`` (a directory or an uncompressed tar) as an image archive.

    The result, written atomically to ``archive``, is an OCI archive holding
    one single-layer image for this machine's platform, with one index entry
    per name in ``names`` (full names with tags, e.g.
    ``docker.io/library/mariadb:10.11``) so that ``ctr images import`` creates
    every name at once.  Either pass ``config`` or the individual fields.
    No caching happens here; :func:`build_images` caches by spec.
    """
    if not names:
        raise ValueError("an image needs at least one name")
    for name in names:
        split_name(name)
    if config is None:
        config = ImageConfig(
            entrypoint=tuple(entrypoint),
            cmd=tuple(cmd),
            env=tuple(env),
            user=user,
            workdir=workdir,
            exposed_ports=tuple(exposed_ports),
        )
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".oci-", dir=archive.parent) as tmp:
        work = Path(tmp)
        layout = work / "oci"
        if rootfs.is_dir():
            layer = work / "layer.tar"
            # GNU tar keeps hard links, xattrs-free modes and numeric owners.
            _run(["tar", "--numeric-owner", "-C", rootfs, "-cf", layer, "."], quiet=True)
        else:
            layer = rootfs
        image = f"{layout}:{_BUILD_TAG}"
        arch = debian_arch()
        _run(["umoci", "init", "--layout", layout], quiet=True)
        _run(["umoci", "new", "--image", image], quiet=True)
        _run(["umoci", "raw", "add-layer", "--history.created_by=localkube rootfs",
              "--image", image, layer])
        _run(["umoci", "config", "--image", image, f"--architecture={arch}", "--os=linux",
              "--history.created_by=localkube config", *config.umoci_args()], quiet=True)
        _run(["umoci", "gc", "--layout", layout], quiet=True)
        _name_layout(layout, names, arch)
        partial = work / "image.tar"
        _tar_layout(layout, partial)
        partial.rename(archive)
    return archive


def _name_layout(layout: Path, names: Sequence[str], arch: str) -> None:
    """Replace umoci's working tag by one index entry per full image name."""
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    (manifest,) = [
        m for m in index["manifests"]
        if m.get("annotations", {}).get(ANNOTATION_REF_NAME) == _BUILD_TAG
    ]
    entries = []
    for name in names:
        _, tag = split_name(name)
        entry = {key: value for key, value in manifest.items() if key != "annotations"}
        entry["platform"] = {"architecture": arch, "os": "linux"}
        entry["annotations"] = {ANNOTATION_IMAGE_NAME: name, ANNOTATION_REF_NAME: tag}
        entries.append(entry)
    index["manifests"] = entries
    index_path.write_text(json.dumps(index, indent=2) + "\n")


def _tar_layout(layout: Path, archive: Path) -> None:
    """Tar an OCI layout, index.json first so readers find the names quickly."""
    members = [layout / "oci-layout", layout / "index.json"]
    members += sorted((layout / "blobs").rglob("*"))
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in members:
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(layout)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isfile():
                with path.open("rb") as stream:
                    tar.addfile(info, stream)
            else:
                tar.addfile(info)


def archive_images(archive: Path) -> dict[str, str]:
    """Map each image name in an archive made here to its manifest digest."""
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name in ("index.json", "./index.json"):
                stream = tar.extractfile(member)
                if stream is None:
                    break
                index = json.load(io.TextIOWrapper(stream))
                return {
                    m["annotations"][ANNOTATION_IMAGE_NAME]: m["digest"]
                    for m in index["manifests"]
                    if ANNOTATION_IMAGE_NAME in m.get("annotations", {})
                }
    raise ValueError(f"{archive} has no index.json: not an OCI archive made by localkube")


# --- root filesystems ---------------------------------------------------------


def mmdebstrap_args(
    output: Path,
    *,
    variant: str,
    include: Sequence[str] = (),
    hooks: Sequence[str] = (),
    suite: str = versions.DEBIAN_SUITE,
) -> list[str]:
    """The mmdebstrap command for a Debian rootfs without docs or apt caches."""
    args = ["mmdebstrap", f"--variant={variant}", "--mode=root", "--skip=output/dev"]
    if include:
        args.append(f"--include={','.join(include)}")
    args += [f"--dpkgopt={option}" for option in DPKG_EXCLUDES]
    args += [f"--customize-hook={hook}" for hook in hooks]
    args += [suite, str(output), *debian_sources(suite)]
    return args


MARIADB_HOOKS = (
    # The entrypoint and the settings a container needs (bind 0.0.0.0).
    'install -m 0755 "$LOCALKUBE_IMAGE_FILES/mariadb-entrypoint.sh"'
    ' "$1/usr/local/bin/docker-entrypoint.sh"',
    'install -m 0644 "$LOCALKUBE_IMAGE_FILES/mariadb-container.cnf"'
    ' "$1/etc/mysql/mariadb.conf.d/99-container.cnf"',
    # Debian's postinst initialised /var/lib/mysql: the image must ship it
    # empty so the entrypoint initialises it with the pod's passwords.
    'find "$1/var/lib/mysql" -mindepth 1 -delete',
    'mkdir -p "$1/run/mysqld" "$1/docker-entrypoint-initdb.d"',
    'chroot "$1" chown mysql:mysql /var/lib/mysql /run/mysqld',
    # Writable by any uid, for pods that set runAsUser.
    'chmod 1777 "$1/run/mysqld"',
    'rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/cache/debconf/*-old'
    ' "$1"/var/lib/dpkg/*-old "$1"/var/log/*.log "$1"/var/log/apt/*',
)


def debian_rootfs(
    output: Path,
    *,
    variant: str = "minbase",
    include: Sequence[str] = (),
    hooks: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Path:
    """Bootstrap a Debian rootfs (a tarball if ``output`` ends in .tar) with mmdebstrap.

    ``hooks`` are mmdebstrap customize hooks: shell run on the host with the
    rootfs directory as ``$1``.  Pass host paths through ``env`` rather than
    writing them into a hook, so the hooks (part of cache keys) stay the same
    whatever the checkout's path.
    """
    args = mmdebstrap_args(output, variant=variant, include=include, hooks=hooks)
    log(f"$ {shlex.join(args)}")
    subprocess.run(args, check=True, env={**os.environ, **(env or {})})
    return output


def _make_mariadb_rootfs(work: Path) -> Path:
    return debian_rootfs(work / "rootfs.tar", include=MARIADB_PACKAGES, hooks=MARIADB_HOOKS,
                         env={"LOCALKUBE_IMAGE_FILES": str(IMAGE_FILES)})


def _make_busybox_rootfs(work: Path) -> Path:
    """A rootfs of Debian's static busybox plus one symlink per applet."""
    extracted = work / "extracted"
    debian_rootfs(extracted, variant="extract", include=["busybox-static"])
    rootfs = work / "rootfs"
    for directory in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys",
                      "dev", "var"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").mkdir(mode=0o1777)
    (rootfs / "tmp").chmod(0o1777)
    busybox = rootfs / "bin" / "busybox"
    shutil.copy2(extracted / "bin" / "busybox", busybox)
    applets = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = rootfs / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = len(Path(applet).parts) - 1
        link.symlink_to("../" * depth + "bin/busybox")
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return rootfs


def _single_binary_rootfs(work: Path, binary: Path, dest: str) -> Path:
    """A rootfs holding one static binary, plus the mount points runc expects."""
    rootfs = work / "rootfs"
    for directory in ("proc", "sys", "dev", "etc"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").mkdir(mode=0o1777)
    (rootfs / "tmp").chmod(0o1777)
    target = rootfs / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    target.chmod(0o755)
    return rootfs


# --- the cluster's images -----------------------------------------------------


def _catatonit() -> Path:
    path = shutil.which("catatonit") or "/usr/bin/catatonit"
    return Path(path)


def pause_spec() -> ImageSpec:
    """The sandbox image: Debian's static catatonit in pause mode.

    catatonit -P only waits for signals, which is all a pod sandbox's
    process does; 65535 is the user the upstream pause image runs as.
    """
    binary = _catatonit()
    return ImageSpec(
        names=(versions.PAUSE_IMAGE,),
        config=ImageConfig(entrypoint=("/pause", "-P"), user="65535:65535", env=()),
        make_rootfs=lambda work: _single_binary_rootfs(work, binary, "/pause"),
        inputs=(("catatonit", file_sha256(binary)),),
    )


def mariadb_spec() -> ImageSpec:
    """MariaDB from Debian, answering to the MySQL names the project's CRs use."""
    files = sorted(IMAGE_FILES.glob("mariadb-*"))
    return ImageSpec(
        names=(versions.MARIADB_IMAGE, *versions.MYSQL_ALIASES),
        config=ImageConfig(
            entrypoint=("/usr/local/bin/docker-entrypoint.sh",),
            cmd=("mariadbd",),
            env=(f"PATH={DEFAULT_PATH}", "LANG=C.UTF-8"),
            workdir="/",
            exposed_ports=("3306/tcp",),
        ),
        make_rootfs=_make_mariadb_rootfs,
        inputs=(
            ("mmdebstrap", shlex.join(mmdebstrap_args(
                Path("OUT"), variant="minbase", include=MARIADB_PACKAGES, hooks=MARIADB_HOOKS))),
            *((f"file:{path.name}", file_sha256(path)) for path in files),
        ),
    )


def helper_spec() -> ImageSpec:
    """The local-path provisioner's helper image: static busybox, for `sh -c`."""
    return ImageSpec(
        names=(versions.HELPER_IMAGE,),
        config=ImageConfig(cmd=("sh",)),
        make_rootfs=_make_busybox_rootfs,
        inputs=(("mmdebstrap", shlex.join(mmdebstrap_args(
            Path("OUT"), variant="extract", include=["busybox-static"]))),),
    )


LOCAL_PATH_PROVISIONER_REPO = "docker.io/rancher/local-path-provisioner"


def local_path_provisioner_spec() -> ImageSpec:
    """The local-path provisioner: its static binary built from the Go module proxy."""
    binary = build.build_local_path_provisioner() / "local-path-provisioner"
    return ImageSpec(
        names=(f"{LOCAL_PATH_PROVISIONER_REPO}:{versions.LOCAL_PATH_PROVISIONER}",),
        config=ImageConfig(entrypoint=("local-path-provisioner",)),
        make_rootfs=lambda work: _single_binary_rootfs(
            work, binary, "/usr/bin/local-path-provisioner"),
        inputs=(("binary", file_sha256(binary)),),
    )


def image_specs() -> list[ImageSpec]:
    return [pause_spec(), helper_spec(), local_path_provisioner_spec(), mariadb_spec()]


def build_spec(spec: ImageSpec) -> Path:
    """Build one image unless its archive, keyed by the spec, is cached."""
    archive = spec.archive_path()
    if archive.exists():
        log(f"image {', '.join(spec.names)}: cached {archive.name}")
        return archive
    log(f"building image {', '.join(spec.names)}")
    started = time.monotonic()
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".rootfs-", dir=archive.parent) as tmp:
        # apt's _apt user must reach mmdebstrap's download directory in here.
        Path(tmp).chmod(0o755)
        rootfs = spec.make_rootfs(Path(tmp))
        build_image(spec.names, rootfs, archive, spec.config)
    # Older builds of the same image are dead weight.
    for stale in archive.parent.glob(archive.name.rsplit("-", 1)[0] + "-*.tar"):
        if stale != archive:
            stale.unlink()
    size = archive.stat().st_size / 1e6
    log(f"built image {spec.names[0]} in {time.monotonic() - started:.0f}s "
        f"({size:.0f} MB): {archive}")
    return archive


def build_images() -> list[Path]:
    """Build (or reuse from the cache) every image the cluster needs."""
    return [build_spec(spec) for spec in image_specs()]


# --- containerd ---------------------------------------------------------------


def _ctr(address: str, namespace: str) -> list[str]:
    return ["ctr", "--address", address, "--namespace", namespace]


def present_images(containerd_address: str, namespace: str = "k8s.io") -> dict[str, str]:
    """Map each image name in containerd to its target (manifest) digest."""
    out = subprocess.run(
        [*_ctr(containerd_address, namespace), "images", "ls"],
        capture_output=True, text=True, check=True,
    ).stdout
    found: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            found[fields[0]] = fields[2]
    return found


def import_images(
    containerd_address: str,
    archives: Iterable[Path],
    namespace: str = "k8s.io",
    snapshotter: str | None = None,
) -> None:
    """Import image archives into containerd, skipping those already there.

    An archive is skipped when every name it holds is present with the same
    manifest digest.  After importing, every name must be present with the
    archive's digest, or this raises: a missing image would only show up later
    as a pod stuck in ErrImagePull.
    """
    present = present_images(containerd_address, namespace)
    for archive in archives:
        wanted = archive_images(archive)
        if all(present.get(name) == digest for name, digest in wanted.items()):
            log(f"images already in containerd: {', '.join(wanted)}")
            continue
        log(f"importing {', '.join(wanted)} from {archive.name}")
        args = [*_ctr(containerd_address, namespace), "images", "import"]
        if snapshotter:
            args.append(f"--snapshotter={snapshotter}")
        _run([*args, archive])
        present = present_images(containerd_address, namespace)
        wrong = {name for name, digest in wanted.items() if present.get(name) != digest}
        if wrong:
            raise RuntimeError(
                f"after importing {archive}, containerd lacks {', '.join(sorted(wrong))}"
            )


if __name__ == "__main__":
    built = build_images()
    for path in built:
        print(path)
    if len(sys.argv) > 1:
        import_images(sys.argv[1], built)
