"""Bug: should_stop() is checked only when a poll comes back empty.

The loop drains the topic before it stops: it asks should_stop() only after a poll that
returned nothing. Here the topic ends, so it returns in the end; on a busy topic, polls never
come back empty and the loop never stops, however long should_stop() has been true.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_stop_mid_batch_loses_nothing',)


def consume(consumer, process, should_stop):
    while True:
        batches = consumer.poll(timeout_ms=100)
        if not batches:
            if should_stop():  # BUG: only when idle, not before every poll
                return
            continue
        for records in batches.values():
            for record in records:
                process(record)
        try:
            consumer.commit()
        except CommitFailedError:
            pass
