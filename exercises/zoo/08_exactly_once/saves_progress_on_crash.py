"""Bug: when convert() raises, the loop commits what it converted so far before re-raising, with
an off-by-one at a partition's first record.

"Keep the work done": on the exception, the outputs already sent are committed with, for each
partition, the offset after its last converted record; for the partition that failed, that is
taken from the record before the failing one, ``records[i - 1]``. The README says a crash
propagates at once, without committing anything more (a real crash leaves no time for it), and
here is why: when the failing record is the first of its partition's list, ``i - 1`` is -1,
``records[-1]`` is the last record of the list, and the offset after the whole list is
committed: the failing record and those after it have no output, and the group has moved past
them. They are lost. Where the crash falls elsewhere in a list the offsets happen to be right,
and the outputs match them: what always shows is the commit after convert() raised.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ("test_crash_then_successor",)

REBALANCED = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
              CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        done = {}
        try:
            for tp, records in batch.items():
                for i, record in enumerate(records):
                    try:
                        value = convert(record)
                    except Exception:
                        # BUG: for i == 0, records[-1] is the list's last record
                        done[tp] = OffsetAndMetadata(records[i - 1].offset + 1)
                        raise
                    producer.send(output_topic, value=value, partition=record.partition)
                done[tp] = OffsetAndMetadata(records[-1].offset + 1)
        except Exception:
            # BUG: a crash commits nothing more; this commits the batch so far
            producer.send_offsets_to_transaction(done, consumer.group_metadata())
            producer.commit_transaction()
            raise
        try:
            producer.send_offsets_to_transaction(done, consumer.group_metadata())
            producer.commit_transaction()
        except REBALANCED:
            producer.abort_transaction()
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
