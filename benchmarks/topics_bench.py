"""End-to-end records/second through one topic, as a ratio to ``queue.Queue`` in the same run.

One producer thread sends N records through a ``KafkaProducer`` into a topic of an in-process
``Broker``; C consumer threads in one group poll them out. The rate is N divided by the time from
the first ``send()`` to the moment the last record was polled (the group has formed before the
clock starts, so joining is not counted). The baseline is ``queue.Queue`` carrying the same
records, one ``put()``/``get()`` each, from one producer thread to the same number of consumer
threads, measured right before each of our runs; the reported ratio is the median over repetitions
of ``ours / queue`` (pairing cancels most of the drift of a shared, noisy machine). Alongside
the wall-clock ratio, ``cpu ratio`` compares the CPU time the whole process spent per record
(``time.process_time``, all threads): on a machine shared with other work, wall-clock rates
swing with the load while CPU cost per record does not, so the CPU ratio is the steadier
figure of how much work each record costs here compared with ``queue.Queue``.

Modes:

- ``unbatched``: every record travels alone: ``batch_size=1`` (one record per ``append``),
  ``linger_ms=0``, ``max_poll_records=1``.
- ``defaults``: kafka-python's defaults: ``linger_ms=0``, ``batch_size=16384``,
  ``max_poll_records=500`` (records still group while the sender is busy).
- ``batched``: ``linger_ms=5``, ``batch_size=262144``, ``max_poll_records=500``.

Grid: 1 and 4 partitions x 1 and 4 consumers. Prints a table and writes JSON with ``--json``.

``--stages`` also times each stage of the path alone, as a ratio to the 1x1 ``queue.Queue``
rate: ``send()`` into a broker that discards (producer alone), ``Broker.append`` of ready
batches of 500 (broker alone), and ``poll()`` of a full partition with ``max_poll_records=500``
(consumer alone). All stages share one interpreter lock, so the end-to-end ratio cannot beat
``1 / (1/send + 1/append + 1/poll)`` of these: this shows which stage bounds it.

Usage: ``python benchmarks/topics_bench.py [--records N] [--repeat R] [--stages] [--json PATH]``.
Prior art: ``benchmarks/buffers_bench.py`` and ``pcmodel bench`` (paired, repeated, medians).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import platform
import queue
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import NamedTuple

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.coordinator import GroupState
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import TopicPartition

MODES: dict[str, dict[str, dict[str, int]]] = {
    "unbatched": {
        "producer": {"linger_ms": 0, "batch_size": 1},
        "consumer": {"max_poll_records": 1},
    },
    "defaults": {
        "producer": {"linger_ms": 0, "batch_size": 16384},
        "consumer": {"max_poll_records": 500},
    },
    "batched": {
        "producer": {"linger_ms": 5, "batch_size": 262144},
        "consumer": {"max_poll_records": 500},
    },
}
TARGETS = {"unbatched": 0.5, "batched": 3.0}
PARTITIONS = (1, 4)
CONSUMERS = (1, 4)
VALUE = b"x" * 16
TIMEOUT_S = 300.0


@dataclass
class Result:
    """One cell of the grid: median rates and the median of the paired ratios."""

    mode: str
    partitions: int
    consumers: int
    records: int
    queue_rate: float
    topic_rate: float
    ratio: float
    ratios: list[float]
    cpu_ratio: float
    cpu_ratios: list[float]
    target: float | None


class Rates(NamedTuple):
    """Records per second of wall-clock time, and per second of the process's CPU time."""

    wall: float
    cpu: float


def _rates(records: int, began: float, cpu_began: float) -> Rates:
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    return Rates(records / wall, records / cpu if cpu > 0 else float("inf"))


def queue_rate(records: int, consumers: int) -> Rates:
    """Records/second from one producer thread to ``consumers`` threads through queue.Queue."""
    q: queue.Queue = queue.Queue()
    lock = threading.Lock()
    taken = [0]
    done = threading.Event()
    start = threading.Barrier(consumers + 1)

    def consume() -> None:
        start.wait()
        while not done.is_set():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                continue
            with lock:
                taken[0] += 1
                if taken[0] == records:
                    done.set()

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in threads:
        t.start()
    start.wait()
    began, cpu_began = time.perf_counter(), time.process_time()
    for _ in range(records):
        q.put(VALUE)
    if not done.wait(TIMEOUT_S):
        raise RuntimeError("queue.Queue baseline did not finish")
    rates = _rates(records, began, cpu_began)
    for t in threads:
        t.join(TIMEOUT_S)
    return rates


_groups = itertools.count()


def topic_rate(records: int, partitions: int, consumers: int, mode: str) -> Rates:
    """Records/second from one KafkaProducer to ``consumers`` KafkaConsumers in one group."""
    settings = MODES[mode]
    group_id = f"bench-{next(_groups)}"
    with Broker() as broker:
        broker.create_topic("bench", partitions)
        lock = threading.Lock()
        taken = [0]
        done = threading.Event()
        errors: list[BaseException] = []
        members = [
            KafkaConsumer(
                "bench",
                broker=broker,
                group_id=group_id,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                fetch_max_wait_ms=100,
                heartbeat_interval_ms=100,
                **settings["consumer"],
            )
            for _ in range(consumers)
        ]

        def consume(consumer: KafkaConsumer) -> None:
            try:
                while not done.is_set():
                    batch = consumer.poll(timeout_ms=50)
                    count = sum(len(records) for records in batch.values())
                    if count:
                        with lock:
                            taken[0] += count
                            if taken[0] >= records:
                                done.set()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                done.set()

        threads = [threading.Thread(target=consume, args=(c,)) for c in members]
        producer = KafkaProducer(broker=broker, **settings["producer"])
        try:
            for t in threads:
                t.start()
            deadline = time.monotonic() + TIMEOUT_S
            while not _group_ready(broker, group_id, consumers, partitions):
                if errors or time.monotonic() > deadline:
                    raise RuntimeError(f"the consumer group did not form: {errors}")
                done.wait(0.01)
            began, cpu_began = time.perf_counter(), time.process_time()
            for _ in range(records):
                producer.send("bench", VALUE)
            if not done.wait(TIMEOUT_S):
                raise RuntimeError("the topic run did not finish")
            rates = _rates(records, began, cpu_began)
        finally:
            done.set()
            for t in threads:
                t.join(TIMEOUT_S)
            producer.close()
            for c in members:
                c.close(autocommit=False)
        if errors:
            raise RuntimeError("a consumer failed") from errors[0]
        if taken[0] != records:
            raise RuntimeError(f"consumed {taken[0]} of {records} records")
    return rates


def _group_ready(broker: Broker, group_id: str, consumers: int, partitions: int) -> bool:
    if group_id not in broker.list_groups():
        return False
    group = broker.describe_group(group_id)
    owned = {tp for m in group.members for tp in m.assignment}
    return (
        group.state is GroupState.STABLE
        and len(group.members) == consumers
        and len(owned) == partitions
    )


class _DiscardingBroker:
    """Takes appends and throws them away: the producer's cost alone. It has what a
    ``KafkaProducer`` asks of its broker: one partition per topic, metadata that never
    changes, appends answered at offset 0."""

    def connect(self) -> _DiscardingBroker:
        return self

    def partitions_for(self, topic: str, **options: object) -> set[int]:
        return {0}

    def metadata_version(self) -> int:
        return 0

    def await_metadata_change(self, version: int, timeout: float) -> int:
        return version

    def append(self, topic: str, partition: int, records: list, *, timeout: float | None = None):
        return (0, 0, -1)  # base offset, log start offset, log append time (none)


def stage_rates(records: int) -> dict[str, Rates]:
    """Records/second of each stage alone: send(), Broker.append, poll()."""
    settings = MODES["batched"]
    rates = {}
    # A broker that hands out no producer ids: the producer's cost without idempotence.
    producer = KafkaProducer(broker=_DiscardingBroker(), enable_idempotence=False,
                             **settings["producer"])
    began, cpu_began = time.perf_counter(), time.process_time()
    for _ in range(records):
        producer.send("bench", VALUE)
    producer.flush()
    rates["send"] = _rates(records, began, cpu_began)
    producer.close()
    with Broker() as broker:
        broker.create_topic("bench", 1)
        batch = [(None, VALUE, (), 0)] * 500
        began, cpu_began = time.perf_counter(), time.process_time()
        for start in range(0, records, 500):
            broker.append("bench", 0, batch[: min(500, records - start)])
        rates["append"] = _rates(records, began, cpu_began)
        consumer = KafkaConsumer(
            broker=broker,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **settings["consumer"],
        )
        try:
            consumer.assign([TopicPartition("bench", 0)])
            taken = 0
            began, cpu_began = time.perf_counter(), time.process_time()
            while taken < records:
                taken += sum(len(r) for r in consumer.poll(timeout_ms=100).values())
            rates["poll"] = _rates(records, began, cpu_began)
        finally:
            consumer.close(autocommit=False)
    return rates


def run_stages(records: int, repeat: int) -> dict[str, dict[str, float]]:
    """Median ratios (wall and CPU) of each stage's rate to the paired 1x1 queue.Queue rate."""
    stages = ("send", "append", "poll")
    ratios: dict[str, dict[str, list[float]]] = {s: {"wall": [], "cpu": []} for s in stages}
    for _ in range(repeat):
        base = queue_rate(records, 1)
        for stage, rate in stage_rates(records).items():
            ratios[stage]["wall"].append(rate.wall / base.wall)
            ratios[stage]["cpu"].append(rate.cpu / base.cpu)
    result = {
        stage: {kind: statistics.median(values) for kind, values in by_kind.items()}
        for stage, by_kind in ratios.items()
    }
    bound = {kind: 1 / sum(1 / result[stage][kind] for stage in stages) for kind in ("wall", "cpu")}
    for stage in stages:
        print(
            f"stage {stage:<7} alone: {result[stage]['wall']:6.2f}x queue.Queue "
            f"(cpu {result[stage]['cpu']:.2f}x)"
        )
    print(
        f"end-to-end bound with one interpreter lock: {bound['wall']:.2f}x "
        f"(cpu {bound['cpu']:.2f}x)",
        flush=True,
    )
    result["bound"] = bound
    return result


def run(records: int, repeat: int, modes: list[str]) -> list[Result]:
    """Measure every cell of the grid, pairing each of our runs with a queue.Queue run."""
    results = []
    for mode in modes:
        for partitions in PARTITIONS:
            for consumers in CONSUMERS:
                base, ours = [], []
                for _ in range(repeat):
                    base.append(queue_rate(records, consumers))
                    ours.append(topic_rate(records, partitions, consumers, mode))
                ratios = [o.wall / b.wall for o, b in zip(ours, base)]
                cpu_ratios = [o.cpu / b.cpu for o, b in zip(ours, base)]
                result = Result(
                    mode,
                    partitions,
                    consumers,
                    records,
                    statistics.median(b.wall for b in base),
                    statistics.median(o.wall for o in ours),
                    statistics.median(ratios),
                    ratios,
                    statistics.median(cpu_ratios),
                    cpu_ratios,
                    TARGETS.get(mode),
                )
                results.append(result)
                print(_row(result), flush=True)
    return results


def _row(r: Result) -> str:
    target = "" if r.target is None else f">= {r.target:.1f}x"
    verdict = "" if r.target is None else ("met" if r.ratio >= r.target else "MISSED")
    return (
        f"{r.mode:<10} {r.partitions:>10} {r.consumers:>9} {r.queue_rate:>14,.0f} "
        f"{r.topic_rate:>14,.0f} {r.ratio:>7.2f}x {r.cpu_ratio:>9.2f}x {target:>8} {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000, help="records per run")
    parser.add_argument("--repeat", type=int, default=3, help="paired runs per cell")
    parser.add_argument(
        "--modes", nargs="+", choices=list(MODES), default=list(MODES), help="modes to run"
    )
    parser.add_argument("--stages", action="store_true", help="also time each stage alone")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be >= 1")
    print(
        f"{'mode':<10} {'partitions':>10} {'consumers':>9} {'queue rec/s':>14} "
        f"{'topic rec/s':>14} {'ratio':>8} {'cpu ratio':>10} {'target':>8}"
    )
    results = run(args.records, args.repeat, args.modes)
    stages = run_stages(args.records, args.repeat) if args.stages else None
    if args.json:
        document = {
            "benchmark": "topics end-to-end vs queue.Queue",
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "python": sys.version,
            "platform": platform.platform(),
            "modes": MODES,
            "results": [asdict(r) for r in results],
            "stages": stages,
        }
        with open(args.json, "w") as out:
            json.dump(document, out, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
