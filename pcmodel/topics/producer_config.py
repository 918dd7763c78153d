"""The producer's settings: which kafka-python keys it honours, and the checks of their values.

:class:`~pcmodel.topics.producer.KafkaProducer` takes kafka-python 3's keys as keyword
arguments. :data:`HONOURED` lists the ones with kafka-python's meaning (and what that meaning is
here); :data:`~pcmodel.topics.config.PRODUCER_NO_EFFECT` the ones accepted with no effect; any
other key is an error naming the closest legal one. The checks run before the producer starts
its sender thread, so a bad value fails at construction with a message naming the setting:
:func:`validate_config` runs them all and returns the resolved configuration.

The defaults are Kafka's (kafka-python 3 and the Java client 3.x agree): ``acks="all"``,
``enable_idempotence`` on, ``retries`` infinite, ``delivery_timeout_ms=120000``. Two rules
follow the Java client where kafka-python differs: :func:`check_delivery_timeout` (an unset
delivery timeout gives way to ``linger_ms + request_timeout_ms``) and, in
:func:`check_idempotence`, a conflict is judged by the values (kafka-python 3 looks only at
settings the user gave, which is the same thing here, as every default is compatible).

Prior art: kafka-python's ``KafkaProducer.DEFAULT_CONFIG`` (``kafka/producer/kafka.py``) and the
Java client's ``ProducerConfig``.
"""

from __future__ import annotations

from typing import Any

from pcmodel.buffers import VARIANTS
from pcmodel.instrument import Level
from pcmodel.topics.compression import get_codec
from pcmodel.topics.config import (
    MAX_WAIT_MS,
    PRODUCER_NO_EFFECT,
    check_no_effect,
    reject_unknown_key,
    waitable_ms,
)
from pcmodel.topics.errors import IllegalArgumentError, KafkaConfigurationError

__all__ = [
    "ACKS",
    "DEFAULT_DELIVERY_TIMEOUT_MS",
    "HONOURED",
    "check_delivery_timeout",
    "check_extra_keys",
    "check_idempotence",
    "check_int_arg",
    "check_number_arg",
    "check_timeout",
    "validate_config",
]

#: ``delivery_timeout_ms`` when it is not given (and linger_ms + request_timeout_ms is less).
DEFAULT_DELIVERY_TIMEOUT_MS = 120000

#: The accepted ``acks`` values and what each means (``"all"`` is ``-1``).
ACKS = {0: 0, 1: 1, -1: -1, "all": -1}

#: kafka-python producer keys honoured here, with what each means here.
HONOURED: dict[str, str] = {
    "acks": "0, 1 or 'all' (-1, the default, as in kafka-python 3 and the Java client); on a "
            "Cluster 1 waits for the leader and 'all' for every in-sync replica, on a lone "
            "Broker (one replica) they wait for the same thing",
    "allow_auto_create_topics": "send() to a missing topic creates it if the broker allows "
                                "(Broker(auto_create_topics_enable=True), the default)",
    "batch_size": "most bytes of records in one batch",
    "client_id": "names the producer and its sender thread",
    "compression_type": "None, 'gzip', 'snappy', 'lz4' or 'zstd': each batch is stored "
                        "compressed in the log (Broker.log_stats shows the saving); snappy, lz4 "
                        "and zstd need pcmodel[compression]",
    "delivery_timeout_ms": "a record's future fails with KafkaTimeoutError once this long has "
                           "passed since its batch was created (waiting, being appended or "
                           "between retries); at least linger_ms + request_timeout_ms "
                           "(default 120000, or that sum if larger, as in the Java client)",
    "enable_idempotence": "producer id and per-partition sequence numbers: a retried batch is "
                          "never stored twice, even through a new leader. Default True, as in "
                          "kafka-python 3 and the Java client: left unset, it is silently off "
                          "with acks other than 'all', retries=0 or "
                          "max_in_flight_requests_per_connection > 5; set to True, those are "
                          "an error",
    "key_serializer": "f(key) -> bytes, or a Serializer: serialize(topic, headers, data)",
    "linger_ms": "how long a batch that is not full waits for more records",
    "max_block_ms": "how long send() waits for room in the accumulator or for topic metadata",
    "max_request_size": "largest serialized record send() accepts",
    "metadata_max_age_ms": "how long a topic's partition count is cached",
    "partitioner": "a Partitioner, or 'sticky' / 'round_robin' / 'default'; keyed records go "
                   "to murmur2(key) % partitions as in Kafka. Or an object with the clients' "
                   "partition(topic, key, serialized_key, value, serialized_value, cluster), "
                   "which decides every record",
    "request_timeout_ms": "timeout of one append (which may wait on a 'block' partition)",
    "retries": "how often a batch failing with a retriable error is tried again (default "
               "float('inf'): until delivery_timeout_ms)",
    "retry_backoff_ms": "the pause between those tries",
    "transaction_timeout_ms": "how long a transaction may stay open before the coordinator "
                              "aborts it and fences the producer (at most the broker's "
                              "transaction_max_timeout_ms)",
    "transactional_id": "makes the producer transactional: init_transactions(), "
                        "begin_transaction(), send_offsets_to_transaction(), "
                        "commit_transaction(), abort_transaction(); implies idempotence and "
                        "acks='all'",
    "value_serializer": "f(value) -> bytes, or a Serializer: serialize(topic, headers, data)",
}


def check_extra_keys(configs: dict[str, Any]) -> None:
    """Accept the kafka-python keys that have no effect here (checking their values).

    Raises ``KafkaConfigurationError`` for a key nobody knows, naming the closest legal one.
    """
    for key in sorted(configs):
        if key not in PRODUCER_NO_EFFECT:
            reject_unknown_key(key, [*HONOURED, *PRODUCER_NO_EFFECT, "broker", "buffer_memory",
                                     "buffer_variant", "buffer_instrument",
                                     "partitioner_adaptive_partitioning_enable",
                                     "partitioner_availability_timeout_ms",
                                     "partitioner_ignore_keys"], client="KafkaProducer")
    check_no_effect(configs, PRODUCER_NO_EFFECT)


def validate_config(broker: object, settings: dict[str, Any]) -> dict[str, Any]:
    """Check ``broker`` and the producer's honoured ``settings`` (keyword name to value, as
    given); return the configuration the producer keeps, with ``acks`` resolved to 0, 1 or -1.

    Raises ``KafkaConfigurationError`` naming the first bad setting (a missing codec package
    included); nothing is started before this returns.
    """
    if broker is None:
        raise KafkaConfigurationError(
            "broker is required: KafkaProducer(broker=Broker()) or broker=RemoteBroker(handle)"
        )
    if isinstance(broker, type) or not callable(getattr(broker, "connect", None)):
        raise KafkaConfigurationError(
            f"broker must be a Broker, a RemoteBroker or a BrokerHandle, got {broker!r}"
            + ("; pass an instance: broker=Broker()" if isinstance(broker, type) else "")
        )
    if not isinstance(settings["client_id"], str):
        raise KafkaConfigurationError(
            f"client_id must be a str, got {settings['client_id']!r}")
    acks = settings["acks"]
    # Not a float: 1.0 == 1 would find the key 1, but Kafka's acks is a word or an int.
    if acks not in ACKS or not isinstance(acks, (int, str)) or isinstance(acks, bool):
        raise KafkaConfigurationError(f"acks must be 0, 1, -1 or 'all', got {acks!r}")
    if settings["retries"] != float("inf"):
        check_int_arg("retries", settings["retries"], 0,
                      "or float('inf') to retry until it succeeds")
    check_number_arg("retry_backoff_ms", settings["retry_backoff_ms"])
    batch_size = settings["batch_size"]
    check_int_arg("batch_size", batch_size, 1, "use batch_size=1 to send one record per batch")
    check_number_arg("linger_ms", settings["linger_ms"])
    check_int_arg("buffer_memory", settings["buffer_memory"], batch_size,
                  "it must hold at least one batch")
    check_number_arg("max_block_ms", settings["max_block_ms"])
    check_int_arg("max_request_size", settings["max_request_size"], 1)
    check_number_arg("request_timeout_ms", settings["request_timeout_ms"])
    delivery_timeout_ms = check_delivery_timeout(settings["delivery_timeout_ms"],
                                                 settings["linger_ms"],
                                                 settings["request_timeout_ms"])
    check_number_arg("metadata_max_age_ms", settings["metadata_max_age_ms"])
    idempotent = check_idempotence(settings["enable_idempotence"],
                                   settings["transactional_id"], acks, settings["retries"],
                                   settings["max_in_flight_requests_per_connection"])
    check_int_arg("transaction_timeout_ms", settings["transaction_timeout_ms"], 1)
    if not isinstance(settings["allow_auto_create_topics"], bool):
        raise KafkaConfigurationError(
            "allow_auto_create_topics must be True or False, got "
            f"{settings['allow_auto_create_topics']!r}"
        )
    get_codec(settings["compression_type"])  # a missing codec package fails here, naming it
    if settings["buffer_variant"] not in VARIANTS:
        raise KafkaConfigurationError(
            f"buffer_variant must be one of {', '.join(VARIANTS)}, got "
            f"{settings['buffer_variant']!r}"
        )
    try:  # here, before the producer connects to the broker, not when its buffer is made
        Level.parse(settings["buffer_instrument"], flags=False)
    except ValueError as exc:
        raise KafkaConfigurationError(f"buffer_{exc}") from None
    return {**settings, "acks": ACKS[acks], "enable_idempotence": idempotent,
            "delivery_timeout_ms": delivery_timeout_ms}


def check_idempotence(enable_idempotence: object, transactional_id: object,
                      acks: object = "all", retries: object = float("inf"),
                      max_in_flight: object = 5) -> bool:
    """Check the idempotence and transaction settings; return whether the producer is
    idempotent.

    Idempotence needs ``acks="all"`` (the only way to know whether a retried batch was stored is
    to have it committed), ``retries > 0`` and ``max_in_flight_requests_per_connection <= 5``,
    the Java client's rule (KAFKA-13673, Java 3.2+) which kafka-python 3 follows: left unset
    (``None``), ``enable_idempotence`` is ``True`` unless one of them conflicts, then silently
    ``False``; set to ``True``, a conflict raises ``KafkaConfigurationError`` naming it. A
    ``transactional_id`` implies idempotence, so a conflict is an error there too, and so is an
    explicit ``enable_idempotence=False`` with one.
    """
    if enable_idempotence is not None and not isinstance(enable_idempotence, bool):
        raise KafkaConfigurationError(
            f"enable_idempotence must be True or False, got {enable_idempotence!r}"
        )
    if transactional_id is not None:
        if not isinstance(transactional_id, str) or not transactional_id:
            raise KafkaConfigurationError(
                f"transactional_id must be a non-empty str or None, got {transactional_id!r}")
        if enable_idempotence is False:
            raise KafkaConfigurationError(
                "a transactional_id needs idempotence: leave enable_idempotence unset (or "
                "True), or leave transactional_id None")
    if enable_idempotence is False:
        return False
    conflicts = []
    if acks not in ("all", -1):
        conflicts.append(f"acks={acks!r} (set acks='all')")
    if retries == 0:
        conflicts.append("retries=0 (set retries > 0)")
    if isinstance(max_in_flight, (int, float)) and max_in_flight > 5:
        conflicts.append(f"max_in_flight_requests_per_connection={max_in_flight} (set it <= 5)")
    if not conflicts:
        return True
    if transactional_id is not None:
        who, other = "a transactional_id", "leave transactional_id None"
    elif enable_idempotence:
        who, other = "enable_idempotence=True", "set enable_idempotence=False"
    else:
        return False  # unset: idempotence gives way to the settings the user chose
    raise KafkaConfigurationError(
        f"{who} needs acks='all', retries > 0 and max_in_flight_requests_per_connection <= 5, "
        f"got {', '.join(conflicts)}; or {other}")


def check_delivery_timeout(delivery_timeout_ms: object, linger_ms: float,
                           request_timeout_ms: float) -> float:
    """Return the delivery timeout in ms: ``delivery_timeout_ms``, or unset (``None``) 120000
    raised to ``linger_ms + request_timeout_ms`` if that is more.

    The Java client's rule: a batch must have time to linger and be sent once before it
    expires, so a ``delivery_timeout_ms`` given below that sum raises
    ``KafkaConfigurationError``, while the default gives way to it (kafka-python 3 raises in
    both cases; the Java client's choice keeps a long ``linger_ms`` working on its own).
    """
    least = linger_ms + request_timeout_ms
    if delivery_timeout_ms is None:
        return max(DEFAULT_DELIVERY_TIMEOUT_MS, least)
    check_number_arg("delivery_timeout_ms", delivery_timeout_ms)
    if delivery_timeout_ms < least:  # type: ignore[operator]
        raise KafkaConfigurationError(
            f"delivery_timeout_ms must be >= linger_ms + request_timeout_ms ({least}), got "
            f"{delivery_timeout_ms}: raise it, or lower linger_ms or request_timeout_ms")
    return delivery_timeout_ms  # type: ignore[return-value]


def check_int_arg(name: str, value: object, minimum: int, hint: str = "") -> None:
    """Raise KafkaConfigurationError unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = f"; {hint}" if hint else ""
        raise KafkaConfigurationError(f"{name} must be an int >= {minimum}, got {value!r}{extra}")


def check_number_arg(name: str, value: object) -> None:
    """Raise KafkaConfigurationError unless ``value`` is a number of milliseconds from 0 to
    :data:`~pcmodel.topics.config.MAX_WAIT_MS` (not NaN, not infinite: each is a wait)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not waitable_ms(value):
        raise KafkaConfigurationError(
            f"{name} must be a number of milliseconds from 0 to {MAX_WAIT_MS:g}, got {value!r}")


def check_timeout(call: str, timeout: object, *, negative_ok: bool = False) -> None:
    """Check the ``timeout`` (seconds or ``None``) given to ``call`` before it does anything:
    ``TypeError`` unless a number, ``IllegalArgumentError`` (a ``ValueError``) if negative
    unless ``negative_ok`` (as the Java client's ``close(Duration)`` and kafka-python's
    ``close()`` refuse a negative timeout)."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{call}: timeout must be a number of seconds or None, got {timeout!r}")
    if timeout < 0 and not negative_ok:
        raise IllegalArgumentError(f"{call}: timeout must be >= 0 seconds, got {timeout}")
    if not timeout <= MAX_WAIT_MS / 1000:  # NaN, or too long to wait on a lock
        raise IllegalArgumentError(
            f"{call}: timeout must be a number of seconds up to {MAX_WAIT_MS / 1000:g}, or None "
            f"to wait for ever; got {timeout}")
