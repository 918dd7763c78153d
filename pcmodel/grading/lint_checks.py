"""Ruff's bug rules over the student's file: notes in the suites that ask, points for a few.

Some mistakes are visible in the source before anything runs: a thread target that closes over a
loop variable (``Thread(target=lambda: work(source))`` in a loop runs with whatever ``source`` is
*when the thread gets to it*), a bare ``except:`` that also swallows ``KeyboardInterrupt``, a
mutable default argument shared by every call. Ruff's ``flake8-bugbear`` rules find them.

:func:`check_notes` reports every finding of those rules as information (a check worth no
points; the suites of exercises 01, 02, 03, 04, 06 and 08 have one, ``test_lint_notes``);
:func:`check_rules` costs points only for the rules that are always a concurrency bug in the
exercise at hand (``B023``, a late-binding closure, in the pipeline exercise, where every
closure in a loop becomes a thread's target). The student's code is only read, never run. Where
ruff is not installed, both checks pass and say so in their output: they are a second opinion,
not the grade.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from pcmodel.grading.checks import CheckFailed

__all__ = ["BUG_RULES", "check_notes", "check_rules", "findings"]

# flake8-bugbear (late-binding closures, mutable defaults, ...) and bare except.
BUG_RULES = ("B", "E722")


def findings(impl: str, rules: tuple[str, ...] = BUG_RULES) -> list[dict[str, Any]] | None:
    """Ruff's findings for ``rules`` in ``impl`` (code, row, message), or None without ruff."""
    command = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
               "--select", ",".join(rules), "--output-format", "json", "--exit-zero", impl]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None  # ruff missing ("No module named ruff"), or it could not read the file
    try:
        raw = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return None
    return [{"code": f["code"], "row": f["location"]["row"], "message": f["message"]}
            for f in raw]


def _lines(impl: str, found: list[dict[str, Any]]) -> str:
    name = os.path.basename(impl)
    return "; ".join(f"{name}:{f['row']}: {f['code']} {f['message']}" for f in found)


def check_notes(impl: str) -> None:
    """Information only: every finding of ruff's bug rules in the student's file."""
    found = findings(impl)
    if found is None:
        print("ruff is not installed: no lint notes (pip install ruff)")
        return
    if found:
        raise CheckFailed("no finding of ruff's bug rules (information only: no points)",
                          _lines(impl, found),
                          "each note names a rule; read it at docs.astral.sh/ruff/rules")


def check_rules(impl: str, costly: dict[str, str]) -> None:
    """No finding of the ``costly`` rules (``{code: why it is a bug here}``)."""
    found = findings(impl, tuple(costly))
    if found is None:
        print("ruff is not installed: this check could not look (pip install ruff)")
        return
    if found:
        why = "; ".join(dict.fromkeys(costly[f["code"]] for f in found if f["code"] in costly))
        raise CheckFailed("none of: " + ", ".join(f"{c} ({w})" for c, w in costly.items()),
                          _lines(impl, found), why)
