"""The delivery scenarios of exercises 06 and 08 that catch loops which pass the others.

Committing every second batch passes a crash in the third batch when the commits fall after the
even batches, and fails it when they fall after the odd ones: the crash in the fourth batch
catches the first kind. A loop that stops between records must commit every partition it
processed, which shows only when the stop comes at a partition's end inside a batch. In
exercise 08, a dict of offsets kept across batches sends, after a rebalance, offsets of a
partition the member gave away. Each verdict must be the same every time.
"""

from __future__ import annotations

import pytest

from pcmodel.grading import delivery_checks, transaction_checks
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.delivery_harness import Deliveries
from pcmodel.grading.engine import exercises_root

ROOT = exercises_root()
SOLUTION_06 = str(ROOT / "06_at_least_once" / "solution.py")
ZOO_06 = ROOT / "zoo" / "06_at_least_once"

# Commits after batches 1, 3, 5...: the crash in the third batch repeats the second one.
_ODD_BATCHES = '''
from pcmodel.topics.errors import CommitFailedError


def consume(consumer, process, should_stop):
    polls = 0
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
        if batches:
            polls += 1
            if polls % 2 == 1:
                try:
                    consumer.commit()
                except CommitFailedError:
                    pass
    try:
        consumer.commit()
    except CommitFailedError:
        pass
'''


@pytest.mark.timeout(120)
def test_the_crash_in_the_fourth_batch_raises_in_that_batch():
    live = Deliveries(SOLUTION_06)
    try:
        live.run("member A", crash_in_poll=4)
        assert live.settle(["member A"])["stuck"] == []
        assert live.raised()["member A"]["crash"]
        batch = [tuple(r) for r in live.crash_batch()]
        processed = [(p, o) for _, p, o in live.processed()]
        # The first two records of the fourth batch were processed, the third raised.
        assert processed[-2:] == batch[:2]
        assert batch[2] not in processed
    finally:
        live.close()


@pytest.mark.timeout(180)
def test_committing_every_second_batch_is_caught_whichever_batches(tmp_path):
    even = str(ZOO_06 / "commits_every_second_batch.py")
    odd = tmp_path / "commits_after_odd_batches.py"
    odd.write_text(_ODD_BATCHES, encoding="utf-8")
    for _ in range(3):
        with pytest.raises(CheckFailed, match="processed again"):
            delivery_checks.check(even, "crash_in_poll_4")
        with pytest.raises(CheckFailed, match="processed twice"):
            delivery_checks.check(str(odd), "crash")
    delivery_checks.check(SOLUTION_06, "crash_in_poll_4")


@pytest.mark.timeout(180)
def test_a_stop_at_a_partitions_end_needs_every_processed_partition_committed():
    buggy = str(ZOO_06 / "stops_between_records_commits_one_partition.py")
    for _ in range(3):
        with pytest.raises(CheckFailed, match="processed but not committed"):
            delivery_checks.check(buggy, "stop_between_partitions")
    delivery_checks.check(SOLUTION_06, "stop_between_partitions")
    alternative = ROOT / "alternatives" / "06_at_least_once" / "stops_between_records.py"
    delivery_checks.check(str(alternative), "stop_between_partitions")


@pytest.mark.timeout(180)
def test_offsets_kept_across_batches_are_caught_in_the_handover():
    buggy = str(ROOT / "zoo" / "08_exactly_once" / "offsets_kept_across_batches.py")
    for _ in range(3):
        with pytest.raises(CheckFailed, match="which the group had given to the other member"):
            transaction_checks.check(buggy, "handover")
    transaction_checks.check(str(ROOT / "08_exactly_once" / "solution.py"), "handover")


# --- exercise 08: the checks name the bug (that they catch it, the zoo's gradings show) -------

ZOO_08 = ROOT / "zoo" / "08_exactly_once"


@pytest.mark.timeout(180)
def test_a_duplicate_after_the_handover_gets_its_own_hint():
    buggy = str(ZOO_08 / "transaction_over_several_polls.py")
    with pytest.raises(CheckFailed, match="build each transaction from one poll") as caught:
        transaction_checks.check(buggy, "handover")
    assert "KeyError" not in str(caught.value)


@pytest.mark.timeout(180)
def test_a_commit_after_convert_raised_is_caught():
    buggy = str(ZOO_08 / "saves_progress_on_crash.py")
    with pytest.raises(CheckFailed, match="without committing anything more"):
        transaction_checks.check(buggy, "crash")


@pytest.mark.timeout(180)
def test_stale_group_metadata_is_reported_as_refused_offsets():
    buggy = str(ZOO_08 / "group_metadata_read_once.py")
    with pytest.raises(CheckFailed, match="refused 50 times in a row"):
        transaction_checks.check(buggy, "handover")


_RETURNS_AFTER_ONE_POLL = '''
def transform(consumer, producer, convert, output_topic, should_stop):
    consumer.poll(timeout_ms=0)
'''


@pytest.mark.timeout(120)
def test_a_loop_that_returns_before_the_crash_is_told_so(tmp_path):
    early = tmp_path / "returns_after_one_poll.py"
    early.write_text(_RETURNS_AFTER_ONE_POLL, encoding="utf-8")
    with pytest.raises(CheckFailed, match="returned before convert\\(\\) was called"):
        transaction_checks.check(str(early), "crash")
    with pytest.raises(CheckFailed, match="should_stop\\(\\) had never returned True"):
        transaction_checks.check(str(early), "everything")


@pytest.mark.timeout(180)
def test_a_commit_inside_the_transaction_is_named_whoever_wins_the_race_with_the_fence():
    # The zombie may learn of its fence before or after it reaches consumer.commit(); the
    # commit() inside its transactions is reported either way (it escaped once in a busy run).
    buggy = str(ZOO_08 / "commits_offsets_inside_the_transaction.py")
    with pytest.raises(CheckFailed, match="consumer.commit\\(\\) was called inside a transaction"):
        transaction_checks.check(buggy, "zombie")
