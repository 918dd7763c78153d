"""Mutation testing of the graded suites: break each reference solution on purpose, grade it.

A suite is only as good as the bugs it catches, and the zoo holds the bugs it was tuned on. This
module applies small mechanical changes to an exercise's ``solution.py``
(:mod:`pcmodel.grading.mutation_operators`: delete a statement, swap two, ``while`` to ``if``, a
constant off by one, a comparison relaxed, a lock dropped, a notify narrowed...), grades every
mutant with the exercise's suite, and reports per exercise the share *killed* (the suite took
points). A surviving mutant is either a hole in the suite or *equivalent*: a change no caller can
observe (``notify()`` to ``notify_all()`` where extra waiters re-check and wait again).
Equivalent mutants are listed, each with the reason, in ``exercises/mutation_equivalents.toml``;
they are graded too (a suite that takes points from one takes them from code that behaves like
the reference) but left out of the share. One kind is recognised mechanically and never
generated: swapping two assignments that only build fresh objects and share no name
(``INDEPENDENT_SWAP`` says why); the report counts them.

    python -m pcmodel.grading.mutants all --jobs 2 --json mutants.json
    python -m pcmodel.grading.mutants 01 --full --rounds 2   # whole suite twice: same score?
    python -m pcmodel.grading.mutants all --list              # the mutants, graded not

By default a grading stops at the first failed check (enough to know a mutant is killed).
``--full`` runs the whole suite, so the score is the partial credit a student would get, and
``--rounds N`` grades each mutant N times: a mutant whose score differs between gradings is
reported (partial credit must be deterministic), and one killed in only some gradings does not
count as killed. The exit status is 1 when anything is reported: a survivor, a mutant killed only
sometimes, a listed equivalent that lost points, a score that varied.

Mutants are numbered in source order and sampled with a fixed seed, so a run is reproducible.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tomllib

from pcmodel.grading.engine import Exercise, GradingError, discover, exercises_root, find, grade
from pcmodel.grading.mutation_operators import (
    INDEPENDENT_SWAP,
    Mutant,
    independent_swaps,
    mutants_of,
)

__all__ = ["INDEPENDENT_SWAP", "Mutant", "equivalents", "format_summary", "grade_mutants",
           "main", "mutants_of", "summarise"]


def equivalents(root: Path | None = None) -> dict[tuple[str, str], str]:
    """``{(exercise, mutant key): why}`` from ``exercises/mutation_equivalents.toml``."""
    path = (root or exercises_root()) / "mutation_equivalents.toml"
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {(e["exercise"], e["mutant"]): e["why"] for e in data.get("equivalent", [])}


def _grade_once(exercise: Exercise, path: Path, exitfirst: bool) -> tuple[int, int, list[str]]:
    """(score, max score, ids of the failed checks) of one grading; a suite that cannot run at
    all scores 0 of -1 (the mutant broke even the suite's collection)."""
    try:
        report = grade(exercise, path, timeout=900, exitfirst=exitfirst)
    except GradingError as exc:
        return 0, -1, [f"the suite could not run: {str(exc).splitlines()[0]}"]
    failed = [c["id"] for c in report["checks"] if c["points"] and not c["earned"]]
    return report["score"], report["max_score"], failed


def _grade_one(exercise: Exercise, mutant: Mutant, folder: Path, rounds: int,
               exitfirst: bool) -> dict[str, Any]:
    # The file keeps the solution's name so that tracebacks and line numbers read the same.
    target = folder / mutant.key.replace("@", "_").replace(":", "_").replace("#", "_")
    target.mkdir()
    path = target / "solution.py"
    path.write_text(mutant.source + "\n", encoding="utf-8")
    started = time.monotonic()
    gradings = [_grade_once(exercise, path, exitfirst) for _ in range(rounds)]
    kills = sum(score < top or top < 0 for score, top, _ in gradings)
    verdict = "killed" if kills == rounds else "survived" if kills == 0 else "unstable"
    return {"key": mutant.key, "line": mutant.line, "description": mutant.description,
            "verdict": verdict, "kills": kills, "rounds": rounds,
            "scores": [score for score, _, _ in gradings],
            "max_score": max(top for _, top, _ in gradings),
            "failed_checks": [failed for _, _, failed in gradings],
            "seconds": round(time.monotonic() - started, 1)}


def grade_mutants(exercise: Exercise, mutants: list[Mutant], jobs: int = 2,
                  progress: Callable[[dict[str, Any]], None] | None = None, *,
                  rounds: int = 1, exitfirst: bool = True) -> list[dict[str, Any]]:
    """Grade each mutant ``rounds`` times with the exercise's suite (``jobs`` gradings at once,
    stopping at the first failed check when ``exitfirst``); one result dict per mutant, in the
    order given. A result's ``verdict`` is ``killed`` (points lost in every grading),
    ``survived`` (full marks every time) or ``unstable`` (killed in only some gradings)."""
    with tempfile.TemporaryDirectory(prefix="pcmodel-mutants-") as tmp, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        results = []
        for result in pool.map(lambda m: _grade_one(exercise, m, Path(tmp), rounds, exitfirst),
                               mutants):
            results.append(result)
            if progress is not None:
                progress(result)
    return results


def summarise(exercise: str, results: list[dict[str, Any]],
              known: dict[tuple[str, str], str], *, generated: int | None = None,
              not_generated: int = 0) -> dict[str, Any]:
    """Share killed over the graded mutants that are not known equivalents, and what to report.

    ``survivors``: counted mutants with full marks every time; ``unstable``: counted mutants
    killed in only some gradings (not counted as killed); ``equivalent_killed``: listed
    equivalents that lost points (the listing is wrong, or the suite fails code that behaves
    like the reference); ``varying``: any mutant whose score differed between gradings.
    ``generated`` is how many mutants the solution gives (default: as many as were graded),
    ``not_generated`` how many independent swaps were never generated.
    """
    equivalent = [r for r in results if (exercise, r["key"]) in known]
    counted = [r for r in results if (exercise, r["key"]) not in known]
    killed = sum(r["verdict"] == "killed" for r in counted)
    return {
        "exercise": exercise,
        "generated": len(results) if generated is None else generated,
        "independent_swaps_not_generated": not_generated,
        "graded": len(results), "equivalent": len(equivalent), "counted": len(counted),
        "killed": killed,
        "kill_rate": round(killed / len(counted), 3) if counted else 1.0,
        "survivors": [r for r in counted if r["verdict"] == "survived"],
        "unstable": [r for r in counted if r["verdict"] == "unstable"],
        "equivalents": [dict(r, why=known[(exercise, r["key"])]) for r in equivalent],
        "equivalent_killed": [r for r in equivalent if r["verdict"] != "survived"],
        "varying": [r for r in results if len(set(r.get("scores", [r.get("score")]))) > 1],
        "results": results,
    }


def _scores(r: dict[str, Any]) -> str:
    return f"scores {', '.join(map(str, r['scores']))} of {r['max_score']}"


def format_summary(s: dict[str, Any]) -> str:
    """The report of one exercise: the figures, every excluded equivalent with its reason, and
    each mutant that needs attention."""
    lines = [
        f"{s['exercise']}: {s['generated']} mutants generated "
        f"({s['independent_swaps_not_generated']} independent swaps not generated), "
        f"{s['graded']} graded, {s['equivalent']} equivalent excluded; "
        f"killed {s['killed']}/{s['counted']} ({100 * s['kill_rate']:.0f}%)"]
    for r in s["equivalents"]:
        lines.append(f"    excluded {r['key']} ({r['description']}): {r['why']}")
    for r in s["survivors"]:
        lines.append(f"    SURVIVED {r['key']}: {r['description']}")
    for r in s["unstable"]:
        lines.append(f"    KILLED IN ONLY {r['kills']} OF {r['rounds']} GRADINGS {r['key']}: "
                     f"{r['description']}")
    for r in s["equivalent_killed"]:
        lines.append(f"    LISTED AS EQUIVALENT BUT LOST POINTS {r['key']} ({_scores(r)}): "
                     f"{r['description']}")
    for r in s["varying"]:
        lines.append(f"    SCORE VARIED {r['key']} ({_scores(r)}; failed "
                     f"{' / '.join(','.join(f) or '-' for f in r['failed_checks'])}): "
                     f"{r['description']}")
    return "\n".join(lines)


def _needs_attention(s: dict[str, Any]) -> bool:
    return bool(s["survivors"] or s["unstable"] or s["equivalent_killed"] or s["varying"])


def main(argv: list[str] | None = None) -> int:
    """Command line: grade the mutants of one exercise (or ``all``) and print the report; exit
    1 if a mutant survived, was killed only sometimes, varied in score, or a listed equivalent
    lost points."""
    parser = argparse.ArgumentParser(prog="python -m pcmodel.grading.mutants",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("exercise", help="exercise name or number, or 'all'")
    parser.add_argument("--max", type=int, default=0, metavar="N",
                        help="grade at most N mutants per exercise (a seeded sample; 0: all)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sample (default 1)")
    parser.add_argument("--jobs", type=int, default=2, help="gradings at once (default 2)")
    parser.add_argument("--only", default="", help="comma-separated mutant keys to grade")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="grade each mutant N times and report scores that differ "
                             "(default 1)")
    parser.add_argument("--full", action="store_true",
                        help="run the whole suite for each grading instead of stopping at the "
                             "first failed check (the score is then the partial credit)")
    parser.add_argument("--list", action="store_true", help="list the mutants, grade nothing")
    parser.add_argument("--json", metavar="FILE", help="write every result as JSON to FILE")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.jobs < 1:
        print("mutants: --rounds and --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        chosen = discover() if args.exercise == "all" else [find(args.exercise)]
    except GradingError as exc:
        print(f"mutants: {exc}", file=sys.stderr)
        return 2
    known = equivalents()
    summaries = []
    started, load_before = time.monotonic(), os.getloadavg()
    for exercise in chosen:
        every = mutants_of(exercise)
        mutants = every
        if args.only:
            wanted = set(args.only.split(","))
            mutants = [m for m in every if m.key in wanted]
        elif args.max and len(every) > args.max:
            mutants = sorted(random.Random(args.seed).sample(every, args.max),
                             key=lambda m: (m.line, m.key))
        if args.list:
            for m in mutants:
                mark = " (equivalent)" if (exercise.name, m.key) in known else ""
                print(f"{exercise.name} {m.key:<22} {m.description}{mark}")
            continue

        def show(result: dict[str, Any], name: str = exercise.name) -> None:
            mark = result["verdict"]
            if (name, result["key"]) in known:
                mark = "equivalent" if mark == "survived" else f"equivalent but {mark}"
            print(f"{name} {result['key']:<22} {mark:<10} {result['seconds']:>5.1f} s  "
                  f"{','.join(map(str, result['scores']))}/{result['max_score']}  "
                  f"{result['description']}",
                  flush=True)

        results = grade_mutants(exercise, mutants, args.jobs, show, rounds=args.rounds,
                                exitfirst=not args.full)
        summaries.append(summarise(exercise.name, results, known, generated=len(every),
                                   not_generated=independent_swaps(exercise)))
    if args.list:
        return 0
    wall, load_after = time.monotonic() - started, os.getloadavg()
    mode = "whole suite" if args.full else "stopping at the first failed check"
    print(f"\n{len(summaries)} exercise(s), {args.rounds} grading(s) per mutant, {mode}, "
          f"{args.jobs} at once: {wall / 60:.1f} min; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after\n")
    for s in summaries:
        print(format_summary(s))
    if args.json:
        document = {"command": ["python", "-m", "pcmodel.grading.mutants",
                                *(sys.argv[1:] if argv is None else argv)],
                    "rounds": args.rounds, "full": args.full, "jobs": args.jobs,
                    "wall_seconds": round(wall, 1),
                    "load_average": {"before": load_before, "after": load_after},
                    "exercises": summaries}
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return 1 if any(_needs_attention(s) for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
