"""A cluster's ``restart`` racing its ``close``: no broker process outlives the cluster.

In a process cluster ``restart`` checks that the cluster is open, then starts the broker's
process outside the cluster lock (a start takes a while). A ``close`` that had stopped the
brokers by then left the new process running after it returned; one that came during the
start or the registration left the restart failing with whatever broke first (a missing
directory, a refused connection, a registration "timeout" it never waited for). Now a start
after the close starts nothing, one under way sees the close within a tick and ends its
process, and every such restart raises ``IllegalStateError``. Each race is forced by wrapping
a step of the restart or of the close, never by sleeping. In one process (threads, steps) the
check and the revival are one critical section: there is no window, only the two orders.
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.errors import IllegalStateError
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)


def restart_in_a_thread(cluster: Cluster, broker: int,
                        done: threading.Event | None = None) -> tuple[threading.Thread, list]:
    """Start ``cluster.restart(broker)`` in a thread; its outcome (None or the exception) is
    appended to the list, then ``done`` set."""
    outcome: list = []

    def restart() -> None:
        try:
            cluster.restart(broker)
        except BaseException as exc:  # the test looks at what it raised
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            if done is not None:
                done.set()

    thread = threading.Thread(target=restart, name="test-restart")
    thread.start()
    return thread, outcome


def assert_gone(node) -> None:
    """The broker's process has ended and the cluster counts it down."""
    assert not node.alive
    assert node.pid is not None, "the restart never started a process"
    assert node.exitcode is not None, f"broker process {node.pid} outlived close()"


def test_a_close_between_restarts_check_and_its_start_starts_no_process(monkeypatch):
    cluster = Cluster(1, mode="processes", tick_ms=20)
    node = cluster.nodes[0]
    try:
        cluster.kill(0)
        killed_pid = node.pid
        real_start_process = cluster._start_process
        checked, closed = threading.Event(), threading.Event()

        def start_process_after_close(*args, **kwargs) -> None:
            checked.set()  # restart() found the cluster open: close it before the start
            assert closed.wait(30)
            real_start_process(*args, **kwargs)

        monkeypatch.setattr(cluster, "_start_process", start_process_after_close)
        thread, outcome = restart_in_a_thread(cluster, 0)
        assert checked.wait(30)
        cluster.close()
        closed.set()
        thread.join(30)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], IllegalStateError), outcome
        assert "closed" in str(outcome[0])
        assert node.pid == killed_pid, "a process was started after close() returned"
        assert not node.alive and node.exitcode is not None
    finally:
        cluster.close()
        node.kill()  # only if it leaked: the suite then reports the failure, not the leak


def test_a_restart_between_closes_stopping_the_brokers_and_its_end_starts_no_process(
        monkeypatch):
    cluster = Cluster(1, mode="processes", tick_ms=20)
    node = cluster.nodes[0]
    try:
        cluster.kill(0)
        killed_pid = node.pid
        real_start_process = cluster._start_process
        real_stop_timers = cluster._stop_coordinator_timers
        brokers_stopped, restart_done = threading.Event(), threading.Event()

        def start_process_once_brokers_stopped(*args, **kwargs) -> None:
            assert brokers_stopped.wait(30)
            real_start_process(*args, **kwargs)

        def stop_timers_after_the_restart() -> None:  # close() has stopped every broker
            brokers_stopped.set()
            assert restart_done.wait(30)
            real_stop_timers()

        monkeypatch.setattr(cluster, "_start_process", start_process_once_brokers_stopped)
        monkeypatch.setattr(cluster, "_stop_coordinator_timers", stop_timers_after_the_restart)
        thread, outcome = restart_in_a_thread(cluster, 0, restart_done)
        cluster.close()
        thread.join(30)
        assert not thread.is_alive()
        assert node.pid == killed_pid and node.exitcode is not None, \
            f"broker process {node.pid} was started by a restart after close() stopped the " \
            "brokers, and outlived it"
        assert len(outcome) == 1 and isinstance(outcome[0], IllegalStateError), outcome
        assert not node.alive
    finally:
        cluster.close()
        node.kill()


def test_a_close_while_restart_starts_the_process_cuts_the_start_short(monkeypatch):
    cluster = Cluster(1, mode="processes", tick_ms=20)
    node = cluster.nodes[0]
    try:
        cluster.kill(0)
        real_start = node.start
        checked = threading.Event()

        def start_once_closing(*args, **kwargs) -> None:
            checked.set()  # restart() found the cluster open: now let close() begin
            wait_until(lambda: cluster.closed)
            real_start(*args, **kwargs)

        monkeypatch.setattr(node, "start", start_once_closing)
        thread, outcome = restart_in_a_thread(cluster, 0)
        assert checked.wait(30)
        cluster.close()
        assert_gone(node)  # as soon as close() returned
        thread.join(30)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], IllegalStateError), outcome
        assert "closed" in str(outcome[0])
    finally:
        cluster.close()
        node.kill()  # only if it leaked: the suite then reports the failure, not the leak


def test_a_close_while_the_restarted_broker_waits_to_register_ends_the_restart(monkeypatch):
    # The killed broker's session lasts a minute: its new incarnation cannot register before
    # the close, so restart() is surely still waiting for it then.
    cluster = Cluster(1, mode="processes", tick_ms=20, broker_session_timeout_ms=60_000)
    node = cluster.nodes[0]
    try:
        cluster.kill(0)
        real_start = node.start
        started = threading.Event()

        def start_and_tell(*args, **kwargs) -> None:
            real_start(*args, **kwargs)
            started.set()

        monkeypatch.setattr(node, "start", start_and_tell)
        thread, outcome = restart_in_a_thread(cluster, 0)
        assert started.wait(30)
        cluster.close()
        assert_gone(node)
        thread.join(30)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], IllegalStateError), outcome
        assert "closed" in str(outcome[0])
    finally:
        cluster.close()
        node.kill()


def test_a_restart_that_returned_before_the_close_is_stopped_by_it():
    with Cluster(1, mode="processes", tick_ms=20, broker_session_timeout_ms=500) as cluster:
        node = cluster.nodes[0]
        cluster.stop(0)  # a controlled shutdown: the new incarnation registers at once
        cluster.restart(0)
        assert node.alive and node.exitcode is None
    assert_gone(node)


@pytest.mark.parametrize("mode", ["threads", "steps"])
def test_in_one_process_a_restart_racing_close_comes_before_it_or_is_refused(mode):
    # No window to force here: restart() checks the cluster open and revives the broker under
    # the cluster lock, which close() takes to close it. Either order must end with every
    # broker down; a restart that lost is refused, not half done.
    def close_with(cluster: Cluster, both: threading.Barrier) -> None:
        both.wait(10)
        cluster.close()

    for _ in range(20):
        cluster = Cluster(2, mode=mode, tick_ms=20)
        cluster.kill(0)
        both = threading.Barrier(2)
        closer = threading.Thread(target=close_with, args=(cluster, both))
        closer.start()
        both.wait(10)
        try:
            cluster.restart(0)
        except IllegalStateError as exc:
            assert "closed" in str(exc)
        closer.join(30)
        assert not closer.is_alive()
        assert not any(node.alive for node in cluster.nodes)
