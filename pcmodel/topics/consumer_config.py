"""The consumer's configuration: kafka-python's keys and defaults, and their validation.

:data:`DEFAULT_CONFIG` lists every key :class:`~pcmodel.topics.consumer.KafkaConsumer` honours
(:data:`HONOURED` says what each means here); the other keys kafka-python 3 accepts are accepted
with no effect (:data:`~pcmodel.topics.config.CONSUMER_NO_EFFECT`, with the reason). An unknown
key is an error naming the closest legal one. :func:`validate_config` checks a resolved
configuration before the consumer starts any thread, so that a bad value fails at construction
with a message naming the key.

Prior art: kafka-python's ``KafkaConsumer.DEFAULT_CONFIG`` (``kafka/consumer/group.py``) and the
Java client's ``ConsumerConfig``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from pcmodel.buffers import VARIANTS
from pcmodel.instrument import Level
from pcmodel.topics.broker_checks import INT32_MAX
from pcmodel.topics.config import MAX_WAIT_MS, check_group_instance_id, check_int, waitable_ms
from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.log_transactions import ISOLATION_LEVELS
from pcmodel.topics.serde import converter

__all__ = ["DEFAULT_CONFIG", "HONOURED", "validate_config"]

#: Supported configuration keys with kafka-python's defaults (pcmodel's own keys at the end).
DEFAULT_CONFIG: dict[str, Any] = {
    "group_id": None,
    "group_instance_id": None,
    "client_id": "pcmodel-consumer",
    "key_deserializer": None,
    "value_deserializer": None,
    "fetch_max_wait_ms": 500,
    "max_poll_records": 500,
    "max_poll_interval_ms": 300_000,
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 3_000,
    "enable_auto_commit": True,
    "auto_commit_interval_ms": 5_000,
    "auto_offset_reset": "latest",
    "isolation_level": "read_uncommitted",
    "consumer_timeout_ms": math.inf,
    "partition_assignment_strategy": ("range", "cooperative-sticky"),
    "allow_auto_create_topics": True,
    "default_offset_commit_callback": None,
    "request_timeout_ms": 30_000,
    "retry_backoff_ms": 100,
    # pcmodel only: how many fetched batches the fetch buffer holds, its algorithm and
    # instrumentation level ("off", "counters", "timeline"; read with fetch_buffer.stats()).
    "fetch_buffer_batches": 4,
    "fetch_buffer_variant": "condition",
    "fetch_buffer_instrument": "off",
    # pcmodel only: the monotonic clock for poll intervals and auto-commit (tests inject one).
    "clock": time.monotonic,
}

#: Keys that Kafka's ConsumerConfig types INT: at most Java's Integer.MAX_VALUE (about 24.8
#: days in milliseconds). A larger timeout would overflow the lock waits and close()'s joins.
_JAVA_INTS = ("fetch_max_wait_ms", "auto_commit_interval_ms", "request_timeout_ms",
              "max_poll_records", "max_poll_interval_ms", "session_timeout_ms",
              "heartbeat_interval_ms")

_RESET_POLICIES = ("earliest", "latest", "none")
#: kafka-python's deprecated spellings of auto_offset_reset, translated as it does.
_DEPRECATED_RESET = {"smallest": "earliest", "largest": "latest"}

#: kafka-python consumer keys honoured here, with what each means here.
HONOURED: dict[str, str] = {
    "allow_auto_create_topics": "subscribing to (or asking for partitions of) a missing topic "
                                "creates it if the broker allows; otherwise subscribe waits for it",
    "auto_commit_interval_ms": "how often poll() commits the positions (enable_auto_commit)",
    "auto_offset_reset": "'earliest', 'latest' or 'none' where there is no valid position",
    "client_id": "names the member in describe_consumer_groups()",
    "consumer_timeout_ms": "how long iterating over the consumer waits for a record",
    "default_offset_commit_callback": "called as f(offsets, exception) for commit_async() without "
                                      "a callback",
    "enable_auto_commit": "commit the positions from poll(), before a rebalance and on close()",
    "fetch_max_wait_ms": "how long a fetch long-polls the broker for new records; after a "
                         "fetch that brought none, the next waits for a poll(), as the Java "
                         "client fetches within poll()",
    "group_id": "the consumer group; None for assign() without commits",
    "group_instance_id": "makes the member static (KIP-345): restarted within "
                         "session_timeout_ms, it takes its place and partitions again without "
                         "a rebalance; it does not leave the group on close()",
    "heartbeat_interval_ms": "how often the heartbeat thread keeps the membership alive",
    "isolation_level": "'read_uncommitted' (every record, aborted transactions' too) or "
                       "'read_committed' (up to the last stable offset, committed transactions "
                       "only; committed offsets waited for while a transaction stages them). "
                       "Transaction markers are never returned at either level",
    "key_deserializer": "f(bytes) -> key, or a Deserializer: deserialize(topic, headers, "
                        "data)",
    "max_poll_interval_ms": "a member that does not call poll() for this long leaves the group",
    "max_poll_records": "most records one poll() returns",
    "partition_assignment_strategy": "assignor classes (RangePartitionAssignor, ...) or names "
                                     "('range', 'roundrobin', 'sticky', 'cooperative-sticky')",
    "request_timeout_ms": "the default timeout_ms of offset lookups and commits",
    "retry_backoff_ms": "the pause before asking again for a topic that does not exist yet, "
                        "a committed offset a transaction holds, or a group coordinator that "
                        "was not available",
    "session_timeout_ms": "a member without heartbeats for this long is removed (default 10000 "
                          "here, 45000 in Kafka: shorter, so a lesson sees a crash handled)",
    "value_deserializer": "f(bytes) -> value, or a Deserializer: deserialize(topic, headers, "
                          "data)",
}


def validate_config(config: dict[str, Any]) -> None:
    """Check a resolved consumer configuration; normalise the assignor names to a tuple.

    Raises ``KafkaConfigurationError`` naming the first bad key and what it must be.
    """
    group_id = config["group_id"]
    if group_id is not None and (not isinstance(group_id, str) or not group_id):
        raise KafkaConfigurationError(f"group_id must be a non-empty str or None, got "
                                      f"{group_id!r}")
    check_group_instance_id("group_instance_id", config["group_instance_id"])
    if config["group_instance_id"] is not None and group_id is None:
        raise KafkaConfigurationError("group_instance_id requires group_id")
    reset = config["auto_offset_reset"]
    if isinstance(reset, str):  # another value (a list) may not be hashable: refused below
        config["auto_offset_reset"] = _DEPRECATED_RESET.get(reset, reset)
    for key in ("fetch_max_wait_ms", "auto_commit_interval_ms", "request_timeout_ms",
                "retry_backoff_ms"):
        check_int(config, key, 0)
    for key in _JAVA_INTS:
        if isinstance(config[key], int) and config[key] > INT32_MAX:
            raise KafkaConfigurationError(
                f"{key} must be at most {INT32_MAX} (a Java int, as in Kafka's ConsumerConfig), "
                f"got {config[key]!r}")
    for key in ("enable_auto_commit", "allow_auto_create_topics"):
        if not isinstance(config[key], bool):
            # Kafka's BOOLEAN type: a str such as "false" would otherwise be read as true.
            raise KafkaConfigurationError(f"{key} must be True or False, got {config[key]!r}")
    if not isinstance(config["client_id"], str):
        raise KafkaConfigurationError(f"client_id must be a str, got {config['client_id']!r}")
    if config["fetch_max_wait_ms"] >= config["request_timeout_ms"]:
        # kafka-python's rule: a long poll must end before the request times out.
        raise KafkaConfigurationError(
            f"request_timeout_ms ({config['request_timeout_ms']}) must be larger than "
            f"fetch_max_wait_ms ({config['fetch_max_wait_ms']})"
        )
    callback = config["default_offset_commit_callback"]
    if callback is not None and not callable(callback):
        raise KafkaConfigurationError(
            f"default_offset_commit_callback must be callable, got {callback!r}"
        )
    for key in ("max_poll_records", "max_poll_interval_ms", "session_timeout_ms",
                "heartbeat_interval_ms", "fetch_buffer_batches"):
        check_int(config, key, 1)
    if config["heartbeat_interval_ms"] >= config["session_timeout_ms"]:
        raise KafkaConfigurationError(
            "heartbeat_interval_ms must be lower than session_timeout_ms (usually a third), "
            f"got {config['heartbeat_interval_ms']} >= {config['session_timeout_ms']}"
        )
    if config["isolation_level"] not in ISOLATION_LEVELS:
        raise KafkaConfigurationError(
            f"isolation_level must be one of {ISOLATION_LEVELS}, got {config['isolation_level']!r}"
        )
    if config["auto_offset_reset"] not in _RESET_POLICIES:
        raise KafkaConfigurationError(
            f"auto_offset_reset must be one of {_RESET_POLICIES}, got "
            f"{config['auto_offset_reset']!r}"
        )
    timeout = config["consumer_timeout_ms"]
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not (
            timeout == math.inf or waitable_ms(timeout)):
        raise KafkaConfigurationError(
            f"consumer_timeout_ms must be a number of milliseconds from 0 to {MAX_WAIT_MS:g}, or "
            f"math.inf to wait for ever; got {timeout!r}")
    from pcmodel.topics.assignors import assignor_names

    config["partition_assignment_strategy"] = assignor_names(
        config["partition_assignment_strategy"]
    )
    if not callable(config["clock"]):
        raise KafkaConfigurationError(f"clock must be callable, got {config['clock']!r}")
    for key in ("key_deserializer", "value_deserializer"):
        converter(key, config[key], "deserialize")  # raises for what is neither form
    if config["fetch_buffer_variant"] not in VARIANTS:
        raise KafkaConfigurationError(
            f"fetch_buffer_variant must be one of {VARIANTS}, got "
            f"{config['fetch_buffer_variant']!r}"
        )
    try:  # a level or its name, as the producer's buffer_instrument
        Level.parse(config["fetch_buffer_instrument"], flags=False)
    except ValueError as exc:
        raise KafkaConfigurationError(f"fetch_buffer_{exc}") from None
