"""Bug: the next offset is computed by counting the records polled, not read from the last one.

``records[0].offset + len(records)`` is the next offset only if the partition's offsets are
consecutive. A topic written by transactions has gaps: every commit or abort writes a marker
(a control record) that takes an offset and that poll() never returns, and a read_committed
consumer also skips the records of aborted transactions. Counting then commits an offset before
records already converted: their outputs are committed while the group's offset stays behind
them, and whoever resumes from it (a successor after a crash or a takeover, the new owner after
a rebalance) converts them again, so their outputs are committed twice.

How it shows: a first batch of offsets 0, 1, 2, 7, 8, 9, 10 (a marker at 3, an aborted
transaction at 4-5 and its marker at 6) sends offset 0 + 7 = 7, not 11. Right after that
commit_transaction() the outputs of offsets 7-10 are committed beyond the group's offset; after
a crash, a takeover or a rebalance they are committed a second time. A loop that runs alone to
the end converts everything once, so only the group's committed offsets show the bug.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ("test_offsets_commit_with_outputs", "test_crash_then_successor",
             "test_survives_a_rebalance", "test_zombie_is_fenced")

REBALANCED = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
              CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        # BUG: offsets are not consecutive (markers, aborted records): records[-1].offset + 1
        offsets = {tp: OffsetAndMetadata(records[0].offset + len(records))
                   for tp, records in batch.items()}
        try:
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except REBALANCED:
            producer.abort_transaction()
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
