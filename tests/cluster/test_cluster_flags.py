"""The cluster's true-or-false arguments are True or False, not whatever has a truth.

``fetch(whole_batches="no")`` used to answer whole batches, ``add_partitions(validate_only=
"no")`` and ``alter_topic_configs(validate_only="no")`` to change nothing while the caller
meant them to, ``transaction_log(create="no")`` to create the transaction coordinators, and
``CampaignSettings(groups="no")`` to run a campaign with groups. Each such flag is now refused
in one line, ``TypeError`` as the others (``isolate(controller=)``,
``produce(transactional=)``), before anything changes.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.campaign import CampaignSettings
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)
NOT_BOOLS = ["no", 0, 1, None]


@pytest.fixture
def cluster(make_cluster):
    made = make_cluster(2)
    made.create_topic("t", 1, replication_factor=2)
    return made


@pytest.mark.parametrize("value", NOT_BOOLS)
def test_whole_batches_is_true_or_false(cluster, value):
    with pytest.raises(TypeError, match=f"^whole_batches must be True or False, got {value!r}$"):
        cluster.fetch(cluster.leader("t", 0), {TP: 0}, whole_batches=value)
    assert cluster.fetch(cluster.leader("t", 0), {TP: 0}, whole_batches=False)[TP].error is None


@pytest.mark.parametrize("flag", ["incremental", "validate_only"])
@pytest.mark.parametrize("value", NOT_BOOLS)
def test_a_config_alterations_flags_are_true_or_false(cluster, flag, value):
    retention = [("retention.ms", 0, "1000")]  # SET
    with pytest.raises(TypeError, match=f"^{flag} must be True or False, got {value!r}$"):
        cluster.alter_topic_configs("t", retention, **{flag: value})
    assert cluster._topic_configs.get("t", {}) == {}
    session = [("consumer.session.timeout.ms", 0, "50000")]
    with pytest.raises(TypeError, match=f"^{flag} must be True or False, got {value!r}$"):
        cluster.alter_group_configs("g", session, **{flag: value})
    assert "g" not in cluster._group_configs
    cluster.alter_topic_configs("t", retention, incremental=True, validate_only=False)
    cluster.alter_group_configs("g", session, incremental=True, validate_only=False)
    assert cluster._topic_configs["t"] == {"retention.ms": "1000"}
    assert cluster._group_configs["g"] == {"consumer.session.timeout.ms": "50000"}


@pytest.mark.parametrize("value", NOT_BOOLS)
def test_validating_new_partitions_only_is_true_or_false(cluster, value):
    with pytest.raises(TypeError, match=f"^validate_only must be True or False, got {value!r}$"):
        cluster.add_partitions("t", 2, validate_only=value)
    assert sorted(cluster.metadata()) == [TP]


@pytest.mark.parametrize("value", NOT_BOOLS)
def test_asking_for_the_transaction_log_creates_it_only_if_told_true(cluster, value):
    with pytest.raises(TypeError, match=f"^create must be True or False, got {value!r}$"):
        cluster.transaction_log(create=value)
    assert cluster.transaction_log(create=False) is None


@pytest.mark.parametrize("value", NOT_BOOLS)
def test_a_connections_flags_are_true_or_false(cluster, value):
    conn = cluster.connect()
    with pytest.raises(TypeError, match=f"^auto_create must be True or False, got {value!r}$"):
        conn.partitions_for("new", auto_create=value)
    assert "new" not in conn.list_topics()
    with pytest.raises(TypeError,
                       match=f"^require_stable must be True or False, got {value!r}$"):
        conn.committed("g", [TP], require_stable=value)


@pytest.mark.timeout(60)
def test_a_process_clusters_flags_are_refused_before_it_calls_a_broker():
    with Cluster(1, mode="processes", tick_ms=20) as cluster:
        cluster.create_topic("t", 1, replication_factor=1)
        with pytest.raises(TypeError, match="^whole_batches must be True or False, got 'no'$"):
            cluster.fetch(0, {TP: 0}, whole_batches="no")
        with pytest.raises(TypeError, match="^validate_only must be True or False, got 'no'$"):
            cluster.add_partitions("t", 2, validate_only="no")
        assert sorted(cluster.metadata()) == [TP]
        cluster.add_partitions("t", 2, validate_only=True)
        assert sorted(cluster.metadata()) == [TP]


@pytest.mark.parametrize("flag", ["unclean_leader_election_enable", "retries", "idempotent",
                                  "transactional", "groups"])
def test_a_campaigns_switches_are_true_or_false(flag):
    with pytest.raises(TypeError, match=f"^{flag} must be True or False, got 'no'$"):
        CampaignSettings(**{flag: "no"})
    assert getattr(CampaignSettings(**{flag: True}), flag) is True
