"""Experiments: producers and consumers moving items through a buffer, measured.

The runner behind ``pcmodel run``, the charts and the notebooks, and the benchmark behind
``pcmodel bench``:

    from pcmodel.experiments.runner import run_workload
    result = run_workload("condition", "thread", capacity=4, producers=2, consumers=2, items=2000)
    print(result.throughput, result.producer_blocked, result.consumer_blocked)

Modules: ``runner`` (one run, sweeps, conservation checks; everything of the runner is importable
from it), ``work`` (per-item work), ``results`` (frozen results, tables, JSON), ``actors`` (the
producer and consumer loops on threads or processes), ``progress`` (a progress bar), ``cli``
(``pcmodel run``), ``bench`` (``pcmodel bench``: ratios against the standard library's queues)
with ``bench_checks`` (a configuration built from Python, checked).
"""
