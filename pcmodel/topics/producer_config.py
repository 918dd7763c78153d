"""The producer's configuration checks: kafka-python's keys, which are refused, and why.

:class:`~pcmodel.topics.producer.KafkaProducer` takes its settings as keyword arguments with
kafka-python's names and defaults; these helpers check them before the producer starts its
sender thread, so that a bad value fails at construction with a message naming the setting.

Prior art: kafka-python's ``KafkaProducer.DEFAULT_CONFIG`` (``kafka/producer/kafka.py``) and the
Java client's ``ProducerConfig``.
"""

from __future__ import annotations

from typing import Any

from pcmodel.topics.errors import KafkaConfigurationError

__all__ = [
    "ACKS",
    "UNSUPPORTED_KAFKA_KEYS",
    "check_int_arg",
    "check_number_arg",
    "reject_unknown",
]

#: kafka-python producer keys that have no meaning here. Each raises KafkaConfigurationError
#: naming it, so that a program never believes a setting took effect when it did not.
UNSUPPORTED_KAFKA_KEYS = frozenset(
    {
        "api_version",
        "api_version_auto_timeout_ms",
        "bootstrap_topics_filter",
        "compression_type",
        "connections_max_idle_ms",
        "delivery_timeout_ms",
        "enable_idempotence",
        "kafka_client",
        "max_in_flight_requests_per_connection",
        "metric_reporters",
        "metrics_enabled",
        "metrics_num_samples",
        "metrics_sample_window_ms",
        "receive_buffer_bytes",
        "reconnect_backoff_max_ms",
        "reconnect_backoff_ms",
        "sasl_kerberos_domain_name",
        "sasl_kerberos_service_name",
        "sasl_mechanism",
        "sasl_oauth_token_provider",
        "sasl_plain_password",
        "sasl_plain_username",
        "security_protocol",
        "selector",
        "send_buffer_bytes",
        "sock_chunk_buffer_count",
        "sock_chunk_bytes",
        "socket_options",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_check_hostname",
        "ssl_ciphers",
        "ssl_context",
        "ssl_crlfile",
        "ssl_keyfile",
        "ssl_password",
        "transaction_timeout_ms",
        "transactional_id",
        "allow_auto_create_topics",
    }
)

#: The accepted ``acks`` values and what each means (``"all"`` is ``-1``).
ACKS = {0: 0, 1: 1, -1: -1, "all": -1}


def reject_unknown(configs: dict[str, Any]) -> None:
    """Raise KafkaConfigurationError naming the first key that is not supported here."""
    for key in sorted(configs):
        if key == "bootstrap_servers":
            raise KafkaConfigurationError(
                "bootstrap_servers is not supported: pass broker=Broker() (threads) or "
                "broker=RemoteBroker(handle) (a broker process) instead"
            )
        if key in UNSUPPORTED_KAFKA_KEYS:
            raise KafkaConfigurationError(
                f"{key} is a kafka-python setting that pcmodel's producer does not support; "
                "remove it"
            )
        raise KafkaConfigurationError(f"unknown producer configuration key {key!r}")


def check_int_arg(name: str, value: object, minimum: int, hint: str = "") -> None:
    """Raise KafkaConfigurationError unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = f"; {hint}" if hint else ""
        raise KafkaConfigurationError(f"{name} must be an int >= {minimum}, got {value!r}{extra}")


def check_number_arg(name: str, value: object) -> None:
    """Raise KafkaConfigurationError unless ``value`` is a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise KafkaConfigurationError(f"{name} must be a number >= 0, got {value!r}")
