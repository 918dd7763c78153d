"""Where an admin client's requests can land, for tests that check each alike: a lone broker
in this process, a broker in another process, a cluster of threads, a cluster of broker
processes. Each is a context manager that yields what ``KafkaAdminClient(broker=...)`` takes
and stops it afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.server import BrokerServer


@contextmanager
def lone_broker() -> Iterator[object]:
    with Broker() as broker:
        yield broker


@contextmanager
def broker_process() -> Iterator[object]:
    with Broker() as broker:
        server = BrokerServer(broker).start()
        try:
            yield server.handle
        finally:
            server.stop()


@contextmanager
def cluster() -> Iterator[object]:
    with Cluster(3, mode="threads") as made:
        yield made


@contextmanager
def process_cluster() -> Iterator[object]:
    with Cluster(3, mode="processes") as made:
        yield made
