"""Bug: stopping between records, the loop commits only the partition it is in.

``should_stop()`` is checked before each record; when it turns true, the loop commits the
offset of the record it was about to process, for that record's partition only. Records it
processed in the same batch from an earlier partition are left uncommitted, so whoever takes
the partitions over processes them again. Commit every partition processed since the last
commit: ``{tp: OffsetAndMetadata(last processed offset + 1, "")}`` for each.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ("test_stop_mid_batch_loses_nothing",)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for tp, records in batches.items():
            for record in records:
                if should_stop():
                    try:  # BUG: the partitions processed before this one are not committed
                        consumer.commit({tp: OffsetAndMetadata(record.offset, "")})
                    except CommitFailedError:
                        pass
                    return
                process(record)
        if batches:
            try:
                consumer.commit()
            except CommitFailedError:
                pass
