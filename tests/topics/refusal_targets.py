"""Module-scoped targets for the tests of refused arguments: a lone broker and a cluster of
three, each with the topic ``"t"``, and an admin client of each. A refusal changes nothing, so
one of each serves every case of a module. Import the fixtures a module uses. A broker
process serves its module's cases through one process (each takes a while to start)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.broker import Broker
from pcmodel.topics.remote import start_broker_process


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    broker = Broker()
    broker.create_topic("t", 1)
    yield broker
    broker.close()


@pytest.fixture(scope="module")
def admin(broker: Broker) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(broker=broker)
    yield admin
    admin.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(3, mode="steps")
    try:
        cluster.connect().create_topic("t", 1, replication_factor=3)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def cluster_admin(cluster: Cluster) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(broker=cluster)
    yield admin
    admin.close()


def refused_through_a_broker_process(cases: Iterable[Any],
                                     refused: Callable[..., None]) -> None:
    """``refused(proxy, *case.values)`` for each of ``cases`` (``pytest.param``s) against one
    broker process: its refusals come back through the proxy as the same ``TypeError``."""
    process = start_broker_process()
    try:
        with process.connect() as proxy:
            for case in cases:
                refused(proxy, *case.values)
    finally:
        process.stop()
