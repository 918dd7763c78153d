"""Grading: run an exercise's graded suite against a student's file and score it.

- :mod:`~pcmodel.grading.engine`: find exercises, run a suite, format the report.
- :mod:`~pcmodel.grading.supervise`: one suite in a supervised pytest process (private copy of
  the suite, sealed report, deadline, nothing left running).
- :mod:`~pcmodel.grading.plugin`: the pytest plugin behind ``@pytest.mark.points`` and ``--impl``.
- :mod:`~pcmodel.grading.isolation`: each check runs in a child process with a time limit and
  returns what it observed, as sealed JSON data; :mod:`~pcmodel.grading.replay` replays the
  check's scenario on that data in the grader, where every verdict is made;
  :mod:`~pcmodel.grading.reaper` kills whatever it started; :mod:`~pcmodel.grading.sandbox`
  keeps it from the solutions and the suite's files.
- :mod:`~pcmodel.grading.classroom`, :mod:`~pcmodel.grading.formats`,
  :mod:`~pcmodel.grading.export`: grade a class, write CSV / JUnit / Gradescope, hand out.
- :mod:`~pcmodel.grading.checks`: what a failed check reports (expected / got / hint).
- :mod:`~pcmodel.grading.probes`, :mod:`~pcmodel.grading.crew`: watch student threads block.
- The live harnesses that drive the student's code in the child and report plain data:
  :mod:`~pcmodel.grading.thread_harness`, :mod:`~pcmodel.grading.pipeline_harness`,
  :mod:`~pcmodel.grading.process_harness` (its processes: :mod:`~pcmodel.grading.process_gang`),
  :mod:`~pcmodel.grading.delivery_harness`, :mod:`~pcmodel.grading.transaction_harness`.
- The checks the suites are made of, one module per kind of exercise:
  :mod:`~pcmodel.grading.buffer_checks` and :mod:`~pcmodel.grading.sched_checks` (thread
  buffers), :mod:`~pcmodel.grading.pipeline_checks`, :mod:`~pcmodel.grading.process_checks`
  (and :mod:`~pcmodel.grading.process_stepped_checks`), :mod:`~pcmodel.grading.assignor_checks`,
  :mod:`~pcmodel.grading.delivery_checks` and :mod:`~pcmodel.grading.transaction_checks`.

The names below are loaded on first use (PEP 562), not when the package is imported. Every Python
process that graded code starts with *spawn* imports :mod:`~pcmodel.grading.sandbox` at start-up
(its ``sitecustomize``) and then the function it runs
(:mod:`~pcmodel.grading.process_workers`); importing this package must not bring the engine,
the checks and the scheduler into each of them.
"""

import importlib

# Each public name and the module that defines it.
_HOMES = {
    "CheckFailed": "pcmodel.grading.checks",
    "observe": "pcmodel.grading.checks",
    "Exercise": "pcmodel.grading.engine",
    "GradingError": "pcmodel.grading.engine",
    "discover": "pcmodel.grading.engine",
    "find": "pcmodel.grading.engine",
    "format_report": "pcmodel.grading.engine",
    "grade": "pcmodel.grading.engine",
}

__all__ = [
    "CheckFailed",
    "Exercise",
    "GradingError",
    "discover",
    "find",
    "format_report",
    "grade",
    "observe",
]


def __getattr__(name: str) -> object:
    """A public name (``from pcmodel.grading import grade``), imported from its module on first
    use; any other missing name raises ``AttributeError`` as for any module (which also lets
    ``from pcmodel.grading import some_module`` import that submodule)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pcmodel.grading' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups find it without calling this again
    return value


def __dir__() -> list[str]:
    """The package's names, the public ones among them before their first use."""
    return sorted(set(globals()) | set(__all__))
