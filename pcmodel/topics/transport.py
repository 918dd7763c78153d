"""The connection between a broker process and its clients: deadlines, limits, checked requests.

:mod:`pcmodel.topics.remote` talks over :mod:`multiprocessing.connection`: length-prefixed
pickles after an HMAC challenge in both directions. On its own that connection waits for ever,
reads a message of any announced size and unpickles whatever arrives. This module adds what a
network service needs, the way Kafka's broker and clients bound theirs:

- :class:`Channel`: one connection and its socket, whose reads and writes time out
  (``SO_RCVTIMEO`` / ``SO_SNDTIMEO``, so the blocking ``multiprocessing`` code keeps working and
  a silent peer turns into ``TimeoutError`` instead of a thread blocked for ever).
- :func:`open_channel` (client side): connect and authenticate within one deadline.
- :func:`accept_channel` (server side): authenticate a new connection within the handshake
  deadline; after it, requests are read with a size cap (:data:`MAX_REQUEST_BYTES`, Kafka's
  ``socket.request.max.bytes``) and an idle timeout (Kafka's ``connections.max.idle.ms``).
- :func:`load_request`: unpickle a request allowing only the classes a client request is made
  of (pcmodel's own value types and plain containers), and :func:`check_numbers`: every number
  in it is finite and fits Kafka's 64-bit fields.
- :class:`RefusalLog`: refused connections logged one line each, at most one line a second
  (the rest are counted into the next line), so a flood cannot fill the log.

Prior art: Kafka's ``SocketServer`` (``max.connections``, ``connections.max.idle.ms``,
``socket.request.max.bytes``) and the Java client's ``request.timeout.ms`` and
``socket.connection.setup.timeout.ms``; the "Restricting Globals" recipe of the :mod:`pickle`
documentation.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import logging
import math
import multiprocessing.connection as mpc
import os
import pickle
import socket
import struct
import threading
import time
from typing import Any

from pcmodel.topics.broker_checks import INT64_MAX

__all__ = [
    "MAX_REQUEST_BYTES",
    "Channel",
    "HandshakeFailed",
    "RefusalLog",
    "RequestRejected",
    "accept_channel",
    "check_numbers",
    "load_request",
    "open_channel",
]

#: Largest request a broker reads (Kafka's ``socket.request.max.bytes`` default, 100 MiB).
MAX_REQUEST_BYTES = 100 * 1024 * 1024
#: The low end of Kafka's INT64 range (its top is ``INT64_MAX``): offsets, timestamps and every
#: count fit in it.
INT64_MIN = -INT64_MAX - 1
# Containers nested deeper than this in a request are refused (a client never sends such).
_MAX_DEPTH = 16


class HandshakeFailed(Exception):  # noqa: N818 - a reason to refuse, not a program error
    """A new connection did not authenticate in time, or answered the challenge wrongly.

    ``first_message`` holds what the peer sent first (empty if nothing arrived), so that the
    server can tell a client speaking another protocol. ``peer_left`` is true when the peer
    closed or reset the connection before the handshake ended: nothing was refused (a client
    stopped while it connected, as a Ctrl-C during a cluster's start does).
    """

    def __init__(self, reason: str, first_message: bytes = b"", *,
                 peer_left: bool = False) -> None:
        super().__init__(reason)
        self.first_message = first_message
        self.peer_left = peer_left


class _FirstMessage:
    """The connection as ``deliver_challenge`` uses it, keeping the first message it reads."""

    def __init__(self, conn: mpc.Connection) -> None:
        self._conn = conn
        self.data = b""

    def send_bytes(self, data: bytes) -> None:
        self._conn.send_bytes(data)

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        self.data = self._conn.recv_bytes(maxlength)
        return self.data


class RequestRejected(Exception):  # noqa: N818 - a reason to refuse, not a program error
    """A request that must not reach the broker: a class it may not build, a bad number."""


# --- a connection whose reads and writes time out -----------------------------------------


def _timeval(seconds: float) -> bytes:
    """``struct timeval`` (Linux, macOS) for SO_RCVTIMEO/SO_SNDTIMEO; 0 means no timeout."""
    if os.name == "nt":  # pragma: no cover - Windows takes milliseconds as a DWORD
        return struct.pack("I", int(seconds * 1000))
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))


class Channel:
    """A :class:`multiprocessing.connection.Connection` over a socket with I/O timeouts.

    ``set_timeout(seconds)`` bounds every later read and write (``None``: wait for ever); when
    one times out, ``send``/``recv`` raise ``TimeoutError`` and the channel must be closed (a
    message may be half sent or half read). Not thread-safe: one thread uses a channel at a
    time; ``shutdown()`` may be called from any thread to wake the one blocked in it.
    """

    __slots__ = ("conn", "_sock", "_timeout", "last_used")

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(None)  # blocking: multiprocessing reads the descriptor directly
        self._sock = sock
        self.conn = mpc.Connection(os.dup(sock.fileno()))
        self._timeout: float | None = None
        #: time.monotonic() of the last completed call (for idle connection pools).
        self.last_used = time.monotonic()

    def set_timeout(self, seconds: float | None) -> None:
        """Bound each later read and write to ``seconds`` (at least 1 ms); ``None``: no bound."""
        if seconds == self._timeout:
            return
        value = _timeval(0.0 if seconds is None else max(seconds, 0.001))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        self._timeout = seconds

    def send(self, obj: Any) -> None:
        """Pickle and send ``obj``; ``TimeoutError`` if the peer stopped reading."""
        try:
            self.conn.send(obj)
        except BlockingIOError as exc:  # EAGAIN from a timed-out write
            raise TimeoutError("the peer did not read in time") from exc

    def recv(self) -> Any:
        """Receive and unpickle one message (from a trusted peer: the client reads replies)."""
        try:
            return self.conn.recv()
        except BlockingIOError as exc:
            raise TimeoutError("the peer did not answer in time") from exc

    def recv_bytes(self, maxlength: int) -> bytes:
        """One message's bytes; ``OSError`` if it announces more than ``maxlength``."""
        try:
            return self.conn.recv_bytes(maxlength)
        except BlockingIOError as exc:
            raise TimeoutError("the peer sent nothing in time") from exc

    def send_bytes(self, data: bytes) -> None:
        """Send one message of raw bytes."""
        try:
            self.conn.send_bytes(data)
        except BlockingIOError as exc:
            raise TimeoutError("the peer did not read in time") from exc

    def poll(self) -> bool:
        """True if something (a message, or the end of the stream) is ready to read."""
        return self.conn.poll(0)

    def shutdown(self) -> None:
        """Wake a thread blocked on this channel: it sees the end of the stream."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def fileno(self) -> int:
        """The connection's descriptor."""
        return self.conn.fileno()

    def close(self) -> None:
        """Close the connection and the socket; idempotent."""
        self.conn.close()
        self._sock.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self.conn.closed


def open_channel(address: tuple[str, int], authkey: bytes, timeout: float) -> Channel:
    """Connect to ``address`` and authenticate both ways with ``authkey``, all within ``timeout``.

    Raises ``ConnectionRefusedError`` (nothing listens), ``TimeoutError`` (no answer in time),
    ``multiprocessing.AuthenticationError`` (wrong key) or another ``OSError``/``EOFError``.
    """
    deadline = time.monotonic() + timeout
    sock = socket.create_connection(address, timeout=timeout)
    channel = Channel(sock)
    try:
        channel.set_timeout(deadline - time.monotonic())
        try:
            mpc.answer_challenge(channel.conn, authkey)
            mpc.deliver_challenge(channel.conn, authkey)
        except BlockingIOError as exc:
            raise TimeoutError(f"no answer to the handshake within {timeout:g} s") from exc
    except BaseException:
        channel.close()
        raise
    return channel


def accept_channel(sock: socket.socket, authkey: bytes, handshake_timeout: float,
                   idle_timeout: float) -> Channel:
    """Authenticate a freshly accepted connection within ``handshake_timeout`` seconds.

    Returns the channel with its reads and writes bounded by ``idle_timeout`` from then on.
    Raises :class:`HandshakeFailed` saying why (the socket is closed then).
    """
    channel = Channel(sock)
    first = _FirstMessage(channel.conn)
    try:
        channel.set_timeout(handshake_timeout)
        mpc.deliver_challenge(first, authkey)
        mpc.answer_challenge(channel.conn, authkey)
    except BlockingIOError:
        channel.close()
        raise HandshakeFailed(f"no handshake within {handshake_timeout:g} s", first.data) \
            from None
    except mpc.AuthenticationError as exc:
        channel.close()
        raise HandshakeFailed(f"failed authentication ({exc})", first.data) from None
    except (EOFError, OSError) as exc:
        channel.close()
        raise HandshakeFailed(f"broke off the handshake ({exc!r})", first.data,
                              peer_left=True) from None
    channel.set_timeout(idle_timeout)
    return channel


# --- what a request may contain -------------------------------------------------------------

# Plain values a request is made of, beyond pcmodel's own classes.
_SAFE_GLOBALS = {
    ("builtins", name)
    for name in ("set", "frozenset", "bytearray", "complex", "slice", "range", "bytes", "str",
                 "int", "float", "bool", "tuple", "list", "dict")
} | {("collections", "OrderedDict"), ("collections", "deque"), ("datetime", "datetime"),
     ("datetime", "timedelta"), ("datetime", "timezone"), ("copyreg", "_reconstructor"),
     ("builtins", "object"), ("uuid", "UUID")}


class _RequestUnpickler(pickle.Unpickler):
    """Builds plain containers and pcmodel's value types (named tuples, enums, dataclasses);
    refuses every other global, so a request cannot call a function or build a service."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        if module == "pcmodel" or module.startswith("pcmodel."):
            found = super().find_class(module, name)
            if isinstance(found, type) and (
                issubclass(found, (tuple, enum.Enum)) or dataclasses.is_dataclass(found)
            ):
                return found
        raise RequestRejected(f"a request may not contain {module}.{name}")


def load_request(data: bytes) -> Any:
    """Unpickle a client's request; :class:`RequestRejected` for forbidden or broken content."""
    try:
        return _RequestUnpickler(io.BytesIO(data)).load()
    except RequestRejected:
        raise
    except Exception as exc:  # truncated or random bytes raise nearly anything
        raise RequestRejected(f"the request does not unpickle: {type(exc).__name__}: {exc}") \
            from None


def check_numbers(value: Any, where: str = "argument", depth: int = 0) -> None:
    """Raise :class:`RequestRejected` for a non-finite float or an int beyond 64 bits anywhere in
    ``value`` (looking into tuples, lists, sets and dicts), naming where it is."""
    if depth > _MAX_DEPTH:
        raise RequestRejected(f"{where} is nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, bool):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RequestRejected(f"{where} is {value!r}; numbers must be finite")
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise RequestRejected(f"{where} is {value}, beyond the 64-bit range of Kafka's fields")
    elif isinstance(value, (tuple, list, set, frozenset)):
        for index, item in enumerate(value):
            check_numbers(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_numbers(key, f"a key of {where}", depth + 1)
            check_numbers(item, f"{where}[{key!r}]", depth + 1)


# --- refusals -----------------------------------------------------------------------------


class RefusalLog:
    """Log refused connections one line each, at most one line per ``interval`` seconds.

    Refusals within the interval are counted and reported in the next line, so an attacker
    opening thousands of connections produces a handful of lines, and none is lost silently.
    """

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self._logger = logger
        self._interval = interval
        self._lock = threading.Lock()
        self._last = -math.inf
        self._unlogged = 0
        #: Refusals since this log was made (logged or counted).
        self.total = 0

    def refused(self, peer: Any, reason: str) -> None:
        """Record one refused connection from ``peer`` and why."""
        now = time.monotonic()
        with self._lock:
            self.total += 1
            if now - self._last < self._interval:
                self._unlogged += 1
                return
            self._last, skipped, self._unlogged = now, self._unlogged, 0
        more = f" (and {skipped} more refused in the last {self._interval:g} s)" if skipped else ""
        self._logger.warning("broker refused a connection from %s: %s%s",
                             _peer_text(peer), reason, more)


def _peer_text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
