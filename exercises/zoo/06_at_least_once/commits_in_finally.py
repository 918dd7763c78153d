"""Bug: the commit is in a ``finally`` clause, so it runs when process() raises too.

"Always commit what was done" sounds safe, and on the normal path it is: process the batch, then
commit. But ``finally`` also runs while an exception from process() is on its way out, and
commit() without arguments commits the position after the *whole* batch: the record that failed
and every record after it are committed without being processed. The successor starts after
them, and they are lost.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ("test_crash_loses_nothing", "test_crash_after_a_refused_commit")


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        if not batches:
            continue
        try:
            for records in batches.values():
                for record in records:
                    process(record)
        finally:  # BUG: commits the whole batch on the crash path too
            try:
                consumer.commit()
            except CommitFailedError:
                pass
