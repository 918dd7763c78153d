"""Writes ``docs/settings.md``: the one table of kafka-python's client settings and their effect.

Run ``python -m pcmodel.topics.settings_doc > docs/settings.md`` after changing a setting; a test
checks that the file is up to date.
"""

from __future__ import annotations

from pcmodel.topics.config import settings_table
from pcmodel.topics.consumer_config import HONOURED as CONSUMER_HONOURED
from pcmodel.topics.producer_config import HONOURED as PRODUCER_HONOURED

__all__ = ["render_settings_doc"]

_INTRO = """\
# Client settings

`KafkaProducer` and `KafkaConsumer` accept every setting kafka-python 3 accepts, under the same
name, so a program's settings carry over in both directions. Each is either **honoured** (it means
what it means in kafka-python) or accepted with **no effect**, because what it tunes does not
exist here; its value is still checked as kafka-python checks it. A name kafka-python does not
know is an error that names the closest legal one.

One setting is refused with a message instead: `bootstrap_servers` (use `broker=` here, or
kafka-python itself for a real cluster). `enable_idempotence=True` works (with `acks='all'`, as
in Kafka's Java client), on one broker and on a replicated `pcmodel.cluster.Cluster`. A
`transactional_id` makes the producer transactional (it implies idempotence and `acks='all'`),
and `isolation_level='read_committed'` makes a consumer read committed transactions only; both
work on one broker and on a `Cluster`.

pcmodel adds its own settings for teaching: `broker`, `buffer_memory`, `buffer_variant` and
`buffer_instrument` (producer); `fetch_buffer_batches`, `fetch_buffer_variant`,
`fetch_buffer_instrument` and `clock` (consumer). See the classes' docstrings.

The producer also takes three settings of Kafka's Java client that kafka-python does not have,
for the built-in partitioner (`partitioner='default'`, Kafka 3.3's, KIP-794), with the Java
client's defaults: `partitioner_adaptive_partitioning_enable=True` (a keyless record's next
partition is drawn favouring the partitions with fewer batches waiting; `False`: drawn evenly),
`partitioner_availability_timeout_ms=0` (above 0, with adaptive partitioning, a partition
whose leader has kept a batch waiting longer than this is left out of that draw; 0: never) and
`partitioner_ignore_keys=False` (`True`: keyed records are placed as keyless ones, not by the
hash of their key). They are Kafka's `partitioner.adaptive.partitioning.enable`,
`partitioner.availability.timeout.ms` and `partitioner.ignore.keys`. Unlike the Java client,
which ignores them under another partitioner, a value other than the default with `'sticky'`,
`'round_robin'` or a partitioner object is an error, since it would change nothing.

The broker has eight of Kafka's broker settings: `Broker(auto_create_topics_enable=True,
num_partitions=1, group_initial_rebalance_delay_ms=0, offsets_retention_minutes=10080,
offsets_retention_check_interval_ms=600000, offset_metadata_max_bytes=4096,
producer_id_expiration_ms=86400000, producer_id_expiration_check_interval_ms=600000)`. All but
the third have Kafka's defaults: committed offsets expire a week after their group became empty
(or after their commit, for a group that never had members), a committed offset's metadata may
be 4096 characters long (UTF-16 code units, as Java counts them; a longer one is refused for its
partition, OFFSET_METADATA_TOO_LARGE), and a partition forgets an idempotent producer that wrote
nothing to it for a day (by the largest timestamp of its newest batch), each checked every ten
minutes. Four more, about transactions, have Kafka's names and defaults:
`transaction_max_timeout_ms=900000` (the longest `transaction_timeout_ms` a producer may ask
for), `transactional_id_expiration_ms=604800000` (a week) and the intervals of their checks
(see the `Broker` docstring). Three more, for Kafka 4's consumer groups (KIP-848,
`group.protocol=consumer` clients on `Broker.serve_kafka`), have Kafka's names:
`group_consumer_session_timeout_ms=45000` (a member silent this long leaves the group),
`group_consumer_heartbeat_interval_ms=5000` (how often members are told to heartbeat) and
`group_consumer_max_size=None` (no bound on a group's members, as Kafka's default of
2147483647 means). Kafka refuses a session timeout below 45 s
(`group.consumer.min.session.timeout.ms`); the broker here takes any positive one, so that a
test or notebook sees a silent member go in a second or two. Two more say how a group moves
between the two protocols while its consumers are restarted one by one (KIP-848's online
migration): `group_consumer_migration_policy="bidirectional"` (Kafka's
`group.consumer.migration.policy`, with Kafka 4's default: a `group.protocol=consumer` member
joining a classic group turns it into a consumer group, and the last such member leaving turns
it back; `"upgrade"` and `"downgrade"` allow one direction, `"disabled"` neither) and
`group_classic_max_size=None` (Kafka's `group.max.size`: a classic group takes no member past
it, GROUP_MAX_SIZE_REACHED, and a group that would be left with more classic members stays a
consumer group). Both may also be set on a
running broker (`broker.group_consumer_migration_policy = "upgrade"`), checked either way. A
classic consumer may join a consumer group whatever the policy, as in Kafka. DescribeConfigs
shows these five group settings under Kafka's names.
Two more bound the session timeout a classic group's member may ask for in its JoinGroup
(outside them: INVALID_SESSION_TIMEOUT, for a Kafka 4 consumer group's classic members too):
`group_min_session_timeout_ms=1` and `group_max_session_timeout_ms=1800000` (Kafka's
`group.min.session.timeout.ms` and `group.max.session.timeout.ms`, under which DescribeConfigs
lists them). The maximum is Kafka's default; Kafka's minimum is 6000, which would refuse the
sessions of 100 ms to 3 s that pcmodel's own tests and the cluster's fault campaigns give their
members so that a silent one is seen to leave its group within a run. Give 6000 to refuse what
a Kafka broker refuses.
Kafka's `group.initial.rebalance.delay.ms` defaults to 3000; here it is 0, because pcmodel's own
consumers read topic metadata from the broker itself when they lead (a group formed at once
assigns every partition) and a 3 s wait on each new group would slow every program and test that
forms one. Give it a few hundred ms when Kafka clients join through `Broker.serve_kafka`: a
kafka-python leader whose group forms before it has the topics' metadata assigns nothing and
rebalances again.

"""


def render_settings_doc() -> str:
    """The full text of ``docs/settings.md``."""
    return _INTRO + settings_table(PRODUCER_HONOURED, CONSUMER_HONOURED)


if __name__ == "__main__":
    print(render_settings_doc(), end="")
