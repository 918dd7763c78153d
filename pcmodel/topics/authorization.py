"""What a client may do, as a Kafka broker without an authorizer answers it: everything.

Kafka's Metadata (a topic's operations; the cluster's), DescribeCluster and DescribeGroups
answer, when the client asks, the operations it may perform on the resource: a set of
``AclOperation`` codes, a bit field on the wire, which kafka-python's admin client turns into
their names. pcmodel has no ACLs, so it answers as Kafka's ``AuthHelper.authorizedOperations``
does with no authorizer configured: every operation the resource type supports
(``AclEntry.supportedOperations``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = [
    "AclOperation",
    "CLUSTER_OPERATIONS",
    "GROUP_OPERATIONS",
    "TOPIC_OPERATIONS",
    "bit_field",
    "operation_names",
]


class AclOperation(enum.IntEnum):
    """Kafka's ACL operations that a topic, a group or the cluster supports, by wire code."""

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


_op = AclOperation
#: The cluster's operations (``AclEntry.supportedOperations(CLUSTER)``).
CLUSTER_OPERATIONS = frozenset({_op.CREATE, _op.ALTER, _op.DESCRIBE, _op.CLUSTER_ACTION,
                                _op.DESCRIBE_CONFIGS, _op.ALTER_CONFIGS, _op.IDEMPOTENT_WRITE})
#: A topic's operations (``AclEntry.supportedOperations(TOPIC)``).
TOPIC_OPERATIONS = frozenset({_op.READ, _op.WRITE, _op.CREATE, _op.DELETE, _op.ALTER,
                              _op.DESCRIBE, _op.DESCRIBE_CONFIGS, _op.ALTER_CONFIGS})
#: A consumer group's operations (``AclEntry.supportedOperations(GROUP)``).
GROUP_OPERATIONS = frozenset({_op.READ, _op.DELETE, _op.DESCRIBE, _op.DESCRIBE_CONFIGS,
                              _op.ALTER_CONFIGS})


def operation_names(operations: Iterable[AclOperation]) -> list[str]:
    """The operations' names by code, as kafka-python's admin client lists them."""
    return [operation.name for operation in sorted(operations)]


def bit_field(operations: Iterable[AclOperation]) -> int:
    """The operations as the wire carries them: bit ``code`` set for each (Kafka's
    ``Utils.to32BitField``)."""
    field = 0
    for operation in operations:
        field |= 1 << operation
    return field
