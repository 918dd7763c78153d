"""The Kafka wire-protocol front end: real Kafka clients talk to a pcmodel :class:`Broker`.

kafka-python, confluent-kafka (librdkafka) and ``kcat`` connect to a :class:`KafkaListener` over
Kafka's own TCP protocol and see the same topics, offsets and groups as pcmodel's clients::

    from pcmodel.topics import Broker

    with Broker() as broker, broker.serve_kafka(port=9092) as listener:
        print("bootstrap_servers =", listener.bootstrap_servers)
        ...                          # run kafka-python / confluent-kafka programs against it

The listener is a front end, not a second broker: each request is decoded with kafka-python's
schema-generated protocol classes (generated from Apache Kafka's JSON message schemas, so every
version and tagged field is declared, not hand-written), handed to one short handler per API key
in :mod:`pcmodel.wire.handlers`, which calls the same :class:`~pcmodel.topics.broker.Broker`
methods pcmodel's clients call, and the answer is encoded with the matching response class.

Layout:

- :mod:`pcmodel.wire.listener`: accepting connections, one thread per connection (Kafka answers
  one connection's requests in order), limits, shutdown.
- :mod:`pcmodel.wire.framing`: the size-prefixed frames, request headers, dispatch to handlers,
  what is refused and how.
- :mod:`pcmodel.wire.api`: the handler contract (:class:`ApiHandler`, :class:`RequestContext`).
- :mod:`pcmodel.wire.handlers`: the handlers and their registry.
- :mod:`pcmodel.wire.records`: record batches (v2) to and from the broker's records.
- :mod:`pcmodel.wire.view`: what the handlers ask about the cluster (brokers, leaders, leader
  epochs, coordinators); a lone broker is a cluster of one.
- :mod:`pcmodel.wire.cluster_view`, :mod:`pcmodel.wire.node_connection`,
  :mod:`pcmodel.wire.cluster_listeners`: a listener per broker of a replicated
  :class:`~pcmodel.cluster.Cluster` (``cluster.serve_kafka()``), serving what that broker leads
  and following it through kills and restarts.

What is not served, on purpose: SASL (plaintext Kafka only), delegation tokens, client quotas
(DescribeClientQuotas, AlterClientQuotas), SCRAM credentials (DescribeUserScramCredentials,
AlterUserScramCredentials), KRaft's quorum and feature flags (DescribeQuorum, UpdateFeatures;
ApiVersions finalizes no feature, so a client's ``describe_features`` finds none),
ListConfigResources, client telemetry (GetTelemetrySubscriptions, PushTelemetry), share groups,
ListTransactions v2 (its transactional-id pattern), and the configs of GROUP, CLIENT_METRICS and
BROKER_LOGGER resources (DescribeConfigs answers INVALID_REQUEST, naming the types it serves).
ApiVersions lists none of these APIs, so a real client refuses such a call itself, at once
(kafka-python raises ``IncompatibleBrokerVersion``, librdkafka ``_UNSUPPORTED_FEATURE``; one
configured for SASL stops at "SASL Handshake not supported by broker"). A request for an API or a
version ApiVersions does not list closes its connection unanswered, as a Kafka broker closes it;
only an ApiVersions newer than ours is answered, UNSUPPORTED_VERSION (KIP-511).

Needs the ``kafka`` extra (``kafka-python>=3,<4``).
Plaintext Kafka has no authentication: the listener binds to loopback unless told otherwise.
"""

from __future__ import annotations

from pcmodel.wire.listener import DEFAULT_MAX_REQUEST_BYTES, KafkaListener

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "KafkaListener"]
