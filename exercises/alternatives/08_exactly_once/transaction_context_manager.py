"""Correct, unlike solution.py: the batches come from a generator, and each transaction is a
context manager that commits when its block ends normally, aborts on a rebalance error (the
caller then rewinds), and aborts before letting a crash of convert() propagate. A fenced
producer can do nothing more, not even abort: its error goes through untouched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pcmodel.topics import OffsetAndMetadata, ProducerFencedError
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

REBALANCE_ERRORS = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
                    CommitFailedError)


class Refused(Exception):
    """The group refused this transaction's offsets: it was aborted."""


def batches(consumer, should_stop: Callable[[], bool]) -> Iterator[dict]:
    """Yield every non-empty poll() until should_stop() is true (checked before each poll)."""
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if batch:
            yield batch


@contextmanager
def transaction(producer) -> Iterator[None]:
    producer.begin_transaction()
    try:
        yield
    except ProducerFencedError:
        raise
    except REBALANCE_ERRORS as exc:
        producer.abort_transaction()
        raise Refused() from exc
    except BaseException:
        producer.abort_transaction()  # convert() crashed: nothing of this batch survives
        raise
    producer.commit_transaction()


def rewind(consumer) -> None:
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


def transform(consumer, producer, convert, output_topic, should_stop) -> None:
    for batch in batches(consumer, should_stop):
        try:
            with transaction(producer):
                for records in batch.values():
                    for record in records:
                        producer.send(output_topic, value=convert(record),
                                      partition=record.partition)
                producer.send_offsets_to_transaction(
                    {tp: OffsetAndMetadata(records[-1].offset + 1)
                     for tp, records in batch.items()},
                    consumer.group_metadata())
        except Refused:
            rewind(consumer)
