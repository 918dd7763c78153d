"""Fixtures for the replication tests: stepped clusters on virtual time that always close."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pcmodel.cluster import Cluster


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(brokers=3, **settings)``: a stepped cluster, closed after the test."""
    made: list[Cluster] = []

    def make(brokers: int = 3, **settings) -> Cluster:
        settings.setdefault("mode", "steps")
        cluster = Cluster(brokers, **settings)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()
