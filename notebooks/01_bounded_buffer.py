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
# # 1. The bounded buffer
#
# A **producer** makes items, a **consumer** uses them, and a **bounded buffer** of fixed
# capacity sits between them. Two rules make it work:
#
# * `put()` on a **full** buffer *blocks*: the producer waits for space;
# * `get()` on an **empty** buffer *blocks*: the consumer waits for items.
#
# Blocking is how the buffer turns the speed difference between the two sides into waiting
# instead of lost or piled-up items. In this lesson you will watch it happen, measure what
# capacity buys, and compare the three textbook ways to build the buffer.

# %%
# %matplotlib inline
import queue
import threading
import time

from pcmodel.buffers import VARIANTS, make_buffer
from pcmodel import plots
from pcmodel.experiments import runner

# %% [markdown]
# ## What blocking is
#
# A buffer of capacity 2 takes two items. A third `put()` has nowhere to go: with a timeout it
# waits that long and then gives up with `queue.Full`, exactly like the standard library's
# `queue.Queue` (pcmodel's buffers are drop-in replacements for it).

# %%
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

# %% [markdown]
# Blocking is not busy: a blocked thread sleeps inside the buffer until another thread changes
# it. Below, a consumer thread calls `get()` on an empty buffer. We wait until the buffer
# reports one waiting consumer (`buf.waiting` is `(putters, getters)`), then put an item: the
# put wakes the consumer up.

# %%
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

# %% [markdown]
# ## One run, drawn
#
# `runner.run_workload` starts producers and consumers around one buffer, moves a number of
# items and measures everything. With `instrument="timeline"` the buffer records every wait,
# and `plots.plot_run` draws who ran and who waited (green: running, vermillion: waiting for
# space, blue: waiting for items) above the number of items in the buffer.
#
# Here the consumer needs twice as long per item as the producer.

# %%
result = runner.run_workload(
    "condition", capacity=4, producers=1, consumers=1, items=120,
    produce_work="sleep:0.0005", consume_work="sleep:0.001", seed=1,
)
print(f"{result.throughput:.0f} items/s; producer blocked {result.producer_blocked:.0%}, "
      f"consumer blocked {result.consumer_blocked:.0%} of their time")
plots.plot_run(result)

# %% [markdown]
# ## Capacity against throughput
#
# If both sides work at the same *average* speed but each item takes a random time (here:
# exponentially distributed, like arrivals at a queue), a tiny buffer makes each side wait for
# the other's slow moments. A bigger buffer absorbs the bursts. We run every variant at
# several capacities; each point is a real run.

# %%
capacity_runs = runner.capacity_sweep(
    capacities=(1, 2, 4, 16, 64), variants=VARIANTS, items=250,
    producers=1, consumers=1,
    produce_work="sleep:0.0005:exp", consume_work="sleep:0.0005:exp",
    instrument="counters", seed=3, progress=True,
)
plots.plot_throughput_vs_capacity(capacity_runs)

# %% [markdown]
# ## Three variants, one contract
#
# * **condition**: one lock and two condition variables, `not_full` and `not_empty`, each
#   `wait()` inside a `while` loop (the design of CPython's `queue.Queue`);
# * **semaphore**: a counting semaphore of free slots, one of items, and a mutex (Dijkstra's
#   solution);
# * **queue**: the standard library's `queue.Queue` (or `multiprocessing.Queue` for processes).
#
# Read the condition variant's `put`: it is short, and it is the library code these runs used.

# %%
import inspect
from pcmodel.buffers import ConditionBuffer

print(inspect.getsource(ConditionBuffer.put))

# %%
print(f"{'variant':10} {'capacity':>8} {'items/s':>9} {'producer blocked':>17} "
      f"{'consumer blocked':>17}")
for row in runner.table(capacity_runs):
    print(f"{row['variant']:10} {row['capacity']:>8} {row['throughput']:>9.0f} "
          f"{row['producer_blocked']:>17.0%} {row['consumer_blocked']:>17.0%}")

# %% [markdown]
# ## Questions
#
# 1. In the capacity chart, where does throughput stop improving? Why can no capacity make the
#    pipeline faster than its slower side?
# 2. Run the capacity sweep again with `produce_work="sleep:0.0005"` and
#    `consume_work="sleep:0.0005"` (no `:exp`, every item takes the same time). What happens
#    to the benefit of a large buffer, and why?
# 3. The three variants give different numbers. Are the differences larger than the
#    differences between two runs of the same variant? How would you find out?
# 4. In the first timeline, the producer is sometimes vermillion. What is it waiting for, and
#    which action of the consumer ends each wait?
