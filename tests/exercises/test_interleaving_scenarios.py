"""The interleaving search of the buffer exercises switches inside critical sections too.

Line-level scheduling skips the lines run while a thread holds a lock: sound when every thread
takes the same lock, blind when each call makes a lock of its own (``with threading.Lock():``),
which excludes no one. :data:`pcmodel.grading.sched_checks.SCENARIOS` ends with a search that
switches everywhere, so such a "mutex" loses an item in every grading, as no mutex does.
"""

from __future__ import annotations

import pytest

from pcmodel.grading import sched_checks
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.engine import exercises_root

ZOO = exercises_root() / "zoo" / "02_semaphore_buffer"

pytestmark = pytest.mark.skipif(not sched_checks.scheduler_available(),
                                reason="pcmodel.sched cannot be imported")


def test_some_search_switches_inside_critical_sections():
    assert any(s["lines"] == "all" for s in sched_checks.SCENARIOS)


@pytest.mark.parametrize("entry", ["mutex_made_in_each_call", "missing_mutex"])
def test_a_mutex_that_excludes_no_one_is_found(entry):
    with pytest.raises(CheckFailed, match="no interleaving of 2 producers"):
        sched_checks.check_interleavings(str(ZOO / f"{entry}.py"), style="semaphore")
