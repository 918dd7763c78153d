"""Kafka's message schemas for the APIs kafka-python 3 has no classes for, and those classes.

The ``*.json`` files here are Apache Kafka's own (``clients/src/main/resources/common/message``,
Apache License 2.0, their license header kept). kafka-python's generic codec builds a request or
response class from such a schema when the class is declared with ``load_json=<package>``, so
these APIs are encoded and decoded by the same maintained code as every other one, with no
hand-written codec:

* ConsumerGroupHeartbeat (API 68, v0-v1): Kafka 4's consumer group protocol (KIP-848). v1 adds
  ``SubscribedTopicRegex``; librdkafka and Kafka 4 clients speak v1. Kafka's schema of that
  time still marks v1 ``latestVersionUnstable``; Kafka 4.0 released it as stable, unchanged.
* ConsumerGroupDescribe (API 69, v0-v1): what the admin clients' ``describe_consumer_groups``
  asks of such a group. v1 (Kafka 4.0, KIP-1099) adds each member's ``MemberType``; the two
  files are Kafka's of the time before it, with version 1 added as Kafka 4.0 has it.

:mod:`pcmodel.wire.handlers.consumer_groups` serves them.
"""

from __future__ import annotations

import sys
import warnings

from kafka.protocol.api_message import ApiMessage

__all__ = [
    "ConsumerGroupDescribeRequest",
    "ConsumerGroupDescribeResponse",
    "ConsumerGroupHeartbeatRequest",
    "ConsumerGroupHeartbeatResponse",
]

#: This package: kafka-python reads ``<class name>.json`` from it.
_HERE = sys.modules[__name__]

# kafka-python 3 reads a schema with importlib.resources.read_text, which Python 3.11+ marks
# deprecated: a warning about kafka-python's code, not the user's, so it is not shown.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)

    class ConsumerGroupHeartbeatRequest(ApiMessage, load_json=_HERE):
        """ConsumerGroupHeartbeat request (API 68), built from Kafka's schema."""

    class ConsumerGroupHeartbeatResponse(ApiMessage, load_json=_HERE):
        """ConsumerGroupHeartbeat response (API 68), built from Kafka's schema."""

    class ConsumerGroupDescribeRequest(ApiMessage, load_json=_HERE):
        """ConsumerGroupDescribe request (API 69), built from Kafka's schema."""

    class ConsumerGroupDescribeResponse(ApiMessage, load_json=_HERE):
        """ConsumerGroupDescribe response (API 69), built from Kafka's schema."""

        @classmethod
        def json_patch(cls, json: dict) -> dict:
            """A group's ``AuthorizedOperations`` is a set of operations (kafka-python's
            ``bitfield`` type, as in its DescribeGroups class), not a bare int."""
            (groups,) = [f for f in json["fields"] if f["name"] == "Groups"]
            for field in groups["fields"]:
                if field["name"] == "AuthorizedOperations":
                    field["type"] = "bitfield"
            return json
