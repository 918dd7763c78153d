"""Bug: the outputs are committed in a transaction, but the input offsets never are.

The group's committed offsets stay at the start: a successor after a crash converts everything
again, and every output of the crashed member is committed twice.
"""

CAUGHT_BY = ('test_offsets_commit_with_outputs', 'test_crash_then_successor',
             'test_zombie_is_fenced')


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        producer.commit_transaction()  # BUG: no send_offsets_to_transaction()
