"""Stopping a listener does not wait for a group round a client is waiting in.

A JoinGroup waits until every member has rejoined, up to the group's rebalance timeout
(minutes, for real clients); a SyncGroup waits for the leader's assignment. A listener being
stopped (Ctrl-C on ``pcmodel broker --kafka``) closes such a connection at once instead of
waiting for the round, as a broker that stops drops its connections; the member is left to
expire as after a broker crash.
"""

from __future__ import annotations

import logging
import threading

import pytest
from kafka.protocol.consumer.group import JoinGroupRequest, SyncGroupRequest

from pcmodel.topics.coordinator import GroupState
from tests.conftest import wait_until
from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(30)

#: Longer than the test's timeout: a listener that waited for the round would fail it.
ROUND_MS = 60_000
PROTOCOLS = [("range", b"")]


def _waiting_request(listener, request, errors: list) -> threading.Thread:
    """Send ``request`` on a new connection from a thread that records how the wait ended."""
    def run() -> None:
        with RawClient(listener.address, timeout=25) as raw:
            try:
                raw.request(request)
                errors.append(None)  # answered
            except (ConnectionError, OSError) as exc:
                errors.append(exc)  # closed: what the test expects
    thread = threading.Thread(target=run, name="waiting-client")
    thread.start()
    return thread


def _stop_and_check(listener, waiting: threading.Thread, errors: list, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pcmodel.wire.listener"):
        listener.stop(timeout=20)
    waiting.join(20)
    assert not waiting.is_alive()
    assert len(errors) == 1 and errors[0] is not None, errors  # closed, not answered
    assert not [r for r in caplog.records if "did not end" in r.getMessage()]


def test_stop_closes_a_connection_waiting_in_join_group(broker, caplog):
    listener = broker.serve_kafka()
    first = broker.join_group("g", "", protocols=PROTOCOLS, session_timeout_ms=ROUND_MS,
                              rebalance_timeout_ms=ROUND_MS, timeout=5)
    broker.sync_group("g", first.member_id, first.generation,
                      assignments={first.member_id: b""}, timeout=5)
    errors: list = []
    # A newcomer's join starts a round that waits for the first member, who never rejoins.
    waiting = _waiting_request(listener, JoinGroupRequest[3](
        group_id="g", session_timeout_ms=ROUND_MS, rebalance_timeout_ms=ROUND_MS,
        member_id="", protocol_type="consumer",
        protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")]),
        errors)
    wait_until(lambda: listener.statistics().requests.get("JoinGroup") == 1
               and broker.describe_group("g").state is GroupState.PREPARING_REBALANCE,
               timeout=10)
    _stop_and_check(listener, waiting, errors, caplog)


def test_stop_closes_a_connection_waiting_in_sync_group(broker, caplog):
    listener = broker.serve_kafka()
    leader = broker.join_group("g", "", protocols=PROTOCOLS, session_timeout_ms=ROUND_MS,
                               rebalance_timeout_ms=ROUND_MS, timeout=5)
    errors: list = []
    # The leader's SyncGroup never comes: a follower's waits for it...
    broker.sync_group("g", leader.member_id, leader.generation,
                      assignments={leader.member_id: b""}, timeout=5)
    follower = broker.join_group("g", "", protocols=PROTOCOLS, session_timeout_ms=ROUND_MS,
                                 rebalance_timeout_ms=ROUND_MS, timeout=0.1)
    assert follower.pending  # the round waits for the leader to rejoin
    broker.join_group("g", leader.member_id, protocols=PROTOCOLS,
                      session_timeout_ms=ROUND_MS, rebalance_timeout_ms=ROUND_MS, timeout=5)
    follower = broker.join_group("g", follower.member_id, protocols=PROTOCOLS,
                                 session_timeout_ms=ROUND_MS, rebalance_timeout_ms=ROUND_MS,
                                 timeout=5)
    assert not follower.pending and follower.leader == leader.member_id
    waiting = _waiting_request(listener, SyncGroupRequest[3](
        group_id="g", generation_id=follower.generation, member_id=follower.member_id,
        group_instance_id=None, assignments=[]), errors)
    # ...which the listener holds until the leader's assignment arrives.
    wait_until(lambda: listener.statistics().requests.get("SyncGroup") == 1, timeout=10)
    assert broker.describe_group("g").state is GroupState.COMPLETING_REBALANCE
    _stop_and_check(listener, waiting, errors, caplog)
