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
# full `max_wait_ms` (200 ms) and comes back empty; once records flow, a fetch that finds
# records is answered at once, and one that finds none waits only until the producer's next
# burst lands (it pauses 20 ms between bursts): a few tens of milliseconds, or longer for the
# first fetch answered with records, whose wait began before the producer did. The waiting
# happened *in the broker*, on the log, not in a sleep loop in the client.

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
# ## 4. A consumer group, and a rebalance as a real client joins
#
# Now two kafka-python consumers share the topic as one **group** (`group_id="billing"`). In
# Kafka's classic protocol the broker does not decide who reads what: every member sends a
# JoinGroup, the broker picks one member as **leader** and hands it everybody's subscription,
# the leader runs the assignor (`range` here) and sends the plan back in SyncGroup. When a new
# member arrives, the broker answers the others' next heartbeat with "rebalance in progress",
# they join again, and the partitions are dealt out anew in a new **generation**.
#
# Each member polls in its own thread; a **rebalance listener** (kafka-python's
# `ConsumerRebalanceListener`, called inside `poll()`) notes when partitions are taken away and
# when new ones are handed over.

# %%
from kafka import ConsumerRebalanceListener

events = []                                  # (seconds, member, "revoked" | "assigned", partitions)


class Recorder(ConsumerRebalanceListener):
    def __init__(self, name):
        self.name = name

    def on_partitions_revoked(self, revoked):
        events.append((time.monotonic() - started, self.name, "revoked",
                       sorted(tp.partition for tp in revoked)))

    def on_partitions_assigned(self, assigned):
        events.append((time.monotonic() - started, self.name, "assigned",
                       sorted(tp.partition for tp in assigned)))


def member(name: str, stop: threading.Event) -> None:
    consumer = KafkaConsumer(bootstrap_servers=listener.bootstrap_servers, group_id="billing",
                             auto_offset_reset="earliest", heartbeat_interval_ms=200,
                             session_timeout_ms=6000, client_id=name)
    consumer.subscribe(["orders"], listener=Recorder(name))
    try:
        while not stop.is_set():
            consumer.poll(timeout_ms=100)
    finally:
        consumer.close()


stop = threading.Event()
started = time.monotonic()
first = threading.Thread(target=member, args=("consumer-1", stop))
second = threading.Thread(target=member, args=("consumer-2", stop))
first.start()
threading.Timer(3.0, second.start).start()   # the second member arrives 3 s later
generations = set()
while time.monotonic() - started < 7:
    if "billing" in broker.list_groups():
        generations.add(broker.describe_group("billing").generation)
    stop.wait(0.1)
stop.set()
first.join(30)
second.join(30)
print("generations seen by the broker:", sorted(generations))
for t, name, what, partitions in events:
    print(f"{t:5.2f} s  {name}  {what:8}  {partitions}")

# %% [markdown]
# The same story as a timeline. With the eager protocol every member gives up *all* its
# partitions when a rebalance starts, and nobody reads until the new plan arrives. Above,
# consumer-1 gives up its three partitions when consumer-2 has joined and gets two back a few
# milliseconds later: a gap too thin to see at this scale, because the broker is next door (on
# a real cluster it is a network round trip per step, and one slow member holds up all).
# consumer-2 waits longer, until consumer-1 rejoins: consumer-1 hears of the rebalance only in
# the answer to its next heartbeat, up to `heartbeat_interval_ms` (200 ms) later.
#
# The first lines may show consumer-1 assigned nothing, then everything a moment later: as the
# group's only member it was its leader, ran the assignor before it had the topic's metadata,
# and rebalanced again once it had it. Kafka's brokers hold a new group's first rebalance back
# for `group.initial.rebalance.delay.ms` (3 s) against this; here the broker was made without
# that delay (`Broker(group_initial_rebalance_delay_ms=300)` would add it).

# %%
from pcmodel.plots import plot_rebalance


def intervals(events, end):
    bars, current = [], {}
    for t, name, what, partitions in events:
        state = "consuming" if what == "assigned" and partitions else "no partitions"
        if name in current:
            bars.append(current[name] | {"end": t})
        current[name] = {"actor": name, "state": state, "start": t}
    bars += [bar | {"end": end} for bar in current.values()]
    return [type("Interval", (), bar) for bar in bars]


plot_rebalance({"eager (range)": intervals(events, time.monotonic() - started)})

# %% [markdown]
# ## 5. A topic's configs, changed while it runs
#
# A Kafka topic is made with **configs** (`retention.ms`, `max.message.bytes`, ...), and an
# admin client changes them while producers and consumers go on. Here confluent-kafka's
# `AdminClient` tells the broker two things about `orders`: stamp every record with the
# broker's own clock when it is appended (`message.timestamp.type=LogAppendTime`, where records
# kept their producer's time until now), and refuse a batch larger than 1,000 bytes.

# %%
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
)

admin = AdminClient({"bootstrap.servers": listener.bootstrap_servers})
orders = ConfigResource("topic", "orders", incremental_configs=[
    ConfigEntry("message.timestamp.type", "LogAppendTime",
                incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("max.message.bytes", "1000", incremental_operation=AlterConfigOpType.SET),
])
admin.incremental_alter_configs([orders])[orders].result(timeout=20)
described = admin.describe_configs([ConfigResource("topic", "orders")])
for resource, future in described.items():
    for name in ("message.timestamp.type", "max.message.bytes", "retention.ms"):
        entry = future.result(timeout=20)[name]
        print(f"{name:24} {entry.value:15} {ConfigSource(entry.source).name}")

reports = []
producer = Producer({"bootstrap.servers": listener.bootstrap_servers})
for value in (b"x" * 2000, b"a small order"):          # one batch each: flush() in between
    producer.produce("orders", value, key=b"user-1", timestamp=1,
                     on_delivery=lambda err, msg: reports.append((err, msg)))
    producer.flush(10)
for what, (err, msg) in zip(("large", "small"), reports):
    print(f"the {what} order:", err.str() if err else f"at offset {msg.offset()} of "
          f"partition {msg.partition()}")
del producer, admin                                  # their connections close now

# %% [markdown]
# The large order never reached the log (`MSG_SIZE_TOO_LARGE`: the broker weighs each batch as
# it arrives). The small one was sent with a create time of 1 ms after 1970, yet the log holds
# the broker's time: a reader sees which clock a timestamp came from (`timestamp_type` 1 is
# LogAppendTime).

# %%
_, delivered = reports[1]
small = TopicPartition("orders", delivered.partition())
reader = KafkaConsumer(bootstrap_servers=listener.bootstrap_servers)
reader.assign([small])
reader.seek(small, delivered.offset())
fetched = []
while not fetched:
    fetched = reader.poll(timeout_ms=1000).get(small, [])
record = fetched[0]
print("value:", record.value, " timestamp:", record.timestamp,
      " timestamp_type:", record.timestamp_type)
reader.close()

# %% [markdown]
# ## 6. What the broker remembers of a producer
#
# kafka-python 3's producer is **idempotent** by default: the broker gives it a producer id,
# and it numbers the records it sends to each partition 0, 1, 2, ... If an acknowledgement is
# lost and the producer sends a batch again, the broker recognises the numbers and does not
# append it twice. Kafka's admin API lets anyone look at that memory (`describe_producers`),
# and at how many bytes each log holds (`describe_log_dirs`): here through kafka-python's
# admin client, the way one looks at a real cluster.

# %%
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

broker.create_topic("payments", 1)
payer = KafkaProducer(bootstrap_servers=listener.bootstrap_servers)
for i in range(5):
    payer.send("payments", b"payment %d" % i).get(timeout=10)
payer.close()

looker = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
payments = TopicPartition("payments", 0)
for state in looker.describe_producers([payments])[payments].active_producers:
    print(f"producer {state.producer_id}, epoch {state.producer_epoch}: "
          f"last sequence number {state.last_sequence}")
(log_dir,) = looker.describe_log_dirs({"payments": [0]})[0]["log_dirs"]
print("log directory:", log_dir["log_dir"], "holds",
      log_dir["topics"][0]["partitions"][0]["partition_size"], "bytes of payments-0")
looker.close()

# %% [markdown]
# Five records, sequence numbers 0 to 4: the next batch must start at 5, and one that starts at
# 0 again is a retry, answered with its first offsets. The log directory is `(memory)`: this
# broker keeps its logs in memory (a cluster of broker processes names the directory of its
# files, notebook 08).
#
# ## Try it
#
# - Run `pcmodel broker --kafka 9092` in a terminal and point `kcat -b 127.0.0.1:9092 -L` at it.
# - Set `fetch_max_wait_ms=1000` above: how does the fetch chart change?
# - Produce with `"compression.type": "gzip"`: the broker decompresses each batch as it arrives;
#   give the topic `compression.type=gzip` and `broker.log_stats("orders")` shows it stored
#   compressed.
# - Set `max.message.bytes` to 300 and send three small orders in one batch with pcmodel's own
#   `KafkaProducer`: it splits the refused batch in halves, as the Java client does.
# - Send more payments with a second `KafkaProducer`: how many producers does
#   `describe_producers` list, and with which ids?
# - Give both members `partition_assignment_strategy=[CooperativeStickyAssignor]`
#   (`from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor`):
#   does consumer-1 still drop everything while consumer-2 joins?

# %%
listener.stop()
broker.close()
