"""ApiVersions: the first request of every client, answered from the handler registry.

Clients use the answer to pick, per API, the highest version both sides support; so it lists
exactly the registry's ranges (:mod:`pcmodel.wire.handlers`), nothing more. Versions 0 to 4 are
served, as by Kafka 4 (v4 has v3's fields): kafka-python 3 asks at v4 first, and a version
refused would cost every connection a second round trip (KIP-511's retry).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse

from pcmodel.wire.api import ApiHandler, RequestContext, kafka_errors

__all__ = ["HANDLERS", "api_versions_list"]

#: What a client software name and version (ApiVersions v3+) must look like.
_SOFTWARE_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")


def api_versions_list(handlers: Mapping[int, ApiHandler]) -> list[Any]:
    """The ``api_keys`` entries of an ApiVersions response for ``handlers``."""
    return [
        ApiVersionsResponse.ApiVersion(
            api_key=key, min_version=h.min_version, max_version=h.max_version
        )
        for key, h in sorted(handlers.items())
    ]


def handle_api_versions(ctx: RequestContext, request: Any) -> Any:
    """Answer with every API key and version range the registry serves; from v3, a client
    software name or version that is not Kafka's kind of name (letters, digits, ``-`` and
    ``.``, starting and ending with a letter or digit) is INVALID_REQUEST with no versions, as
    Kafka's ``ApiVersionsRequest.isValid`` decides."""
    if ctx.api_version >= 3 and not all(
        _SOFTWARE_NAME.fullmatch(field or "")
        for field in (request.client_software_name, request.client_software_version)
    ):
        return ctx.response(error_code=kafka_errors.InvalidRequestError.errno, api_keys=[],
                            throttle_time_ms=0)
    return ctx.response(error_code=0, api_keys=api_versions_list(ctx.handlers),
                        throttle_time_ms=0)


HANDLERS = {
    ApiVersionsRequest.API_KEY: ApiHandler(
        ApiVersionsRequest, ApiVersionsResponse, 0, 4, handle_api_versions
    ),
}
