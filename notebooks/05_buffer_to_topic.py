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
# # 5. From buffer to topic
#
# A bounded buffer *hands over* items: once a consumer took one, it is gone. A **topic** keeps
# them. It is a set of **partitions**, each an append-only **log** in which every record gets
# the next **offset** (0, 1, 2, ...). Consumers do not remove records; each **consumer group**
# remembers how far it has read, so several groups can read the same records independently.
#
# pcmodel's topics follow Kafka (and the call shapes of the `kafka-python` client): a producer
# `send()`s records through a bounded buffer of batches (its *accumulator*), a broker appends
# them to partition logs, and consumers `poll()` them through a bounded *fetch buffer*.

# %%
# %matplotlib inline
import threading
import time
from collections import defaultdict

from pcmodel import plots
from pcmodel.experiments.progress import progress
from pcmodel.topics import (
    Broker, KafkaAdminClient, KafkaConsumer, KafkaProducer, NewTopic, TopicPartition,
    default_partition,
)


def wait_for(predicate, timeout=10.0, what="the condition"):
    """Return once predicate() is true (checked every 10 ms); else raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        threading.Event().wait(0.01)


def poll_all(consumer, count, timeout=10.0):
    """Poll until ``count`` records arrived; return them in the order poll() gave them."""
    records = []
    deadline = time.monotonic() + timeout
    while len(records) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(records)} of {count} records arrived")
        for batch in consumer.poll(timeout_ms=100).values():
            records.extend(batch)
    return records


# %% [markdown]
# ## Keys choose partitions
#
# A record's **key** decides its partition: `murmur2(key) % partitions`, the hash Kafka's
# default partitioner uses, so the same key always lands in the same partition (here and in
# a real Kafka cluster with the same number of partitions).
#
# The topic is created with the admin client, in the same lines that create it on a real
# cluster (there: `KafkaAdminClient(bootstrap_servers=...)`); `broker.create_topic("orders",
# 3)` is the short form used further on.

# %%
broker = Broker()
admin = KafkaAdminClient(broker=broker)
admin.create_topics([NewTopic("orders", num_partitions=3, replication_factor=1)])
producer = KafkaProducer(broker=broker, key_serializer=str.encode,
                         value_serializer=str.encode)
customers = ["alice", "bob", "carol", "dave", "erin"]
placed = defaultdict(list)
for number in range(15):
    customer = customers[number % len(customers)]
    metadata = producer.send("orders", key=customer, value=f"order {number}").get(timeout=10)
    placed[customer].append((metadata.partition, metadata.offset))
producer.close()

for customer, places in placed.items():
    partitions = {partition for partition, _ in places}
    offsets = [offset for _, offset in places]
    print(f"{customer:6} -> partition(s) {partitions}, offsets {offsets}; "
          f"murmur2 says {default_partition(customer.encode(), 3)}")

# %% [markdown]
# ## Order is kept per partition, not per topic
#
# Read everything back. Within a partition, records come in offset order, so each customer's
# orders arrive in the order they were placed. Across partitions there is no order.

# %%
reader = KafkaConsumer(broker=broker, key_deserializer=bytes.decode,
                       value_deserializer=bytes.decode, auto_offset_reset="earliest")
reader.assign([TopicPartition("orders", p) for p in range(3)])
records = poll_all(reader, 15)
reader.close()

print("as received:", [r.value.split()[1] for r in records])
for customer in customers:
    print(f"{customer:6}:", [r.value for r in records if r.key == customer])

# %% [markdown]
# ## A log is not a buffer: two groups, same records
#
# Two consumer groups, `billing` and `shipping`, each read the whole topic. Neither takes
# anything away from the other, and the log still holds every record afterwards.

# %%
for group in ("billing", "shipping"):
    with KafkaConsumer("orders", broker=broker, group_id=group, auto_offset_reset="earliest",
                       value_deserializer=bytes.decode) as consumer:
        print(f"{group:8} read {len(poll_all(consumer, 15))} records")

partitions = [TopicPartition("orders", p) for p in range(3)]
print("log start offsets:", list(broker.beginning_offsets(partitions).values()))
print("log end offsets:  ", list(broker.end_offsets(partitions).values()))


# %% [markdown]
# ## Consumer groups and their limit
#
# Inside one group, each partition is read by exactly one member. More members share the
# partitions, until there are more members than partitions: the extra members get nothing
# and stay **idle**. The helper below runs a group of consumers in threads; each polls up to
# 10 records at a time, takes 2 ms per record and commits after every batch.

# %%
class Group:
    """``size`` consumers of ``topic`` in threads, ``work`` seconds per record."""

    def __init__(self, broker, topic, group_id, size, work=0.002):
        self.broker, self.group_id, self.size = broker, group_id, size
        self.consumed = 0
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._consume, args=(topic, f"{group_id}-{i}", work))
            for i in range(size)
        ]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.errors:
            raise self.errors[0]

    def _consume(self, topic, name, work):
        try:
            with KafkaConsumer(topic, broker=self.broker, group_id=self.group_id,
                               client_id=name, auto_offset_reset="earliest",
                               enable_auto_commit=False, fetch_max_wait_ms=10,
                               max_poll_records=10, heartbeat_interval_ms=50) as consumer:
                while not self._stop.is_set():
                    batch = consumer.poll(timeout_ms=10)
                    for records in batch.values():
                        for _ in records:
                            time.sleep(work)  # the application's processing
                    if batch:
                        consumer.commit()  # after processing: at-least-once
                        with self._lock:
                            self.consumed += sum(len(r) for r in batch.values())
        except Exception as exc:
            self.errors.append(exc)

    def description(self):
        return self.broker.describe_group(self.group_id)

    def wait_until_stable(self, partitions):
        """Wait until every member joined and every partition has an owner."""
        def stable():
            if self.group_id not in self.broker.list_groups():
                return False
            group = self.description()
            owned = sum(len(member.assignment) for member in group.members)
            return (group.state.value == "Stable" and len(group.members) == self.size
                    and owned == partitions)
        wait_for(stable, what=f"group {self.group_id} stable")


# %%
def group_throughput(partitions, consumers, records=200):
    """Records per second a group of ``consumers`` gets through a topic."""
    broker = Broker()
    broker.create_topic("orders", partitions)
    with Group(broker, "orders", "shop", consumers) as group:
        group.wait_until_stable(partitions)
        idle = sum(not member.assignment for member in group.description().members)
        producer = KafkaProducer(broker=broker)
        started = time.perf_counter()
        for number in range(records):
            producer.send("orders", key=b"%d" % number, value=b"order")
        producer.close()
        wait_for(lambda: group.consumed >= records, what="all records consumed")
        elapsed = time.perf_counter() - started
    broker.close()
    return {"partitions": partitions, "consumers": consumers,
            "records_per_s": records / elapsed, "idle_consumers": idle}


grid = [(p, c) for p in (2, 4) for c in (1, 2, 4, 6)]
rows = [group_throughput(p, c) for p, c in progress(grid, label="groups", enabled=True)]
plots.plot_topic_throughput(rows)

# %% [markdown]
# ## A hot partition
#
# Keys spread records evenly only if the keys themselves are spread. Here one big shop sends
# 60 % of the payments, and its key always hashes to the same partition. Four consumers, one
# per partition, each take 2 ms per record; while they work we sample the group's **lag** per
# partition: how many records it is behind (end offset minus committed offset).

# %%
broker = Broker()
broker.create_topic("payments", partitions=4)
payments = [TopicPartition("payments", p) for p in range(4)]
samples = []
with Group(broker, "payments", "ledger", 4) as group:
    group.wait_until_stable(4)
    producer = KafkaProducer(broker=broker, key_serializer=str.encode)
    for number in range(400):
        shop = "big-shop" if number % 10 < 6 else f"shop-{number}"
        producer.send("payments", key=shop, value=b"payment")
    producer.close()
    started = time.perf_counter()
    while True:
        lag, end = group.description().lag, broker.end_offsets(payments)
        # A partition without a commit yet has lag None: it is behind by all its records.
        samples.append((time.perf_counter() - started,
                        {tp: end[tp] if lag.get(tp) is None else lag[tp] for tp in payments}))
        if group.consumed >= 400 or time.perf_counter() - started > 20:
            break
        threading.Event().wait(0.02)
records_per_partition = broker.end_offsets(payments)
broker.close()
plots.plot_partition_load(records_per_partition)

# %% [markdown]
# The lag tells the same story over time: three consumers finish early and then sit idle, and
# the group is only as fast as its hottest partition.

# %%
plots.plot_lag(samples, title="Lag per partition with one hot key")

# %% [markdown]
# ## Questions
#
# 1. Why does the throughput line for 2 partitions stop rising at 2 consumers? What do the
#    idle consumers cost, and why might you still run one more consumer than partitions?
# 2. All of alice's orders are in one partition. What would break for her orders if the
#    topic got a fourth partition later? (Compute `default_partition(b"alice", 4)`.)
# 3. With the hot key, adding consumers does not help. Name two ways to spread the load, and
#    what each one gives up (think of per-key order).
# 4. The two groups `billing` and `shipping` both read all 15 orders. With a bounded buffer
#    between one producer and two consumers, how many would each consumer get?
