"""Correct, unlike solution.py: each transaction is opened before the poll and committed after
it, even when the poll returned nothing (an empty transaction commits nothing). The poll is in
the transaction, but the transaction holds only that poll's records, read after any rebalance
the poll made, and the offsets are sent with the group metadata of that moment."""

from pcmodel.topics import OffsetAndMetadata, errors

GROUP_CHANGED = (errors.IllegalGenerationError, errors.UnknownMemberIdError,
                 errors.RebalanceInProgressError, errors.CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        producer.begin_transaction()
        batch = consumer.poll(timeout_ms=100)
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        try:
            if batch:
                producer.send_offsets_to_transaction(
                    {tp: OffsetAndMetadata(records[-1].offset + 1)
                     for tp, records in batch.items()},
                    consumer.group_metadata())
            producer.commit_transaction()
        except GROUP_CHANGED:
            producer.abort_transaction()
            for tp in consumer.assignment():
                offset = consumer.committed(tp)
                if offset is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, offset)
