"""The ACL part of :class:`~pcmodel.topics.admin.KafkaAdminClient`: ``describe_acls``,
``create_acls`` and ``delete_acls``, answered as a Kafka broker without an authorizer answers
them.

pcmodel has no access control: every client may do everything
(:mod:`pcmodel.topics.authorization`). A Kafka broker configured without an authorizer still
serves the three ACL APIs, to say so: every call is answered SECURITY_DISABLED and nothing is
stored. The admin client answers the same, so a program that manages ACLs learns here what it
would learn from such a broker, and the same lines run against a secured Kafka cluster after
changing the import. pcmodel's Kafka listener answers real clients the same way
(:mod:`pcmodel.wire.handlers.acls`).

The value types are kafka-python 3's (``kafka.admin``), with its names and arguments: an
:class:`ACL` is a principal (``"User:alice"``), a host (``"*"`` for any), an operation, a
permission (allow or deny) and a :class:`ResourcePattern`; an :class:`ACLFilter` is the same with
``None`` and the ``ANY`` values as wildcards, for describing and deleting. They check their
fields when built, and raise ``IllegalArgumentError`` naming the field that is wrong.

The results keep kafka-python 3's shapes, where the Java client hands out one future per ACL
or filter instead: ``describe_acls`` raises the error; ``create_acls`` lists the error's class
once per ACL under ``"failed"``; ``delete_acls`` gives one ``(filter, matching ACLs, error
class)`` per filter.

Prior art: kafka-python's ``kafka/admin/_acls.py`` and Kafka's ``AclApis`` (what a broker
without an authorizer answers), the Java ``Admin`` interface (``describeAcls``, ``createAcls``,
``deleteAcls``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pcmodel.topics.authorization import (
    NO_AUTHORIZER,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourceType,
)
from pcmodel.topics.broker_checks import _check_list
from pcmodel.topics.errors import IllegalArgumentError, SecurityDisabledError

__all__ = ["ACL", "ACLFilter", "AclAdminMixin", "ResourcePattern", "ResourcePatternFilter"]


def _check_enum(value: object, kind: type, field: str) -> None:
    if not isinstance(value, kind):
        raise IllegalArgumentError(f"{field} must be of type {kind.__name__}, not {value!r}")


def _check_name(value: object, field: str, wildcard: bool) -> None:
    """A name an ACL matches: a string, or ``None`` (any) in a filter."""
    if value is None and wildcard:
        return
    if not isinstance(value, str) or not value:
        allowed = "a non-empty str, or None for any" if wildcard else "a non-empty str"
        raise IllegalArgumentError(f"{field} must be {allowed}, not {value!r}")


@dataclass(frozen=True)
class ResourcePatternFilter:
    """Which resources a filter matches: a ``ResourceType`` (``ANY`` for every kind), a name
    (``None`` for any) and an ``ACLResourcePatternType`` (``ANY``; ``MATCH``, the patterns that
    would match the name; or ``LITERAL``, ``PREFIXED``)."""

    resource_type: ResourceType
    resource_name: str | None
    pattern_type: ACLResourcePatternType

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        _check_enum(self.resource_type, ResourceType, "resource_type")
        _check_enum(self.pattern_type, ACLResourcePatternType, "pattern_type")
        _check_name(self.resource_name, "resource_name", wildcard=True)


@dataclass(frozen=True)
class ResourcePattern(ResourcePatternFilter):
    """The resources an ACL applies to: one ``ResourceType`` (not ``ANY``), a name and how it
    matches, ``LITERAL`` (the default: that name) or ``PREFIXED`` (every name it begins)."""

    pattern_type: ACLResourcePatternType = ACLResourcePatternType.LITERAL

    def _check(self) -> None:
        super()._check()
        if self.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
            raise IllegalArgumentError(
                f"resource_type cannot be {self.resource_type.name} in a ResourcePattern; "
                "use a ResourcePatternFilter to match several kinds")
        if self.pattern_type not in (ACLResourcePatternType.LITERAL,
                                     ACLResourcePatternType.PREFIXED):
            raise IllegalArgumentError(
                f"pattern_type cannot be {self.pattern_type.name} in a ResourcePattern; use "
                "LITERAL or PREFIXED, or a ResourcePatternFilter to match")
        _check_name(self.resource_name, "resource_name", wildcard=False)


@dataclass(frozen=True)
class ACLFilter:
    """Which ACLs to describe or delete: ``principal`` and ``host`` (``None`` for any), an
    ``ACLOperation`` and an ``ACLPermissionType`` (``ANY`` for any) and a
    :class:`ResourcePatternFilter`."""

    principal: str | None
    host: str | None
    operation: ACLOperation
    permission_type: ACLPermissionType
    resource_pattern: ResourcePatternFilter

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        _check_enum(self.operation, ACLOperation, "operation")
        _check_enum(self.permission_type, ACLPermissionType, "permission_type")
        _check_enum(self.resource_pattern, ResourcePatternFilter, "resource_pattern")
        _check_name(self.principal, "principal", wildcard=True)
        _check_name(self.host, "host", wildcard=True)


@dataclass(frozen=True)
class ACL(ACLFilter):
    """One access rule: ``principal`` (``"User:alice"``) may (``ALLOW``) or may not (``DENY``)
    perform ``operation`` on the resources of ``resource_pattern`` (a :class:`ResourcePattern`)
    from ``host`` (``"*"`` for any host)."""

    resource_pattern: ResourcePattern

    def _check(self) -> None:
        super()._check()
        for field, value in (("operation", self.operation),
                             ("permission_type", self.permission_type)):
            if value.name in ("ANY", "UNKNOWN"):
                raise IllegalArgumentError(f"{field} cannot be {value.name} in an ACL; use an "
                                           "ACLFilter to match several")
        _check_enum(self.resource_pattern, ResourcePattern, "resource_pattern")
        _check_name(self.principal, "principal", wildcard=False)
        _check_name(self.host, "host", wildcard=False)


def _listed(values: Iterable[Any], kind: type, what: str) -> list[Any]:
    """``values`` as a list, each a ``kind``. Something that is not a list (a bare str, a
    single ACL) is a ``TypeError``, as everywhere in the admin client (the shared check);
    an entry that is not a ``kind`` is kafka-python's ``IllegalArgumentError``, with its
    message."""
    listed = _check_list(what, values, kind.__name__)
    for value in listed:
        if not isinstance(value, kind):
            raise IllegalArgumentError(f"{what} must contain {kind.__name__} objects, not "
                                       f"{value!r}")
    return listed


class AclAdminMixin:
    """ACL administration (KafkaAdminClient part: the client provides ``_check_open()``)."""

    def describe_acls(self, acl_filter: ACLFilter) -> tuple[list[ACL], Any]:
        """The ACLs ``acl_filter`` matches (Kafka's DescribeAcls).

        On a Kafka broker with an authorizer kafka-python returns ``(ACLs, NoError)``; pcmodel
        has none, so this always raises ``SecurityDisabledError`` ("No Authorizer is configured
        on the broker"), as such a broker answers. Raises ``IllegalArgumentError`` first for
        something that is not an :class:`ACLFilter`.
        """
        self._check_open()
        _check_enum(acl_filter, ACLFilter, "acl_filter")
        raise SecurityDisabledError(NO_AUTHORIZER)

    def create_acls(self, acls: Iterable[ACL]) -> dict[str, list[Any]]:
        """Create ``acls`` (Kafka's CreateAcls): ``{"succeeded": [ACL...], "failed": [error
        class...]}``, as kafka-python 3 builds it.

        With no authorizer nothing is created: every ACL fails with ``SecurityDisabledError``,
        listed once per ACL. Raises, creating nothing, ``IllegalArgumentError`` when one entry
        is not an :class:`ACL` (as kafka-python does), ``TypeError`` for something that is not
        a list, such as a bare str or a single ACL (pass ``[acl]``).
        """
        self._check_open()
        listed = _listed(acls, ACL, "acls")
        return {"succeeded": [], "failed": [SecurityDisabledError] * len(listed)}

    def delete_acls(self, acl_filters: Iterable[ACLFilter]
                    ) -> list[tuple[ACLFilter, list[ACL], Any]]:
        """Delete the ACLs each filter matches (Kafka's DeleteAcls): one ``(filter, the ACLs
        it deleted, error class)`` per filter, in order, as kafka-python 3 returns them.

        With no authorizer nothing is deleted: each filter gets ``([], SecurityDisabledError)``.
        Raises, deleting nothing, ``IllegalArgumentError`` when one entry is not an
        :class:`ACLFilter` (as kafka-python does), ``TypeError`` for something that is not a
        list, such as a bare str or a single filter (pass ``[acl_filter]``).
        """
        self._check_open()
        listed = _listed(acl_filters, ACLFilter, "acl_filters")
        return [(acl_filter, [], SecurityDisabledError) for acl_filter in listed]
