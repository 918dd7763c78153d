"""A stop signal while ``pcmodel cluster`` starts ends the start there, not once it is done.

The command holds SIGINT and SIGTERM from the start on (they only make its wake-up socket
readable, so that the clean-up is never cut in half); the start asks that socket between its
steps and at every tick of its waits (``Cluster(start_cancelled=...)``), stops what had started
and ends as interrupted: one line, status 130, no broker address printed, and no process,
thread or port left behind.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing import forkserver, resource_tracker

import pytest

from pcmodel.cli import INTERRUPTED, main
from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.hosted import HostedBroker, process_context

pytestmark = pytest.mark.timeout(60)


def pcmodel_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("pcmodel-"))


def open_descriptors() -> set[str]:
    """This process's open file descriptors: sockets, pipes, files (a leaked port or pipe
    to a broker process stays among them). The fork server the broker processes start from
    and multiprocessing's resource tracker run once per process, by design: they are
    started first, so that their pipes are not counted."""
    process_context()
    forkserver.ensure_running()
    resource_tracker.ensure_running()
    return set(os.listdir("/proc/self/fd"))


def assert_nothing_left(descriptors: set[str], threads_before: list[str]) -> None:
    assert multiprocessing.active_children() == []
    assert pcmodel_threads() == threads_before
    gc.collect()  # a broker process's pipes close with its (unreachable) handle
    assert open_descriptors() <= descriptors


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_the_broker_processes_start_ends_the_start(monkeypatch, capsys, signum):
    started: list[int] = []
    real_start = HostedBroker.start

    def start_then_stop(node, spec, *args, **kwargs):
        real_start(node, spec, *args, **kwargs)
        started.append(spec.node_id)
        if len(started) == 1:
            os.kill(os.getpid(), signum)  # as Ctrl-C, once the first broker runs

    monkeypatch.setattr(HostedBroker, "start", start_then_stop)
    before, descriptors = pcmodel_threads(), open_descriptors()
    began = time.monotonic()
    status = main(["cluster", "--processes", "--brokers", "3"])
    took = time.monotonic() - began
    out, err = capsys.readouterr()
    assert status == INTERRUPTED, (out, err)
    assert err == "pcmodel cluster: interrupted\n"
    assert "broker 0:" not in out and "stopped" not in out
    assert started == [0]  # the other brokers never started
    assert_nothing_left(descriptors, before)
    assert took < 30


def test_a_stop_while_the_listeners_start_stops_the_brokers_threads(monkeypatch, capsys):
    real_start_threads = Cluster._start_threads

    def start_then_stop(cluster):
        real_start_threads(cluster)
        os.kill(os.getpid(), signal.SIGINT)  # the threads run; the listeners are next

    monkeypatch.setattr(Cluster, "_start_threads", start_then_stop)
    before, descriptors = pcmodel_threads(), open_descriptors()
    status = main(["cluster", "--brokers", "3"])
    out, err = capsys.readouterr()
    assert (status, err) == (INTERRUPTED, "pcmodel cluster: interrupted\n")
    assert "broker 0:" not in out
    assert_nothing_left(descriptors, before)


def test_a_cluster_whose_start_is_cancelled_raises_and_stops_what_started():
    asked = []

    def cancelled():
        asked.append(time.monotonic())
        return len(asked) > 1  # the second question: while the first process starts

    before = pcmodel_threads()
    with pytest.raises(KeyboardInterrupt):
        Cluster(3, mode="processes", start_cancelled=cancelled)
    assert multiprocessing.active_children() == []
    assert pcmodel_threads() == before
