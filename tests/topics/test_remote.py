"""A broker in another process: handles, the proxy, authentication, method filtering, shutdown.

The same broker is used over connections from the parent and from child processes started with
``fork`` and ``spawn``. Blocking is proven with events inside a wrapped broker, never with sleeps.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import select
import signal
import subprocess
import sys
import threading

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    IllegalArgumentError,
    IllegalStateError,
    KafkaConnectionError,
    NoBrokersAvailable,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.remote import (
    BrokerHandle,
    BrokerServer,
    RemoteBroker,
    RemoteTraceback,
    start_broker_process,
)
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

CONTEXTS = ["fork", "spawn"]


@pytest.fixture(scope="module", params=CONTEXTS)
def context(request):
    return multiprocessing.get_context(request.param)


@pytest.fixture
def broker_process(context):
    process = start_broker_process(context=context)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def remote(broker_process):
    with broker_process.connect() as proxy:
        yield proxy


def produce_in_child(handle: BrokerHandle, topic: str, count: int, tag: bytes) -> None:
    """Child process body: connect with the handle and produce ``count`` records."""
    with handle.connect() as proxy, KafkaProducer(broker=proxy, linger_ms=1) as producer:
        for i in range(count):
            producer.send(topic, tag + b"%d" % i, key=tag)


def use_pickled_proxy(proxy: RemoteBroker, reply: mpc.Connection) -> None:
    """Child process body: a RemoteBroker passed as an argument works in the child."""
    reply.send(proxy.list_topics())
    proxy.close()
    reply.close()


# --- from the parent ---------------------------------------------------------------------------


def test_parent_uses_the_remote_broker_like_a_local_one(remote):
    remote.create_topic("t", 3)
    assert remote.partitions_for("t") == {0, 1, 2}
    with KafkaProducer(broker=remote, key_serializer=str.encode) as producer:
        metadata = [producer.send("t", b"v", key=f"k{i}").get(timeout=10) for i in range(30)]
    ends = remote.end_offsets([TopicPartition("t", p) for p in range(3)])
    assert sum(ends.values()) == 30
    assert {m.partition for m in metadata} <= {0, 1, 2}


def test_errors_come_back_with_their_type_message_and_remote_traceback(remote):
    remote.create_topic("t", 1)
    with pytest.raises(TopicAlreadyExistsError) as info:
        remote.create_topic("t", 1)
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "create_topic" in info.value.__cause__.tb
    with pytest.raises(UnknownTopicOrPartitionError, match="'missing'"):
        remote.partitions_for("missing")
    # The connection is still usable after an error.
    assert remote.list_topics() == {"t": 1}


def test_only_client_methods_are_forwarded(remote):
    with pytest.raises(AttributeError, match="not a broker client method"):
        remote.call("close")
    with pytest.raises(AttributeError, match="not a broker client method"):
        remote.call("_topics")
    with pytest.raises(AttributeError):
        remote.close_everything  # noqa: B018 - the attribute access itself is the test
    assert remote.list_topics() == {}


def test_consumer_and_producer_work_through_the_proxy(remote):
    remote.create_topic("t", 2)
    with KafkaProducer(broker=remote) as producer:
        for i in range(20):
            producer.send("t", b"%d" % i, partition=i % 2)
    consumer = KafkaConsumer(
        "t", broker=remote, group_id="g", auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    try:
        values = []
        for record in consumer:
            values.append(record.value)
            if len(values) == 20:
                break
        consumer.commit()
    finally:
        consumer.close()
    assert sorted(values) == sorted(b"%d" % i for i in range(20))
    committed = remote.committed("g", [TopicPartition("t", 0), TopicPartition("t", 1)])
    assert sum(o.offset for o in committed.values() if o is not None) == 20


def test_a_static_member_takes_its_place_again_through_the_proxy(remote):
    remote.create_topic("t", 1)

    def static_consumer():
        return KafkaConsumer("t", broker=remote, group_id="g", group_instance_id="i-1",
                             fetch_max_wait_ms=20, heartbeat_interval_ms=10)

    first = static_consumer()
    try:
        wait_until(lambda: first.poll(timeout_ms=20) == {} and len(first.assignment()) == 1)
        old_id = first.group_metadata().member_id
    finally:
        first.close()  # static: no LeaveGroup
    generation = remote.describe_group("g").generation
    second = static_consumer()
    try:
        wait_until(lambda: second.poll(timeout_ms=20) == {} and len(second.assignment()) == 1)
        assert remote.describe_group("g").generation == generation
        with pytest.raises(FencedInstanceIdError):  # the exception crosses the process line
            remote.commit_offsets("g", generation, old_id, {TopicPartition("t", 0): 0},
                                  group_instance_id="i-1")
    finally:
        second.close()


# --- from child processes ----------------------------------------------------------------------


def test_children_produce_through_the_handle(broker_process, remote, context):
    remote.create_topic("t", 4)
    children = [
        context.Process(target=produce_in_child, args=(broker_process.handle, "t", 50, tag))
        for tag in (b"a", b"b", b"c")
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    ends = remote.end_offsets([TopicPartition("t", p) for p in range(4)])
    assert sum(ends.values()) == 150


def test_a_pickled_proxy_reconnects_in_the_child(broker_process, remote, context):
    remote.create_topic("t", 1)
    ours, theirs = context.Pipe()
    child = context.Process(target=use_pickled_proxy, args=(remote, theirs))
    child.start()
    theirs.close()
    assert ours.poll(30)
    assert ours.recv() == {"t": 1}
    child.join(30)
    assert child.exitcode == 0
    # The parent's pooled connection was not disturbed by the child.
    assert remote.list_topics() == {"t": 1}
    ours.close()


# --- authentication ----------------------------------------------------------------------------


def test_unauthenticated_connections_are_refused(broker_process, remote):
    address = broker_process.handle.address
    # No key at all: the server's challenge goes unanswered and the connection is dropped.
    stranger = mpc.Client(address)
    try:
        stranger.send(("list_topics", (), {}))
        with pytest.raises((EOFError, OSError, pickle.UnpicklingError)):
            while True:  # whatever arrives, it is never a reply to the request
                message = stranger.recv()
                assert not (isinstance(message, tuple) and message[:1] == (True,))
    finally:
        stranger.close()
    # A wrong key fails the handshake on the client side too.
    with pytest.raises(mpc.AuthenticationError):
        mpc.Client(address, authkey=b"wrong key").close()
    with pytest.raises(NoBrokersAvailable, match="authkey"):
        BrokerHandle(address, b"wrong key").connect()
    # The broker still serves those who know the key.
    assert remote.list_topics() == {}


# --- concurrency and lifecycle -------------------------------------------------------------------


class EnteringBroker(Broker):
    """A broker whose fetch() announces that it started waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.fetching = threading.Event()

    def fetch(self, offsets, **kwargs):
        self.fetching.set()
        return super().fetch(offsets, **kwargs)


@pytest.mark.timeout(30)
def test_a_long_poll_does_not_block_other_connections():
    broker = EnteringBroker()
    broker.create_topic("t", 1)
    server = BrokerServer(broker).start()
    poller, other = server.handle.connect(), server.handle.connect()
    results = []
    tp = TopicPartition("t", 0)
    thread = threading.Thread(target=lambda: results.append(poller.fetch({tp: 0}, timeout=60)))
    try:
        thread.start()
        assert broker.fetching.wait(10)
        # With one server thread for all connections, this append would wait 60 s behind the
        # fetch (and the test would time out); with a thread per connection it wakes the fetch.
        other.append("t", 0, [(None, b"wake up")])
        thread.join(20)
        assert results[0][tp].records[0].value == b"wake up"
    finally:
        broker.close()
        thread.join(10)
        poller.close()
        other.close()
        server.stop()


def test_the_proxy_serves_several_threads_at_once(remote):
    remote.create_topic("t", 1)
    errors = []

    def work(i):
        try:
            for _ in range(20):
                remote.append("t", 0, [(None, b"%d" % i)])
        except Exception as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert remote.end_offsets([("t", 0)])[TopicPartition("t", 0)] == 80


def test_stop_ends_the_process_and_calls_fail_cleanly(context):
    process = start_broker_process(context=context)
    proxy = process.connect()
    for bad in (math.nan, math.inf, -1, "10"):  # refused with nothing done: it still serves
        with pytest.raises(IllegalArgumentError, match=r"stop\(\) needs a timeout of 0 to"):
            process.stop(bad)
        assert process.is_alive() and proxy.list_topics() == {}
    process.stop()
    process.stop()  # idempotent
    assert not process.is_alive() and process.process.exitcode == 0
    with pytest.raises((KafkaConnectionError, NoBrokersAvailable)):
        proxy.list_topics()
    proxy.close()
    with pytest.raises(IllegalStateError, match="closed"):
        proxy.list_topics()
    with pytest.raises(NoBrokersAvailable):
        process.handle.connect()


def own_a_broker(reply: mpc.Connection) -> None:
    """Child process body: start a broker, report its pid, then wait to be killed."""
    process = start_broker_process(context=multiprocessing.get_context("fork"))
    reply.send(process.pid)
    reply.recv()  # never answered: the test kills this process


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs os.pidfd_open (Linux)")
def test_the_broker_process_exits_when_its_owner_dies():
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    owner = ctx.Process(target=own_a_broker, args=(theirs,))
    owner.start()
    try:
        assert ours.poll(30)
        broker_pid = ours.recv()
        pidfd = os.pidfd_open(broker_pid)
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.join(30)
    try:
        # The pidfd becomes readable when the (now orphaned) broker process exits.
        readable, _, _ = select.select([pidfd], [], [], 30)
        assert readable, f"broker process {broker_pid} outlived its owner"
    finally:
        os.close(pidfd)
        ours.close()
        theirs.close()


# --- handles and the command line ----------------------------------------------------------------


def test_handle_is_a_picklable_value_that_hides_its_key():
    handle = BrokerHandle(("127.0.0.1", 5555), b"secret")
    assert pickle.loads(pickle.dumps(handle)) == handle
    assert "secret" not in repr(handle)
    assert BrokerHandle.from_url(handle.to_url()) == handle
    with pytest.raises(ValueError, match="loopback"):
        BrokerHandle(("8.8.8.8", 5555), b"secret")
    with pytest.raises(ValueError, match="not a broker URL"):
        BrokerHandle.from_url("http://127.0.0.1:5555")
    with pytest.raises(ValueError, match="loopback"):
        BrokerServer(Broker(), host="0.0.0.0")


@pytest.mark.timeout(60)
def test_pcmodel_broker_command_serves_until_interrupted():
    command = [sys.executable, "-m", "pcmodel.cli", "broker", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = None
        for line in server.stdout:
            if line.startswith("URL: "):
                url = line.split(" ", 1)[1].strip()
                break
        assert url is not None, "pcmodel broker printed no URL"
        with BrokerHandle.from_url(url).connect() as proxy:
            proxy.create_topic("t", 2)
            assert proxy.list_topics() == {"t": 2}
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
        assert server.returncode == 0
        assert "stopped" in out
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=10)
