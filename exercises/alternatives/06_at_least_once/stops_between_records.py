"""Correct, unlike solution.py: asks should_stop() before every record, not only before every
poll, and on stopping commits exactly the records processed so far (explicit offsets: the next
offset to read of each partition touched), not the position after the whole batch."""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import CommitFailedError


def _commit(consumer, offsets):
    if not offsets:
        return
    try:
        consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
    except CommitFailedError:
        pass  # the group rebalanced without this member; the next poll rejoins


def consume(consumer, process, should_stop):
    while not should_stop():
        processed = {}  # partition -> the next offset to read, for this batch
        for tp, records in consumer.poll(timeout_ms=100).items():
            for record in records:
                if should_stop():
                    _commit(consumer, processed)
                    return
                process(record)
                processed[tp] = record.offset + 1
        _commit(consumer, processed)
