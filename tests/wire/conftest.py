"""Fixtures for the Kafka protocol listener: a broker served on a free loopback port, a cluster
whose brokers are each served, and a raw client that speaks the protocol through kafka-python's
message classes."""

from __future__ import annotations

import socket
import struct

import pytest

pytest.importorskip("kafka", reason="the Kafka listener needs kafka-python (the kafka extra)")

from pcmodel.cluster import Cluster  # noqa: E402
from pcmodel.topics import Broker  # noqa: E402
from tests.conftest import wait_until  # noqa: E402

#: For clusters: quick to notice a dead broker, yet generous enough that a loaded machine fences
#: no live one.
FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


class RawClient:
    """A blocking Kafka connection: send a kafka-python request, read the decoded response."""

    def __init__(self, address: tuple[str, int], timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.correlation_id = 0

    def send(self, request) -> int:
        """Send a request built at a version (``ApiVersionsRequest[3](...)``)."""
        self.correlation_id += 1
        request.with_header(correlation_id=self.correlation_id, client_id="raw-test")
        self.sock.sendall(bytes(request.encode(header=True, framed=True)))
        return self.correlation_id

    def recv_frame(self) -> bytes:
        size = struct.unpack(">i", self.recv_exactly(4))[0]
        return self.recv_exactly(size)

    def recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def request(self, request):
        """Send ``request`` (versioned) and return the decoded response."""
        correlation_id = self.send(request)
        frame = self.recv_frame()
        response_class = request.header.get_response_class()
        response = response_class.decode(frame, header=True)
        assert response.header.correlation_id == correlation_id
        return response

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def closed_by_listener(sock: socket.socket) -> bool:
    """Whether the listener closed ``sock`` without sending a byte more (waits up to 10 s)."""
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def still_serving(address: tuple[str, int]) -> None:
    """Assert that the listener at ``address`` answers a new connection's ApiVersions."""
    from kafka.protocol.metadata import ApiVersionsRequest

    with RawClient(address) as other:
        assert other.request(ApiVersionsRequest[3](
            client_software_name="x", client_software_version="1")).error_code == 0


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


@pytest.fixture
def listener(broker):
    with broker.serve_kafka() as lst:
        yield lst


@pytest.fixture
def raw(listener):
    with RawClient(listener.address) as client:
        yield client


@pytest.fixture(scope="module")
def served():
    """A cluster of 3 brokers, each with its Kafka listener, and a topic ``t`` of 2 partitions
    replicated on all three (in sync): ``(cluster, listeners)``, shared by a module."""
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 2, replication_factor=3)
        wait_until(lambda: all(len(cluster.metadata()[("t", p)].isr) == 3 for p in (0, 1)),
                   timeout=30)
        yield cluster, listeners


def record_batch(values, *, keys=None, compression=0, timestamp=1_000, headers=(),
                 producer=(-1, -1, -1), transactional=False, control=False) -> bytes:
    """One v2 record batch of ``values`` (kafka-python's writer), as a producer sends it;
    ``transactional`` sets the header's transactional attribute, ``control`` the control one
    (which only brokers set: the test writes it the way a broker does, fixing the CRC)."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    from kafka.record.util import calc_crc32c

    producer_id, epoch, sequence = producer
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=compression, is_transactional=transactional,
        producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
        batch_size=2**30,
    )
    for i, value in enumerate(values):
        key = None if keys is None else keys[i]
        builder.append(i, timestamp + i, key, value, list(headers))
    batch = builder.build()
    if control:
        attributes_at, crc_at = 21, 17  # after base offset, length, epoch, magic (and CRC)
        attributes = struct.unpack_from(">h", batch, attributes_at)[0] | 0x20
        struct.pack_into(">h", batch, attributes_at, attributes)
        struct.pack_into(">I", batch, crc_at, calc_crc32c(bytes(batch[attributes_at:])))
    return bytes(batch)


def produce_request(topic, partition, batch, *, acks=1, version=9, timeout_ms=5000,
                    transactional_id=None):
    from kafka.protocol.producer import ProduceRequest

    Topic = ProduceRequest.TopicProduceData  # noqa: N806
    return ProduceRequest[version](
        transactional_id=transactional_id, acks=acks, timeout_ms=timeout_ms,
        topic_data=[Topic(name=topic, partition_data=[
            Topic.PartitionProduceData(index=partition, records=batch)])],
    )


def fetch_request(offsets, *, max_wait_ms=0, min_bytes=1, version=12, max_bytes=50 << 20,
                  partition_max_bytes=1 << 20, current_leader_epoch=-1, isolation_level=0):
    """A Fetch for ``{(topic, partition): offset}`` (``isolation_level`` 1: read_committed)."""
    from kafka.protocol.consumer import FetchRequest

    by_topic = {}
    for (topic, partition), offset in offsets.items():
        by_topic.setdefault(topic, []).append(FetchRequest.FetchTopic.FetchPartition(
            partition=partition, current_leader_epoch=current_leader_epoch, fetch_offset=offset,
            last_fetched_epoch=-1, log_start_offset=-1, partition_max_bytes=partition_max_bytes))
    return FetchRequest[version](
        replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=max_bytes,
        isolation_level=isolation_level, session_id=0, session_epoch=-1,
        topics=[FetchRequest.FetchTopic(topic=t, partitions=ps) for t, ps in by_topic.items()],
        forgotten_topics_data=[], rack_id="",
    )


def fetched_records(partition_data):
    """The records of one partition of a Fetch response, read with kafka-python's reader."""
    out = []
    for batch in fetched_batches(partition_data):
        out.extend(batch)
    return out


def fetched_batches(partition_data):
    """The record batches of one partition of a Fetch response (kafka-python's reader), each
    checked against its CRC."""
    from kafka.record.memory_records import MemoryRecords

    batches = []
    records = MemoryRecords(bytes(partition_data.records or b""))
    while records.has_next():
        batch = records.next_batch()
        assert batch.validate_crc()
        batches.append(batch)
    return batches
