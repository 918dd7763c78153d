"""Consumer loops that look right on the happy path and go wrong on one path only.

Each zoo entry here does what a correct loop does in the common case: it commits after
processing (but after one partition's records, with ``commit()`` committing the whole batch),
and it stops (but only once a poll comes back empty). The check named for each must fail it,
for that reason; the suites' reference runs (``test_graded_suites.py``) prove the same checks
pass correct code.
"""

from __future__ import annotations

import pytest

from pcmodel.grading import delivery_checks
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.engine import exercises_root

ZOO = exercises_root() / "zoo"


def _failure(check, impl) -> CheckFailed:
    with pytest.raises(CheckFailed) as failed:
        check(str(impl))
    return failed.value


@pytest.mark.timeout(60)
def test_a_commit_after_one_partition_of_a_batch_loses_records_in_a_crash():
    impl = ZOO / "06_at_least_once" / "commits_each_partition_whole_batch.py"
    failed = _failure(lambda i: delivery_checks.check(i, "crash"), impl)
    assert "were never processed: they are lost" in failed.got, failed
    assert "never after just one partition's records" in failed.hint


@pytest.mark.timeout(60)
def test_a_loop_that_stops_only_when_a_poll_is_empty_does_not_stop_in_time():
    impl = ZOO / "06_at_least_once" / "stops_only_when_idle.py"
    failed = _failure(lambda i: delivery_checks.check(i, "stop"), impl)
    assert "records of later polls" in failed.got, failed
    assert "check should_stop() before every poll" in failed.hint
