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
# # 08 · Replicas, leaders and acks: what survives when a broker dies
#
# Until now one broker held every partition: if it died, everything was gone. Kafka keeps each
# partition on several brokers. One replica is the **leader**: producers write to it, consumers
# read from it. The others are **followers**: they copy the leader by *fetching* from it, exactly
# as a consumer does. The leader keeps the **in-sync replicas (ISR)** — the followers that have
# kept up recently — and the **high watermark (HW)**, the offset below which *every* ISR member
# has the record. Consumers only read below the HW: a record is *committed* when the whole ISR
# has it.
#
# A producer chooses how long to wait before it hears "stored":
#
# | `acks` | answered when | if the leader dies right after |
# |---|---|---|
# | `0` | never (fire and forget) | lost if the followers had not copied it |
# | `1` | the leader appended it | lost if the followers had not copied it |
# | `"all"` | the whole ISR has it (HW passed it), with at least `min_insync_replicas` | kept |
#
# This notebook runs `pcmodel.cluster.Cluster` on **virtual time** (`mode="steps"`): nothing
# moves until we say so, so every run is the same and we can look at each step.

# %%
# %matplotlib inline
from pcmodel.cluster import Cluster
from pcmodel.cluster.lesson import kill_the_leader
from pcmodel.plots import plot_acks_outcome, plot_replication
from pcmodel.topics import ElectionType, TopicPartition

# %% [markdown]
# ## 1. Three brokers, one partition, three replicas

# %%
cluster = Cluster(brokers=3, mode="steps")
cluster.create_topic("orders", 1, replication_factor=3, min_insync_replicas=2)
print(cluster.metadata())

# %% [markdown]
# Broker 0 leads, the ISR is everyone. Write a record with `acks=1` and look at each replica
# *before* the followers have fetched: the leader has it, the HW has not moved, a consumer sees
# nothing yet.

# %%
cluster.produce("orders", 0, [(None, b"order 1")], acks=1).get(timeout=1)
for status in cluster.replica_status("orders", 0):
    print(status)

# %% [markdown]
# One round of fetches: the followers copy the record. The leader learns that they have it from
# their *next* fetch (a follower's fetch offset is its log end offset), so the HW moves one round
# later.

# %%
cluster.step()
print([(s.broker, s.log_end_offset, s.high_watermark) for s in cluster.replica_status("orders", 0)])
cluster.step()
print([(s.broker, s.log_end_offset, s.high_watermark) for s in cluster.replica_status("orders", 0)])

# %% [markdown]
# ## 2. Kill the leader
#
# A killed broker stops at once, but the controller only notices when its session expires
# (`broker_session_timeout_ms`, 1.5 s here). Then it elects the first live **ISR member** as
# leader, with a new **leader epoch**.

# %%
cluster.kill(0)
cluster.run_for(2.0)
print("leader:", cluster.leader("orders", 0), "ISR:", sorted(cluster.isr("orders", 0)))
for event in cluster.events[-4:]:
    print(event.time, event.kind, event.broker, event.detail)

# %% [markdown]
# Broker 0 comes back: it asks the new leader where its last epoch ends and **truncates** what the
# new leader does not have (KIP-101), then catches up and rejoins the ISR.

# %%
cluster.restart(0)
cluster.settle()
print("ISR:", sorted(cluster.isr("orders", 0)))

# %% [markdown]
# Broker 0 is in sync again, and yet broker 1 still leads: a broker that returns leads nothing.
# Each partition has a **preferred leader**, the first of its replicas; the placement spreads the
# preferred leaders over the brokers so that they share the work, and after a failure they no
# longer do. A **preferred leader election** (Kafka's `kafka-leader-election.sh`, the admin
# client's `elect_leaders`) gives the partition back to broker 0. It is a clean election, since
# broker 0 is in the ISR, and it starts a new leader epoch.

# %%
orders_0 = TopicPartition("orders", 0)
print("leader:", cluster.leader("orders", 0), "preferred:", cluster.metadata()[orders_0].replicas[0])
print(cluster.elect_leaders(ElectionType.PREFERRED, [orders_0]))
print("leader:", cluster.leader("orders", 0), "epoch:", cluster.metadata()[orders_0].leader_epoch)
cluster.close()

# %% [markdown]
# ## 3. Write steadily, kill the leader, watch
#
# `kill_the_leader(acks)` writes one record per tick while the followers fetch every 0.45 s (the
# leader is always a little ahead), kills the leader at 1.5 s and restarts it at 3 s. The chart
# shows each replica's log end offset, the leader's high watermark, and who was leader, in sync,
# out of sync or down.

# %%
outcome = kill_the_leader(1)
plot_replication(outcome.samples, outcome.events, title="acks=1: the leader dies at 1.5 s")

# %% [markdown]
# Read the chart: at 1.5 s broker 0 is ahead of the HW — records it acknowledged with `acks=1`
# that nobody else has. Nothing is written while no leader is known (until the session expires).
# Broker 1 takes over at epoch 1 and continues from *its* log end. When broker 0 returns it drops
# its extra records (the dash-dotted line): those were acknowledged, and they are gone.
#
# ## 4. Count what each `acks` kept

# %%
outcomes = [kill_the_leader(acks) for acks in (0, 1, "all")]
for o in outcomes:
    print(f"acks={o.acks!s:>3}: acknowledged {o.acknowledged}, surviving {o.surviving}, "
          f"lost {o.lost}")
plot_acks_outcome(outcomes)

# %% [markdown]
# With `acks="all"` fewer records were acknowledged (each answer waits for the slow followers,
# and none is answered while there is no leader) but **every acknowledged record survived**:
# the new leader came from the ISR, and the ISR had them all.
#
# ## 5. Move a partition to other brokers
#
# Clusters grow and brokers retire: a partition's replicas must then move. A **reassignment**
# (Kafka's `kafka-reassign-partitions.sh`, the admin client's `alter_partition_reassignments`)
# copies nothing behind the protocol's back. The new replicas join as followers and fetch from
# the leader like any follower; only once every one of them is in the ISR do the old replicas
# leave, and the brokers they leave delete their copy. In between, the partition has *four*
# replicas, and `acks="all"` waits for every one in the ISR: nothing acknowledged can be lost
# during the move.

# %%
cluster = Cluster(4, mode="steps")
cluster.create_topic("orders", 1, replication_factor=2, min_insync_replicas=2)
cluster.produce("orders", 0, [(None, b"order %d" % i) for i in range(100)], acks="all")
cluster.settle()
print("before:", cluster.metadata()[orders_0].replicas)
cluster.alter_partition_reassignments({orders_0: [2, 3]})
print("moving:", cluster.list_partition_reassignments()[orders_0])
cluster.settle()
state = cluster.metadata()[orders_0]
print("after:", state.replicas, "leader:", state.leader, "epoch:", state.leader_epoch)
for event in cluster.events:
    if event.kind in ("replicas", "isr", "leader") and event.time > 0:
        print(f"{event.time:.2f}", event.kind, event.broker, event.detail)
print("records on broker 3:", len(cluster.log(3, "orders", 0)))
cluster.close()

# %% [markdown]
# Read the events: the replica list grows to `(2, 3, 0, 1)`, brokers 2 and 3 copy the log and
# join the ISR, and at that ISR change the move completes: brokers 0 and 1 leave, and broker 2,
# the first of the target, takes the leadership in a new epoch (the old leader is leaving).
#
# ## 6. A retry through a new leader is not stored twice
#
# An **idempotent** producer gets a producer id and numbers the records it sends to each
# partition 0, 1, 2, ... If the leader dies after appending a batch but before answering, the
# producer sends the batch again — to the new leader. That leader must recognise it, so the
# numbers travel with the records: every replica keeps, next to its log, the batch each producer
# wrote at which offset. `describe_producers` (Kafka's DescribeProducers) shows what one
# broker's replica remembers.

# %%
cluster = Cluster(3, mode="steps")
cluster.create_topic("orders", 1, replication_factor=3, min_insync_replicas=2)
pid, epoch = cluster.init_producer_id()
first = cluster.produce("orders", 0, [(None, b"payment")], acks="all", producer=(pid, epoch, 0))
leader = cluster.leader("orders", 0)


def remembered() -> dict[int, list[tuple[int, int]]]:
    """(producer id, last sequence number) of each producer, as each broker remembers them."""
    return {b: [(p.producer_id, p.last_sequence)
                for p in cluster.describe_producers(b, "orders", 0)] for b in range(3)}


print("before a fetch:", remembered())
cluster.step()                                   # the followers copy the batch and its numbers
print("after a fetch: ", remembered())
cluster.kill(leader)                             # before it could answer the producer
try:
    first.get(timeout=1)
except Exception as exc:
    print("the producer hears:", exc)
cluster.run_for(1.6)                             # the controller elects a follower
retry = cluster.produce("orders", 0, [(None, b"payment")], acks="all", producer=(pid, epoch, 0))
print("the retry is answered with offset", retry.get(timeout=2).base_offset,
      "by broker", cluster.leader("orders", 0))
new_leader = cluster.leader("orders", 0)
print("records in the new leader's log:", len(cluster.log(new_leader, "orders", 0)))
cluster.close()

# %% [markdown]
# Before their fetch the followers know nothing of the producer; after it, every replica has
# its last sequence number, 0. The new leader answers the retry of sequence 0 with the offset
# the batch already has, and its log holds the payment once. Without `producer=...` (a producer
# that is not idempotent) the same retry would be appended a second time. Here we send the
# retry by hand; a `KafkaProducer(broker=cluster)` does it by itself, as Kafka's producers do:
# by default it is idempotent and retries until `delivery_timeout_ms` (2 minutes) has passed.
#
# ## 7. Stopping a broker the right way
#
# `kill` is a crash: nobody tells the controller, which elects a new leader only once the dead
# broker's session has expired, and a producer waiting for the broker's answer never learns
# whether its records were stored. Kafka stops a broker that is *told* to stop (SIGTERM,
# `kafka-server-stop.sh`) with a **controlled shutdown**: the controller hears first, takes the
# broker out of every ISR and hands each partition it led to another in-sync replica; only then
# does the broker stop. `cluster.stop(b)` does that.

# %%
for fault in ("kill", "stop"):
    cluster = Cluster(3, mode="steps")
    cluster.create_topic("orders", 1, replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("orders", 0)
    waiting = cluster.produce("orders", 0, [(None, b"payment")], acks="all")
    began = cluster.clock()
    getattr(cluster, fault)(leader)              # cluster.kill(leader) or cluster.stop(leader)
    while cluster.leader("orders", 0) in (None, leader):
        cluster.advance()                        # one tick of virtual time (50 ms)
    print(f"{fault}: broker {cluster.leader('orders', 0)} leads after "
          f"{cluster.clock() - began:.2f} s; the producer hears {type(waiting.exception()).__name__}")
    cluster.close()

# %% [markdown]
# After the kill the partition has no working leader for the session timeout (1.5 s here; 9 s by
# default in Kafka), and the producer's `KafkaConnectionError` means "maybe stored, maybe not".
# After the stop a new leader is there at once, and `NotLeaderForPartitionError` means "not
# stored by that broker: send it to the new leader" (an idempotent producer's retry is stored
# once, as in section 6). What a controlled shutdown cannot do is hand over a partition whose
# ISR is the stopping broker alone: that partition goes offline until the broker returns.
#
# ## 8. Try it
#
# - `kill_the_leader("all", min_insync_replicas=3)`: a record now needs all three replicas.
#   Compare `acknowledged` with the run above. What does the new leader answer while the killed
#   broker is out of its ISR? (`NotEnoughReplicasError`, which `kill_the_leader` counts as not
#   acknowledged.) What if a follower fetched less often than `replica_lag_time_max_ms` (1 s)?
# - Make a follower lag out of the ISR (`cluster.slow(2, 5)`), then kill the others:
#   with `unclean_leader_election_enable=True` broker 2 leads anyway — what is lost?
# - Kill and restart broker 0 again, leave the leadership where it went and `cluster.run_for(300)`:
#   who leads at the end, and when did it change? (Kafka's controller gives partitions back by
#   itself, `leader.imbalance.check.interval.seconds` after the imbalance began.)
# - Move a partition to a broker that is down (`cluster.kill(3)` before the reassignment): how
#   long does the move wait, and who counts for `acks="all"` meanwhile?
# - In section 6, send the retry with sequence 1 instead of 0, then with 2: what does the new
#   leader answer each time, and why? (`OutOfOrderSequenceNumberError` says records were lost.)
# - `kill_the_leader(1, fault="stop")` stops the leader instead of killing it: more records are
#   acknowledged (no outage to wait out), but are they all kept? What had the followers not
#   copied yet when the leadership moved?
# - In section 7, stop a leader that is alone in its ISR: first isolate both followers
#   (`cluster.isolate(b)`), produce with `acks=1` and `cluster.run_for(1.5)`, then heal them.
#   Who leads after the stop, and after `cluster.restart(leader)`?
# - That memory has a horizon. Make section 6's cluster with `producer_id_expiration_ms=60_000,
#   producer_id_expiration_check_interval_ms=100` and stamp the payment two minutes ago
#   (`(None, b"payment", (), time.time_ns() // 1_000_000 - 120_000)`): what does `remembered()`
#   show after the fetch, and how often is the payment in the new leader's log? (Kafka forgets a
#   producer that wrote nothing for `producer.id.expiration.ms`, a day by default.)
# - `python -m pcmodel.cluster.campaign --runs 100 --acks 1` runs a hundred seeded fault
#   scenarios and prints one that loses acknowledged records, replayable by its seed.
# - The same with real crashes: `Cluster(3, mode="processes")` runs every broker as its own
#   OS process, `kill(b)` is a SIGKILL and `restart(b)` recovers the log from its files
#   (`python -m pcmodel.cluster.campaign --mode processes --runs 20`).
