"""Kafka's framing and dispatch: size-prefixed frames in, handlers called, responses out.

Every request is ``int32 size`` followed by ``size`` bytes: a request header (``api_key``,
``api_version``, ``correlation_id``, ``client_id``, plus tagged fields in header v2, used by
flexible versions) and the request body. The response is ``int32 size``, the correlation id
(plus tagged fields for flexible versions, except ApiVersions, whose response header is always
v0 so that any client can read it) and the body. kafka-python's classes decode and encode both;
this module only chooses the class and the version.

What the listener answers when a request is not one it serves (Apache Kafka closes the
connection in most of these cases; keeping it open with an error is friendlier to students and
equally correct for clients):

- ApiVersions at a version above ours: an ApiVersions v0 response with UNSUPPORTED_VERSION and
  our versions (KIP-511), so the client retries with one we support.
- A known API key we do not serve, or a version outside our range: the API's response with
  UNSUPPORTED_VERSION in its error-code fields (the connection stays open).
- An API key or version no Kafka schema knows, a body that does not decode, a frame that is
  truncated or larger than ``max_request_bytes``: :class:`ProtocolViolation`, after which the
  listener closes that connection (there is no way to frame a reply the client could read).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from typing import Any

import kafka.protocol.admin
import kafka.protocol.consumer
import kafka.protocol.metadata
import kafka.protocol.producer
import kafka.protocol.sasl  # noqa: F401 - importing these defines the message classes
from kafka.protocol.api_header import RequestHeader
from kafka.protocol.api_message import ApiMessage
from kafka.protocol.metadata import ApiVersionsRequest

from pcmodel.wire.api import ApiHandler, RequestContext, kafka_errors

__all__ = ["ProtocolViolation", "Request", "decode_request", "error_response", "encode_response"]

_KEY_VERSION_CORRELATION = struct.Struct(">hhi")
UNSUPPORTED_VERSION = kafka_errors.UnsupportedVersionError.errno


class ProtocolViolation(Exception):  # noqa: N818 - it is a violation, not an error of ours
    """The client broke the protocol; the message says how. The connection must be closed."""


class Request:
    """One decoded request header, and its body when a handler will serve it.

    ``handler`` is ``None`` when the API key or version is not served; ``body`` is then ``None``
    too, and the caller answers with :func:`error_response`.
    """

    __slots__ = ("api_key", "api_version", "correlation_id", "client_id", "handler", "body")

    def __init__(self, api_key: int, api_version: int, correlation_id: int,
                 client_id: str | None, handler: ApiHandler | None, body: Any) -> None:
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id
        self.client_id = client_id
        self.handler = handler
        self.body = body


def decode_request(frame: bytes, handlers: Mapping[int, ApiHandler]) -> Request:
    """Decode a frame's header, and its body if ``handlers`` serve that key and version.

    Raises :class:`ProtocolViolation` if the frame is too short, names an API key no Kafka
    schema defines, or its header or body do not decode.
    """
    if len(frame) < _KEY_VERSION_CORRELATION.size:
        raise ProtocolViolation(f"a request of {len(frame)} bytes is shorter than any header")
    api_key, api_version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame)
    handler = handlers.get(api_key)
    served = handler is not None and handler.min_version <= api_version <= handler.max_version
    request_class = handler.request_class if handler else _known_request_class(api_key)
    if request_class is None:
        raise ProtocolViolation(f"unknown API key {api_key} (version {api_version})")
    flexible = (
        request_class.flexible_version_q(api_version)
        if 0 <= api_version <= request_class.max_version
        # A version beyond every schema: only ApiVersions may be asked that (KIP-511), and its
        # header is v2 from version 3 on.
        else api_key == ApiVersionsRequest.API_KEY
    )
    buffer = io.BytesIO(frame)
    try:
        header = RequestHeader.decode(buffer, flexible=flexible)
    except Exception as exc:
        raise ProtocolViolation(f"malformed request header: {exc!r}") from None
    if not served:
        return Request(api_key, api_version, correlation_id, header.client_id, None, None)
    try:
        body = request_class.decode(memoryview(frame)[buffer.tell():], version=api_version)
    except Exception as exc:
        raise ProtocolViolation(
            f"malformed {handler.name} v{api_version} request body: {exc!r}"
        ) from None
    return Request(api_key, api_version, correlation_id, header.client_id, handler, body)


def _message_classes() -> tuple[dict[int, Any], dict[int, Any]]:
    """Every request and response class kafka-python defines, by API key."""
    requests, responses = {}, {}
    pending = list(ApiMessage.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls._class_version is None:  # the primary class, not a per-version wrapper
            (requests if cls.is_request() else responses)[cls.API_KEY] = cls
    return requests, responses


_REQUEST_CLASSES, _RESPONSE_CLASSES = _message_classes()


def _known_request_class(api_key: int) -> Any:
    return _REQUEST_CLASSES.get(api_key)


def encode_response(response: Any, correlation_id: int) -> bytes:
    """The framed bytes of ``response`` (built at the request's version) for ``correlation_id``."""
    response.with_header(correlation_id=correlation_id)
    return bytes(response.encode(header=True, framed=True))


def error_response(
    request: Request, ctx_handlers: Mapping[int, ApiHandler], code: int = UNSUPPORTED_VERSION
) -> Any:
    """A response telling the client ``code`` for a request no handler could serve.

    ApiVersions gets KIP-511's answer (v0 listing our versions). Other APIs get their response
    class with every top-level ``error_code`` set; APIs whose responses carry errors only per
    item answer with no items. Raises :class:`ProtocolViolation` when kafka-python has no
    response class for that version (nothing the client could read can be sent).
    """
    response_class = _RESPONSE_CLASSES.get(request.api_key)
    if request.api_key == ApiVersionsRequest.API_KEY:
        from pcmodel.wire.handlers.versions import api_versions_list

        return response_class(
            version=0, error_code=code, api_keys=api_versions_list(ctx_handlers)
        )
    if response_class is None or not 0 <= request.api_version <= response_class.max_version:
        raise ProtocolViolation(
            f"API key {request.api_key} version {request.api_version} is not served and has no "
            "response format to say so"
        )
    fields = {}
    if "error_code" in response_class.fields:
        fields["error_code"] = code
    return response_class(version=request.api_version, **fields)


def make_context(request: Request, **listener_fields: Any) -> RequestContext:
    """The :class:`RequestContext` of a served request (``listener_fields`` from the listener)."""
    handler = request.handler
    return RequestContext(
        api_key=request.api_key,
        api_version=request.api_version,
        correlation_id=request.correlation_id,
        client_id=request.client_id,
        response_class=handler.response_class,
        **listener_fields,
    )
