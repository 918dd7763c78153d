"""Client configuration: kafka-python's key names, checked, never silently ignored.

kafka-python takes its settings as keyword arguments (``KafkaConsumer(group_id=..., ...)``) and
quietly drops keys it does not know. Here a key is either supported, with kafka-python's meaning,
or rejected with ``KafkaConfigurationError`` naming it, so that a program never believes a setting
took effect when it did not. Keys that only make sense against a network cluster get a message
saying what to do instead.

Prior art: kafka-python's ``DEFAULT_CONFIG`` dictionaries and the Java client's ``ConfigDef``
(unknown keys reported, each value validated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcmodel.topics.errors import KafkaConfigurationError

__all__ = ["NETWORK_KEYS", "check_int", "resolve_config"]

#: kafka-python keys about networking, security or wire protocol, which have no meaning here.
NETWORK_KEYS = frozenset(
    {
        "bootstrap_servers", "api_version", "api_version_auto_timeout_ms", "security_protocol",
        "ssl_context", "ssl_check_hostname", "ssl_cafile", "ssl_certfile", "ssl_keyfile",
        "ssl_password", "ssl_crlfile", "ssl_ciphers", "sasl_mechanism", "sasl_plain_username",
        "sasl_plain_password", "sasl_kerberos_service_name", "sasl_kerberos_domain_name",
        "sasl_oauth_token_provider", "socket_options", "sock_chunk_bytes",
        "sock_chunk_buffer_count", "receive_buffer_bytes", "send_buffer_bytes",
        "connections_max_idle_ms", "reconnect_backoff_ms", "reconnect_backoff_max_ms",
        "request_timeout_ms", "retry_backoff_ms", "selector", "metric_reporters",
        "metrics_num_samples", "metrics_sample_window_ms", "metric_group_prefix",
        "metrics_enabled", "client_rack", "check_crcs", "kafka_client",
    }
)


def resolve_config(
    defaults: Mapping[str, Any], given: Mapping[str, Any], *, client: str
) -> dict[str, Any]:
    """Return ``defaults`` updated with ``given``; reject unknown keys by name.

    Raises ``KafkaConfigurationError`` for the first unknown key (sorted), telling which keys
    are supported, or, for a networking key, that ``broker=`` replaces it.
    """
    for key in sorted(given):
        if key in defaults:
            continue
        if key in NETWORK_KEYS:
            raise KafkaConfigurationError(
                f"{client} configuration key {key!r} is not supported: there is no network "
                "here; pass broker= (an in-process Broker or a handle to a broker process)"
            )
        raise KafkaConfigurationError(
            f"{client} configuration key {key!r} is not supported; supported keys: "
            f"{', '.join(sorted(defaults))}"
        )
    config = dict(defaults)
    config.update(given)
    return config


def check_int(config: Mapping[str, Any], key: str, minimum: int) -> int:
    """Return ``config[key]`` if it is an int >= ``minimum``, else raise naming the key."""
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise KafkaConfigurationError(f"{key} must be an int >= {minimum}, got {value!r}")
    return value
