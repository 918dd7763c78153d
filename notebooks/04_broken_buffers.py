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
# # 4. Broken buffers
#
# Concurrency bugs hide: a broken buffer can pass a thousand runs and fail on the next. To see
# them on purpose, `pcmodel.sched` runs real Python threads **one at a time** and chooses who
# goes next at every lock, wait and notify, trying schedule after schedule until one fails.
# A failing schedule comes back as a trace table (one column per thread) and as a timeline
# whose time axis counts scheduler steps.
#
# The broken buffers come from the zoo of classic bugs in `exercises/zoo/`, which the graded
# exercises must catch.

# %%
# %matplotlib inline
import functools
from pathlib import Path

from pcmodel import plots
from pcmodel.buffers import make_buffer
from pcmodel.grading.probes import load_impl
from pcmodel.sched import explore

ZOO = Path("..", "exercises", "zoo").resolve()

def broken(name):
    """Load one broken BoundedBuffer from the zoo and print what its bug is."""
    module = load_impl(ZOO / name, "BoundedBuffer")
    print(module.__doc__.strip().splitlines()[0])
    return module.BoundedBuffer

def show(result, title):
    """Print an exploration's verdict and its failing trace; draw its timeline."""
    print(result.summary())
    if result.failure is None:
        return None
    print(result.failure.kind.value + ":", result.failure.message.splitlines()[0])
    print(result.failure.table(width=24))
    return plots.plot_timeline(result.failure.timeline(), time_unit="step", title=title)


# %% [markdown]
# ## `if` instead of `while`
#
# A consumer that wakes up must check again whether there is an item: between the `notify()`
# and the moment it gets the lock back, another consumer may have taken it. With `if`, it goes
# on and pops from an empty deque. One producer, two consumers, capacity 1:

# %%
IfBuffer = broken("01_condition_buffer/if_instead_of_while.py")
show(explore(IfBuffer, producers=1, consumers=2, capacity=1, items=2),
     "if instead of while: a stolen wake-up")

# %% [markdown]
# Read the timeline from left to right: C1 waits for items (blue), P1 puts and notifies, but
# C2 takes the item first; C1 wakes and runs into an empty buffer.
#
# ## A missing notify
#
# This buffer forgets to notify `not_full` after a `get()`. A producer waiting for space is
# never woken: every thread ends up waiting, a **deadlock**.

# %%
NoNotify = broken("01_condition_buffer/no_notify_after_get.py")
show(explore(NoNotify, producers=1, consumers=2, capacity=1, items=2),
     "missing notify: a lost wake-up")

# %% [markdown]
# ## One condition for two predicates
#
# OSTEP's classic (chapter 30): producers and consumers share *one* condition variable and
# `notify()` wakes a single waiter, which may be of the wrong kind. A consumer wakes a
# consumer, and nobody wakes the producer.

# %%
SingleCondition = broken("01_condition_buffer/single_condition_notify.py")
show(explore(SingleCondition, producers=1, consumers=2, capacity=1, items=2),
     "one condition, notify(): the wrong thread wakes")

# %% [markdown]
# ## Semaphores in the wrong order
#
# In the semaphore buffer, a producer must first wait for a free slot and *then* take the
# mutex. Taking the mutex first and then waiting for a slot holds the mutex while sleeping:
# the consumers who would free a slot cannot get in.

# %%
WrongOrder = broken("02_semaphore_buffer/wrong_semaphore_order.py")
show(explore(WrongOrder, producers=1, consumers=2, capacity=1, items=2),
     "semaphores in the wrong order: holding the mutex while waiting")

# %% [markdown]
# ## And the library's buffers
#
# The same exploration finds nothing in pcmodel's own buffers: every schedule with at most two
# preemptions (the scheduler switching away from a thread that could have gone on) ends with
# each item received exactly once. The semaphore variant has more scheduling points, so it has
# many more schedules to try.

# %%
for variant in ("condition", "semaphore"):
    result = explore(functools.partial(make_buffer, variant), producers=1, consumers=2,
                     capacity=1, items=2, max_schedules=3000)
    print(f"{variant:10}", result.summary())

# %% [markdown]
# ## Questions
#
# 1. In the `if`-instead-of-`while` trace, find the step at which C2 "steals" the item. Why
#    can `notify()` not guarantee that the woken thread runs next?
# 2. The missing-notify deadlock needs a full buffer. Would it appear with a capacity of 10
#    and 2 items? Try it, then explain.
# 3. Why does the single-condition buffer work with one producer and one consumer?
# 4. The semaphore deadlock is found after a single schedule, the `if` bug after several.
#    What does that say about how likely each bug is to show up in ordinary runs?
