"""A lone broker's flags are True or False: anything else is refused in one line, before
anything changes, as a cluster refuses it (``"no"`` would be taken for yes)."""

from __future__ import annotations

import re

import pytest

from pcmodel.topics import Broker, TopicPartition
from pcmodel.topics.config_resources import AlterConfigOp

pytestmark = pytest.mark.timeout(30)

T0 = TopicPartition("t", 0)
RETENTION = [("retention.ms", AlterConfigOp.SET, "1000")]
TIMEOUT = [("consumer.session.timeout.ms", AlterConfigOp.SET, "50000")]

CALLS = {
    "alter_topic_configs incremental":
        ("incremental", lambda b, v: b.alter_topic_configs("t", RETENTION, incremental=v)),
    "alter_topic_configs validate_only":
        ("validate_only", lambda b, v: b.alter_topic_configs("t", RETENTION, validate_only=v)),
    "alter_group_configs incremental":
        ("incremental", lambda b, v: b.alter_group_configs("g", TIMEOUT, incremental=v)),
    "alter_group_configs validate_only":
        ("validate_only", lambda b, v: b.alter_group_configs("g", TIMEOUT, validate_only=v)),
    "committed require_stable":
        ("require_stable", lambda b, v: b.committed("g", [T0], require_stable=v)),
    "alter_partition_reassignments allow_replication_factor_change":
        ("allow_replication_factor_change",
         lambda b, v: b.alter_partition_reassignments({T0: [0]},
                                                      allow_replication_factor_change=v)),
    "fetch whole_batches": ("whole_batches", lambda b, v: b.fetch({T0: 0}, whole_batches=v)),
}


@pytest.mark.parametrize("value", ["no", 1, None], ids=repr)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_flag_that_is_not_a_bool_is_refused_and_changes_nothing(call, value):
    name, run = CALLS[call]
    with Broker() as broker:
        broker.create_topic("t", 1)
        before = ({e.name: e.value for e in broker.describe_topic_configs("t")},
                  broker.describe_group_configs("g"))
        with pytest.raises(TypeError, match=f"^{name} must be True or False, got "
                                            f"{re.escape(repr(value))}$"):
            run(broker, value)
        assert ({e.name: e.value for e in broker.describe_topic_configs("t")},
                broker.describe_group_configs("g")) == before


@pytest.mark.parametrize("call", sorted(CALLS))
def test_true_and_false_are_taken(call):
    _, run = CALLS[call]
    with Broker() as broker:
        broker.create_topic("t", 1)
        for value in (True, False):
            run(broker, value)
