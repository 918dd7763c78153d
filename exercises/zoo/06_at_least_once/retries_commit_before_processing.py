"""Bug: a refused commit is retried right after the next poll, before that batch is processed.

After a CommitFailedError the member rejoins at its next poll(); committing again at once looks
like a harmless retry. But commit() commits the position after everything that poll() returned:
the new batch is committed before it is processed, and a crash in it loses its records (the
group resumes after them).
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_crash_after_a_refused_commit',)


def consume(consumer, process, should_stop):
    retry = False
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        if retry and batches:
            try:
                consumer.commit()  # BUG: commits the new batch before it is processed
                retry = False
            except CommitFailedError:
                pass
        for records in batches.values():
            for record in records:
                process(record)
        if batches:
            try:
                consumer.commit()
            except CommitFailedError:
                retry = True
