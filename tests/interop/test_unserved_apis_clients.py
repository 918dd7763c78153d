"""What real clients make of the APIs pcmodel's listener does not serve: each call fails at
once, naming what the broker lacks, because ApiVersions does not list it (the clients check
before they send, so the listener never sees the request); nothing waits for a timeout. SCRAM
credentials, the KRaft quorum, feature flags, config-resource listing, ListTransactions' id
pattern (v2), and SASL itself (the listener speaks plaintext Kafka only)."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("kafka", reason="needs kafka-python (the kafka extra)")

import kafka.errors as kafka_errors  # noqa: E402
from kafka import KafkaProducer  # noqa: E402
from kafka.admin import KafkaAdminClient  # noqa: E402

from pcmodel.cluster import Cluster  # noqa: E402
from pcmodel.topics import Broker  # noqa: E402

pytestmark = pytest.mark.timeout(60)

#: What "at once" means here: far below every client timeout involved (30 s and more).
AT_ONCE = 5.0
FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


@pytest.fixture(scope="module")
def served():
    with Broker() as broker, broker.serve_kafka() as listener:
        yield listener


def _unserved_by_kafka_python(admin: KafkaAdminClient) -> dict[str, object]:
    """Each call of ``admin`` that needs an API pcmodel does not serve: what it raised."""
    calls = {
        "DescribeQuorum": admin.describe_metadata_quorum,
        "UpdateFeatures": lambda: admin.update_features({"group.version": 1}),
        "ListConfigResources": admin.list_config_resources,
        "DescribeUserScramCredentials": admin.describe_user_scram_credentials,
        "AlterUserScramCredentials": lambda: admin.alter_user_scram_credentials([]),
    }
    raised = {}
    for api, call in calls.items():
        started = time.monotonic()
        with pytest.raises(kafka_errors.IncompatibleBrokerVersion) as caught:
            call()
        assert time.monotonic() - started < AT_ONCE, api
        raised[api] = caught.value
    return raised


def test_kafka_python_admin_refuses_what_is_not_served_at_once(served):
    admin = KafkaAdminClient(bootstrap_servers=served.bootstrap_servers)
    try:
        for api, error in _unserved_by_kafka_python(admin).items():
            assert f"{api}Request" in str(error)
        # ListTransactions v0-v1 are served, their filters too; v2's id pattern is not.
        assert admin.list_transactions(state_filters=["Ongoing"],
                                       duration_filter_ms=10) == {0: []}
        with pytest.raises(kafka_errors.UnsupportedVersionError,
                           match="transactional_id_pattern"):
            admin.list_transactions(transactional_id_pattern="orders-.*")
        # No feature flags are finalized or supported (no KRaft metadata.version here).
        assert admin.describe_features() == {}
    finally:
        admin.close()
    assert served.statistics().unserved == {}  # refused by the client, never sent


def test_confluent_admin_refuses_scram_calls_at_once(served):
    confluent_admin = pytest.importorskip(
        "confluent_kafka.admin", reason="needs confluent-kafka")
    from confluent_kafka import KafkaError, KafkaException

    admin = confluent_admin.AdminClient({"bootstrap.servers": served.bootstrap_servers})
    deletion = confluent_admin.UserScramCredentialDeletion(
        "alice", confluent_admin.ScramMechanism.SCRAM_SHA_256)
    calls = {
        "DescribeUserScramCredentials": lambda: admin.describe_user_scram_credentials(
            request_timeout=30).result(),
        "AlterUserScramCredentials": lambda: admin.alter_user_scram_credentials(
            [deletion], request_timeout=30)["alice"].result(),
    }
    for api, call in calls.items():
        started = time.monotonic()
        with pytest.raises(KafkaException) as caught:
            call()
        assert time.monotonic() - started < AT_ONCE, api
        error = caught.value.args[0]
        assert error.code() == KafkaError._UNSUPPORTED_FEATURE, error
        assert api in error.str()
    assert served.statistics().unserved == {}


def test_a_kafka_python_client_configured_for_sasl_is_refused_at_once(served):
    started = time.monotonic()
    with pytest.raises(kafka_errors.IncompatibleBrokerVersion, match="SaslHandshake"):
        KafkaProducer(bootstrap_servers=served.bootstrap_servers,
                      security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                      sasl_plain_username="alice", sasl_plain_password="secret")
    assert time.monotonic() - started < AT_ONCE
    assert served.statistics().unserved == {}


def test_a_librdkafka_client_configured_for_sasl_is_refused_at_once(served):
    confluent_kafka = pytest.importorskip("confluent_kafka", reason="needs confluent-kafka")
    refused = threading.Event()
    errors, authentication = [], []

    def on_error(error) -> None:
        errors.append(error)
        if error.code() == confluent_kafka.KafkaError._AUTHENTICATION:
            authentication.append(error)
            refused.set()

    producer = confluent_kafka.Producer({
        "bootstrap.servers": served.bootstrap_servers, "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": "secret",
        "error_cb": on_error})
    started = time.monotonic()
    deadline = started + AT_ONCE
    while not refused.is_set() and time.monotonic() < deadline:
        producer.poll(0.1)  # error_cb runs in poll()
    assert refused.is_set(), errors
    assert "SASL Handshake not supported by broker" in authentication[0].str()
    assert served.statistics().unserved == {}


def test_a_cluster_refuses_what_is_not_served_at_once():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            assert set(_unserved_by_kafka_python(admin)) == {
                "DescribeQuorum", "UpdateFeatures", "ListConfigResources",
                "DescribeUserScramCredentials", "AlterUserScramCredentials"}
        finally:
            admin.close()
        assert all(listeners.listener(broker).statistics().unserved == {}
                   for broker in listeners.addresses)
