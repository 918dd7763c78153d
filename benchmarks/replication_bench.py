"""What replication costs: produce throughput with replication factor 3 against 1, per ``acks``.

A cluster of three brokers runs in real time on threads (``Cluster(3)``: each broker's thread
fetches from the leaders it follows as soon as they append). One producer thread sends N records
in batches of B to one partition, keeping at most W requests in flight (Kafka's
``max.in.flight.requests.per.connection``), and waits for every answer; the rate is N divided by
the time from the first send to the last answer. Four configurations run interleaved in every
repetition: RF 1 and RF 3, each with ``acks=1`` and ``acks="all"`` (``min_insync_replicas`` 1
and 2). Reported: the median rate of each, and the ratios RF3/RF1 per ``acks`` and
``acks="all"``/``acks=1`` per RF, each computed per repetition and then the median taken (pairing
cancels most of the drift of a shared, noisy machine). Absolute rates mean little here: the
machine is shared and the cluster is a model in one interpreter.

Expected shape: with ``acks=1`` the leader answers at append, so RF 3 costs only the followers'
CPU; with ``acks="all"`` every answer waits for the followers' next fetch round, so RF 3 costs
latency, which in-flight requests hide partly.

Usage: ``python benchmarks/replication_bench.py [--records N] [--batch B] [--in-flight W]
[--repeat R] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import platform
import statistics
import sys
import time

from pcmodel.cluster import Cluster

CONFIGS = [(1, 1), (3, 1), (1, "all"), (3, "all")]  # (replication factor, acks)


def one_run(rf: int, acks: int | str, records: int, batch: int, in_flight: int) -> float:
    """Records per second for one configuration, on a fresh cluster."""
    with Cluster(3, tick_ms=20) as cluster:
        cluster.create_topic("bench", 1, replication_factor=rf,
                             min_insync_replicas=2 if acks == "all" and rf > 1 else 1)
        payload = [(None, b"x" * 100)] * batch
        window: collections.deque = collections.deque()
        started = time.perf_counter()
        for _ in range(records // batch):
            if len(window) >= in_flight:
                window.popleft().get(timeout=30)
            window.append(cluster.produce("bench", 0, payload, acks=acks, timeout=30))
        while window:
            window.popleft().get(timeout=30)
        elapsed = time.perf_counter() - started
    return (records // batch) * batch / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    args = parser.parse_args(argv)
    rates: dict[tuple, list[float]] = {c: [] for c in CONFIGS}
    for _ in range(args.repeat):
        for rf, acks in CONFIGS:
            rates[(rf, acks)].append(one_run(rf, acks, args.records, args.batch, args.in_flight))

    def ratio(a: tuple, b: tuple) -> float:
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    ratios = {
        "rf3/rf1 acks=1": ratio((3, 1), (1, 1)),
        "rf3/rf1 acks=all": ratio((3, "all"), (1, "all")),
        "acks=all/acks=1 rf1": ratio((1, "all"), (1, 1)),
        "acks=all/acks=1 rf3": ratio((3, "all"), (3, 1)),
    }
    print(f"{args.records} records in batches of {args.batch}, {args.in_flight} in flight, "
          f"{args.repeat} repetitions (medians)")
    for (rf, acks), values in rates.items():
        print(f"  RF {rf} acks={acks!s:>3}: {statistics.median(values):10.0f} records/s")
    for name, value in ratios.items():
        print(f"  {name:22} {value:6.2f}x")
    if args.json:
        document = {
            "benchmark": "replication",
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "python": sys.version.split()[0], "machine": platform.machine(),
            "settings": vars(args),
            "rates": {f"rf{rf} acks={acks}": v for (rf, acks), v in rates.items()},
            "ratios": ratios,
        }
        with open(args.json, "w") as out:
            json.dump(document, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
