"""Correct, unlike solution.py: one transaction per partition of a batch, with the errors
imported as a module and the offsets as plain integers."""

from pcmodel.topics import errors


def transform(consumer, producer, convert, output_topic, should_stop):
    while True:
        if should_stop():
            return
        polled = consumer.poll(timeout_ms=50)
        for tp in sorted(polled):
            producer.begin_transaction()
            for record in polled[tp]:
                producer.send(output_topic, convert(record), partition=tp.partition)
            try:
                producer.send_offsets_to_transaction({tp: polled[tp][-1].offset + 1},
                                                     consumer.group_metadata())
                producer.commit_transaction()
            except (errors.IllegalGenerationError, errors.UnknownMemberIdError,
                    errors.RebalanceInProgressError, errors.CommitFailedError):
                producer.abort_transaction()
                for owned in consumer.assignment():
                    offset = consumer.committed(owned)
                    consumer.seek(owned, 0 if offset is None else offset)
                break  # the rest of this batch is read again from the committed offsets
