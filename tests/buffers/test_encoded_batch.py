"""A ``put_many`` batch pickled ahead (``EncodedBatch``): slices are windows onto its pickles."""

from __future__ import annotations

import pickle
import random

import pytest

from pcmodel.buffers.records import ITEM, LIST, EncodedBatch


class _CountingList(list):
    """A list that counts how many of its elements were read, by index or by iteration."""

    reads = 0

    def __getitem__(self, index):
        type(self).reads += 1
        return super().__getitem__(index)

    def __iter__(self):
        for element in super().__iter__():
            type(self).reads += 1
            yield element


def _batch(counts: list[int]) -> tuple[EncodedBatch, list[int]]:
    """A batch of runs of ``counts`` items (integers numbered through), and those items."""
    segments, items = [], []
    for count in counts:
        run = list(range(len(items), len(items) + count))
        items += run
        kind = ITEM if count == 1 else LIST
        segments.append((pickle.dumps(run[0] if count == 1 else run), kind, 0, count))
    return EncodedBatch(segments), items


def _items(batch: EncodedBatch) -> list[int]:
    """What the windows of ``batch`` hold, in order (as the ring would store them)."""
    out = []
    for payload, kind, first, count in batch.segments:
        value = pickle.loads(payload)
        out += [value] if kind == ITEM else value[first:first + count]
    return out


@pytest.mark.timeout(30)
def test_every_slice_holds_exactly_the_items_it_names():
    rng = random.Random(7)
    for _ in range(200):
        batch, items = _batch([rng.choice((1, 1, 3, 10)) for _ in range(rng.randint(1, 12))])
        start = rng.randint(0, len(items))
        stop = rng.randint(start, len(items) + 2)
        window = batch[start:stop]
        assert len(window) == len(items[start:stop])
        assert _items(window) == items[start:stop]
        # A window of a window, as a batch stored run after run is sliced again.
        inner = window[1:]
        assert _items(inner) == items[start:stop][1:]


@pytest.mark.timeout(30)
def test_the_whole_batch_is_itself():
    batch, _ = _batch([1, 5, 1])
    assert batch[0:len(batch)] is batch


@pytest.mark.timeout(30)
def test_a_slice_reads_only_the_segments_it_covers():
    # Stored one free slot at a time (capacity 1), a batch is sliced once per item: each
    # slice must cost the same, not a walk from the first segment.
    batch, items = _batch([1] * 1000)
    segments = _CountingList(batch.segments)
    batch.segments = segments
    for start in (0, 500, 998):
        _CountingList.reads = 0
        window = batch[start:start + 1]
        assert _items(window) == [items[start]]
        assert _CountingList.reads <= 2, (start, _CountingList.reads)
