"""The admin client's ACL calls: pcmodel has no authorizer, so describe_acls, create_acls and
delete_acls answer SECURITY_DISABLED and store nothing, as a Kafka broker without one does; the
value types check their fields as they are built. (The same program on pcmodel and on
kafka-python: ``tests/portability/test_programs.py``.)"""

from __future__ import annotations

import re

import pytest

from pcmodel.topics import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    Broker,
    IllegalArgumentError,
    IllegalStateError,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    SecurityDisabledError,
)

pytestmark = pytest.mark.timeout(60)


def test_the_calls_answer_security_disabled_and_check_their_arguments_first():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        with pytest.raises(SecurityDisabledError, match="No Authorizer is configured on the "):
            admin.describe_acls(ANY_TOPIC_ACL)
        assert admin.create_acls([READ_T]) == {"succeeded": [],
                                               "failed": [SecurityDisabledError]}
        assert admin.delete_acls([ANY_TOPIC_ACL, READ_T]) == [
            (ANY_TOPIC_ACL, [], SecurityDisabledError), (READ_T, [], SecurityDisabledError)]
        assert admin.create_acls([]) == {"succeeded": [], "failed": []}
        assert admin.delete_acls([]) == []
    for call in (lambda: admin.describe_acls(ANY_TOPIC_ACL), lambda: admin.create_acls([]),
                 lambda: admin.delete_acls([])):
        with pytest.raises(IllegalStateError, match="closed"):
            call()


ANY_TOPIC = ResourcePatternFilter(ResourceType.TOPIC, None, ACLResourcePatternType.ANY)
ANY_TOPIC_ACL = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, ANY_TOPIC)
TOPIC_T = ResourcePattern(ResourceType.TOPIC, "t")
READ_T = ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW, TOPIC_T)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: ResourcePatternFilter(2, None, ACLResourcePatternType.ANY),
     "resource_type must be of type ResourceType, not 2"),
    (lambda: ResourcePatternFilter(ResourceType.TOPIC, None, "any"),
     "pattern_type must be of type ACLResourcePatternType"),
    (lambda: ResourcePatternFilter(ResourceType.TOPIC, "", ACLResourcePatternType.ANY),
     "resource_name must be a non-empty str, or None for any, not ''"),
    (lambda: ResourcePattern(ResourceType.ANY, "t"), "resource_type cannot be ANY"),
    (lambda: ResourcePattern(ResourceType.TOPIC, "t", ACLResourcePatternType.MATCH),
     "pattern_type cannot be MATCH in a ResourcePattern"),
    (lambda: ResourcePattern(ResourceType.TOPIC, None), "resource_name must be a non-empty str"),
    (lambda: ACLFilter(None, None, 1, ACLPermissionType.ANY, ANY_TOPIC),
     "operation must be of type ACLOperation"),
    (lambda: ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, "t"),
     "resource_pattern must be of type ResourcePatternFilter"),
    (lambda: ACLFilter(7, None, ACLOperation.ANY, ACLPermissionType.ANY, ANY_TOPIC),
     "principal must be a non-empty str, or None for any, not 7"),
    (lambda: ACL("User:alice", "*", ACLOperation.ANY, ACLPermissionType.ALLOW, TOPIC_T),
     "operation cannot be ANY in an ACL"),
    (lambda: ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ANY, TOPIC_T),
     "permission_type cannot be ANY in an ACL"),
    (lambda: ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW, ANY_TOPIC),
     "resource_pattern must be of type ResourcePattern"),
    (lambda: ACL(None, "*", ACLOperation.READ, ACLPermissionType.ALLOW, TOPIC_T),
     "principal must be a non-empty str, not None"),
    (lambda: ACL("User:alice", None, ACLOperation.READ, ACLPermissionType.ALLOW, TOPIC_T),
     "host must be a non-empty str, not None"),
])
def test_a_malformed_acl_or_filter_is_refused_as_it_is_built(build, message):
    with pytest.raises(IllegalArgumentError, match=message.replace("(", r"\(")):
        build()


@pytest.mark.parametrize(("call", "message"), [
    (lambda admin: admin.describe_acls(READ_T.resource_pattern),
     "acl_filter must be of type ACLFilter"),
    (lambda admin: admin.create_acls([ANY_TOPIC_ACL]), "acls must contain ACL objects"),
    (lambda admin: admin.delete_acls([READ_T, "t"]),
     "acl_filters must contain ACLFilter objects, not 't'"),
])
def test_a_call_with_the_wrong_objects_is_refused(call, message):
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin, \
            pytest.raises(IllegalArgumentError, match=message):
        call(admin)


@pytest.mark.parametrize(("call", "message"), [
    (lambda admin: admin.create_acls("x"), "acls must be a list of ACL, not the str 'x'"),
    (lambda admin: admin.create_acls(b"x"), "acls must be a list of ACL, not the bytes b'x'"),
    (lambda admin: admin.create_acls(READ_T),
     f"acls must be a list of ACL, not the ACL {READ_T!r}"),
    (lambda admin: admin.delete_acls("t"),
     "acl_filters must be a list of ACLFilter, not the str 't'"),
    (lambda admin: admin.delete_acls(ANY_TOPIC_ACL),
     f"acl_filters must be a list of ACLFilter, not the ACLFilter {ANY_TOPIC_ACL!r}"),
])
def test_something_that_is_not_a_list_is_a_type_error(call, message):
    """Not a list is a mistake of type, refused with the ``TypeError`` every other admin call
    gives for it (the shared check): kafka-python raises ``IllegalArgumentError`` for a str
    only because it walks its characters, each not an ACL, and ``TypeError`` for one ACL."""
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin, \
            pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        call(admin)


def test_acls_and_patterns_compare_and_hash_by_their_fields():
    again = ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.TOPIC, "t", ACLResourcePatternType.LITERAL))
    assert again == READ_T and len({again, READ_T}) == 1
    denied = ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.DENY, TOPIC_T)
    assert denied != READ_T
    assert ACLOperation.IDEMPOTENT_WRITE == 12 and ResourceType.TRANSACTIONAL_ID == 5
    assert isinstance(READ_T, ACLFilter)  # an ACL is a filter that matches itself
