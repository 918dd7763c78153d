"""ApiVersions: the first request of every client, answered from the handler registry.

Clients use the answer to pick, per API, the highest version both sides support; so it lists
exactly the registry's ranges (:mod:`pcmodel.wire.handlers`), nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse

from pcmodel.wire.api import ApiHandler, RequestContext

__all__ = ["HANDLERS", "api_versions_list"]


def api_versions_list(handlers: Mapping[int, ApiHandler]) -> list[Any]:
    """The ``api_keys`` entries of an ApiVersions response for ``handlers``."""
    return [
        ApiVersionsResponse.ApiVersion(
            api_key=key, min_version=h.min_version, max_version=h.max_version
        )
        for key, h in sorted(handlers.items())
    ]


def handle_api_versions(ctx: RequestContext, request: Any) -> Any:
    """Answer with every API key and version range the registry serves."""
    return ctx.response(error_code=0, api_keys=api_versions_list(ctx.handlers),
                        throttle_time_ms=0)


HANDLERS = {
    ApiVersionsRequest.API_KEY: ApiHandler(
        ApiVersionsRequest, ApiVersionsResponse, 0, 3, handle_api_versions
    ),
}
