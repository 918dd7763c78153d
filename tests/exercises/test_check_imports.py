"""A check's child process imports nothing of pcmodel: the grader imported it before the fork.

Every check runs its workload in a child forked from the grader (pytest, running the suite), and
a repeated grading (``--grade-repeat 20``) forks one per check and round. A library imported in
the child is imported again in each of them, under the sandbox's audit hook: for the topics
library that was about a third of a second of CPU per check and round, most of the cost of
grading exercises 06 and 08. So a check module imports what its workload uses when the grader
loads the suite. Each case below loads the module the suite imports, in a fresh interpreter,
then does what that module's children do, and lists the pcmodel modules that imported
(the student's module, loaded in every child, is not one of them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pcmodel.grading.engine import exercises_root

ROOT = exercises_root()

# (module the graded suite imports, what a check's child does with the reference solution)
CHILD_WORK = {
    "06_at_least_once": (
        "pcmodel.grading.delivery_checks",
        "from pcmodel.grading.delivery_harness import Deliveries\n"
        "live = Deliveries(SOLUTION)\n"
        "live.run('member A')\n"
        "live.settle(['member A'])\n"
        "live.close()\n"),
    "08_exactly_once": (
        "pcmodel.grading.transaction_checks",
        "from pcmodel.grading.transaction_harness import Transactions\n"
        "Transactions(SOLUTION).close()\n"),
    "05_assignor": (
        "pcmodel.grading.assignor_checks",
        "from pcmodel.grading.assignor_checks import _reference\n"
        "_reference('range')({'C0': ['t0']}, {'t0': 2})\n"
        "_reference('roundrobin')({'C0': ['t0']}, {'t0': 2})\n"),
    "07_high_watermark": (
        "pcmodel.grading.hw_checks",
        "from pcmodel.grading.hw_checks import _reference\n"
        "_reference()\n"),
}

_PROGRAM = """\
import importlib, json, sys
importlib.import_module(sys.argv[1])
SOLUTION = sys.argv[2]
before = set(sys.modules)
exec(sys.argv[3])
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith("pcmodel."))))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("exercise", sorted(CHILD_WORK))
def test_a_checks_child_imports_no_pcmodel_module(exercise):
    module, work = CHILD_WORK[exercise]
    solution = str(ROOT / exercise / "solution.py")
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, module, solution, work], capture_output=True,
        text=True, timeout=50, env=dict(os.environ, PYTHONPATH=str(Path(ROOT).parent)))
    assert done.returncode == 0, done.stderr[-2000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], (
        f"a check's child of {exercise} imports {len(imported)} pcmodel modules "
        f"({', '.join(imported[:5])}, ...): import them in {module}, where the grader loads "
        "them once, not in every check's child")
