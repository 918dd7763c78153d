"""A cluster's transaction settings, with Kafka's defaults filled in, in one place.

The coordinators apply what :func:`filled_transaction_settings` answers, and the brokers'
configs report the same, whether a setting was given or left to its default.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster.transaction_settings import (
    TransactionSettings,
    filled_transaction_settings,
)
from pcmodel.topics.errors import IllegalArgumentError

#: Kafka's defaults, written out: transaction.state.log.num.partitions here 1 (a teaching
#: cluster; Kafka's is 50), replication factor from the cluster, min.isr 2, 15 minutes,
#: 7 days, 10 seconds, 1 hour.
KAFKAS = TransactionSettings(partitions=1, replication_factor=None, min_insync_replicas=2,
                             max_timeout_ms=900_000, id_expiration_ms=604_800_000,
                             timed_out_check_interval_ms=10_000,
                             expired_id_check_interval_ms=3_600_000)


def test_nothing_given_is_kafkas_defaults():
    assert filled_transaction_settings(None) == KAFKAS
    assert filled_transaction_settings({}) == KAFKAS


def test_what_is_given_replaces_its_default_alone():
    filled = filled_transaction_settings({"max_timeout_ms": 60_000, "partitions": 3})
    assert filled.max_timeout_ms == 60_000 and filled.partitions == 3
    assert filled.id_expiration_ms == KAFKAS.id_expiration_ms
    assert filled.min_insync_replicas == KAFKAS.min_insync_replicas


def test_a_wrong_setting_is_refused_with_its_name():
    with pytest.raises(IllegalArgumentError, match="max_timout_ms"):
        filled_transaction_settings({"max_timout_ms": 1})
    with pytest.raises(IllegalArgumentError, match="id_expiration_ms"):
        filled_transaction_settings({"id_expiration_ms": 0})


@pytest.mark.parametrize("settings", [5, "max_timeout_ms=60000", [("max_timeout_ms", 1)]])
def test_settings_that_are_not_a_mapping_are_refused_in_one_line(settings):
    with pytest.raises(IllegalArgumentError,
                       match=r"transaction_settings must be a dict of setting names to ints"):
        filled_transaction_settings(settings)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("given", [{}, {"max_timeout_ms": 60_000},
                                   {"id_expiration_ms": 120_000, "partitions": 2}])
def test_the_coordinators_apply_what_the_broker_configs_report(make_cluster, given):
    cluster = make_cluster(3, transaction_settings=given)
    conn = cluster.connect()
    configs = {entry.name: entry.value for entry in conn.describe_broker_configs(0)}
    log = cluster.transaction_log()
    filled = filled_transaction_settings(given)
    assert configs["transaction.max.timeout.ms"] == str(log.max_timeout_ms)
    assert configs["transactional.id.expiration.ms"] == str(log.id_expiration_ms)
    assert (log.max_timeout_ms, log.id_expiration_ms, log.partitions) == (
        filled.max_timeout_ms, filled.id_expiration_ms, filled.partitions)
    assert (log.timed_out_check_interval_ms, log.expired_id_check_interval_ms) == (
        filled.timed_out_check_interval_ms, filled.expired_id_check_interval_ms)
