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
# # 3. Threads against processes
#
# CPython runs Python bytecode in one thread at a time: the **global interpreter lock** (GIL).
# A thread that sleeps or waits for I/O releases it, so threads overlap their *waiting*. A
# thread that computes holds it, so computing threads take turns. Processes each have their own
# interpreter and GIL, so they really compute in parallel, but every item that crosses from one
# process to another is **pickled** into shared memory and unpickled on the other side.
#
# The same buffer algorithms run on both backends (`backend="thread"` or `"process"`).

# %%
# %matplotlib inline
import os
import pickle

from pcmodel import plots
from pcmodel.experiments import runner

print("CPU cores available:", os.cpu_count())

# %% [markdown]
# ## Scaling with more actors
#
# We run 1x1 and 2x2 producers x consumers on threads and on processes, once with I/O-like work
# (a sleep per item) and once with CPU work (a Python loop per item). The consumers do the work;
# the producers do none. Each point is a run.

# %%
scaling_runs = []
for work in ("sleep:0.001", "cpu:20000"):
    scaling_runs += runner.actor_sweep(
        counts=(1, 2), backends=("thread", "process"), items=200, capacity=16,
        consume_work=work, instrument="counters", seed=6, progress=True,
    )
plots.plot_scaling(scaling_runs)

# %% [markdown]
# ## The cost of crossing a process boundary
#
# With no work at all, a run measures only the buffer. A process buffer pickles every item and
# moves it through shared memory under a lock shared between processes; a thread buffer passes
# a reference. Moving items in batches (`put_many` / `get_many`) amortises the locking and,
# between processes, the pickling: a batch is pickled in one go.

# %%
print(f"{'backend':8} {'batch':>5} {'items/s':>10}")
for backend in ("thread", "process"):
    for batch in (1, 32):
        result = runner.run_workload(
            "condition", backend=backend, capacity=64, producers=1, consumers=1,
            items=4000, batch=batch, instrument="off", seed=7,
        )
        print(f"{backend:8} {batch:>5} {result.throughput:>10,.0f}")

# %% [markdown]
# Pickling is the price of every item, and it grows with the item. Here is what an item costs
# to turn into bytes and back:

# %%
import timeit

for item in (42, "x" * 100, list(range(1000))):
    data = pickle.dumps(item)
    seconds = timeit.timeit(lambda: pickle.loads(pickle.dumps(item)), number=2000) / 2000
    print(f"{type(item).__name__:5} {len(data):6} bytes  "
          f"{seconds * 1e6:7.2f} us per round trip")

# %% [markdown]
# ## Questions
#
# 1. With CPU work, what do you expect 2x2 to do against 1x1 on threads, and on processes, and
#    why? Does the chart agree? These runs are short, and other programs share the cores: if it
#    does not, run the cell again, with more `items`. What would you expect with 8 cores?
# 2. With sleep work, threads scale as well as processes. Which part of CPython makes that
#    possible?
# 3. Without work and one item at a time, threads move items faster than processes. Estimate
#    the cost per item of the process backend from the numbers above. Which costs does
#    batching reduce (count the lock holds and the pickles per item)? In batches, processes
#    may even beat threads: what can two processes do at once that two threads cannot?
# 4. You must process 10 000 images, each taking 50 ms of pure Python. Threads or processes?
#    And for 10 000 web requests that each wait 50 ms for a server?
