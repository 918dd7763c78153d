"""A follower's replication step: truncate to where it agrees with the leader, then fetch.

This is Kafka's ``AbstractFetcherThread`` in one function: while the replica still has to
reconcile its log with a new leader, it asks the leader where its latest epoch ends
(OffsetsForLeaderEpoch) and truncates (:func:`~pcmodel.cluster.epochs.truncation_step`, possibly
in several rounds); then it fetches from its log end through the leader's ordinary fetch path
and appends the copies (with the producer batches, transactional batches and markers the
leader's log keeps beside them, and the edges and codecs of the producers' batches they came
in), and moves its log start to the leader's. Called with the cluster lock held, by a broker
that can reach the leader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcmodel.cluster.epochs import truncation_step
from pcmodel.topics.broker import FetchError
from pcmodel.topics.errors import KafkaError

__all__ = ["replicate_once"]


def replicate_once(follower_id: int, replica: Any, leader: Any,
                   on_truncate: Callable[[int, tuple], None]) -> bool:
    """One round for ``replica`` (on broker ``follower_id``) against the ``leader`` node.

    Returns True if records were copied (or the log was reset, or its start moved).
    ``on_truncate(offset, records)`` is told about every truncation that removed records. A
    fenced or stale epoch (the follower or the leader has not heard of the latest election
    yet) copies nothing and returns False.
    """
    state = replica.state
    tp = replica.tp
    try:
        if replica.needs_truncation:
            replica.trim_epochs()  # its own retention may have moved its start
        while replica.needs_truncation:
            answer = leader.offsets_for_leader_epoch(tp, replica.epochs.latest_epoch,
                                                     state.leader_epoch)
            offset, done = truncation_step(replica.epochs, replica.leo, replica.high_watermark,
                                           answer)
            gone = replica.truncate(offset)
            if gone:
                on_truncate(offset, gone)
            replica.needs_truncation = not done
        response = leader.replica_fetch(follower_id, tp, replica.leo, state.leader_epoch)
    except KafkaError:
        return False  # wait for the next LeaderAndIsr
    if response.error is FetchError.OFFSET_OUT_OF_RANGE:
        if replica.leo < response.log_start_offset:
            replica.restart_at(response.log_start_offset)  # retention passed us by
        else:  # ahead of the leader: reconcile again before fetching
            replica.needs_truncation = True
        return True
    replica.append_copy(response.records, response.high_watermark, response.epochs,
                        response.batches, response.transactional_batches)
    # The producers' batches over those records, as the leader keeps them: Kafka's follower
    # appends the leader's batches as they are, and answers them the same once it leads.
    replica.copy_batches(response.stored_batches)
    # The leader's log start moves on DeleteRecords and retention; a follower's follows it
    # (Kafka's maybeIncrementLogStartOffset with the leader's), so every replica holds the
    # same records and the leader knows when a deletion has reached them all.
    moved = replica.advance_start(response.log_start_offset)
    return bool(response.records) or moved
