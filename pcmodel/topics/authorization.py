"""What a client may do, as a Kafka broker without an authorizer answers it: everything.

Kafka's Metadata (a topic's operations; the cluster's), DescribeCluster and DescribeGroups
answer, when the client asks, the operations it may perform on the resource: a set of
``ACLOperation`` codes, a bit field on the wire, which kafka-python's admin client turns into
their names. pcmodel has no ACLs, so it answers as Kafka's ``AuthHelper.authorizedOperations``
does with no authorizer configured: every operation the resource type supports
(``AclEntry.supportedOperations``).

The ACL APIs themselves (DescribeAcls, CreateAcls, DeleteAcls) are answered SECURITY_DISABLED,
with the messages below, by the Kafka listener (:mod:`pcmodel.wire.handlers.acls`) and by the
admin client (:mod:`pcmodel.topics.admin_acls`). The enumerations here are Kafka's ACL
vocabulary, by wire code and with kafka-python's names.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = [
    "ACLOperation",
    "ACLPermissionType",
    "ACLResourcePatternType",
    "CLUSTER_OPERATIONS",
    "GROUP_OPERATIONS",
    "NO_AUTHORIZER",
    "NO_AUTHORIZER_TO_CHANGE",
    "ResourceType",
    "TOPIC_OPERATIONS",
    "bit_field",
    "operation_names",
]

#: What a Kafka broker without an authorizer answers DescribeAcls with (``AclApis``).
NO_AUTHORIZER = "No Authorizer is configured on the broker"
#: What it answers each ACL of a CreateAcls and each filter of a DeleteAcls with.
NO_AUTHORIZER_TO_CHANGE = "No Authorizer is configured."


class ACLOperation(enum.IntEnum):
    """Kafka's ACL operations (``AclOperation``), by wire code. ``ANY`` only matches, in a
    filter; ``ALL`` grants every operation."""

    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class ResourceType(enum.IntEnum):
    """The kinds of resource an ACL applies to (Kafka's ``ResourceType``); ``ANY`` only in a
    filter."""

    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class ACLPermissionType(enum.IntEnum):
    """Whether an ACL allows or denies (Kafka's ``AclPermissionType``); ``ANY`` only in a
    filter."""

    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


class ACLResourcePatternType(enum.IntEnum):
    """How an ACL's resource name matches (Kafka's ``PatternType``, KIP-290): ``LITERAL`` the
    name itself, ``PREFIXED`` every name it begins; ``ANY`` and ``MATCH`` only in a filter."""

    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


_op = ACLOperation
#: The cluster's operations (``AclEntry.supportedOperations(CLUSTER)``).
CLUSTER_OPERATIONS = frozenset({_op.CREATE, _op.ALTER, _op.DESCRIBE, _op.CLUSTER_ACTION,
                                _op.DESCRIBE_CONFIGS, _op.ALTER_CONFIGS, _op.IDEMPOTENT_WRITE})
#: A topic's operations (``AclEntry.supportedOperations(TOPIC)``).
TOPIC_OPERATIONS = frozenset({_op.READ, _op.WRITE, _op.CREATE, _op.DELETE, _op.ALTER,
                              _op.DESCRIBE, _op.DESCRIBE_CONFIGS, _op.ALTER_CONFIGS})
#: A consumer group's operations (``AclEntry.supportedOperations(GROUP)``).
GROUP_OPERATIONS = frozenset({_op.READ, _op.DELETE, _op.DESCRIBE, _op.DESCRIBE_CONFIGS,
                              _op.ALTER_CONFIGS})


def operation_names(operations: Iterable[ACLOperation]) -> list[str]:
    """The operations' names by code, as kafka-python's admin client lists them."""
    return [operation.name for operation in sorted(operations)]


def bit_field(operations: Iterable[ACLOperation]) -> int:
    """The operations as the wire carries them: bit ``code`` set for each (Kafka's
    ``Utils.to32BitField``)."""
    field = 0
    for operation in operations:
        field |= 1 << operation
    return field
