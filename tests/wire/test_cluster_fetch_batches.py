"""A replicated cluster's Kafka listeners answer the producers' batches as stored, as a lone
broker's does and as Kafka's brokers do: the leader, and after a failover the new leader (whose
log copied the old one's batches), send each batch whole with its base offset and codec, and a
fetch from the middle of a batch gets it from its base offset. Brokers on threads and in their
own processes alike."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from tests.conftest import wait_until
from tests.wire.conftest import FAST, RawClient, fetch_request, fetched_batches, fetched_records

#: Three producers' batches: 5 records, 4 gzip-compressed, 3.
SENT = ((5, None), (4, "gzip"), (3, None))
GZIP = 1  # the codec number a batch's attributes carry


def _batches(listeners, broker, offset):
    """``(base offset, record count, codec)`` of each batch ``broker``'s listener sends for a
    fetch from ``offset``, and the offsets of the records in them."""
    with RawClient(listeners.addresses[broker]) as raw:
        part = raw.request(fetch_request({("t", 0): offset})).responses[0].partitions[0]
    return ([(b.base_offset, len(list(b)), b.compression_type) for b in fetched_batches(part)],
            [r.offset for r in fetched_records(part)])


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_the_leader_and_after_a_failover_the_new_one_send_the_producers_batches(mode):
    settings = FAST if mode == "threads" else {"broker_session_timeout_ms": 2000,
                                                "tick_ms": 20}
    with Cluster(3, mode=mode, **settings) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
        n = 0
        for count, codec in SENT:
            cluster.produce("t", 0, [(None, b"v%d" % i) for i in range(n, n + count)],
                            acks="all", compression=codec).get(timeout=20)
            n += count
        wait_until(lambda: all(len(cluster.log(b, "t", 0)) == 12 for b in range(3)),
                   timeout=30)
        expected = [(0, 5, 0), (5, 4, GZIP), (9, 3, 0)]
        old = cluster.leader("t", 0)
        assert _batches(listeners, old, 0) == (expected, list(range(12)))
        # From inside the compressed batch: it comes whole, from its base offset.
        assert _batches(listeners, old, 7) == (expected[1:], list(range(5, 12)))
        cluster.kill(old)
        wait_until(lambda: cluster.leader("t", 0) not in (None, old), timeout=30)
        new = cluster.leader("t", 0)
        wait_until(lambda: _batches(listeners, new, 7)[1] == list(range(5, 12)), timeout=30)
        assert _batches(listeners, new, 7) == (expected[1:], list(range(5, 12)))
        assert _batches(listeners, new, 0) == (expected, list(range(12)))
