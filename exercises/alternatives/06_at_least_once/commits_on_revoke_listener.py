"""Correct, unlike solution.py: explicit offsets of what was processed, committed after every
batch, and also by a rebalance listener in ``on_partitions_revoked`` (while the partitions are
still this member's), re-subscribing with the listener first."""

from pcmodel.topics import CommitFailedError, ConsumerRebalanceListener, OffsetAndMetadata


class _CommitProcessed(ConsumerRebalanceListener):
    def __init__(self, consumer, done):
        self.consumer, self.done = consumer, done

    def on_partitions_revoked(self, revoked):
        mine = {tp: self.done.pop(tp) for tp in list(self.done) if tp in revoked}
        if mine:
            try:
                self.consumer.commit(mine)
            except CommitFailedError:
                pass

    def on_partitions_assigned(self, assigned):
        pass


def consume(consumer, process, should_stop):
    done = {}
    consumer.subscribe(topics=sorted(consumer.subscription()),
                       listener=_CommitProcessed(consumer, done))
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        for tp, records in batch.items():
            for record in records:
                process(record)
                done[tp] = OffsetAndMetadata(record.offset + 1, "")
        if done:
            try:
                consumer.commit(dict(done))
            except CommitFailedError:
                pass
            done.clear()
