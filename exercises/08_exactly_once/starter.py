"""Exercise 08: an exactly-once consume-transform-produce loop. Edit this file (see README.md).

Interface: ``transform(consumer, producer, convert, output_topic, should_stop)`` for a
read_committed KafkaConsumer (``enable_auto_commit=False``) and a KafkaProducer with a
``transactional_id`` whose ``init_transactions()`` was already called.
"""

from pcmodel.topics import OffsetAndMetadata  # noqa: F401 - you will need them
from pcmodel.topics.errors import (  # noqa: F401
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)


def transform(consumer, producer, convert, output_topic, should_stop):
    """Poll; send convert(record) for every record and commit the batch's offsets in the same
    transaction; return when ``should_stop()`` is true.

    An exception from ``convert`` propagates at once (a crash), and so does
    ``ProducerFencedError``.
    """
    raise NotImplementedError(
        "steps A-E: loop until should_stop(): poll; begin_transaction(); send one output per "
        "record; send_offsets_to_transaction(offsets, consumer.group_metadata()); "
        "commit_transaction(); on a rebalance error abort and seek back"
    )
