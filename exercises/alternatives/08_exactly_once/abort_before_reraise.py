"""Correct, unlike solution.py: a crash in convert() aborts the open transaction before it
propagates, the offsets are the consumer's positions, and a fenced producer makes transform()
return instead of raising."""

import pcmodel.topics as topics


def transform(consumer, producer, convert, output_topic, should_stop):
    stopping = should_stop()
    while not stopping:
        batch = consumer.poll(timeout_ms=100, max_records=None)
        if batch:
            producer.begin_transaction()
            try:
                for records in batch.values():
                    for record in records:
                        producer.send(output_topic, value=convert(record), key=record.key,
                                      partition=record.partition)
            except Exception:
                producer.abort_transaction()  # nothing of the crashed batch survives
                raise
            positions = {tp: topics.OffsetAndMetadata(consumer.position(tp), "")
                         for tp in batch}
            try:
                producer.send_offsets_to_transaction(positions, consumer.group_metadata())
                producer.commit_transaction()
            except topics.ProducerFencedError:
                return  # a newer instance took over: this one is a zombie
            except (topics.IllegalGenerationError, topics.UnknownMemberIdError,
                    topics.RebalanceInProgressError, topics.CommitFailedError):
                producer.abort_transaction()
                committed = {tp: consumer.committed(tp) for tp in consumer.assignment()}
                for tp, offset in committed.items():
                    if offset is None:
                        consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, offset)
        stopping = should_stop()
