# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. Exactly once: transactions
#
# Lesson 6 ended with a crash between two steps: a consumer processed records, but died before
# it committed their offsets, so its successor processed them again. When processing means
# *writing records to another topic* (consume, transform, produce), those second copies are
# duplicates downstream. Kafka's answer is a **transaction**: the output records and the input
# offsets are committed together, or not at all, and a consumer that reads with
# `isolation_level="read_committed"` sees only what was committed.
#
# This lesson makes the duplicates, removes them with a transaction, opens the partition log to
# see the markers a transaction leaves there, watches a reader wait at the *last stable offset*,
# fences a "zombie": an old instance of the processor that did not know it was replaced,
# kills a replicated cluster's transaction coordinator between two transactions, and makes a
# transaction hang.

# %%
# %matplotlib inline
import time
from collections import Counter

import matplotlib.pyplot as plt

from pcmodel.topics import (
    Broker, KafkaConsumer, KafkaProducer, ProducerFencedError, TopicPartition,
)
from pcmodel.topics.log_transactions import ControlRecord, visible_records

ORDERS, RECEIPTS = TopicPartition("orders", 0), TopicPartition("receipts", 0)


def fresh_broker(orders=20):
    """A broker with an ``orders`` topic holding ``orders`` records and an empty ``receipts``."""
    broker = Broker()
    broker.create_topic("orders", 1)
    broker.create_topic("receipts", 1)
    with KafkaProducer(broker=broker, value_serializer=str.encode) as producer:
        for number in range(orders):
            producer.send("orders", value=f"order {number}")
    return broker


def poll_until(consumer, partition, count, timeout=10.0):
    """Poll until ``count`` records of ``partition`` arrived; return them in order."""
    records, deadline = [], time.monotonic() + timeout
    while len(records) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(records)} of {count} records arrived")
        records += consumer.poll(timeout_ms=50).get(partition, [])
    return records


def read_all(broker, isolation_level):
    """Every receipt a reader at ``isolation_level`` sees, from the start to the end."""
    with KafkaConsumer(broker=broker, isolation_level=isolation_level,
                       auto_offset_reset="earliest", value_deserializer=bytes.decode,
                       consumer_timeout_ms=300) as reader:
        reader.assign([RECEIPTS])
        return [record.value for record in reader]


# %% [markdown]
# ## At least once: a crash makes duplicates
#
# The billing processor reads orders five at a time, writes one receipt per order, flushes the
# receipts, then commits the orders' offsets. Its first instance crashes in the third batch:
# it has written three receipts, and committed nothing of that batch. The second instance
# starts from the committed offset.

# %%
def at_least_once(broker, crash_after=None):
    """Process every order from the group's committed offset; with ``crash_after``, stop
    dead after writing that many receipts (no commit, no goodbye)."""
    consumer = KafkaConsumer("orders", broker=broker, group_id="billing",
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             max_poll_records=5, value_deserializer=bytes.decode)
    producer = KafkaProducer(broker=broker, value_serializer=str.encode)
    written = 0
    try:
        while True:
            batch = consumer.poll(timeout_ms=200).get(ORDERS, [])
            if not batch:
                return
            for record in batch:
                if written == crash_after:
                    return  # the crash: the receipts sent so far are in the log, uncommitted
                producer.send("receipts", value=record.value.replace("order", "receipt"))
                written += 1
            producer.flush()
            consumer.commit()
    finally:
        producer.close()
        consumer.close(autocommit=False)


broker = fresh_broker()
at_least_once(broker, crash_after=13)
at_least_once(broker)
receipts = read_all(broker, "read_uncommitted")
twice = sorted(r for r, n in Counter(receipts).items() if n > 1)
print(f"{len(receipts)} receipts for 20 orders; written twice: {twice}")

# %% [markdown]
# ## Exactly once: the receipts and the offsets in one transaction
#
# Now the processor's producer has a `transactional_id`, a name that outlives any one process.
# `init_transactions()` registers it with the broker's **transaction coordinator**. Each batch
# is one transaction: `begin_transaction()`, the receipts, then
# `send_offsets_to_transaction()`, which hands the orders' offsets to the transaction instead of
# committing them, and `commit_transaction()`. The crash leaves a transaction open; the second
# instance's `init_transactions()` aborts it, because it carries the same `transactional_id`.

# %%
def exactly_once(broker, crash_after=None):
    """The same processor with a transaction per batch; returns its producer when it
    crashes (a crashed process would leave it behind, still running)."""
    consumer = KafkaConsumer("orders", broker=broker, group_id="billing",
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             max_poll_records=5, isolation_level="read_committed",
                             value_deserializer=bytes.decode)
    producer = KafkaProducer(broker=broker, transactional_id="billing-0",
                             value_serializer=str.encode)
    producer.init_transactions()
    written = 0
    try:
        while True:
            batch = consumer.poll(timeout_ms=200).get(ORDERS, [])
            if not batch:
                producer.close()
                return None
            producer.begin_transaction()
            for record in batch:
                if written == crash_after:
                    return producer  # the crash: a transaction open, three receipts in it
                producer.send("receipts", value=record.value.replace("order", "receipt"))
                written += 1
            producer.send_offsets_to_transaction({ORDERS: batch[-1].offset + 1},
                                                 consumer.group_metadata())
            producer.commit_transaction()
    finally:
        consumer.close(autocommit=False)


broker = fresh_broker()
zombie = exactly_once(broker, crash_after=13)
exactly_once(broker)
committed = read_all(broker, "read_committed")
everything = read_all(broker, "read_uncommitted")
print(f"read_committed:   {len(committed)} receipts, each once: "
      f"{sorted(Counter(committed).values()) == [1] * 20}")
print(f"read_uncommitted: {len(everything)} receipts (the aborted transaction's three too)")

# %% [markdown]
# ## Inside the log: records, markers, aborted transactions
#
# The receipts partition holds every record that was sent, aborted ones included: a log only
# grows. What tells them apart are **markers**, control records the coordinator writes into
# every partition of a transaction when it ends, COMMIT or ABORT. A marker takes an offset,
# so the offsets of a transactional topic have gaps a consumer never sees. The chart colours
# each offset by what a `read_committed` reader makes of it.

# %%
def offsets_and_fates(broker):
    """(offset, fate) for every offset of the receipts partition: what a read_committed
    reader makes of it. The fetch lists the aborted transactions; ``visible_records`` is the
    consumer's own filter, which drops their records."""
    fetched = broker.fetch({RECEIPTS: 0}, max_records=1000,
                           isolation_level="read_committed")[RECEIPTS]
    shown = {r.offset for r in visible_records(fetched.records, fetched.transactional_batches,
                                               fetched.aborted_transactions, True)}
    fates = []
    for record in fetched.records:
        if type(record) is ControlRecord:
            fates.append((record.offset, "commit marker" if record.commit else "abort marker"))
        else:
            fates.append((record.offset, "committed" if record.offset in shown else "aborted"))
    return fates


COLOURS = {"committed": "tab:green", "aborted": "tab:red", "commit marker": "0.35",
           "abort marker": "black"}
fates = offsets_and_fates(broker)
fig, ax = plt.subplots(figsize=(10, 1.6))
for offset, fate in fates:
    ax.bar(offset, 1, width=0.9, color=COLOURS[fate], label=fate)
handles = {label: h for h, label in zip(*ax.get_legend_handles_labels())}
ax.legend(handles.values(), handles.keys(), ncol=4, loc="upper center",
          bbox_to_anchor=(0.5, -0.45), frameon=False)
ax.set_yticks([])
ax.set_xlabel("offset in receipts-0")
ax.set_title("Every offset of the receipts partition, as a read_committed reader sees it")
plt.show()
print(Counter(fate for _, fate in fates))

# %% [markdown]
# ## The last stable offset: a reader waits for the verdict
#
# While a transaction is open, a `read_committed` reader cannot know whether its records will
# be committed. It reads only up to the partition's **last stable offset** (LSO): the first
# offset of the oldest transaction still open. Behind it, records pile up; at the commit they
# all arrive at once.

# %%
broker = fresh_broker(orders=0)
writer = KafkaProducer(broker=broker, transactional_id="writer", value_serializer=str.encode)
writer.init_transactions()
writer.begin_transaction()
for number in range(3):
    writer.send("receipts", value=f"receipt {number}")
writer.flush()
print("end offsets while the transaction is open:",
      "read_uncommitted", broker.end_offsets([RECEIPTS])[RECEIPTS],
      "| read_committed (the LSO)",
      broker.end_offsets([RECEIPTS], isolation_level="read_committed")[RECEIPTS])
with KafkaConsumer(broker=broker, isolation_level="read_committed",
                   auto_offset_reset="earliest", value_deserializer=bytes.decode) as reader:
    reader.assign([RECEIPTS])
    print("a read_committed poll before the commit:", reader.poll(timeout_ms=200))
    writer.commit_transaction()
    print("after the commit:", [r.value for r in poll_until(reader, RECEIPTS, 3)])
writer.close()

# %% [markdown]
# ## Zombies are fenced
#
# The crashed processor of the exactly-once run was not dead after all: a stalled process, a
# network partition. Its producer still holds the transactional id's old **epoch**. The new
# instance's `init_transactions()` bumped the epoch, so every call of the old one now fails:
# it cannot commit a transaction behind its successor's back.

# %%
try:
    zombie.commit_transaction()
except ProducerFencedError as exc:
    print("the zombie's commit:", exc)
zombie.close()

# %% [markdown]
# ## On a cluster: the coordinator's decisions are records too
#
# A lone broker ends a transaction in one step. A replicated `Cluster` cannot: the markers go
# to the leaders of the transaction's partitions, which may be other brokers, and any broker
# may die halfway. So the coordinator (the leader of the transactional id's partition of the
# internal topic `__transaction_state`) *writes down* every change before it acts on it:
# the transaction is Ongoing, then the decision (PrepareCommit), then, once every marker is
# written, CompleteCommit. A broker that takes over reads those records and finishes what its
# predecessor decided. Below, the coordinator dies between two transactions; the producer
# finds the next one and carries on, with the same producer id and epoch.

# %%
import json

from pcmodel.cluster import Cluster
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC

with Cluster(3, tick_ms=10, broker_session_timeout_ms=1000) as cluster:
    cluster.create_topic("receipts", 1, replication_factor=3, min_insync_replicas=2)
    writer = KafkaProducer(broker=cluster, transactional_id="writer",
                           value_serializer=str.encode)
    writer.init_transactions()
    for number in range(2):
        writer.begin_transaction()
        writer.send("receipts", value=f"receipt {number}")
        writer.commit_transaction()
        if number == 0:
            coordinator = cluster.leader(TRANSACTION_TOPIC, 0)
            cluster.kill(coordinator)
            print(f"broker {coordinator}, the coordinator, was killed")
    writer.close()
    now = cluster.leader(TRANSACTION_TOPIC, 0)
    print(f"the coordinator is now broker {now}; what it read from {TRANSACTION_TOPIC}:")
    for record in cluster.log(now, TRANSACTION_TOPIC, 0):
        fields = json.loads(record.value)
        print(f"  offset {record.offset}: {fields['state']:<15} epoch "
              f"{fields['producer_epoch']}  partitions {fields['partitions']}")
    print("read_committed:", read_all(cluster, "read_committed"))

# %% [markdown]
# ### A hanging transaction
#
# The coordinator's records are only as safe as the replicas that hold them. Below,
# `__transaction_state` has two replicas and takes a write that only one of them has
# (`min_insync_replicas=1`; Kafka's defaults, three replicas and two in sync, forbid it). Its
# follower dies; the writer's transaction adds `receipts-0` and writes a receipt there, which
# only the log's leader records. Then the leader dies too, the follower comes back, and an
# **unclean election** (lesson 8) makes it the leader: with its log, which never heard of the
# transaction. The receipts partition still holds the transaction open, so its last stable
# offset stays at the receipt, and every `read_committed` reader stops there, for ever: the
# transaction **hangs**. Its producer cannot end it either: the new coordinator does not know
# it. (The cluster runs on virtual time, `mode="steps"`, so every run is the same.)

# %%
from pcmodel.topics import AbortTransactionSpec, ElectionType, KafkaAdminClient, KafkaError

cluster = Cluster(3, mode="steps",
                  transaction_settings={"replication_factor": 2, "min_insync_replicas": 1})
cluster.create_topic("receipts", 1, replication_factor=3)
reader = KafkaConsumer(broker=cluster, isolation_level="read_committed")
writer = KafkaProducer(broker=cluster, transactional_id="writer", value_serializer=str.encode)
writer.init_transactions()
cluster.settle()
STATE = TopicPartition(TRANSACTION_TOPIC, 0)
leader = cluster.leader(*STATE)
(follower,) = set(cluster.metadata()[STATE].replicas) - {leader}
cluster.kill(follower)
cluster.run_for(3)
writer.begin_transaction()
writer.send("receipts", value="receipt 0", timestamp_ms=1000)  # stamped in 1970: see below
writer.flush()
cluster.kill(leader)  # the only replica that recorded the transaction
cluster.run_for(3)
cluster.restart(follower)
cluster.run_for(3)
print("unclean election:", cluster.elect_leaders(ElectionType.UNCLEAN, [STATE]))
cluster.run_for(3)
print("read_committed end offset of receipts-0:", reader.end_offsets([RECEIPTS])[RECEIPTS])
try:
    writer.commit_transaction()
except KafkaError as exc:
    print("the writer's commit:", exc)
writer.close()

# %% [markdown]
# Kafka's tools for this (KIP-664) are in the admin client. `find_hanging_transactions()` asks
# every partition which producers hold a transaction open there, keeps those silent for longer
# than `max_transaction_timeout_ms`, and asks the coordinators about them: one that no
# coordinator holds in that partition is hanging. In real life an administrator waits that
# long, 15 minutes by default (the brokers' `transaction.max.timeout.ms`): no live transaction
# lasts longer, and a younger one may be ended by its coordinator yet. Here
# `max_transaction_timeout_ms=0` looks at once (the receipt's 1970 timestamp makes its producer
# silent for more than 0 ms on any clock). `abort_transaction()` sends the partition's leader
# the ABORT marker the coordinator never will: the receipt is aborted and readers move on.

# %%
admin = KafkaAdminClient(broker=cluster)
for hanging in admin.find_hanging_transactions(max_transaction_timeout_ms=0):
    print(f"hanging in {hanging['topic_partition'].topic}-{hanging['topic_partition'].partition}"
          f" since offset {hanging['start_offset']}: producer {hanging['producer_id']} of "
          f"{hanging['transactional_id']!r}, which its coordinator says is {hanging['state']}")
    admin.abort_transaction(AbortTransactionSpec(
        hanging["topic_partition"], hanging["producer_id"], hanging["producer_epoch"],
        max(0, hanging["coordinator_epoch"])))  # -1: no coordinator wrote a marker there yet
print("read_committed end offset after the abort:", reader.end_offsets([RECEIPTS])[RECEIPTS])
print("still hanging:", admin.find_hanging_transactions(max_transaction_timeout_ms=0))
admin.close()
reader.close()
cluster.close()

# %% [markdown]
# This is why unclean elections are off by default (Kafka's
# `unclean.leader.election.enable=false`): the replica they make leader may lack writes that
# were acknowledged, a coordinator's records here, a producer's records elsewhere, and nothing
# tells the clients what was lost.

# %% [markdown]
# ## Try it
#
# 1. In `exactly_once`, commit the orders' offsets with `consumer.commit()` after
#    `commit_transaction()` instead of `send_offsets_to_transaction()`. Crash the first
#    instance *between* the two commits (after `commit_transaction()`): are there duplicates?
#    Why does Kafka put the offsets inside the transaction?
# 2. Read the receipts with `read_uncommitted` after the exactly-once run. Which receipts
#    appear twice, and why does a `read_committed` reader never see them?
# 3. Make the first instance crash in every batch (`crash_after=2`, then restart it again and
#    again). How many markers does the receipts partition end with? Count them in the chart.
# 4. Give the writer of the "last stable offset" section `transaction_timeout_ms=1000` and do not commit. Call
#    `broker.abort_timed_out_transactions(now_ms)` with a time two seconds ahead
#    (`int(time.time() * 1000) + 2000`): what happens to the records, and to the writer's next
#    `commit_transaction()`?
# 5. In the cluster section, kill the coordinator *inside* the second transaction, after its
#    `send()`: which records of `__transaction_state` does the next coordinator find, and does
#    the commit still go through?
# 6. In the hanging transaction, send the receipt without `timestamp_ms` and call
#    `find_hanging_transactions()` with its default horizon: what does it find, and what would
#    an administrator who aborted every open transaction at once have done to a live one?
