"""Grade every zoo entry N times and list those whose score is not the same every time.

    python exercises/zoo/score_spread.py                  # 5 gradings per entry, 2 at a time
    python exercises/zoo/score_spread.py --rounds 3 -k 04_process_buffer
    python exercises/zoo/score_spread.py --rounds 10 -k 01_condition_buffer -v  # every check

Partial credit must be deterministic: the same file gets the same score in every grading. A check
that catches a bug only when the machine's timing (or an unseeded draw) happens to expose it
breaks that, and shows here as an entry with several scores; the failed checks of each grading
say which check it is. The exit status is 1 when any entry varies.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
# The graded suites run in their own pytest processes: they must find this checkout too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")) if p)

from pcmodel.grading.engine import discover, exercises_root, grade  # noqa: E402


def entries(root: Path = HERE) -> list[tuple[str, Path]]:
    """(exercise name, file) for every zoo entry of an exercise that exists, sorted."""
    names = {ex.name for ex in discover(exercises_root())}
    return sorted((folder.name, path) for folder in root.iterdir()
                  if folder.is_dir() and folder.name in names for path in folder.glob("*.py"))


def _grade_once(job: tuple[str, Path]) -> tuple[Path, int, int, tuple[str, ...], float]:
    exercise, path = job
    started = time.monotonic()
    report = grade(next(ex for ex in discover(exercises_root()) if ex.name == exercise), path,
                   timeout=600)
    failed = tuple(sorted(c["id"] for c in report["checks"] if c["points"] and not c["earned"]))
    return path, report["score"], report["max_score"], failed, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="gradings per entry (default 5)")
    parser.add_argument("--jobs", type=int, default=2, help="gradings run at once (default 2)")
    parser.add_argument("-k", default="", help="only entries whose path contains this text")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list the failed checks of every entry, not only of those that vary")
    args = parser.parse_args(argv)
    files = [(ex, p) for ex, p in entries() if args.k in str(p)]
    jobs = [job for job in files for _ in range(args.rounds)]
    seen: dict[Path, list[tuple[int, int, tuple[str, ...], float]]] = {p: [] for _, p in files}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for path, score, most, failed, took in pool.map(_grade_once, jobs):
            seen[path].append((score, most, failed, took))
    varying = 0
    for exercise, path in files:
        scores = [score for score, *_ in seen[path]]
        most = seen[path][0][1]
        mark = "same  " if len(set(scores)) == 1 else "VARIES"
        varying += mark == "VARIES"
        print(f"{mark} {exercise}/{path.name}: {scores} of {most}"
              f"  (max {max(t for *_, t in seen[path]):.1f} s per grading)")
        if mark == "VARIES" or args.verbose:
            for failed, n in Counter(f for _, _, f, _ in seen[path]).items():
                print(f"       {n}x failed: {', '.join(failed) or 'nothing'}")
    print(f"{len(files) - varying} of {len(files)} zoo entries scored the same in all "
          f"{args.rounds} gradings")
    return 1 if varying else 0


if __name__ == "__main__":
    sys.exit(main())
