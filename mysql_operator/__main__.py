"""The ``mysql-operator`` command: ``run`` the operator, print its ``crd``, ``render`` objects."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

from ._crd import crd_yaml
from ._instance import MySQLInstance
from ._kube import OfflineKube
from ._model import KIND, MySQL, SpecError
from ._secret import redact
from ._yaml import dump_yaml

RENDER_UID = "00000000-0000-0000-0000-000000000000"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mysql-operator",
        description="Run the MySQL operator, print its CRD, or render the objects of an instance.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator (kopf, in this process)")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="serve MySQL objects in every namespace (the default)")
    scope.add_argument("-n", "--namespace", action="append", default=[], metavar="NS",
                       help="serve only this namespace (repeatable; globs allowed)")
    run.add_argument("--standalone", action="store_true",
                     help="do not coordinate with other operator instances (no peering)")
    run.add_argument("--liveness", metavar="URL",
                     help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")

    commands.add_parser("crd", help="print the CustomResourceDefinition (YAML)")

    render = commands.add_parser(
        "render", help="print the objects an instance would get (offline; secrets redacted)"
    )
    render.add_argument("name", help="metadata.name of the MySQL object to render")
    render.add_argument("-f", "--filename", required=True,
                        help="YAML file with the MySQL object ('-' for stdin)")
    render.add_argument("-n", "--namespace", help="namespace (default: the object's, or default)")
    return parser


def _run(args: argparse.Namespace) -> int:
    import kopf

    from ._handlers import registry

    kopf.configure(verbose=args.verbose)
    if not args.verbose:  # httpx (under kr8s) logs every request at INFO
        logging.getLogger("httpx").setLevel(logging.WARNING)
    kopf.run(
        registry=registry,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=args.standalone,
        liveness_endpoint=args.liveness,
        memo=kopf.Memo(),
    )
    return 0


def _find(documents: Sequence[Any], name: str) -> dict[str, Any]:
    candidates = [d for d in documents if isinstance(d, dict) and d.get("kind") == KIND]
    for document in candidates:
        if (document.get("metadata") or {}).get("name") == name:
            return document
    unnamed = [d for d in candidates if not (d.get("metadata") or {}).get("name")]
    if len(unnamed) == 1:
        return {**unnamed[0], "metadata": {**(unnamed[0].get("metadata") or {}), "name": name}}
    raise SpecError(f"no {KIND} object named {name!r} in the file")


def render(name: str, stream: TextIO, namespace: str | None = None) -> str:
    """The manifests of an instance as multi-document YAML, Secret values redacted."""
    body = _find(list(yaml.safe_load_all(stream)), name)
    metadata = dict(body.get("metadata") or {})
    metadata.setdefault("uid", RENDER_UID)
    if namespace:
        metadata["namespace"] = namespace
    cr = MySQL.from_body({**body, "metadata": metadata})
    manifests = MySQLInstance(cr, OfflineKube()).manifests(password=b"")
    return dump_yaml(redact(m) for m in manifests)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "crd":
        sys.stdout.write(crd_yaml())
        return 0
    try:
        if args.filename == "-":
            output = render(args.name, sys.stdin, args.namespace)
        else:
            with open(args.filename, encoding="utf-8") as stream:
                output = render(args.name, stream, args.namespace)
    except (OSError, yaml.YAMLError, SpecError) as exc:
        print(f"mysql-operator render: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
