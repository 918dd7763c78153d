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
# # 6. Offsets, commits and rebalances
#
# A consumer group remembers its position in each partition as a **committed offset**: the
# offset of the *next* record to read. When a consumer commits only after it processed a
# record, a crash can never lose a record, but it can process one twice: **at-least-once**
# delivery. This lesson shows the duplicates, replays a log, lets a week pass until an empty
# group's offsets expire, compares two ways of moving partitions between members (eager and
# cooperative rebalancing), restarts a member without moving any, and compares a topic that
# deletes old records with one that blocks the producer like a bounded buffer.

# %%
# %matplotlib inline
import random
import threading
import time
from collections import Counter

from pcmodel import plots
from pcmodel.instrument import Interval
from pcmodel.topics import (
    Broker, ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer,
    OffsetSpec, TopicPartition,
)


def wait_for(predicate, timeout=10.0, what="the condition"):
    """Return once predicate() is true (checked every 10 ms); else raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        threading.Event().wait(0.01)


def poll_records(consumer, partition, at_least=1, timeout=10.0):
    """Poll until ``at_least`` records of ``partition`` arrived; return them in order."""
    records = []
    deadline = time.monotonic() + timeout
    while len(records) < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(records)} of {at_least} records arrived")
        records += consumer.poll(timeout_ms=50).get(partition, [])
    return records


def fill(broker, topic, count, partitions=1):
    """Create ``topic`` holding ``count`` records: "record 0", "record 1", ..."""
    broker.create_topic(topic, partitions)
    producer = KafkaProducer(broker=broker, value_serializer=str.encode)
    for number in range(count):
        producer.send(topic, key=b"%d" % number, value=f"record {number}")
    producer.close()


# %% [markdown]
# ## The committed offset is the next one to read

# %%
broker = Broker()
fill(broker, "events", 10)
events = TopicPartition("events", 0)
with KafkaConsumer("events", broker=broker, group_id="audit", auto_offset_reset="earliest",
                   enable_auto_commit=False, max_poll_records=4) as consumer:
    got = poll_records(consumer, events)  # at most 4: max_poll_records
    consumer.commit()
    print("read offsets", [r.offset for r in got], "-> committed", consumer.committed(events))
print("the group's lag:", broker.describe_group("audit").lag)

# %% [markdown]
# ## At-least-once: a crash before the commit means duplicates
#
# A consumer of the group `ledger` processes records in batches and commits after each
# batch, but it crashes after processing its third batch, *before* committing it. (We model
# the crash with `close(autocommit=False)`: it leaves the group without committing, as a dead
# consumer would after its session timed out.) A second consumer takes over from the last
# committed offset, and the third batch is processed again. Nothing is lost. (The consumer's
# own lag, from `metrics()`, counts from its position; the group's, from `describe_group()`,
# from the committed offset: the records processed but not committed are the difference.)

# %%
fill(broker, "payments", 20)
payments = TopicPartition("payments", 0)
processed = []
settings = dict(broker=broker, group_id="ledger", auto_offset_reset="earliest",
                enable_auto_commit=False, max_poll_records=5, value_deserializer=bytes.decode)

first = KafkaConsumer("payments", **settings)
batches = 0
while batches < 3:
    batch = first.poll(timeout_ms=100).get(payments, [])
    if batch:
        processed += [r.value for r in batch]
        batches += 1
        if batches < 3:
            first.commit()
print("crashing with committed offset", first.committed(payments),
      "after processing", len(processed), "records")
print("its own lag, in records:",
      first.metrics()["consumer-fetch-manager-metrics"]["records-lag-max"])
print("the group's lag, in records:", broker.describe_group("ledger").lag[payments])
first.close(autocommit=False)

with KafkaConsumer("payments", **settings) as second:
    while len(set(processed)) < 20:
        processed += [r.value for r in second.poll(timeout_ms=100).get(payments, [])]
    second.commit()

duplicates = sorted((v for v, n in Counter(processed).items() if n > 1),
                    key=lambda v: int(v.split()[1]))
print(f"{len(processed)} records processed for 20 in the log; twice: {duplicates}")

# %% [markdown]
# ## Replay
#
# The records are still in the log, so any group can read them again: a new group starts
# from the beginning (`auto_offset_reset="earliest"`), and an existing one can `seek`.
#
# An operator replays for a whole group by moving its committed offsets while the group is
# stopped, as Kafka's `kafka-consumer-groups --reset-offsets` does. The admin client does it
# with the same calls as kafka-python's: here the `ledger` group goes back to the first
# payment, and the next consumer of the group starts there. (While the group has members,
# Kafka refuses: only its members commit for it.)

# %%
with KafkaConsumer(broker=broker, auto_offset_reset="earliest",
                   value_deserializer=bytes.decode) as replayer:
    replayer.assign([payments])
    replayer.seek(payments, 15)
    again = poll_records(replayer, payments, at_least=5)
    print("replayed from offset 15:", [r.value for r in again])

admin = KafkaAdminClient(broker=broker)
print("reset:", admin.reset_group_offsets("ledger", {payments: OffsetSpec.EARLIEST}))
with KafkaConsumer("payments", **settings) as ledger:
    print("the ledger group starts again at offset",
          poll_records(ledger, payments)[0].offset)
admin.close()

# %% [markdown]
# ## A group that stays away is forgotten
#
# A committed offset is not kept for ever. Kafka removes a group's committed offsets
# `offsets.retention.minutes` after its last member left (a week by default), and then the
# group itself: a consumer of the group that comes back later starts from `auto_offset_reset`,
# like a new one. While a group has members, the offsets of the topics they subscribe to never
# expire. The broker checks every ten minutes (`offsets.retention.check.interval.ms`);
# `expire_offsets(now_ms)` runs the check as at any moment, so a week can pass in one line.
# The `audit` group, empty since the first cell, had committed offset 4 of `events`:

# %%
now_ms = round(time.time() * 1000)
day_ms = 24 * 60 * 60 * 1000
print("audit's committed offset:", broker.committed("audit", [events])[events].offset)
print("a day later, expired:", broker.expire_offsets(now_ms + day_ms))
for group, gone in broker.expire_offsets(now_ms + 7 * day_ms).items():
    print(f"a week later, {group!r} lost {len(gone.partitions)} offset(s)"
          + (" and was deleted" if gone.group_deleted else ""))
print("groups left:", broker.list_groups())
with KafkaConsumer("events", broker=broker, group_id="audit",
                   auto_offset_reset="earliest") as audit:
    print("the audit group comes back and starts at offset",
          poll_records(audit, events)[0].offset, "(auto_offset_reset='earliest')")
broker.close()


# %% [markdown]
# ## Rebalancing: eager against cooperative
#
# When a member joins or leaves, the group moves partitions. **Eager** rebalancing (Kafka's
# classic protocol, here with the `range` assignor) makes *every* member give up *all* its
# partitions first, then hands out the new assignment: the whole group stops. **Cooperative**
# rebalancing (`cooperative-sticky`) only revokes the partitions that really move, so the
# others keep consuming.
#
# Two members consume a 6-partition topic, polling up to 25 records at a time; each record
# takes a random time, and one member is twice as slow as the other. Then a third member
# joins. A rebalance listener records, for each member, when it owns partitions ("consuming")
# and when it owns none ("no partitions"). A member only reacts to a rebalance between two
# batches, at its next `poll()`.

# %%
class Ownership(ConsumerRebalanceListener):
    """Records (time, member, partitions owned) at every change of assignment."""

    def __init__(self, name, log):
        self.name, self.log, self.owned = name, log, set()
        log.append((time.perf_counter(), name, 0))

    def on_partitions_revoked(self, revoked):
        self.owned -= set(revoked)
        self.log.append((time.perf_counter(), self.name, len(self.owned)))

    def on_partitions_lost(self, lost):
        self.on_partitions_revoked(lost)

    def on_partitions_assigned(self, assigned):
        self.owned |= set(assigned)
        self.log.append((time.perf_counter(), self.name, len(self.owned)))


def to_intervals(log, end):
    """Turn the ownership log into (member, state, start, end) intervals up to ``end``."""
    intervals, last = [], {}
    changes = sorted(entry for entry in log if entry[0] <= end)
    for when, name, owned in changes + [(end, name, None) for name in {n for _, n, _ in log}]:
        if name in last:
            since, was = last[name]
            state = "consuming" if was else "no partitions"
            intervals.append(Interval(name, state, since, when))
        last[name] = (when, owned)
    return intervals


def rebalance(strategy, work=0.004, batch=25):
    """Two members consume; a third joins; return who owned partitions when."""
    broker = Broker()
    broker.create_topic("clicks", 6)
    log, stop, consumed = [], threading.Event(), Counter()

    def member(name, work):
        # Records take a random time (exponential, mean ``work``), seeded per member.
        rng = random.Random(name)
        # No commits: this lesson watches ownership, and an auto-commit that a rebalance
        # overtook would only log a CommitFailedError warning.
        consumer = KafkaConsumer(broker=broker, group_id="g", client_id=name,
                                 auto_offset_reset="earliest", fetch_max_wait_ms=10,
                                 heartbeat_interval_ms=20, max_poll_records=batch,
                                 enable_auto_commit=False,
                                 partition_assignment_strategy=(strategy,))
        consumer.subscribe(["clicks"], listener=Ownership(name, log))
        with consumer:
            while not stop.is_set():
                for records in consumer.poll(timeout_ms=10).values():
                    for _ in records:
                        time.sleep(rng.expovariate(1 / work))
                        consumed[name] += 1

    producer = KafkaProducer(broker=broker)
    for number in range(3000):
        producer.send("clicks", key=b"%d" % number, value=b"click")
    producer.flush()
    # member-1 runs on a slower machine: twice as long per record.
    works = {"member-0": work, "member-1": 2 * work, "member-2": work}
    members = [threading.Thread(target=member, args=item) for item in works.items()]
    members[0].start()
    members[1].start()
    wait_for(lambda: consumed["member-0"] >= 60 and consumed["member-1"] >= 60)
    members[2].start()  # the newcomer triggers the rebalance
    wait_for(lambda: consumed["member-2"] >= 60)
    ended = time.perf_counter()  # leaving the group at the end is not part of the story
    stop.set()
    for thread in members:
        thread.join(timeout=10)
    producer.close()
    broker.close()
    return to_intervals(log, ended)


timelines = {
    "eager (range assignor)": rebalance("range"),
    "cooperative (cooperative-sticky assignor)": rebalance("cooperative-sticky"),
}
plots.plot_rebalance(timelines, title="A third member joins")

# %%
for name, intervals in timelines.items():
    newcomer = next(i for i in intervals if i.actor == "member-2")
    first_seen = {}
    for i in intervals:
        first_seen.setdefault(i.actor, i.start)
    stood_still = sum(i.duration for i in intervals if i.actor != "member-2"
                      and i.state == "no partitions" and i.start > first_seen[i.actor])
    print(f"{name}: the newcomer waited {newcomer.duration * 1000:.0f} ms for partitions; "
          f"members already consuming stood still {stood_still * 1000:.0f} ms in all")


# %% [markdown]
# ## A restart without a rebalance: static members
#
# Deploying a new version of a service restarts its consumers one by one. A plain (*dynamic*)
# member leaves the group when it closes and comes back as a new member: two rebalances per
# restart, and every other member takes part in both. A *static* member (`group_instance_id`,
# KIP-345) is known by its instance id. It does not leave when it closes, and when it starts
# again within `session_timeout_ms` it takes its old place back, with its partitions, and the
# group does not rebalance at all. The group's generation counts its rebalances.

# %%
def restart(instance_id):
    """Two members share four partitions, then the second restarts. Return the group's
    generation and the second member's partitions, before and after the restart."""
    broker = Broker()
    broker.create_topic("orders", 4)

    def start(name, instance_id=None):
        return KafkaConsumer("orders", broker=broker, group_id="shipping", client_id=name,
                             group_instance_id=instance_id, heartbeat_interval_ms=20)

    def stable(members):
        group = broker.describe_group("shipping")
        return (group.state.value == "Stable" and len(group.members) == members
                and all(m.assignment for m in group.members))

    stop = threading.Event()
    first = start("shipping-1")

    def keep_polling():  # the first member goes on consuming throughout
        while not stop.is_set():
            first.poll(timeout_ms=10)

    poller = threading.Thread(target=keep_polling)
    poller.start()
    wait_for(lambda: stable(1))
    second = start("shipping-2", instance_id)
    wait_for(lambda: second.poll(timeout_ms=10) is not None and stable(2))
    before = broker.describe_group("shipping").generation, sorted(second.assignment())
    second.close()
    if instance_id is None:  # it left: the first member takes every partition meanwhile
        wait_for(lambda: stable(1))
    second = start("shipping-2", instance_id)
    wait_for(lambda: second.poll(timeout_ms=10) is not None and stable(2)
             and len(second.assignment()) == 2)
    after = broker.describe_group("shipping").generation, sorted(second.assignment())
    stop.set()
    poller.join()
    for consumer in (first, second):
        consumer.close()
    broker.close()
    return before, after


for kind, instance_id in (("dynamic", None), ("static", "shipping-2")):
    (generation, partitions), (generation_after, partitions_after) = restart(instance_id)
    print(f"{kind}: generation {generation} -> {generation_after}; partitions "
          f"{[p.partition for p in partitions]} -> {[p.partition for p in partitions_after]}")

# %% [markdown]
# The dynamic member cost the group two generations: one when it left (the first member took
# all four partitions) and one when it came back. The static member cost none: while it was
# away its two partitions waited for it, unread, and the first member never stopped. That is
# the price of static membership: a member that does not come back holds its partitions until
# its session times out (or an administrator removes it with `remove_group_members`).


# %% [markdown]
# ## Retention: a log that deletes, a log that blocks
#
# A log cannot grow for ever. With retention policy `"delete"` the broker drops the oldest
# records beyond a limit, whether or not anyone read them: the producer never waits, and a
# slow consumer **loses** records. With `"block"` a partition is a bounded buffer again: the
# producer waits until the slowest group has committed. Same producer, same slow consumer,
# a limit of 20 records:

# %%
def retention(policy, records=300, limit=20, work=0.002):
    broker = Broker()
    broker.create_topic("clicks", 1, retention_records=limit, retention_policy=policy)
    received, ready = [], threading.Event()

    def consume():
        with KafkaConsumer("clicks", broker=broker, group_id="analytics",
                           auto_offset_reset="earliest", fetch_max_wait_ms=10,
                           max_poll_records=5, enable_auto_commit=False) as consumer:
            while not received or received[-1] < records - 1:
                batch = consumer.poll(timeout_ms=10)
                if consumer.assignment():
                    ready.set()
                for batch_records in batch.values():
                    for record in batch_records:
                        time.sleep(work)
                        received.append(record.offset)
                if batch:
                    consumer.commit()

    reader = threading.Thread(target=consume)
    reader.start()
    ready.wait(10)
    producer = KafkaProducer(broker=broker, batch_size=64)
    started = time.perf_counter()
    for number in range(records):
        producer.send("clicks", value=b"click %d" % number)
    producer.flush()
    producing = time.perf_counter() - started
    reader.join(timeout=30)
    producer.close()
    broker.close()
    return producing, len(received)


for policy in ("delete", "block"):
    producing, received = retention(policy)
    print(f"{policy:6}: the producer needed {producing * 1000:6.1f} ms for 300 records; "
          f"the consumer received {received} of them")

# %% [markdown]
# ### Deleting by age: the record's timestamp, not its arrival
#
# Kafka's usual limit is an age, `retention.ms` (a week by default): a record is deleted once
# the broker's clock is more than that past the record's **timestamp**, which is the time its
# producer gave it (`CreateTime`, the default), not the time it arrived. Deletion goes from
# the oldest offset on and stops at the first record still young enough. A topic that keeps a
# day receives a backfill of last week's events, one event from a machine whose clock runs
# half an hour ahead, then more of last week's:

# %%
day_ms, minute_ms = 24 * 60 * 60 * 1000, 60 * 1000
history = TopicPartition("history", 0)
with Broker() as broker, KafkaProducer(broker=broker) as producer:
    broker.create_topic("history", 1, retention_ms=day_ms)
    now_ms = round(time.time() * 1000)
    for label, timestamp_ms in [("last week", now_ms - 7 * day_ms),
                                ("clock ahead", now_ms + 30 * minute_ms),
                                ("last week again", now_ms - 7 * day_ms)]:
        producer.send("history", value=label.encode(), timestamp_ms=timestamp_ms)
    producer.flush()
    start = broker.beginning_offsets([history])[history]
    print("offsets 0 to 2 appended; the log now starts at offset", start)
    kept = broker.fetch({history: start})[history].records
    print("kept:", [(record.offset, record.value.decode()) for record in kept])

# %% [markdown]
# The first record was deleted as it arrived. The third is just as old but stays: the record
# before it holds it back until that one is a day old too. Kafka deletes whole *segments*
# (files of records) by their newest timestamp, so there one early-stamped record keeps its
# whole segment, and every later one, for as long as it is young. This is why Kafka refuses
# create times more than an hour ahead of its clock (`message.timestamp.after.max.ms`).

# %% [markdown]
# ### Compaction: a topic that is a table
#
# Some topics are not a history but a table: each record says "this key now has this value".
# Kafka keeps such a topic with `cleanup.policy=compact`: a *cleaner* rewrites the old part of
# the log so that only the latest record of each key stays, and a record whose value is `None`
# (a *tombstone*) deletes its key. Offsets keep their numbers, so the log gets gaps. The cleaner
# never touches the segment being appended to, and with Kafka's defaults a segment grows for a
# week, so this topic asks for segments of one second. Prices of three items, changed during
# the last minute, bread taken off the shelf, then one more price now:

# %%
prices = TopicPartition("prices", 0)
with Broker() as broker, KafkaProducer(broker=broker) as producer:
    broker.create_topic("prices", 1, configs={"cleanup.policy": "compact", "segment.ms": "1000"})
    minute_ago_ms = round(time.time() * 1000) - minute_ms
    for number in range(9):
        item = ("apples", "bread", "coffee")[number % 3]
        producer.send("prices", key=item.encode(), value=b"%d" % (100 + number),
                      timestamp_ms=minute_ago_ms + number)
    producer.send("prices", key=b"bread", value=None, timestamp_ms=minute_ago_ms + 9)
    producer.flush()
    print("before a new segment:", len(broker.fetch({prices: 0})[prices].records), "records")
    producer.send("prices", key=b"apples", value=b"120").get(timeout=10)  # a new segment
    kept = broker.fetch({prices: 0})[prices].records
    print("kept:", [(r.offset, r.key.decode(), r.value and r.value.decode()) for r in kept])
    table = {}
    for record in kept:
        if record.value is None:
            table.pop(record.key.decode(), None)
        else:
            table[record.key.decode()] = record.value.decode()
    print("the table a consumer builds from offset 0:", table)

# %% [markdown]
# Offsets 0 to 5 and 7 are gone: a newer record of their key came after them. A consumer
# reading from offset 0 still ends with every item's latest price. The tombstone stays for
# `delete.retention.ms` (a day) after the cleaning that first kept it, so that consumers
# reading in the meantime learn that bread was deleted. Apples' 106 stays beside its newer
# 120: that one is in the segment being appended to, which the cleaner has not read.

# %% [markdown]
# ## Questions
#
# 1. In the crash experiment, which records were processed twice, and why exactly those?
#    What would change if the consumer committed *before* processing each batch?
# 2. Processing a payment twice is bad. Name one way to make processing idempotent, so that
#    at-least-once delivery does no harm.
# 3. In the eager timeline, find the member that stands still while the newcomer joins. What
#    is it waiting for? Run the cell again: why does the pause change from run to run, and why
#    do members that keep their partitions never pause with cooperative rebalancing?
# 4. A static member restarted without a rebalance. What happens to the records of its two
#    partitions while it is away? Why is a long `session_timeout_ms` good for a restart and
#    bad for a machine that died? What happens if two running consumers are given the same
#    `group_instance_id`?
# 5. `"delete"` retention lost records for the slow consumer; `"block"` slowed the producer
#    down to the consumer's pace. Which would you choose for click analytics, and which for
#    payments? What does `"block"` do to a fast consumer group when a second, slow group
#    reads the same topic?
# 6. The `audit` group came back after its offsets expired and read its first four records
#    again. Which `auto_offset_reset` would have skipped records instead? Why does Kafka count
#    the week from the moment the group became empty, not from its last commit?
# 7. The backfill of last week's events lost its first record on arrival. What could the
#    producer, or the topic's configs (`message.timestamp.type`), do to keep such a backfill
#    for a day?
# 8. A new service builds the price table by reading the compacted topic from offset 0. Why
#    must it still expect a key more than once (apples, above)? What does a consumer that was
#    away for longer than `delete.retention.ms` miss, and what does its table get wrong?
