"""Correct, unlike solution.py: the strictest at-least-once loop, a commit after every record,
so a crash repeats at most the record being processed."""

import pcmodel.topics as topics


def consume(consumer, process, should_stop):
    stopping = should_stop()
    while not stopping:
        for partition, records in consumer.poll(timeout_ms=100).items():
            for record in records:
                process(record)
                try:
                    consumer.commit({partition: record.offset + 1})
                except topics.CommitFailedError:
                    pass
        stopping = should_stop()
