"""A group member that the at-least-once lesson kills with SIGKILL (no LeaveGroup, no close).

Run as ``python -m tests.interop.group_victim CLIENT BOOTSTRAP TOPIC GROUP``. It consumes slowly
(a record takes 50 ms to "process", which is the workload, not a synchronisation), commits after
each processed batch, and reports on stdout, one line each, flushed: ``assigned P,P,...``,
``processed P O`` after processing a record, ``committed P O`` after a commit returned.
"""

from __future__ import annotations

import sys
import threading


def _say(*words: object) -> None:
    print(*words, flush=True)


def main(client: str, bootstrap: str, topic: str, group: str) -> None:
    work = threading.Event()
    settings = dict(session_ms=2000)
    if client == "kafka-python":
        from kafka import KafkaConsumer
        from kafka.consumer.subscription_state import ConsumerRebalanceListener

        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
            enable_auto_commit=False, session_timeout_ms=settings["session_ms"],
            heartbeat_interval_ms=300, max_poll_records=2,
        )

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                pass

            def on_partitions_assigned(self, assigned):
                _say("assigned", ",".join(str(tp.partition) for tp in sorted(assigned)))

        consumer.subscribe([topic], listener=Listener())

        def poll():
            batches = consumer.poll(timeout_ms=100)
            return [(r.partition, r.offset) for rs in batches.values() for r in rs]

        def commit():
            consumer.commit()
    else:
        import confluent_kafka

        consumer = confluent_kafka.Consumer({
            "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": settings["session_ms"],
            "heartbeat.interval.ms": 300, "log_level": 0,
        })
        consumer.subscribe([topic], on_assign=lambda _c, parts: _say(
            "assigned", ",".join(sorted(str(tp.partition) for tp in parts))))

        def poll():
            messages = consumer.consume(num_messages=2, timeout=0.1)
            return [(m.partition(), m.offset()) for m in messages if not m.error()]

        def commit():
            consumer.commit(asynchronous=False)

    while True:
        batch = poll()
        for partition, offset in batch:
            work.wait(0.05)
            _say("processed", partition, offset)
        if batch:
            commit()
            last: dict[int, int] = {}
            for partition, offset in batch:
                last[partition] = offset
            for partition, offset in sorted(last.items()):
                _say("committed", partition, offset + 1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
