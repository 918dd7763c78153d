"""The consumer's configuration: kafka-python's keys and defaults, and their validation.

:data:`DEFAULT_CONFIG` lists every key :class:`~pcmodel.topics.consumer.KafkaConsumer` accepts;
:func:`validate_config` checks a resolved configuration before the consumer starts any thread,
so that a bad value fails at construction with a message naming the key.

Prior art: kafka-python's ``KafkaConsumer.DEFAULT_CONFIG`` (``kafka/consumer/group.py``) and the
Java client's ``ConsumerConfig``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from pcmodel.buffers import VARIANTS
from pcmodel.topics.config import check_int
from pcmodel.topics.errors import KafkaConfigurationError

__all__ = ["DEFAULT_CONFIG", "validate_config"]

#: Supported configuration keys with kafka-python's defaults (pcmodel's own keys at the end).
DEFAULT_CONFIG: dict[str, Any] = {
    "group_id": None,
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
    "consumer_timeout_ms": math.inf,
    "partition_assignment_strategy": ("range", "cooperative-sticky"),
    # pcmodel only: how many fetched batches the fetch buffer holds, its algorithm and
    # instrumentation level ("off", "counters", "timeline"; read with fetch_buffer.stats()).
    "fetch_buffer_batches": 4,
    "fetch_buffer_variant": "condition",
    "fetch_buffer_instrument": "off",
    # pcmodel only: the monotonic clock for poll intervals and auto-commit (tests inject one).
    "clock": time.monotonic,
}

_RESET_POLICIES = ("earliest", "latest", "none")


def validate_config(config: dict[str, Any]) -> None:
    """Check a resolved consumer configuration; normalise the assignor names to a tuple.

    Raises ``KafkaConfigurationError`` naming the first bad key and what it must be.
    """
    group_id = config["group_id"]
    if group_id is not None and (not isinstance(group_id, str) or not group_id):
        raise KafkaConfigurationError(f"group_id must be a non-empty str or None, got "
                                      f"{group_id!r}")
    for key in ("fetch_max_wait_ms", "auto_commit_interval_ms"):
        check_int(config, key, 0)
    for key in ("max_poll_records", "max_poll_interval_ms", "session_timeout_ms",
                "heartbeat_interval_ms", "fetch_buffer_batches"):
        check_int(config, key, 1)
    if config["heartbeat_interval_ms"] >= config["session_timeout_ms"]:
        raise KafkaConfigurationError(
            "heartbeat_interval_ms must be lower than session_timeout_ms (usually a third), "
            f"got {config['heartbeat_interval_ms']} >= {config['session_timeout_ms']}"
        )
    if config["auto_offset_reset"] not in _RESET_POLICIES:
        raise KafkaConfigurationError(
            f"auto_offset_reset must be one of {_RESET_POLICIES}, got "
            f"{config['auto_offset_reset']!r}"
        )
    timeout = config["consumer_timeout_ms"]
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
        raise KafkaConfigurationError(f"consumer_timeout_ms must be >= 0, got {timeout!r}")
    strategy = config["partition_assignment_strategy"]
    if isinstance(strategy, str):
        strategy = (strategy,)
    if not strategy or not all(isinstance(s, str) for s in strategy):
        raise KafkaConfigurationError(
            "partition_assignment_strategy must be assignor names such as "
            f"('range', 'cooperative-sticky'), got {strategy!r}"
        )
    from pcmodel.topics.assignors import get_assignor

    for name in strategy:
        get_assignor(name)
    config["partition_assignment_strategy"] = tuple(strategy)
    if not callable(config["clock"]):
        raise KafkaConfigurationError(f"clock must be callable, got {config['clock']!r}")
    for key in ("key_deserializer", "value_deserializer"):
        if config[key] is not None and not callable(config[key]):
            raise KafkaConfigurationError(f"{key} must be callable, got {config[key]!r}")
    if config["fetch_buffer_variant"] not in VARIANTS:
        raise KafkaConfigurationError(
            f"fetch_buffer_variant must be one of {VARIANTS}, got "
            f"{config['fetch_buffer_variant']!r}"
        )
    if config["fetch_buffer_instrument"] not in ("off", "counters", "timeline"):
        raise KafkaConfigurationError(
            "fetch_buffer_instrument must be 'off', 'counters' or 'timeline', got "
            f"{config['fetch_buffer_instrument']!r}"
        )
