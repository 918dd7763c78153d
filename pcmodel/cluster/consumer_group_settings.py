"""The consumer-group settings of a cluster's brokers: Kafka's ``group.consumer.*`` and
``group.max.size`` broker configs, and the defaults of ``group.min/max.session.timeout.ms``
(:data:`DEFAULT_GROUP_SESSION_TIMEOUT_BOUNDS`; ``Cluster`` checks those bounds as the broker
does, and hands them to every broker beside these).

``Cluster(...)`` takes them by the keyword names of a lone
:class:`~pcmodel.topics.broker.Broker`, with its defaults, and checks them as it does (the same
exceptions, the same words) before anything starts. Checked, they travel as one
:class:`~pcmodel.topics.broker_static_configs.ConsumerGroupConfigs` to every broker the cluster
makes (a broker process gets them in its start-up spec, :class:`~pcmodel.cluster.host.HostSpec`,
so a restarted one has them again), and DescribeConfigs of a cluster broker shows them as a lone
broker's shows its own.
"""

from __future__ import annotations

from pcmodel.topics.broker_checks import (
    DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
    DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
    _check_heartbeat_below_session,
    _check_int,
)
from pcmodel.topics.broker_static_configs import ConsumerGroupConfigs
from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.group_migration import DEFAULT_MIGRATION_POLICY, check_migration_policy

__all__ = [
    "DEFAULT_CONSUMER_GROUP_SETTINGS",
    "DEFAULT_GROUP_SESSION_TIMEOUT_BOUNDS",
    "check_consumer_group_settings",
]

#: A lone broker's defaults: Kafka's 45 s session and 5 s heartbeat interval, no bound on a
#: group's members (``None``, as Kafka's default of 2147483647 means), Kafka 4's
#: ``bidirectional`` migration policy.
DEFAULT_CONSUMER_GROUP_SETTINGS = ConsumerGroupConfigs(
    group_consumer_session_timeout_ms=45_000,
    group_consumer_heartbeat_interval_ms=5_000,
    group_consumer_max_size=None,
    group_consumer_migration_policy=DEFAULT_MIGRATION_POLICY,
    group_classic_max_size=None,
)

#: A lone broker's ``(group_min_session_timeout_ms, group_max_session_timeout_ms)``: 1 ms (not
#: Kafka's 6000, see :mod:`pcmodel.topics.broker_checks`) and Kafka's 30 min.
DEFAULT_GROUP_SESSION_TIMEOUT_BOUNDS = (DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
                                        DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS)


def check_consumer_group_settings(
    *,
    group_consumer_session_timeout_ms: object,
    group_consumer_heartbeat_interval_ms: object,
    group_consumer_max_size: object,
    group_consumer_migration_policy: object,
    group_classic_max_size: object,
) -> ConsumerGroupConfigs:
    """The five settings, checked as :class:`~pcmodel.topics.broker.Broker` checks them, in
    its order: ``TypeError`` for a timeout, interval or ``group_consumer_max_size`` that is
    not an int, ``IllegalArgumentError`` for one below 1, for a heartbeat interval not below
    the session timeout, for a migration policy that is not
    one of Kafka's (any case; returned in lower case, as the broker keeps it) and for a
    ``group_classic_max_size`` that is neither a positive int nor ``None``."""
    consumer_max = None if group_consumer_max_size is None else _check_int(
        "group_consumer_max_size", group_consumer_max_size, 1, IllegalArgumentError)
    session_ms = _check_int("group_consumer_session_timeout_ms",
                            group_consumer_session_timeout_ms, 1, IllegalArgumentError)
    heartbeat_ms = _check_int("group_consumer_heartbeat_interval_ms",
                              group_consumer_heartbeat_interval_ms, 1, IllegalArgumentError)
    _check_heartbeat_below_session(heartbeat_ms, session_ms)
    policy = check_migration_policy(group_consumer_migration_policy)
    classic_max = group_classic_max_size
    if classic_max is not None and (isinstance(classic_max, bool)
                                    or not isinstance(classic_max, int) or classic_max < 1):
        # The words of the broker's own setter (ConsumerGroupsMixin.group_classic_max_size).
        raise IllegalArgumentError(
            f"group_classic_max_size must be a positive int or None, not {classic_max!r}")
    return ConsumerGroupConfigs(session_ms, heartbeat_ms, consumer_max, policy, classic_max)
