"""The ``pcmodel`` command: one subcommand per job, each defined next to the code it drives.

Each entry of ``COMMANDS`` names a module with ``register(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed arguments, returning an exit status). Those modules keep
their imports light and load heavy parts (matplotlib, the scheduler) inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pcmodel import __version__

COMMANDS: dict[str, str] = {
    "grade": "pcmodel.grading.cli",
    "exercises": "pcmodel.grading.export",
    "run": "pcmodel.experiments.cli",
    "bench": "pcmodel.experiments.bench",
    "explore": "pcmodel.sched.cli",
    "broker": "pcmodel.topics.cli",
}


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="pcmodel",
        description="Experiments, benchmarks and grading for the producer-consumer model.",
    )
    parser.add_argument("--version", action="version", version=f"pcmodel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
