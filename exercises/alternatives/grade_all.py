"""Grade every correct alternative implementation, each N times, and report N/N per file.

    python exercises/alternatives/grade_all.py            # 20 rounds each (the proof)
    python exercises/alternatives/grade_all.py --rounds 1 --jobs 2

Each file under ``exercises/alternatives/NN_name/`` is a correct implementation written unlike the
exercise's ``solution.py`` (other storage, names, import styles or algorithms). Every grading of
every file must give full marks; the exit status is 1 otherwise. A round is a whole, independent
``pcmodel grade`` of the file, so N rounds prove the suite does not wrong it by chance.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
# The graded suites run in their own pytest processes: they must find this checkout too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")) if p)

from pcmodel.grading.engine import find, grade  # noqa: E402


def alternatives(root: Path = HERE) -> list[tuple[str, Path]]:
    """(exercise name, file) for every alternative implementation, sorted."""
    return sorted(
        (folder.name, path)
        for folder in root.iterdir()
        if folder.is_dir()
        for path in folder.glob("*.py")
    )


def _grade_once(job: tuple[str, Path]) -> tuple[str, Path, dict, float]:
    exercise, path = job
    started = time.monotonic()
    report = grade(find(exercise), path, timeout=600)
    return exercise, path, report, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="gradings per file (default 20)")
    parser.add_argument("--jobs", type=int, default=2, help="gradings run at once (default 2)")
    parser.add_argument("-k", default="", help="only files whose path contains this text")
    args = parser.parse_args(argv)
    files = [(ex, p) for ex, p in alternatives() if args.k in str(p)]
    jobs = [job for job in files for _ in range(args.rounds)]
    full: dict[Path, int] = {p: 0 for _, p in files}
    seconds: dict[Path, list[float]] = {p: [] for _, p in files}
    lost: dict[Path, list[str]] = {p: [] for _, p in files}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for _, path, report, took in pool.map(_grade_once, jobs):
            seconds[path].append(took)
            if report["score"] == report["max_score"]:
                full[path] += 1
            else:
                lost[path] += [f"{c['id']}: {c['got']}" for c in report["checks"]
                               if c["points"] and not c["earned"]]
    failed = 0
    for exercise, path in files:
        times = seconds[path]
        mark = "ok  " if full[path] == args.rounds else "FAIL"
        failed += full[path] != args.rounds
        print(f"{mark} {full[path]:>2}/{args.rounds} full marks  {exercise}/{path.name}"
              f"  (max {max(times):.1f} s per grading)")
        for line in sorted(set(lost[path]))[:5]:
            print(f"       {line[:300]}")
    print(f"{len(files) - failed} of {len(files)} alternatives got full marks in every round")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
