"""A member's session while it waits in a rebalance, as Kafka's coordinator keeps it: a JoinGroup
or SyncGroup that waits for other members is bounded by the rebalance timeout, not by the
member's own session timeout, and once the group answers it the session starts again (Kafka
reschedules every member's heartbeat when it completes the joins, and each member it hands
the leader's assignment). So a member that waited longer than its session timeout (for a
consumer still processing its last records, up to ``max.poll.interval.ms``) is answered and
stays in the group, whether it came over the wire or through the broker's API, as pcmodel's
own consumers do.

The broker's clock is a manual one: the tests move it past a session timeout instead of
waiting for one. A call that waits has released the broker's lock, so a call that takes the
lock (``describe_group``) returns only once every call before it is waiting or done."""

from __future__ import annotations

import threading

import pytest
from kafka.protocol.consumer.group import HeartbeatRequest, JoinGroupRequest, SyncGroupRequest

from pcmodel.topics import Broker
from pcmodel.topics.coordinator import HeartbeatStatus
from pcmodel.topics.group_answers import GroupState
from tests.conftest import wait_until
from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(60)

#: The waiting member's session timeout, and how far the clock moves while it waits.
_SESSION_MS = 1_000
_WAITED_S = 2.0
_PROTOCOLS = [("range", b"")]


class _ManualClock:
    """A monotonic clock that moves only when a test moves it; it notes which threads read it."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.readers: set[str] = set()

    def __call__(self) -> float:
        self.readers.add(threading.current_thread().name)
        return self.now


class _InThread:
    """One blocking call made from a thread of its own (named ``name``); ``result()`` waits
    for its answer or exception."""

    def __init__(self, name: str, call) -> None:
        self._outcome: list = []

        def run() -> None:
            try:
                self._outcome.append(call())
            except Exception as exc:  # noqa: BLE001 - handed to the test by result()
                self._outcome.append(exc)

        self._thread = threading.Thread(target=run, name=name)
        self._thread.start()

    def result(self):
        self._thread.join(30)
        assert self._outcome, "no answer within 30 s"
        if isinstance(self._outcome[0], Exception):
            raise self._outcome[0]
        return self._outcome[0]


@pytest.fixture
def clock() -> _ManualClock:
    return _ManualClock()


@pytest.fixture
def stable(clock):
    """``(broker, first)``: member ``first`` (a JoinResult) alone in the ``Stable`` group
    ``g`` of a broker on ``clock``."""
    with Broker(clock=clock, group_initial_rebalance_delay_ms=0) as broker:
        first = broker.join_group("g", "", protocols=_PROTOCOLS, timeout=10)
        broker.sync_group("g", first.member_id, first.generation,
                          assignments={first.member_id: b"a"}, timeout=10)
        yield broker, first


def _join_second(broker: Broker, clock: _ManualClock, first, waited_s: float = _WAITED_S):
    """A second member joins with a short session and waits ``waited_s`` (by the clock) for
    ``first`` to join again; ``first`` does: ``(first's answer, the second's answer)``."""
    second = _InThread("second-member", lambda: broker.join_group(
        "g", "", protocols=_PROTOCOLS, session_timeout_ms=_SESSION_MS,
        rebalance_timeout_ms=30_000, timeout=30))
    wait_until(lambda: broker.describe_group("g").state is GroupState.PREPARING_REBALANCE)
    clock.now += waited_s
    again = broker.join_group("g", first.member_id, protocols=_PROTOCOLS, timeout=10)
    return again, second.result()


def test_a_member_that_waited_past_its_session_for_the_join_is_answered_and_stays(
        stable, clock):
    broker, first = stable
    again, joined = _join_second(broker, clock, first)
    assert joined.generation == again.generation == first.generation + 1
    assert broker.heartbeat("g", joined.member_id, joined.generation).status \
        is not HeartbeatStatus.UNKNOWN_MEMBER
    assert len(broker.describe_group("g").members) == 2


def test_a_member_that_waited_past_its_session_for_the_assignment_stays(stable, clock):
    broker, first = stable
    again, joined = _join_second(broker, clock, first, waited_s=0.0)
    syncing = _InThread("second-sync", lambda: broker.sync_group(
        "g", joined.member_id, joined.generation, timeout=30))
    wait_until(lambda: "second-sync" in clock.readers)
    broker.describe_group("g")  # the second's SyncGroup now waits for the leader's
    clock.now += _WAITED_S
    broker.sync_group("g", again.member_id, again.generation,
                      assignments={again.member_id: b"a", joined.member_id: b"b"}, timeout=10)
    assert syncing.result().assignment == b"b"
    assert broker.heartbeat("g", joined.member_id, joined.generation).status \
        is HeartbeatStatus.OK
    assert broker.describe_group("g").state is GroupState.STABLE


def test_over_the_wire_a_member_that_waited_past_its_session_joins():
    clock = _ManualClock()
    Protocol = JoinGroupRequest.JoinGroupRequestProtocol  # noqa: N806

    def join(client: RawClient, member_id: str = "", session_ms: int = 30_000):
        return client.request(JoinGroupRequest[3](
            group_id="g", session_timeout_ms=session_ms, rebalance_timeout_ms=30_000,
            member_id=member_id, protocol_type="consumer",
            protocols=[Protocol(name="range", metadata=b"")]))

    def sync(client: RawClient, joined, assignments=()):
        Assignment = SyncGroupRequest.SyncGroupRequestAssignment  # noqa: N806
        return client.request(SyncGroupRequest[3](
            group_id="g", generation_id=joined.generation_id, member_id=joined.member_id,
            group_instance_id=None,
            assignments=[Assignment(member_id=m, assignment=b"x") for m in assignments]))

    with Broker(clock=clock, group_initial_rebalance_delay_ms=0) as broker, \
            broker.serve_kafka() as listener, RawClient(listener.address) as a, \
            RawClient(listener.address) as b:
        first = join(a)
        assert sync(a, first, [first.member_id]).error_code == 0
        waiting = _InThread("second-member", lambda: join(b, session_ms=_SESSION_MS))
        wait_until(lambda: broker.describe_group("g").state is GroupState.PREPARING_REBALANCE)
        clock.now += _WAITED_S
        again = join(a, first.member_id)
        joined = waiting.result()
        assert (joined.error_code, joined.generation_id) == (0, again.generation_id)
        assert sync(a, again, [again.member_id, joined.member_id]).error_code == 0
        assert sync(b, joined).error_code == 0
        assert b.request(HeartbeatRequest[3](
            group_id="g", generation_id=joined.generation_id, member_id=joined.member_id,
            group_instance_id=None)).error_code == 0
        assert len(broker.describe_group("g").members) == 2
