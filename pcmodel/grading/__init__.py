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
  :mod:`~pcmodel.grading.delivery_harness`.
- The checks the suites are made of, one module per kind of exercise:
  :mod:`~pcmodel.grading.buffer_checks` and :mod:`~pcmodel.grading.sched_checks` (thread
  buffers), :mod:`~pcmodel.grading.pipeline_checks`, :mod:`~pcmodel.grading.process_checks`
  (and :mod:`~pcmodel.grading.process_stepped_checks`), :mod:`~pcmodel.grading.assignor_checks`,
  :mod:`~pcmodel.grading.delivery_checks` and :mod:`~pcmodel.grading.transaction_checks`.
"""

from pcmodel.grading.checks import CheckFailed, observe
from pcmodel.grading.engine import Exercise, GradingError, discover, find, format_report, grade

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
