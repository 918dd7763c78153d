# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Real Kafka clients on a glass broker
#
# Until now every producer and consumer in these notebooks was pcmodel's own. Courses and jobs
# use the real ones: **kafka-python** and **confluent-kafka** (the Python face of librdkafka,
# the C client most Kafka tools are built on). They speak Kafka's wire protocol over TCP.
#
# pcmodel's broker speaks it too. `broker.serve_kafka()` opens a second door into the *same*
# broker: real clients come in through it, and we keep looking at the broker's insides as in
# the earlier notebooks — its partition logs, and the waiting that happens in them.
#
# | door | who uses it |
# |---|---|
# | the broker object itself (or `start_broker_process`) | pcmodel's clients |
# | `broker.serve_kafka()` — Kafka's protocol on a TCP port | kafka-python, confluent-kafka, `kcat` |

# %%
import threading
import time

from confluent_kafka import Producer
from kafka import KafkaConsumer, TopicPartition

from pcmodel.plots import plot_fetch_waits, plot_log_growth
from pcmodel.topics import Broker

# %matplotlib inline

broker = Broker()
listener = broker.serve_kafka()          # port 0: any free port on 127.0.0.1
broker.create_topic("orders", 3)
print("Kafka clients connect to", listener.bootstrap_servers)

# %% [markdown]
# ## 1. A confluent-kafka producer fills the partition logs
#
# The producer runs in a thread and sends 3,000 orders from 12 users, keyed by user, in small
# bursts.
# librdkafka batches them (`linger.ms`) and sends each batch in a Produce request; the broker
# appends it to the partition log that the key's hash picks (`partitioner="murmur2_random"`
# is the Java client's choice, so the same key lands on the same partition as on Apache Kafka).
#
# Meanwhile the notebook looks at the broker itself every 20 ms: the end offset of each log.

# %%
def produce(count: int = 3000) -> None:
    producer = Producer({"bootstrap.servers": listener.bootstrap_servers,
                         "linger.ms": 20, "partitioner": "murmur2_random"})
    for i in range(count):
        producer.produce("orders", key=f"user-{i % 12}".encode(), value=b"order %d" % i)
        if i % 100 == 99:
            producer.poll(0)
            time.sleep(0.02)             # the shop is busy, but not infinitely fast
    producer.flush(30)


growth = []
started = time.monotonic()
writer = threading.Thread(target=produce)
writer.start()
while writer.is_alive():
    growth.append((time.monotonic() - started, broker.describe_topic("orders").end_offsets))
    writer.join(0.02)
growth.append((time.monotonic() - started, broker.describe_topic("orders").end_offsets))
print("records per partition:", growth[-1][1])

# %%
plot_log_growth(growth, title="Three partition logs growing under a confluent-kafka producer")

# %% [markdown]
# The logs grow at different speeds: 12 users share 3 partitions, but hashing does not deal
# them out evenly — here 1, 4 and 7 users (`pcmodel.topics.partitioner.default_partition`
# computes it, bit for bit as Kafka does). With few keys, a "hot" partition is the rule.
# And nothing is removed when it is read: a log is not a buffer.
#
# ## 2. A kafka-python consumer long-polls the logs
#
# A consumer sends Fetch requests: "records from offset *n*, and if there are none, wait up to
# `fetch_max_wait_ms` for some". On the broker, that wait is a wait on the partition log's
# condition — the consumer side of the bounded buffer of notebook 01, waiting for items.
#
# We start the consumer first and the producer a moment later, so some fetches find nothing.

# %%
consumer = KafkaConsumer(bootstrap_servers=listener.bootstrap_servers,
                         enable_auto_commit=False, fetch_max_wait_ms=200)
partitions = [TopicPartition("orders", p) for p in range(3)]
consumer.assign(partitions)
consumer.seek_to_end()                   # only what is produced from now on

positions, ends = [], []
started = time.monotonic()
writer = threading.Thread(target=produce, args=(1500,))
threading.Timer(1.0, writer.start).start()
received = 0
while received < 1500 and time.monotonic() - started < 30:
    for records in consumer.poll(timeout_ms=100).values():
        received += len(records)
    now = time.monotonic() - started
    positions.append((now, {tp.partition: consumer.position(tp) for tp in partitions}))
    ends.append((now, broker.describe_topic("orders").end_offsets))
writer.join(30)
consumer.close()
print("consumed", received, "records")

# %%
plot_log_growth(ends, positions, title="The consumer (dashed) follows the logs (solid)")

# %% [markdown]
# And the fetches as the broker saw them: before the producer starts, every fetch waits the
# full `max_wait_ms` (200 ms) and comes back empty; once records flow, fetches are answered at
# once. The waiting happened *in the broker*, on the log, not in a sleep loop in the client.

# %%
stats = listener.statistics()
print("requests served:", stats.requests)
plot_fetch_waits(stats.fetches)

# %% [markdown]
# ## 3. Both doors, one broker
#
# pcmodel's own clients see exactly what the real clients wrote: same topic, same offsets.

# %%
from pcmodel.topics import KafkaConsumer as PcmodelConsumer
from pcmodel.topics import TopicPartition as PcmodelTopicPartition

mirror = PcmodelConsumer(broker=broker, auto_offset_reset="earliest", enable_auto_commit=False)
mirror.assign([PcmodelTopicPartition("orders", p) for p in range(3)])
polled = {}
while not polled:                        # the first poll may return before the first fetch
    polled = mirror.poll(timeout_ms=500)
first = next(iter(polled.values()))[0]
print("offset", first.offset, "key", first.key, "value", first.value)
mirror.close()

# %% [markdown]
# ## 4. A real client joins a group: a rebalance, seen from the coordinator
#
# Groups follow Kafka's classic protocol: every member sends **JoinGroup**, the coordinator waits
# for all of them, names one member the **leader**, and the leader (a client, not the broker)
# computes the assignment and sends it in **SyncGroup**. The group's state says where it is:
# `PreparingRebalance` (waiting for joins), `CompletingRebalance` (waiting for the leader's
# plan), `Stable`. Each completed round is a new **generation**.
#
# A kafka-python consumer starts the group "billing"; a second later a confluent-kafka consumer
# joins it. The notebook samples the coordinator every 10 ms.

# %%
from confluent_kafka import Consumer

stop_members = threading.Event()
timeline = []                            # (seconds, state, generation, members)


def kafka_python_member() -> None:
    member = KafkaConsumer("orders", bootstrap_servers=listener.bootstrap_servers,
                           group_id="billing", heartbeat_interval_ms=200)
    while not stop_members.is_set():
        member.poll(timeout_ms=100)
    member.close()


def confluent_member() -> None:
    member = Consumer({"bootstrap.servers": listener.bootstrap_servers, "group.id": "billing",
                       "heartbeat.interval.ms": 200})
    member.subscribe(["orders"])
    while not stop_members.is_set():
        member.poll(0.1)
    member.close()


def watch(seconds: float) -> None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            group = broker.describe_group("billing")
            timeline.append((time.monotonic() - start, group.state.value, group.generation,
                             len(group.members)))
        except Exception:                # the group does not exist yet
            pass
        time.sleep(0.01)


watcher = threading.Thread(target=watch, args=(4.0,))
watcher.start()
first_member = threading.Thread(target=kafka_python_member)
first_member.start()
time.sleep(1.0)
second_member = threading.Thread(target=confluent_member)
second_member.start()
watcher.join()

changes = [row for i, row in enumerate(timeline) if i == 0 or row[1:] != timeline[i - 1][1:]]
for at, state, generation, members in changes:
    print(f"{at:5.2f} s  {state:<20} generation {generation}  members {members}")

# %% [markdown]
# The first member alone: one round, generation 1. When the second joins, the group goes back to
# `PreparingRebalance` until the first member rejoins (its heartbeat told it to), then
# `CompletingRebalance` while the leader computes the plan, then `Stable` at the next
# generation. You may see an extra round or two: a JoinGroup from the *leader* always starts a
# rebalance (that is how a leader that noticed new partitions makes the group reassign), and
# kafka-python's leader rejoins when its view of the topic metadata changed since it assigned.
# Who owns what now, as the coordinator describes it:

# %%
for member in broker.describe_group("billing").members:
    print(member.client_id, [tp.partition for tp in member.assignment])
stop_members.set()
first_member.join()
second_member.join()

# %% [markdown]
# ## Try it
#
# - Run `pcmodel broker --kafka 9092` in a terminal and point `kcat -b 127.0.0.1:9092 -L` at it.
# - Set `fetch_max_wait_ms=1000` above: how does the fetch chart change?
# - Produce with `"compression.type": "gzip"`: the broker decompresses each batch as it arrives.
# - Give both group members `partition.assignment.strategy` / `partition_assignment_strategy`
#   cooperative-sticky: how many rounds does the second member's arrival take now?

# %%
listener.stop()
broker.close()
