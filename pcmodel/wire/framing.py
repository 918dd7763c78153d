"""Kafka's framing and dispatch: size-prefixed frames in, handlers called, responses out.

Every request is ``int32 size`` followed by ``size`` bytes: a request header (``api_key``,
``api_version``, ``correlation_id``, ``client_id``, plus tagged fields in header v2, used by
flexible versions) and the request body. The response is ``int32 size``, the correlation id
(plus tagged fields for flexible versions, except ApiVersions, whose response header is always
v0 so that any client can read it) and the body. kafka-python's classes decode and encode both;
this module only chooses the class and the version.

What the listener does with a request it does not serve is what Apache Kafka's ``SocketServer``
does (``parseRequestHeader``: a request whose API key or version the broker does not enable is
an ``InvalidRequestException``, and the connection is closed without an answer):

- ApiVersions at a version above ours: an ApiVersions v0 response with UNSUPPORTED_VERSION whose
  list holds ApiVersions' own range only (KIP-511, Kafka's ``ApiVersionsRequest
  .getErrorResponse``), so the client retries at a version we serve. The connection stays open.
- Any other request this listener does not advertise (an API it does not serve, or a version
  outside the range ApiVersions gave), an API key no Kafka schema knows, a body that does not
  decode, a frame that is truncated or larger than ``max_request_bytes``:
  :class:`ProtocolViolation`, after which the listener closes that connection and logs why.
  Answering with an error instead would be a wrong answer for many APIs: a Produce, Fetch or
  OffsetCommit response at an old version has no field for a request-wide error, so an empty
  one reads as "done, nothing to report". Real clients never get here: they ask ApiVersions
  first and send only what it lists (librdkafka and kafka-python fail such a call at once,
  naming the API the broker lacks).
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

__all__ = ["ProtocolViolation", "Request", "decode_request", "encode_response",
           "unserved_response"]

_KEY_VERSION_CORRELATION = struct.Struct(">hhi")
UNSUPPORTED_VERSION = kafka_errors.UnsupportedVersionError.errno


class ProtocolViolation(Exception):  # noqa: N818 - it is a violation, not an error of ours
    """The client broke the protocol; the message says how. The connection must be closed."""


class Request:
    """One decoded request header, and its body when a handler will serve it.

    ``handler`` is ``None`` when the API key or version is not served; ``body`` is then ``None``
    too, and the caller asks :func:`unserved_response` what to answer.
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

    A request they do not serve comes back with ``handler`` and ``body`` ``None`` (and, but
    for ApiVersions, with its header not read past the correlation id). Raises
    :class:`ProtocolViolation` if the frame is too short, names an API key no Kafka schema
    defines, or its header or body do not decode.
    """
    if len(frame) < _KEY_VERSION_CORRELATION.size:
        raise ProtocolViolation(f"a request of {len(frame)} bytes is shorter than any header")
    api_key, api_version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame)
    handler = handlers.get(api_key)
    served = handler is not None and handler.min_version <= api_version <= handler.max_version
    request_class = handler.request_class if handler else _known_request_class(api_key)
    if request_class is None:
        raise ProtocolViolation(f"unknown API key {api_key} (version {api_version})")
    if not served and api_key != ApiVersionsRequest.API_KEY:
        # Refused on its key and version alone, as Kafka's SocketServer refuses it: the rest
        # of the frame is not read (:func:`unserved_response` says why).
        return Request(api_key, api_version, correlation_id, None, None, None)
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


def unserved_response(request: Request, handlers: Mapping[int, ApiHandler]) -> Any:
    """The answer to a request no handler serves, or :class:`ProtocolViolation` if Kafka sends
    none.

    Only ApiVersions at a version above the registry's gets an answer: KIP-511's, an
    ApiVersions v0 response with UNSUPPORTED_VERSION listing ApiVersions' own versions, as
    Kafka's ``ApiVersionsRequest.getErrorResponse`` builds it. Anything else raises
    :class:`ProtocolViolation` saying what was asked and what is served, and the listener
    closes the connection, as Kafka's ``SocketServer`` does.
    """
    handler = handlers.get(request.api_key)
    asked = f"{_api_name(request.api_key)} v{request.api_version}"
    if handler is None:
        raise ProtocolViolation(
            f"asked for {asked}, an API this listener does not serve (ApiVersions lists what "
            "it serves)"
        )
    if request.api_key == ApiVersionsRequest.API_KEY and request.api_version > handler.max_version:
        from pcmodel.wire.handlers.versions import api_versions_list

        own_range = api_versions_list({request.api_key: handler})
        return _RESPONSE_CLASSES[request.api_key](
            version=0, error_code=UNSUPPORTED_VERSION, api_keys=own_range
        )
    raise ProtocolViolation(
        f"asked for {asked}, a version this listener does not serve (it serves "
        f"v{handler.min_version} to v{handler.max_version}, as ApiVersions said)"
    )


def _api_name(api_key: int) -> str:
    """``"Produce (API key 0)"``: an API's name in Kafka's schemas and its key."""
    request_class = _REQUEST_CLASSES.get(api_key)
    name = request_class.name.removesuffix("Request") if request_class else "API"
    return f"{name} (API key {api_key})"


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
