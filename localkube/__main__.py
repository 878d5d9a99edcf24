"""Command line: ``python -m localkube up|down|status|env|build``."""

from __future__ import annotations

import argparse
import sys

from localkube import build, images
from localkube.node import Cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localkube", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="bring the cluster up, or reuse a running one")
    sub.add_parser("down", help="stop the cluster and remove everything it made")
    sub.add_parser("status", help="say what runs")
    sub.add_parser("env", help="print the shell lines that put you on the cluster")
    sub.add_parser("build", help="build (or find cached) binaries and images only")
    args = parser.parse_args(argv)

    cluster = Cluster()
    if args.command == "up":
        cluster.up()
        print(cluster.exports())
    elif args.command == "down":
        cluster.down()
    elif args.command == "status":
        for what, state in cluster.status().items():
            print(f"{what:26} {state}")
    elif args.command == "env":
        print(cluster.exports())
    elif args.command == "build":
        build.build_all()
        images.build_images()
    return 0


if __name__ == "__main__":
    sys.exit(main())
