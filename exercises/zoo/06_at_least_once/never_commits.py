"""Bug: the loop never commits (and auto-commit is off).

Every record is processed, but the group's committed offsets stay at the start: after any restart
or rebalance, everything is processed again.
"""

CAUGHT_BY = ('test_commits_progress',)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
        # BUG: no commit
