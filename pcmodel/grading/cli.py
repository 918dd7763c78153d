"""``pcmodel grade``: list the exercises, or grade an implementation and print the score.

    pcmodel grade --list
    pcmodel grade 01_condition_buffer --impl my_buffer.py --json report.json

The exit status is 0 when every check passed, 1 when some failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``grade`` subcommand to the ``pcmodel`` parser."""
    parser = subparsers.add_parser(
        "grade",
        help="grade an implementation against an exercise's suite",
        description="Run an exercise's graded suite against an implementation and print the score.",
    )
    parser.add_argument("exercise", nargs="?", help="exercise name or number (see --list)")
    parser.add_argument("--list", action="store_true", help="list the exercises and exit")
    parser.add_argument("--impl", help="the student's file (default: the exercise's starter.py)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run every check N times; a check scores only if all pass")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pcmodel.grading.engine import GradingError, discover, find, format_report, grade

    try:
        if args.list:
            for exercise in discover():
                print(f"{exercise.name:<24} {exercise.title}")
            return 0
        if not args.exercise:
            print("pcmodel grade: name an exercise (pcmodel grade --list shows them)")
            return 2
        if args.repeat < 1:
            print("pcmodel grade: --repeat must be at least 1")
            return 2
        report = grade(find(args.exercise), args.impl, repeat=args.repeat)
    except GradingError as exc:
        print(f"pcmodel grade: {exc}")
        return 2
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report["score"] == report["max_score"] else 1
