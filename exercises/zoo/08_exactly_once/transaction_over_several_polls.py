"""Bug: to make transactions bigger, one transaction takes the records of several polls.

The loop begins a transaction, then polls and converts until it holds 20 records (or a poll is
empty), and commits the outputs and the offsets of all of them. But poll() is where a member
rejoins the group: a poll in the middle of the transaction can hand some of the partitions
already read to another member, which resumes from the group's committed offset, before this
transaction's, and converts the same records. When both transactions commit, a read_committed
reader sees those outputs twice. One transaction per poll: begin after poll() returned a batch,
commit, and only then poll again.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ("test_survives_a_rebalance",)

REBALANCED = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
              CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        offsets = {}
        count = 0
        producer.begin_transaction()
        while count < 20 and not should_stop():
            batch = consumer.poll(timeout_ms=100)  # BUG: may rebalance inside the transaction
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    producer.send(output_topic, value=convert(record),
                                  partition=record.partition)
                offsets[tp] = OffsetAndMetadata(records[-1].offset + 1)
                count += len(records)
        try:
            if offsets:
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
