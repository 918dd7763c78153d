"""Bug: offsets are committed after every second batch, and once more when the loop stops.

Nothing is lost, and a crash in a batch right after a commit repeats only that batch. But a
crash in the batch after an uncommitted one repeats both: records processed a whole batch
earlier are processed again, which committing after every batch avoids. The graded crash comes
in the third batch and again in the fourth, so one of them finds the uncommitted batch, whichever
batches the loop commits after.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ("test_crash_loses_nothing",)


def consume(consumer, process, should_stop):
    pending = 0  # batches processed since the last commit
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
        if batches:
            pending += 1
        if pending >= 2:  # BUG: one commit for two batches
            try:
                consumer.commit()
            except CommitFailedError:
                pass
            pending = 0
    if pending:
        try:
            consumer.commit()
        except CommitFailedError:
            pass
