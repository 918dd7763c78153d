"""The ACL APIs from real admin clients: pcmodel has no authorizer, so its listener answers
DescribeAcls, CreateAcls and DeleteAcls as a Kafka broker without one does, SECURITY_DISABLED,
and stores nothing; raw requests at every version get the same, with Kafka's messages."""

from __future__ import annotations

import pytest

pytest.importorskip("kafka", reason="needs kafka-python (the kafka extra)")

import kafka.admin as kafka_admin  # noqa: E402
import kafka.errors as kafka_errors  # noqa: E402
from kafka.protocol.admin.acl import (  # noqa: E402
    CreateAclsRequest,
    DeleteAclsRequest,
    DescribeAclsRequest,
)

from pcmodel.cluster import Cluster  # noqa: E402
from pcmodel.topics import Broker  # noqa: E402
from tests.wire.conftest import RawClient  # noqa: E402

pytestmark = pytest.mark.timeout(60)

SECURITY_DISABLED = kafka_errors.SecurityDisabledError.errno
FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
TOPICS = kafka_admin.ResourcePatternFilter(kafka_admin.ResourceType.TOPIC, None,
                                           kafka_admin.ACLResourcePatternType.ANY)
ANY_ACL = kafka_admin.ACLFilter(principal=None, host=None,
                                operation=kafka_admin.ACLOperation.ANY,
                                permission_type=kafka_admin.ACLPermissionType.ANY,
                                resource_pattern=TOPICS)
READ_T = kafka_admin.ACL(principal="User:alice", host="*",
                         operation=kafka_admin.ACLOperation.READ,
                         permission_type=kafka_admin.ACLPermissionType.ALLOW,
                         resource_pattern=kafka_admin.ResourcePattern(
                             kafka_admin.ResourceType.TOPIC, "t"))


def kafka_python_sees_security_disabled(bootstrap: str) -> None:
    admin = kafka_admin.KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        with pytest.raises(kafka_errors.SecurityDisabledError,
                           match="No Authorizer is configured on the broker"):
            admin.describe_acls(ANY_ACL)
        created = admin.create_acls([READ_T, READ_T])
        assert created["succeeded"] == []
        assert created["failed"] == [kafka_errors.SecurityDisabledError] * 2
        ((_, matched, error),) = admin.delete_acls([ANY_ACL])
        assert (matched, error) == ([], kafka_errors.SecurityDisabledError)
    finally:
        admin.close()


def test_kafka_python_learns_that_a_lone_broker_has_no_authorizer():
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        kafka_python_sees_security_disabled(listener.bootstrap_servers)


def test_kafka_python_learns_that_a_cluster_has_no_authorizer():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        kafka_python_sees_security_disabled(listeners.bootstrap_servers)


def test_confluent_kafka_learns_that_security_is_disabled():
    confluent_admin = pytest.importorskip("confluent_kafka.admin")
    from confluent_kafka import KafkaException

    with Broker() as broker, broker.serve_kafka() as listener:
        admin = confluent_admin.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
        binding_filter = confluent_admin.AclBindingFilter(
            confluent_admin.ResourceType.ANY, None, confluent_admin.ResourcePatternType.ANY,
            None, None, confluent_admin.AclOperation.ANY,
            confluent_admin.AclPermissionType.ANY)
        # librdkafka drops DescribeAcls' top-level error code (rd_kafka_DescribeAclsResponse_
        # parse): against a Kafka broker without an authorizer it lists nothing, and so here.
        assert admin.describe_acls(binding_filter, request_timeout=10).result(timeout=30) == []
        binding = confluent_admin.AclBinding(
            confluent_admin.ResourceType.TOPIC, "t", confluent_admin.ResourcePatternType.LITERAL,
            "User:alice", "*", confluent_admin.AclOperation.READ,
            confluent_admin.AclPermissionType.ALLOW)
        (future,) = admin.create_acls([binding], request_timeout=10).values()
        with pytest.raises(KafkaException) as raised:
            future.result(timeout=30)
        assert raised.value.args[0].code() == confluent_kafka_security_disabled()


def confluent_kafka_security_disabled() -> int:
    from confluent_kafka import KafkaError
    return KafkaError.SECURITY_DISABLED


@pytest.mark.parametrize("version", range(4))
def test_every_version_answers_security_disabled_and_stores_nothing(version):
    with Broker() as broker, broker.serve_kafka() as listener, \
            RawClient(listener.address) as raw:
        described = raw.request(DescribeAclsRequest[version](
            resource_type_filter=2, resource_name_filter=None, pattern_type_filter=1,
            principal_filter=None, host_filter=None, operation=1, permission_type=1))
        assert (described.error_code, described.error_message, described.resources) == (
            SECURITY_DISABLED, "No Authorizer is configured on the broker", [])
        creation = CreateAclsRequest.AclCreation(
            resource_type=2, resource_name="t", resource_pattern_type=3,
            principal="User:alice", host="*", operation=3, permission_type=3)
        created = raw.request(CreateAclsRequest[version](creations=[creation, creation]))
        assert [(r.error_code, r.error_message) for r in created.results] == [
            (SECURITY_DISABLED, "No Authorizer is configured.")] * 2
        acl_filter = DeleteAclsRequest.DeleteAclsFilter(
            resource_type_filter=2, resource_name_filter=None, pattern_type_filter=1,
            principal_filter=None, host_filter=None, operation=1, permission_type=1)
        deleted = raw.request(DeleteAclsRequest[version](filters=[acl_filter]))
        assert [(r.error_code, r.matching_acls) for r in deleted.filter_results] == [
            (SECURITY_DISABLED, [])]
