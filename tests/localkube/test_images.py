"""Unit tests of localkube.images: no containerd, no network.

The MariaDB entrypoint's helpers are exercised by sourcing the real script in
bash, since that script is what runs in every database pod.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from localkube import images

ENTRYPOINT = images.IMAGE_FILES / "mariadb-entrypoint.sh"

NASTY = [
    "",
    "plain",
    "otuspassword",
    "p\"a$s w\\ord€",
    "it's",
    "\\'; DROP DATABASE mysql; -- ",
    "back\\\\slashes\\",
    "'",
    "\\",
    "$(touch /tmp/pwned) `id` ${HOME}",
    "tab\tnew\nline\rcr\x1actrlz",
    "%_ wildcards",
    "ünïcødé 密码 🔑",
]


def bash(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash after sourcing the entrypoint (functions only)."""
    full_env = {"PATH": os.environ["PATH"], "ENTRYPOINT": str(ENTRYPOINT), **(env or {})}
    return subprocess.run(
        ["bash", "-c", f'source "$ENTRYPOINT"; {script}', "test-shell", *args],
        capture_output=True, text=True, env=full_env, check=False,
    )


def mysql_unescape(body: str) -> str:
    """Read a single-quoted string literal body as MariaDB does by default.

    Also asserts the body cannot end the literal early: every quote inside it
    is escaped.
    """
    specials = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r",
                "t": "\t", "Z": "\x1a", "\\": "\\", "%": "\\%", "_": "\\_"}
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            assert i + 1 < len(body), f"dangling backslash in {body!r}"
            nxt = body[i + 1]
            out.append(specials.get(nxt, nxt))
            i += 2
            continue
        if char == "'":
            assert body[i + 1 : i + 2] == "'", f"unescaped quote in {body!r}"
            out.append("'")
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("password", NASTY)
def test_sql_string_round_trips(password: str) -> None:
    done = bash('sql_string "$1"', password)
    assert done.returncode == 0, done.stderr
    assert mysql_unescape(done.stdout) == password


@pytest.mark.parametrize(("name", "quoted"), [
    ("otus-database", "otus-database"),
    ("we`ird", "we``ird"),
    ("``", "````"),
    ("db name; drop", "db name; drop"),
])
def test_sql_ident_doubles_backticks(name: str, quoted: str) -> None:
    done = bash('sql_ident "$1"', name)
    assert done.returncode == 0, done.stderr
    assert done.stdout == quoted


def test_mysql_names_fill_mariadb_names() -> None:
    done = bash(
        'load_env; printf "%s|" "$MARIADB_ROOT_PASSWORD" "$MARIADB_DATABASE" '
        '"$MARIADB_USER" "$MARIADB_PASSWORD" "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" '
        '"$MARIADB_ROOT_HOST"',
        env={"MYSQL_ROOT_PASSWORD": "p\"a$s w\\ord€", "MYSQL_DATABASE": "otus-database",
             "MYSQL_USER": "u", "MYSQL_PASSWORD": "pw", "MYSQL_ALLOW_EMPTY_PASSWORD": "yes"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "p\"a$s w\\ord€|otus-database|u|pw|yes|%|"


def test_mariadb_names_win() -> None:
    done = bash(
        'load_env; printf "%s" "$MARIADB_ROOT_PASSWORD"',
        env={"MYSQL_ROOT_PASSWORD": "mysql", "MARIADB_ROOT_PASSWORD": "mariadb"},
    )
    assert done.stdout == "mariadb"


def test_file_forms_are_read(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from 'file' $x\n")
    done = bash(
        'load_env; printf "%s" "$MARIADB_ROOT_PASSWORD"; [ -z "${MYSQL_ROOT_PASSWORD_FILE+x}" ]',
        env={"MYSQL_ROOT_PASSWORD_FILE": str(secret)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from 'file' $x"


def test_value_and_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x")
    done = bash("load_env", env={"MYSQL_PASSWORD": "a", "MYSQL_PASSWORD_FILE": str(secret)})
    assert done.returncode != 0
    assert "exclusive" in done.stderr


def test_no_password_option_is_refused() -> None:
    done = bash("load_env; check_env")
    assert done.returncode != 0
    assert "password option is not specified" in done.stderr


@pytest.mark.parametrize("env", [
    {"MYSQL_ROOT_PASSWORD": "x"},
    {"MYSQL_ALLOW_EMPTY_PASSWORD": "yes"},
    {"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD": "1"},
    {"MYSQL_RANDOM_ROOT_PASSWORD": "yes"},
])
def test_any_password_option_is_enough(env: dict[str, str]) -> None:
    assert bash("load_env; check_env", env=env).returncode == 0


def test_other_commands_are_executed_as_given() -> None:
    # Backup and restore Jobs run `sh -c ...` in this image.
    done = subprocess.run(["bash", str(ENTRYPOINT), "echo", "hello"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"


def test_entrypoint_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(ENTRYPOINT)], check=True)


# --- names, config, cache keys -------------------------------------------------


@pytest.mark.parametrize("name", [
    "mariadb", "mariadb:10.11", "docker.io/library/mariadb", "docker.io/library/mariadb:latest",
    "docker.io/library/mariadb@sha256:abc",
])
def test_split_name_refuses_unpinned_or_short_names(name: str) -> None:
    with pytest.raises(ValueError, match="image name"):
        images.split_name(name)


def test_split_name() -> None:
    assert images.split_name("docker.io/library/mysql:5.7") == ("docker.io/library/mysql", "5.7")
    assert images.split_name("localhost:5000/x:1") == ("localhost:5000/x", "1")
    assert images.split_name("localhost/x:1") == ("localhost/x", "1")
    with pytest.raises(ValueError, match="fully qualified"):
        images.split_name("mysql-operator/x:1")


def test_pinned_names_are_valid() -> None:
    for name in (images.versions.PAUSE_IMAGE, images.versions.MARIADB_IMAGE,
                 images.versions.HELPER_IMAGE, *images.versions.MYSQL_ALIASES):
        images.split_name(name)


def test_cache_key_is_stable_and_sensitive() -> None:
    config = images.ImageConfig(entrypoint=("/x",))
    base = images.cache_key(["docker.io/a/b:1"], config, [("p", "1"), ("q", "2")])
    assert base == images.cache_key(["docker.io/a/b:1"], config, [("q", "2"), ("p", "1")])
    assert base != images.cache_key(["docker.io/a/b:2"], config, [("p", "1"), ("q", "2")])
    assert base != images.cache_key(
        ["docker.io/a/b:1"], images.ImageConfig(entrypoint=("/y",)), [("p", "1"), ("q", "2")])
    assert base != images.cache_key(["docker.io/a/b:1"], config, [("p", "1"), ("q", "3")])


def test_mariadb_spec_depends_on_entrypoint_and_names() -> None:
    spec = images.mariadb_spec()
    assert spec.names[0] == images.versions.MARIADB_IMAGE
    assert set(images.versions.MYSQL_ALIASES) <= set(spec.names)
    assert ("file:mariadb-entrypoint.sh", images.file_sha256(ENTRYPOINT)) in spec.inputs
    assert spec.config.cmd == ("mariadbd",)
    assert "3306/tcp" in spec.config.exposed_ports
    archive = spec.archive_path()
    assert archive.name.startswith("mariadb-10.11-")
    assert spec.cache_key()[:16] in archive.name


def test_umoci_args() -> None:
    config = images.ImageConfig(entrypoint=("/e", "-x"), cmd=("c",), env=("A=1",), user="1:2",
                                workdir="/w", exposed_ports=("3306/tcp",))
    assert config.umoci_args() == [
        "--config.entrypoint=/e", "--config.entrypoint=-x", "--config.cmd=c",
        "--config.env=A=1", "--config.exposedports=3306/tcp", "--config.user=1:2",
        "--config.workingdir=/w",
    ]


@pytest.mark.skipif(shutil.which("umoci") is None, reason="needs umoci")
def test_build_image_names_every_tag(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "hello").write_text("#!/bin/sh\necho hi\n")
    names = ["docker.io/library/one:1.0", "docker.io/library/two:2.0"]
    archive = images.build_image(names, rootfs, tmp_path / "out" / "img.tar",
                                 entrypoint=["/bin/hello"], exposed_ports=["80/tcp"])
    found = images.archive_images(archive)
    assert set(found) == set(names)
    assert len(set(found.values())) == 1
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{manifest_digest}"))  # type: ignore[arg-type]
        config_digest = manifest["config"]["digest"].split(":")[1]
        config = json.load(tar.extractfile(f"blobs/sha256/{config_digest}"))  # type: ignore[arg-type]
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [
        "1.0", "2.0"]
    assert config["config"]["Entrypoint"] == ["/bin/hello"]
    assert "80/tcp" in config["config"]["ExposedPorts"]
    assert config["os"] == "linux"
    assert len(manifest["layers"]) == 1
    assert not list((tmp_path / "out").glob(".oci-*")), "temporary layout left behind"
