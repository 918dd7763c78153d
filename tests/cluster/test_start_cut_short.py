"""A cluster whose start is cut short (Ctrl-C while its threads start) closes cleanly: the
interrupt reaches the caller, not a RuntimeError from joining a thread that never started."""

from __future__ import annotations

import threading

import pytest

from pcmodel.cluster import Cluster


@pytest.mark.timeout(30)
def test_an_interrupt_while_the_threads_start_closes_the_started_ones(monkeypatch):
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def start_then_interrupt(thread: threading.Thread) -> None:
        if thread.name.startswith("pcmodel-") and len(started) == 2:
            raise KeyboardInterrupt  # as a Ctrl-C between two starts
        real_start(thread)
        started.append(thread)

    monkeypatch.setattr(threading.Thread, "start", start_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        Cluster(brokers=3)
    monkeypatch.undo()
    for thread in started:
        thread.join(timeout=10)
        assert not thread.is_alive(), thread.name
