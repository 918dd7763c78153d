"""The pure rules: ISR and high watermark (isr.py), leader epochs and truncation (epochs.py)."""

from __future__ import annotations

from pcmodel.cluster.epochs import UNDEFINED_EPOCH, LeaderEpochCache, truncation_step
from pcmodel.cluster.isr import (
    can_join_isr,
    caught_up_time,
    high_watermark,
    leader_update,
    out_of_sync_replicas,
)


def test_high_watermark_is_the_smallest_isr_leo_and_never_goes_back():
    assert high_watermark(0, {0, 1, 2}, {0: 10, 1: 7, 2: 9}) == 7
    assert high_watermark(8, {0, 1}, {0: 10, 1: 7}) == 8  # never backwards
    assert high_watermark(3, {0, 1}, {0: 10}) == 3  # an unknown LEO holds it
    assert high_watermark(0, {0}, {0: 5, 1: 1}) == 5  # out-of-ISR replicas do not count


def test_caught_up_time_follows_kafkas_two_cases():
    common = dict(previous_fetch_time=5.0, leader_leo_at_previous_fetch=8, last_caught_up=1.0)
    assert caught_up_time(fetch_offset=10, fetch_time=6.0, leader_leo=10, **common) == 6.0
    assert caught_up_time(fetch_offset=8, fetch_time=6.0, leader_leo=10, **common) == 5.0
    assert caught_up_time(fetch_offset=7, fetch_time=6.0, leader_leo=10, **common) == 1.0


def test_out_of_sync_never_names_the_leader():
    times = {1: 0.0, 2: 9.5}
    assert out_of_sync_replicas({0, 1, 2}, 0, times, now=10.0, replica_lag_time_max=1.0) == {1}


def test_can_join_needs_the_watermark_and_the_epoch_start():
    assert can_join_isr(5, 5, 3)
    assert not can_join_isr(4, 5, 3)
    assert not can_join_isr(5, 2, 6)


def test_leader_update_shrinks_then_expands_then_moves_the_watermark():
    update = leader_update(
        leader=0, isr={0, 1}, high_watermark_now=4, leos={0: 10, 1: 4, 2: 10},
        last_caught_up={1: 0.0, 2: 9.9}, now=10.0, replica_lag_time_max=1.0,
    )
    assert update.isr == {0, 2}
    assert update.high_watermark == 10


def test_a_follower_that_stopped_fetching_does_not_slip_back_in():
    update = leader_update(
        leader=0, isr={0, 1}, high_watermark_now=4, leos={0: 4, 1: 4},
        last_caught_up={1: 2.0}, now=10.0, replica_lag_time_max=1.0,
    )
    assert update.isr == {0}


def test_epoch_cache_answers_offsets_for_leader_epoch():
    cache = LeaderEpochCache()
    cache.assign(0, 0)
    cache.assign(2, 5)
    cache.assign(2, 7)  # known epoch: ignored
    cache.assign(4, 9)
    assert cache.end_offset_for(0, 12) == (0, 5)
    assert cache.end_offset_for(1, 12) == (0, 5)  # largest epoch <= 1
    assert cache.end_offset_for(4, 12) == (4, 12)
    assert cache.end_offset_for(-5, 12) == (UNDEFINED_EPOCH, -1)
    assert cache.end_offset_for(7, 12) == (UNDEFINED_EPOCH, -1)  # newer: asked a stale leader
    assert cache.epoch_at(6) == 2
    cache.truncate_from_end(9)
    assert cache.latest_epoch == 2


def test_records_deleted_from_the_start_take_their_epochs_along():
    cache = LeaderEpochCache()
    for epoch, start in ((0, 0), (2, 5), (4, 9)):
        cache.assign(epoch, start)
    cache.truncate_from_start(3)  # inside epoch 0: it now starts at 3
    assert cache.entries == ((0, 3), (2, 5), (4, 9))
    cache.truncate_from_start(7)  # epoch 0 is gone, epoch 2 starts at the new start
    assert cache.entries == ((2, 7), (4, 9))
    cache.truncate_from_start(5)  # behind the start already: nothing changes
    assert cache.entries == ((2, 7), (4, 9))
    # An epoch older than every one kept ends where the oldest kept starts (Kafka's answer).
    assert cache.end_offset_for(0, 12) == (0, 7)
    assert cache.end_offset_for(3, 12) == (2, 9)
    cache.truncate_from_start(12)  # the whole log: the latest epoch starts at the end
    assert cache.entries == ((4, 12),)


def test_truncation_keeps_the_common_prefix_and_asks_again_for_unknown_epochs():
    follower = LeaderEpochCache()
    follower.assign(0, 0)
    follower.assign(1, 4)
    # The leader knows epoch 1 ending at 6; the follower wrote 8 records in it.
    assert truncation_step(follower, 8, 2, (1, 6)) == (6, True)
    # The leader answers epoch 0 (it never saw epoch 1): keep epoch 0's records, ask again.
    assert truncation_step(follower, 8, 2, (0, 4)) == (4, True)
    other = LeaderEpochCache()
    other.assign(0, 0)
    other.assign(3, 5)
    # The leader answers epoch 2, which this follower never saw: drop from its own epoch 3 on.
    assert truncation_step(other, 9, 1, (2, 7)) == (5, False)
    assert truncation_step(other, 9, 1, (UNDEFINED_EPOCH, -1)) == (1, True)
