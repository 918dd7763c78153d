"""Bug: the explicit offsets committed are those of the last partition of the batch only.

The commit sits after the loop over the batch's partitions and uses the loop's variables, which
still hold the *last* partition and its records. Every other partition of the batch is processed
but never committed: after a crash or a rebalance its records are processed again, batch after
batch, not only the last one.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ("test_commits_progress",)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        if not batches:
            continue
        for tp, records in batches.items():  # noqa: B007 - the bug reads tp after the loop
            for record in records:
                process(record)
        try:
            # BUG: tp and records are the last partition's; the others are never committed
            consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "")})
        except CommitFailedError:
            pass
