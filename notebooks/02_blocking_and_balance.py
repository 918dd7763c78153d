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
# # 2. Blocking and balance
#
# A pipeline moves at the speed of its slowest stage. The bounded buffer does not change that;
# it decides *who waits*. When the producer is faster it fills the buffer and then waits for
# space; when the consumer is faster it empties the buffer and then waits for items. This
# lesson measures where the time goes.

# %%
# %matplotlib inline
from pcmodel import plots
from pcmodel.experiments import runner

# %% [markdown]
# ## Fast producer, slow consumer
#
# The producer needs 0.25 ms per item, the consumer 1 ms. Watch the buffer fill up and stay
# full, and the producer spend most of its time waiting for space.

# %%
fast_producer = runner.run_workload(
    "condition", capacity=8, producers=1, consumers=1, items=150,
    produce_work="sleep:0.00025", consume_work="sleep:0.001", seed=1,
)
plots.plot_run(fast_producer)

# %% [markdown]
# ## Slow producer, fast consumer
#
# Now the other way round. The buffer stays nearly empty and the consumer waits for items.

# %%
fast_consumer = runner.run_workload(
    "condition", capacity=8, producers=1, consumers=1, items=150,
    produce_work="sleep:0.001", consume_work="sleep:0.00025", seed=1,
)
plots.plot_run(fast_consumer)

# %%
for name, result in (("fast producer", fast_producer), ("fast consumer", fast_consumer)):
    print(f"{name:14}: {result.throughput:5.0f} items/s, max depth {result.max_depth}, "
          f"producer blocked {result.producer_blocked:4.0%}, "
          f"consumer blocked {result.consumer_blocked:4.0%}")

# %% [markdown]
# ## Where the time goes, as the balance shifts
#
# The consumer's work stays at 1 ms per item; the producer's is divided by the *speed ratio*.
# At a ratio of 4 the producer is four times faster than the consumer. Each point is a run.

# %%
ratio_runs = runner.speed_ratio_sweep(
    ratios=(0.25, 0.5, 1.0, 2.0, 4.0), consume_work="sleep:0.001",
    capacity=8, producers=1, consumers=1, items=150, instrument="counters", seed=2,
    progress=True,
)
plots.plot_blocking_vs_speed_ratio(ratio_runs)

# %% [markdown]
# ## Does a bigger buffer help an unbalanced pipeline?
#
# With a producer twice as fast as the consumer, compare capacity 1 with capacity 64.

# %%
for capacity in (1, 64):
    result = runner.run_workload(
        "condition", capacity=capacity, producers=1, consumers=1, items=150,
        produce_work="sleep:0.0005", consume_work="sleep:0.001", instrument="counters",
        seed=4,
    )
    print(f"capacity {capacity:3}: {result.throughput:5.0f} items/s, "
          f"wall time {result.wall_time:.3f} s, producer blocked {result.producer_blocked:.0%}")

# %% [markdown]
# ## More consumers
#
# If consumers are the bottleneck, add consumers. Two consumers at 1 ms each can keep up with
# one producer at 0.5 ms: the producer no longer waits for space, and what waiting is left is
# on the consumers' side.

# %%
balanced = runner.run_workload(
    "condition", capacity=8, producers=1, consumers=2, items=150,
    produce_work="sleep:0.0005", consume_work="sleep:0.001", seed=5,
)
plots.plot_run(balanced)

# %% [markdown]
# ## Questions
#
# 1. In the sweep, at which ratio is the total blocked time smallest? Why is it not zero even
#    there? (Hint: every item takes the same time in this sweep; but what does the consumer do
#    before the first item arrives, and does `sleep(0.001)` take exactly 1 ms?)
# 2. A bigger buffer did not make the unbalanced pipeline faster. What *did* it change? When
#    would that matter in a real system (think of memory, or of latency of one item)?
# 3. With two consumers, the producer rarely waits. Predict what three consumers would show,
#    then run it.
# 4. The buffer's depth tells you which side is the bottleneck without any timer. How?
