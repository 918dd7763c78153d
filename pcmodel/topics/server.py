"""The server side of a broker process: one thread per connection, every resource bounded.

:class:`BrokerServer` serves one :class:`~pcmodel.topics.broker.Broker` on a loopback address
over :mod:`multiprocessing.connection` (authenticated, pickling). Every connection must pass the
``authkey`` challenge first, then sends requests ``(method, args, kwargs)``; only names in
:data:`~pcmodel.topics.broker.CLIENT_METHODS` are forwarded. Each connection has its own thread,
so a long-polling ``fetch`` on one never delays another client. What bounds each resource (the
listen backlog, the handshake deadline, the number of connections, idle time, request size, what
a request may contain) is in the class docstring and :mod:`pcmodel.topics.transport`.

Prior art: ``multiprocessing.managers`` (a server thread per connection, an exposed-methods
list) and Kafka's ``SocketServer`` (``max.connections``, ``connections.max.idle.ms``,
``socket.request.max.bytes``).
"""

from __future__ import annotations

import logging
import pickle
import secrets
import socket
import threading
import traceback
from typing import Any

from pcmodel.topics.broker import CLIENT_METHODS, Broker
from pcmodel.topics.client import AUTHKEY_BYTES, BrokerHandle, check_loopback
from pcmodel.topics.errors import IllegalArgumentError, KafkaError
from pcmodel.topics.transport import (
    MAX_REQUEST_BYTES,
    Channel,
    HandshakeFailed,
    RefusalLog,
    RequestRejected,
    accept_channel,
    check_numbers,
    load_request,
)

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "BrokerServer",
    "portable_exception",
]

# The broker's logger is the one the process-level messages always used.
log = logging.getLogger("pcmodel.topics.remote")

# Broker limits: pending connections, open connections, seconds to authenticate, idle seconds.
DEFAULT_BACKLOG = 128
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_HANDSHAKE_TIMEOUT = 5.0
DEFAULT_IDLE_TIMEOUT = 600.0


class BrokerServer:
    """Serves one broker on a loopback address; one thread per client connection.

    ``start()`` begins accepting; ``stop()`` stops accepting, ends every connection and joins the
    threads (it does not close the broker: its owner does). ``authkey=None`` generates one.
    ``handle`` is what clients need. Raises ``ValueError`` for a non-loopback ``host``.

    Limits, as Kafka's broker has them: up to ``backlog`` connections wait to be accepted, so a
    burst of clients is served rather than dropped; a new connection must pass the authkey
    handshake within ``handshake_timeout`` seconds; at most ``max_connections`` are open at once
    (the rest are refused); an authenticated connection that sends nothing for
    ``idle_timeout`` seconds is closed (clients drop idle connections sooner and reconnect);
    a request larger than :data:`~pcmodel.topics.transport.MAX_REQUEST_BYTES` ends its
    connection. Every refusal is logged on one line (at most one line a second, the others
    counted). A request may hold only plain values and pcmodel's value types, with finite
    numbers that fit 64 bits; any other is answered with an error and changes nothing.
    """

    #: The broker methods served (a cluster's broker process serves a few more to the cluster).
    served_methods: tuple[str, ...] = CLIENT_METHODS

    def __init__(
        self,
        broker: Broker,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        authkey: bytes | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        host = check_loopback(host)
        for name, value in (("max_connections", max_connections), ("backlog", backlog)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name, value in (("handshake_timeout", handshake_timeout),
                            ("idle_timeout", idle_timeout)):
            if not isinstance(value, (int, float)) or not 0 < value < threading.TIMEOUT_MAX:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if authkey is None:
            authkey = secrets.token_bytes(AUTHKEY_BYTES)
        self._broker = broker
        self._authkey = authkey
        self.max_connections = max_connections
        self.handshake_timeout = float(handshake_timeout)
        self.idle_timeout = float(idle_timeout)
        # A plain listening socket: accept() only accepts; each connection's thread runs the
        # handshake, so one silent client never holds up the others.
        self._listener = socket.create_server((host, port), backlog=backlog)
        self.handle = BrokerHandle(tuple(self._listener.getsockname()[:2]), authkey)
        self.refusals = RefusalLog(log)
        self._lock = threading.Lock()
        self._channels: set[Channel] = set()
        self._threads: set[threading.Thread] = set()
        self._stopping = False
        self._kafka_hinted = False
        self._accepter = threading.Thread(target=self._accept_loop, name="broker-accept")

    def start(self) -> BrokerServer:
        """Start accepting connections; returns self."""
        self._accepter.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, join the threads (each up to ``timeout``)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        # Wake the accept() with a connection of our own; the loop then sees _stopping.
        try:
            with socket.create_connection(self.handle.address, timeout=timeout):
                pass
        except OSError:
            pass
        if self._accepter.is_alive():  # not if start() never ran (or was interrupted): the
            self._accepter.join(timeout)  # thread then ends at once on the closed listener
        self._listener.close()
        with self._lock:
            for channel in self._channels:
                channel.shutdown()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    @property
    def connections(self) -> int:
        """Connections open now (authenticated or still in their handshake)."""
        with self._lock:
            return len(self._threads)

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, peer = self._listener.accept()
            except OSError:
                if self._stopping:
                    return
                # Out of descriptors, say: refuse by not accepting for a moment, never spin.
                log.exception("broker accept failed")
                threading.Event().wait(0.1)
                continue
            with self._lock:
                if self._stopping:
                    sock.close()
                    return
                full = len(self._threads) >= self.max_connections
                if not full:
                    thread = threading.Thread(target=self._serve, args=(sock, peer),
                                              name=f"broker-conn-{peer[1]}")
                    self._threads.add(thread)
            if full:
                sock.close()
                self.refusals.refused(peer, f"{self.max_connections} connections are open "
                                            "(max_connections)")
                continue
            thread.start()

    def _serve(self, sock: socket.socket, peer: tuple) -> None:
        channel = None
        try:
            try:
                channel = accept_channel(sock, self._authkey, self.handshake_timeout,
                                         self.idle_timeout)
            except HandshakeFailed as exc:
                if self._stopping:
                    return
                if _looks_like_kafka(exc.first_message):
                    self._hint_kafka_client()
                elif exc.peer_left:  # the peer went away: nothing to refuse, nothing to report
                    log.debug("%s left during the handshake: %s", peer, exc)
                else:
                    self.refusals.refused(peer, str(exc))
                return
            with self._lock:
                if self._stopping:
                    return
                self._channels.add(channel)
            while self._serve_one(channel, peer):
                pass
        finally:
            with self._lock:
                if channel is not None:
                    self._channels.discard(channel)
                    channel.close()
                else:
                    sock.close()
                self._threads.discard(threading.current_thread())

    def _hint_kafka_client(self) -> None:
        with self._lock:
            hinted, self._kafka_hinted = self._kafka_hinted, True
        if not hinted:
            log.warning(
                "a Kafka client connected to %s:%s, but this port speaks pcmodel's protocol; "
                "start the broker with --kafka for Kafka clients", *self.handle.address,
            )

    def _serve_one(self, channel: Channel, peer: tuple) -> bool:
        """Read one request and answer it; False when the connection is over."""
        try:
            data = channel.recv_bytes(MAX_REQUEST_BYTES)
        except EOFError:
            return False
        except TimeoutError:
            log.info("broker closed the connection from %s: idle for %g s",
                     f"{peer[0]}:{peer[1]}", self.idle_timeout)
            return False
        except ConnectionResetError:
            # The client went away without closing (its process was killed): routine for a
            # server (Kafka logs a disconnection at INFO too), not a fault of this broker.
            log.info("broker closed the connection from %s: the client reset it",
                     f"{peer[0]}:{peer[1]}")
            return False
        except OSError as exc:
            if not self._stopping:
                log.warning("broker closed the connection from %s: %s", f"{peer[0]}:{peer[1]}",
                            exc)
            return False
        try:
            request = load_request(data)
        except RequestRejected as exc:
            reply: tuple = (False, IllegalArgumentError(str(exc)), "")
        else:
            reply = self._dispatch(request)
        return _send_reply(channel, reply)

    def _dispatch(self, request: Any) -> tuple[bool, Any, str]:
        if (
            not isinstance(request, tuple)
            or len(request) != 3
            or not isinstance(request[0], str)
            or not isinstance(request[1], tuple)
            or not isinstance(request[2], dict)
            or not all(isinstance(key, str) for key in request[2])
        ):
            return False, TypeError(f"malformed broker request {_short_repr(request)}"), ""
        method, args, kwargs = request
        if method not in self.served_methods:
            return (
                False,
                AttributeError(
                    f"{_short_repr(method)} is not a broker client method; a remote broker "
                    f"serves only: {', '.join(self.served_methods)}"
                ),
                "",
            )
        try:
            check_numbers(args, f"{method}() argument")
            check_numbers(kwargs, f"{method}() argument")
        except RequestRejected as exc:
            return False, IllegalArgumentError(str(exc)), ""
        try:
            return True, getattr(self._broker, method)(*args, **kwargs), ""
        except Exception as exc:
            return False, portable_exception(exc), traceback.format_exc()

    def __repr__(self) -> str:
        return f"<BrokerServer {self.handle.address} connections={self.connections}>"


def _looks_like_kafka(message: bytes) -> bool:
    """True if a client's first message is a Kafka request (ApiVersions or Metadata header).

    Kafka frames, like ``multiprocessing``'s, start with a 4-byte size; then come the API key
    (18 ApiVersions, 3 Metadata: what clients send first), its version and a correlation id.
    """
    return len(message) >= 8 and message[0] == 0 and message[1] in (3, 18) and message[2] == 0


def _short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters: requests may be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _send_reply(channel: Channel, reply: tuple) -> bool:
    """Send ``reply``, or an error saying why it does not pickle; False if the peer is gone."""
    try:
        try:
            channel.send(reply)
        except OSError:
            raise
        except Exception as exc:  # the reply does not pickle, so nothing was sent
            channel.send((False, KafkaError(f"the broker's reply does not pickle: {exc}"), ""))
    except OSError:  # TimeoutError included: a client that stopped reading is dropped
        return False
    return True


def portable_exception(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling both ways, else a KafkaError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return KafkaError(f"{type(exc).__name__}: {exc}")
    return exc
