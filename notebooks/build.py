"""Write the lesson notebooks (``NN_*.ipynb``) from the cells defined in this file.

The notebooks are generated, never hand-edited, so that their source can be reviewed as plain
Python and every change shows up in a readable diff (the approach of nbgrader's "one source,
generated student versions"). They are stored without outputs; run them in Jupyter, or let
``tests/test_notebooks.py`` execute them headless.

    python notebooks/build.py           # (re)write every notebook
    python notebooks/build.py --check   # exit 1 if a stored notebook differs from this source
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
"""


def md(text: str) -> tuple[str, str]:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(*parts: str) -> tuple[str, str]:
    """A code cell made of ``parts``, each dedented on its own."""
    return ("code", "\n".join(textwrap.dedent(part).strip("\n") for part in parts))


# -- 1. the bounded buffer ------------------------------------------------------------------

BOUNDED_BUFFER = [
    md("""
    # 1. The bounded buffer

    A **producer** makes items, a **consumer** uses them, and a **bounded buffer** of fixed
    capacity sits between them. Two rules make it work:

    * `put()` on a **full** buffer *blocks*: the producer waits for space;
    * `get()` on an **empty** buffer *blocks*: the consumer waits for items.

    Blocking is how the buffer turns the speed difference between the two sides into waiting
    instead of lost or piled-up items. In this lesson you will watch it happen, measure what
    capacity buys, and compare the three textbook ways to build the buffer.
    """),
    code(SETUP, """\
    import queue
    import threading
    import time

    from pcmodel.buffers import VARIANTS, make_buffer
    from pcmodel import plots
    from pcmodel.experiments import runner
    """),
    md("""
    ## What blocking is

    A buffer of capacity 2 takes two items. A third `put()` has nowhere to go: with a timeout it
    waits that long and then gives up with `queue.Full`, exactly like the standard library's
    `queue.Queue` (pcmodel's buffers are drop-in replacements for it).
    """),
    code("""\
    buf = make_buffer("condition", 2)
    buf.put("a")
    buf.put("b")
    print(buf)

    started = time.perf_counter()
    try:
        buf.put("c", timeout=0.2)
    except queue.Full:
        waited = time.perf_counter() - started
        print(f"put() waited {waited:.2f} s for space, then raised queue.Full")
    """),
    md("""
    Blocking is not busy: a blocked thread sleeps inside the buffer until another thread changes
    it. Below, a consumer thread calls `get()` on an empty buffer. We wait until the buffer
    reports one waiting consumer (`buf.waiting` is `(putters, getters)`), then put an item: the
    put wakes the consumer up.
    """),
    code("""\
    buf = make_buffer("condition", 2, instrument="counters")
    received = []
    consumer = threading.Thread(target=lambda: received.append(buf.get()), name="consumer")
    consumer.start()

    while buf.waiting != (0, 1):      # wait for an observable state, not for a guessed time
        threading.Event().wait(0.001)
    print("before put:", buf)
    buf.put("hello")
    consumer.join(timeout=5)
    print("after put: ", buf, "- the consumer received", received)
    for row in buf.stats().rows():
        if row["actor"] == "consumer":
            print(f"the consumer waited {row['waits_on_empty']} time(s), "
                  f"{row['blocked_on_empty_s'] * 1000:.1f} ms in all, for an item")
    """),
    md("""
    ## One run, drawn

    `runner.run_workload` starts producers and consumers around one buffer, moves a number of
    items and measures everything. With `instrument="timeline"` the buffer records every wait,
    and `plots.plot_run` draws who ran and who waited (green: running, vermillion: waiting for
    space, blue: waiting for items) above the number of items in the buffer.

    Here the consumer needs twice as long per item as the producer.
    """),
    code("""\
    result = runner.run_workload(
        "condition", capacity=4, producers=1, consumers=1, items=120,
        produce_work="sleep:0.0005", consume_work="sleep:0.001", seed=1,
    )
    print(f"{result.throughput:.0f} items/s; producer blocked {result.producer_blocked:.0%}, "
          f"consumer blocked {result.consumer_blocked:.0%} of their time")
    plots.plot_run(result)
    """),
    md("""
    ## Capacity against throughput

    If both sides work at the same *average* speed but each item takes a random time (here:
    exponentially distributed, like arrivals at a queue), a tiny buffer makes each side wait for
    the other's slow moments. A bigger buffer absorbs the bursts. We run every variant at
    several capacities; each point is a real run.
    """),
    code("""\
    capacity_runs = runner.capacity_sweep(
        capacities=(1, 2, 4, 16, 64), variants=VARIANTS, items=250,
        producers=1, consumers=1,
        produce_work="sleep:0.0005:exp", consume_work="sleep:0.0005:exp",
        instrument="counters", seed=3, progress=True,
    )
    plots.plot_throughput_vs_capacity(capacity_runs)
    """),
    md("""
    ## Three variants, one contract

    * **condition**: one lock and two condition variables, `not_full` and `not_empty`, each
      `wait()` inside a `while` loop (the design of CPython's `queue.Queue`);
    * **semaphore**: a counting semaphore of free slots, one of items, and a mutex (Dijkstra's
      solution);
    * **queue**: the standard library's `queue.Queue` (or `multiprocessing.Queue` for processes).

    Read the condition variant's `put`: it is short, and it is the library code these runs used.
    """),
    code("""\
    import inspect
    from pcmodel.buffers import ConditionBuffer

    print(inspect.getsource(ConditionBuffer.put))
    """),
    code("""\
    print(f"{'variant':10} {'capacity':>8} {'items/s':>9} {'producer blocked':>17} "
          f"{'consumer blocked':>17}")
    for row in runner.table(capacity_runs):
        print(f"{row['variant']:10} {row['capacity']:>8} {row['throughput']:>9.0f} "
              f"{row['producer_blocked']:>17.0%} {row['consumer_blocked']:>17.0%}")
    """),
    md("""
    ## Questions

    1. In the capacity chart, where does throughput stop improving? Why can no capacity make the
       pipeline faster than its slower side?
    2. Run the capacity sweep again with `produce_work="sleep:0.0005"` and
       `consume_work="sleep:0.0005"` (no `:exp`, every item takes the same time). What happens
       to the benefit of a large buffer, and why?
    3. The three variants give different numbers. Are the differences larger than the
       differences between two runs of the same variant? How would you find out?
    4. In the first timeline, the producer is sometimes vermillion. What is it waiting for, and
       which action of the consumer ends each wait?
    """),
]


# -- 2. blocking and balance ----------------------------------------------------------------

BLOCKING_AND_BALANCE = [
    md("""
    # 2. Blocking and balance

    A pipeline moves at the speed of its slowest stage. The bounded buffer does not change that;
    it decides *who waits*. When the producer is faster it fills the buffer and then waits for
    space; when the consumer is faster it empties the buffer and then waits for items. This
    lesson measures where the time goes.
    """),
    code(SETUP, """\
    from pcmodel import plots
    from pcmodel.experiments import runner
    """),
    md("""
    ## Fast producer, slow consumer

    The producer needs 0.25 ms per item, the consumer 1 ms. Watch the buffer fill up and stay
    full, and the producer spend most of its time waiting for space.
    """),
    code("""\
    fast_producer = runner.run_workload(
        "condition", capacity=8, producers=1, consumers=1, items=150,
        produce_work="sleep:0.00025", consume_work="sleep:0.001", seed=1,
    )
    plots.plot_run(fast_producer)
    """),
    md("""
    ## Slow producer, fast consumer

    Now the other way round. The buffer stays nearly empty and the consumer waits for items.
    """),
    code("""\
    fast_consumer = runner.run_workload(
        "condition", capacity=8, producers=1, consumers=1, items=150,
        produce_work="sleep:0.001", consume_work="sleep:0.00025", seed=1,
    )
    plots.plot_run(fast_consumer)
    """),
    code("""\
    for name, result in (("fast producer", fast_producer), ("fast consumer", fast_consumer)):
        print(f"{name:14}: {result.throughput:5.0f} items/s, max depth {result.max_depth}, "
              f"producer blocked {result.producer_blocked:4.0%}, "
              f"consumer blocked {result.consumer_blocked:4.0%}")
    """),
    md("""
    ## Where the time goes, as the balance shifts

    The consumer's work stays at 1 ms per item; the producer's is divided by the *speed ratio*.
    At a ratio of 4 the producer is four times faster than the consumer. Each point is a run.
    """),
    code("""\
    ratio_runs = runner.speed_ratio_sweep(
        ratios=(0.25, 0.5, 1.0, 2.0, 4.0), consume_work="sleep:0.001",
        capacity=8, producers=1, consumers=1, items=150, instrument="counters", seed=2,
        progress=True,
    )
    plots.plot_blocking_vs_speed_ratio(ratio_runs)
    """),
    md("""
    ## Does a bigger buffer help an unbalanced pipeline?

    With a producer twice as fast as the consumer, compare capacity 1 with capacity 64.
    """),
    code("""\
    for capacity in (1, 64):
        result = runner.run_workload(
            "condition", capacity=capacity, producers=1, consumers=1, items=150,
            produce_work="sleep:0.0005", consume_work="sleep:0.001", instrument="counters",
            seed=4,
        )
        print(f"capacity {capacity:3}: {result.throughput:5.0f} items/s, "
              f"wall time {result.wall_time:.3f} s, producer blocked {result.producer_blocked:.0%}")
    """),
    md("""
    ## More consumers

    If consumers are the bottleneck, add consumers. Two consumers at 1 ms each can keep up with
    one producer at 0.5 ms: the producer no longer waits for space, and what waiting is left is
    on the consumers' side.
    """),
    code("""\
    balanced = runner.run_workload(
        "condition", capacity=8, producers=1, consumers=2, items=150,
        produce_work="sleep:0.0005", consume_work="sleep:0.001", seed=5,
    )
    plots.plot_run(balanced)
    """),
    md("""
    ## Questions

    1. In the sweep, at which ratio is the total blocked time smallest? Why is it not zero even
       there? (Hint: look at how each item's time is spread.)
    2. A bigger buffer did not make the unbalanced pipeline faster. What *did* it change? When
       would that matter in a real system (think of memory, or of latency of one item)?
    3. With two consumers, the producer rarely waits. Predict what three consumers would show,
       then run it.
    4. The buffer's depth tells you which side is the bottleneck without any timer. How?
    """),
]


# -- 3. threads vs processes ----------------------------------------------------------------

THREADS_VS_PROCESSES = [
    md("""
    # 3. Threads against processes

    CPython runs Python bytecode in one thread at a time: the **global interpreter lock** (GIL).
    A thread that sleeps or waits for I/O releases it, so threads overlap their *waiting*. A
    thread that computes holds it, so computing threads take turns. Processes each have their own
    interpreter and GIL, so they really compute in parallel, but every item that crosses from one
    process to another is **pickled** into shared memory and unpickled on the other side.

    The same buffer algorithms run on both backends (`backend="thread"` or `"process"`).
    """),
    code(SETUP, """\
    import os
    import pickle

    from pcmodel import plots
    from pcmodel.experiments import runner

    print("CPU cores available:", os.cpu_count())
    """),
    md("""
    ## Scaling with more actors

    We run 1x1 and 2x2 producers x consumers on threads and on processes, once with I/O-like work
    (a sleep per item) and once with CPU work (a Python loop per item). Each point is a run.
    """),
    code("""\
    scaling_runs = []
    for work in ("sleep:0.001", "cpu:20000"):
        scaling_runs += runner.actor_sweep(
            counts=(1, 2), backends=("thread", "process"), items=200, capacity=16,
            consume_work=work, instrument="counters", seed=6, progress=True,
        )
    plots.plot_scaling(scaling_runs)
    """),
    md("""
    ## The cost of crossing a process boundary

    With no work at all, a run measures only the buffer. A process buffer pickles every item and
    moves it through shared memory under a lock shared between processes; a thread buffer passes
    a reference. Moving items in batches (`put_many` / `get_many`) amortises the locking.
    """),
    code("""\
    print(f"{'backend':8} {'batch':>5} {'items/s':>10}")
    for backend in ("thread", "process"):
        for batch in (1, 32):
            result = runner.run_workload(
                "condition", backend=backend, capacity=64, producers=1, consumers=1,
                items=4000, batch=batch, instrument="off", seed=7,
            )
            print(f"{backend:8} {batch:>5} {result.throughput:>10,.0f}")
    """),
    md("""
    Pickling is the price of every item, and it grows with the item. Here is what an item costs
    to turn into bytes and back:
    """),
    code("""\
    import timeit

    for item in (42, "x" * 100, list(range(1000))):
        data = pickle.dumps(item)
        seconds = timeit.timeit(lambda: pickle.loads(pickle.dumps(item)), number=2000) / 2000
        print(f"{type(item).__name__:5} {len(data):6} bytes  "
              f"{seconds * 1e6:7.2f} us per round trip")
    """),
    md("""
    ## Questions

    1. With CPU work, why do 2x2 threads barely beat 1x1, while processes do better? What would
       you expect on a machine with 8 cores?
    2. With sleep work, threads scale as well as processes. Which part of CPython makes that
       possible?
    3. Without work, threads move items faster than processes. Estimate the cost per item of
       the process backend from the numbers above. Which of the two costs (pickling, or
       synchronising between processes) does batching reduce?
    4. You must process 10 000 images, each taking 50 ms of pure Python. Threads or processes?
       And for 10 000 web requests that each wait 50 ms for a server?
    """),
]


# -- 4. broken buffers ----------------------------------------------------------------------

BROKEN_BUFFERS = [
    md("""
    # 4. Broken buffers

    Concurrency bugs hide: a broken buffer can pass a thousand runs and fail on the next. To see
    them on purpose, `pcmodel.sched` runs real Python threads **one at a time** and chooses who
    goes next at every lock, wait and notify, trying schedule after schedule until one fails.
    A failing schedule comes back as a trace table (one column per thread) and as a timeline
    whose time axis counts scheduler steps.

    The broken buffers come from the zoo of classic bugs in `exercises/zoo/`, which the graded
    exercises must catch.
    """),
    code(SETUP, """\
    import functools
    from pathlib import Path

    from pcmodel import plots
    from pcmodel.buffers import make_buffer
    from pcmodel.grading.probes import load_impl
    from pcmodel.sched import explore

    ZOO = Path("..", "exercises", "zoo").resolve()

    def broken(name):
        \"\"\"Load one broken BoundedBuffer from the zoo and print what its bug is.\"\"\"
        module = load_impl(ZOO / name, "BoundedBuffer")
        print(module.__doc__.strip().splitlines()[0])
        return module.BoundedBuffer

    def show(result, title):
        \"\"\"Print an exploration's verdict and its failing trace; draw its timeline.\"\"\"
        print(result.summary())
        if result.failure is None:
            return None
        print(result.failure.kind.value + ":", result.failure.message.splitlines()[0])
        print(result.failure.table(width=24))
        return plots.plot_timeline(result.failure.timeline(), time_unit="step", title=title)
    """),
    md("""
    ## `if` instead of `while`

    A consumer that wakes up must check again whether there is an item: between the `notify()`
    and the moment it gets the lock back, another consumer may have taken it. With `if`, it goes
    on and pops from an empty deque. One producer, two consumers, capacity 1:
    """),
    code("""\
    IfBuffer = broken("01_condition_buffer/if_instead_of_while.py")
    show(explore(IfBuffer, producers=1, consumers=2, capacity=1, items=2),
         "if instead of while: a stolen wake-up")
    """),
    md("""
    Read the timeline from left to right: C1 waits for items (blue), P1 puts and notifies, but
    C2 takes the item first; C1 wakes and runs into an empty buffer.

    ## A missing notify

    This buffer forgets to notify `not_full` after a `get()`. A producer waiting for space is
    never woken: every thread ends up waiting, a **deadlock**.
    """),
    code("""\
    NoNotify = broken("01_condition_buffer/no_notify_after_get.py")
    show(explore(NoNotify, producers=1, consumers=2, capacity=1, items=2),
         "missing notify: a lost wake-up")
    """),
    md("""
    ## One condition for two predicates

    OSTEP's classic (chapter 30): producers and consumers share *one* condition variable and
    `notify()` wakes a single waiter, which may be of the wrong kind. A consumer wakes a
    consumer, and nobody wakes the producer.
    """),
    code("""\
    SingleCondition = broken("01_condition_buffer/single_condition_notify.py")
    show(explore(SingleCondition, producers=1, consumers=2, capacity=1, items=2),
         "one condition, notify(): the wrong thread wakes")
    """),
    md("""
    ## Semaphores in the wrong order

    In the semaphore buffer, a producer must first wait for a free slot and *then* take the
    mutex. Taking the mutex first and then waiting for a slot holds the mutex while sleeping:
    the consumers who would free a slot cannot get in.
    """),
    code("""\
    WrongOrder = broken("02_semaphore_buffer/wrong_semaphore_order.py")
    show(explore(WrongOrder, producers=1, consumers=2, capacity=1, items=2),
         "semaphores in the wrong order: holding the mutex while waiting")
    """),
    md("""
    ## And the library's buffers

    The same exploration finds nothing in pcmodel's own buffers: every schedule with at most two
    preemptions (the scheduler switching away from a thread that could have gone on) ends with
    each item received exactly once. The semaphore variant has more scheduling points, so it has
    many more schedules to try.
    """),
    code("""\
    for variant in ("condition", "semaphore"):
        result = explore(functools.partial(make_buffer, variant), producers=1, consumers=2,
                         capacity=1, items=2, max_schedules=3000)
        print(f"{variant:10}", result.summary())
    """),
    md("""
    ## Questions

    1. In the `if`-instead-of-`while` trace, find the step at which C2 "steals" the item. Why
       can `notify()` not guarantee that the woken thread runs next?
    2. The missing-notify deadlock needs a full buffer. Would it appear with a capacity of 10
       and 2 items? Try it, then explain.
    3. Why does the single-condition buffer work with one producer and one consumer?
    4. The semaphore deadlock is found after a single schedule, the `if` bug after several.
       What does that say about how likely each bug is to show up in ordinary runs?
    """),
]


# -- 5. from buffer to topic ----------------------------------------------------------------

BUFFER_TO_TOPIC = [
    md("""
    # 5. From buffer to topic

    A bounded buffer *hands over* items: once a consumer took one, it is gone. A **topic** keeps
    them. It is a set of **partitions**, each an append-only **log** in which every record gets
    the next **offset** (0, 1, 2, ...). Consumers do not remove records; each **consumer group**
    remembers how far it has read, so several groups can read the same records independently.

    pcmodel's topics follow Kafka (and the call shapes of the `kafka-python` client): a producer
    `send()`s records through a bounded buffer of batches (its *accumulator*), a broker appends
    them to partition logs, and consumers `poll()` them through a bounded *fetch buffer*.
    """),
    code(SETUP, """\
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
        \"\"\"Return once predicate() is true (checked every 10 ms); else raise TimeoutError.\"\"\"
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {timeout} s")
            threading.Event().wait(0.01)


    def poll_all(consumer, count, timeout=10.0):
        \"\"\"Poll until ``count`` records arrived; return them in the order poll() gave them.\"\"\"
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(records)} of {count} records arrived")
            for batch in consumer.poll(timeout_ms=100).values():
                records.extend(batch)
        return records
    """),
    md("""
    ## Keys choose partitions

    A record's **key** decides its partition: `murmur2(key) % partitions`, the hash Kafka's
    default partitioner uses, so the same key always lands in the same partition (here and in
    a real Kafka cluster with the same number of partitions).

    The topic is created with the admin client, in the same lines that create it on a real
    cluster (there: `KafkaAdminClient(bootstrap_servers=...)`); `broker.create_topic("orders",
    3)` is the short form used further on.
    """),
    code("""\
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
    """),
    md("""
    ## Order is kept per partition, not per topic

    Read everything back. Within a partition, records come in offset order, so each customer's
    orders arrive in the order they were placed. Across partitions there is no order.
    """),
    code("""\
    reader = KafkaConsumer(broker=broker, key_deserializer=bytes.decode,
                           value_deserializer=bytes.decode, auto_offset_reset="earliest")
    reader.assign([TopicPartition("orders", p) for p in range(3)])
    records = poll_all(reader, 15)
    reader.close()

    print("as received:", [r.value.split()[1] for r in records])
    for customer in customers:
        print(f"{customer:6}:", [r.value for r in records if r.key == customer])
    """),
    md("""
    ## A log is not a buffer: two groups, same records

    Two consumer groups, `billing` and `shipping`, each read the whole topic. Neither takes
    anything away from the other, and the log still holds every record afterwards.
    """),
    code("""\
    for group in ("billing", "shipping"):
        with KafkaConsumer("orders", broker=broker, group_id=group, auto_offset_reset="earliest",
                           value_deserializer=bytes.decode) as consumer:
            print(f"{group:8} read {len(poll_all(consumer, 15))} records")

    partitions = [TopicPartition("orders", p) for p in range(3)]
    print("log start offsets:", list(broker.beginning_offsets(partitions).values()))
    print("log end offsets:  ", list(broker.end_offsets(partitions).values()))
    """),
    md("""
    ## Consumer groups and their limit

    Inside one group, each partition is read by exactly one member. More members share the
    partitions, until there are more members than partitions: the extra members get nothing
    and stay **idle**. The helper below runs a group of consumers in threads; each polls up to
    10 records at a time, takes 2 ms per record and commits after every batch.
    """),
    code("""\
    class Group:
        \"\"\"``size`` consumers of ``topic`` in threads, ``work`` seconds per record.\"\"\"

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
            \"\"\"Wait until every member joined and every partition has an owner.\"\"\"
            def stable():
                if self.group_id not in self.broker.list_groups():
                    return False
                group = self.description()
                owned = sum(len(member.assignment) for member in group.members)
                return (group.state.value == "Stable" and len(group.members) == self.size
                        and owned == partitions)
            wait_for(stable, what=f"group {self.group_id} stable")
    """),
    code("""\
    def group_throughput(partitions, consumers, records=200):
        \"\"\"Records per second a group of ``consumers`` gets through a topic.\"\"\"
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
    """),
    md("""
    ## A hot partition

    Keys spread records evenly only if the keys themselves are spread. Here one big shop sends
    60 % of the payments, and its key always hashes to the same partition. Four consumers, one
    per partition, each take 2 ms per record; while they work we sample the group's **lag** per
    partition: how many records it is behind (end offset minus committed offset).
    """),
    code("""\
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
    """),
    md("""
    The lag tells the same story over time: three consumers finish early and then sit idle, and
    the group is only as fast as its hottest partition.
    """),
    code("""\
    plots.plot_lag(samples, title="Lag per partition with one hot key")
    """),
    md("""
    ## Questions

    1. Why does the throughput line for 2 partitions stop rising at 2 consumers? What do the
       idle consumers cost, and why might you still run one more consumer than partitions?
    2. All of alice's orders are in one partition. What would break for her orders if the
       topic got a fourth partition later? (Compute `default_partition(b"alice", 4)`.)
    3. With the hot key, adding consumers does not help. Name two ways to spread the load, and
       what each one gives up (think of per-key order).
    4. The two groups `billing` and `shipping` both read all 15 orders. With a bounded buffer
       between one producer and two consumers, how many would each consumer get?
    """),
]


# -- 6. offsets, commits and rebalances -----------------------------------------------------

OFFSETS_AND_REBALANCES = [
    md("""
    # 6. Offsets, commits and rebalances

    A consumer group remembers its position in each partition as a **committed offset**: the
    offset of the *next* record to read. When a consumer commits only after it processed a
    record, a crash can never lose a record, but it can process one twice: **at-least-once**
    delivery. This lesson shows the duplicates, replays a log, compares two ways of moving
    partitions between members (eager and cooperative rebalancing), and compares a topic that
    deletes old records with one that blocks the producer like a bounded buffer.
    """),
    code(SETUP, """\
    import random
    import threading
    import time
    from collections import Counter

    from pcmodel import plots
    from pcmodel.instrument import Interval
    from pcmodel.topics import (
        Broker, ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition,
    )


    def wait_for(predicate, timeout=10.0, what="the condition"):
        \"\"\"Return once predicate() is true (checked every 10 ms); else raise TimeoutError.\"\"\"
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {timeout} s")
            threading.Event().wait(0.01)


    def poll_records(consumer, partition, at_least=1, timeout=10.0):
        \"\"\"Poll until ``at_least`` records of ``partition`` arrived; return them in order.\"\"\"
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < at_least:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(records)} of {at_least} records arrived")
            records += consumer.poll(timeout_ms=50).get(partition, [])
        return records


    def fill(broker, topic, count, partitions=1):
        \"\"\"Create ``topic`` holding ``count`` records: "record 0", "record 1", ...\"\"\"
        broker.create_topic(topic, partitions)
        producer = KafkaProducer(broker=broker, value_serializer=str.encode)
        for number in range(count):
            producer.send(topic, key=b"%d" % number, value=f"record {number}")
        producer.close()
    """),
    md("""
    ## The committed offset is the next one to read
    """),
    code("""\
    broker = Broker()
    fill(broker, "events", 10)
    events = TopicPartition("events", 0)
    with KafkaConsumer("events", broker=broker, group_id="audit", auto_offset_reset="earliest",
                       enable_auto_commit=False, max_poll_records=4) as consumer:
        got = poll_records(consumer, events)  # at most 4: max_poll_records
        consumer.commit()
        print("read offsets", [r.offset for r in got], "-> committed", consumer.committed(events))
    print("the group's lag:", broker.describe_group("audit").lag)
    """),
    md("""
    ## At-least-once: a crash before the commit means duplicates

    A consumer of the group `ledger` processes records in batches and commits after each
    batch, but it crashes after processing its third batch, *before* committing it. (We model
    the crash with `close(autocommit=False)`: it leaves the group without committing, as a dead
    consumer would after its session timed out.) A second consumer takes over from the last
    committed offset, and the third batch is processed again. Nothing is lost.
    """),
    code("""\
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
    first.close(autocommit=False)

    with KafkaConsumer("payments", **settings) as second:
        while len(set(processed)) < 20:
            processed += [r.value for r in second.poll(timeout_ms=100).get(payments, [])]
        second.commit()

    duplicates = sorted((v for v, n in Counter(processed).items() if n > 1),
                        key=lambda v: int(v.split()[1]))
    print(f"{len(processed)} records processed for 20 in the log; twice: {duplicates}")
    """),
    md("""
    ## Replay

    The records are still in the log, so any group can read them again: a new group starts
    from the beginning (`auto_offset_reset="earliest"`), and an existing one can `seek`.
    """),
    code("""\
    with KafkaConsumer(broker=broker, auto_offset_reset="earliest",
                       value_deserializer=bytes.decode) as replayer:
        replayer.assign([payments])
        replayer.seek(payments, 15)
        again = poll_records(replayer, payments, at_least=5)
        print("replayed from offset 15:", [r.value for r in again])
    broker.close()
    """),
    md("""
    ## Rebalancing: eager against cooperative

    When a member joins or leaves, the group moves partitions. **Eager** rebalancing (Kafka's
    classic protocol, here with the `range` assignor) makes *every* member give up *all* its
    partitions first, then hands out the new assignment: the whole group stops. **Cooperative**
    rebalancing (`cooperative-sticky`) only revokes the partitions that really move, so the
    others keep consuming.

    Two members consume a 6-partition topic, polling up to 25 records at a time; each record
    takes a random time, and one member is twice as slow as the other. Then a third member
    joins. A rebalance listener records, for each member, when it owns partitions ("consuming")
    and when it owns none ("no partitions"). A member only reacts to a rebalance between two
    batches, at its next `poll()`.
    """),
    code("""\
    class Ownership(ConsumerRebalanceListener):
        \"\"\"Records (time, member, partitions owned) at every change of assignment.\"\"\"

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
        \"\"\"Turn the ownership log into (member, state, start, end) intervals up to ``end``.\"\"\"
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
        \"\"\"Two members consume; a third joins; return who owned partitions when.\"\"\"
        broker = Broker()
        broker.create_topic("clicks", 6)
        log, stop, consumed = [], threading.Event(), Counter()

        def member(name, work):
            # Records take a random time (exponential, mean ``work``), seeded per member.
            rng = random.Random(name)
            consumer = KafkaConsumer(broker=broker, group_id="g", client_id=name,
                                     auto_offset_reset="earliest", fetch_max_wait_ms=10,
                                     heartbeat_interval_ms=20, max_poll_records=batch,
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
    """),
    code("""\
    for name, intervals in timelines.items():
        newcomer = next(i for i in intervals if i.actor == "member-2")
        first_seen = {}
        for i in intervals:
            first_seen.setdefault(i.actor, i.start)
        stood_still = sum(i.duration for i in intervals if i.actor != "member-2"
                          and i.state == "no partitions" and i.start > first_seen[i.actor])
        print(f"{name}: the newcomer waited {newcomer.duration * 1000:.0f} ms for partitions; "
              f"members already consuming stood still {stood_still * 1000:.0f} ms in all")
    """),
    md("""
    ## Retention: a log that deletes, a log that blocks

    A log cannot grow for ever. With retention policy `"delete"` the broker drops the oldest
    records beyond a limit, whether or not anyone read them: the producer never waits, and a
    slow consumer **loses** records. With `"block"` a partition is a bounded buffer again: the
    producer waits until the slowest group has committed. Same producer, same slow consumer,
    a limit of 20 records:
    """),
    code("""\
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
    """),
    md("""
    ## Questions

    1. In the crash experiment, which records were processed twice, and why exactly those?
       What would change if the consumer committed *before* processing each batch?
    2. Processing a payment twice is bad. Name one way to make processing idempotent, so that
       at-least-once delivery does no harm.
    3. In the eager timeline, find the member that stands still while the newcomer joins. What
       is it waiting for? Run the cell again: why does the pause change from run to run, and why
       do members that keep their partitions never pause with cooperative rebalancing?
    4. `"delete"` retention lost records for the slow consumer; `"block"` slowed the producer
       down to the consumer's pace. Which would you choose for click analytics, and which for
       payments? What does `"block"` do to a fast consumer group when a second, slow group
       reads the same topic?
    """),
]


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_bounded_buffer.ipynb": BOUNDED_BUFFER,
    "02_blocking_and_balance.ipynb": BLOCKING_AND_BALANCE,
    "03_threads_vs_processes.ipynb": THREADS_VS_PROCESSES,
    "04_broken_buffers.ipynb": BROKEN_BUFFERS,
    "05_buffer_to_topic.ipynb": BUFFER_TO_TOPIC,
    "06_offsets_and_rebalances.ipynb": OFFSETS_AND_REBALANCES,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` (a key of NOTEBOOKS), without outputs, with stable cell ids."""
    stem = name.split(".")[0]
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, (kind, source) in enumerate(NOTEBOOKS[name]):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        notebook.cells.append(make(source, id=f"{stem[:40]}-{index:02d}"))
    nbformat.validate(notebook)
    return notebook


def render(name: str) -> str:
    """The text of notebook ``name`` as stored on disk."""
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="report notebooks that differ from this source; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("out of date (run python notebooks/build.py):", ", ".join(stale))
        return 1
    for name in stale:
        print("wrote", HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
