"""Correct, unlike solution.py: a generator yields the records of each poll, then a marker
that says the batch is done; the loop commits when it meets the marker."""

from pcmodel.topics import CommitFailedError

_BATCH_DONE = object()


def _records(consumer, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        yield from (record for records in batch.values() for record in records)
        if batch:
            yield _BATCH_DONE


def consume(consumer, process, should_stop):
    for record in _records(consumer, should_stop):
        if record is not _BATCH_DONE:
            process(record)
            continue
        try:
            consumer.commit()
        except CommitFailedError:
            pass  # the group moved on without us; the next poll rejoins
