"""Bug: should_stop() is asked after each batch (a do-while loop), not before each poll.

When the loop stops in the middle of the topic it does so cleanly, after a commit. But a stop
that is already true when consume() is called still polls, joins the group, processes and
commits one more batch: a member told to stop (a shutdown, a deploy) goes on working.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_stop_mid_batch_loses_nothing',)


def consume(consumer, process, should_stop):
    while True:
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
        if batches:
            try:
                consumer.commit()
            except CommitFailedError:
                pass
        if should_stop():
            return
