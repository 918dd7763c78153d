"""The Kafka protocol listener: accepts connections and serves each in its own thread.

One thread per connection, because Kafka answers one connection's requests strictly in order
(a client pipelines requests and matches responses by correlation id, in order); a long-polling
Fetch therefore holds up only its own connection, exactly as on a Kafka broker. Another thread
accepts connections; a socket pair wakes it at shutdown.

Each connection is isolated from the others. Whatever it does (a frame larger than
``max_request_bytes``, a truncated or malformed request, an unknown API key, an API or version
the listener does not serve, vanishing mid-request, never reading its responses for
``send_timeout`` seconds), the listener closes that connection only, logs one line saying what
happened, and keeps serving the rest. A request is handled only once it has arrived completely,
so a client that vanishes mid-request changes nothing in the broker. Connections beyond
``max_connections`` are refused with a log line. A handler that fails (a bug: its traceback is
logged) is answered as a Kafka broker answers a request that failed (``getErrorResponse``, see
:mod:`pcmodel.wire.error_responses`): the error (UNKNOWN_SERVER_ERROR for a bug) in every item
the request named and in the request-wide error field where the version has one, where the
client looks for it (it retries a retriable one; Kafka's clients fail a request on
UNKNOWN_SERVER_ERROR). Only a failed Produce with ``acks=0``, which expects no answer, has its
connection closed instead.

Prior art: Kafka's ``SocketServer`` (``socket.request.max.bytes``, ``max.connections``, muting a
connection while its request is processed) and the standard library's ``socketserver``
(``ThreadingMixIn``, ``shutdown()`` that joins its threads).
"""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Mapping
from typing import Any

from pcmodel.wire.api import ApiHandler, CloseConnection
from pcmodel.wire.error_responses import error_response
from pcmodel.wire.framing import (
    ProtocolViolation,
    decode_request,
    encode_response,
    make_context,
    unserved_response,
)
from pcmodel.wire.stats import ListenerStats, StatsRecorder

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_REQUEST_BYTES", "KafkaListener"]

log = logging.getLogger(__name__)

#: Kafka's ``socket.request.max.bytes`` default: 100 MiB.
DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 256
#: How long a response may wait for a client that does not read, and a request may stay half-sent.
DEFAULT_SEND_TIMEOUT = 30.0
_SIZE = struct.Struct(">i")
_RECV_CHUNK = 1 << 20


class _ConnectionClosed(Exception):
    """The peer closed the connection between requests (the normal end of a connection)."""


def is_loopback(host: str) -> bool:
    """True if ``host`` (a name or address) can only be reached from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KafkaListener:
    """Serves a :class:`~pcmodel.topics.broker.Broker` to Kafka clients on ``host:port``.

    ``port=0`` picks a free port (read :attr:`port`). ``start()`` begins accepting;
    ``stop()`` (idempotent; also ``with`` exit) stops accepting, closes every connection and
    joins every thread; it does not close the broker. A non-loopback ``host`` is allowed with a
    one-line warning: plaintext Kafka has no authentication. ``node_id`` and
    ``advertised_host`` are what Metadata and FindCoordinator tell clients (the bound host by
    default). ``view`` (a :class:`~pcmodel.wire.view.ClusterView`) is what the listener tells
    clients about brokers and leaders; by default the broker is a cluster of one. ``handlers``
    defaults to the full registry of :mod:`pcmodel.wire.handlers`. Raises ``OSError`` if the
    address cannot be bound.
    """

    def __init__(
        self,
        broker: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        node_id: int = 0,
        advertised_host: str | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        handlers: Mapping[int, ApiHandler] | None = None,
        view: Any = None,
    ) -> None:
        if handlers is None:
            from pcmodel.wire.handlers import load_handlers

            handlers = load_handlers()
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        if max_request_bytes < 64:
            raise ValueError(f"max_request_bytes must be >= 64, got {max_request_bytes}")
        if send_timeout <= 0:
            raise ValueError(f"send_timeout must be > 0 seconds, got {send_timeout}")
        self.broker = broker
        self.handlers = dict(handlers)
        self.node_id = node_id
        self.max_connections = max_connections
        self.max_request_bytes = max_request_bytes
        self.send_timeout = send_timeout
        if not is_loopback(host):
            log.warning(
                "the Kafka listener on %s:%s accepts anyone who can reach it: plaintext Kafka "
                "has no authentication", host, port,
            )
        self._server = socket.create_server((host, port), reuse_port=False)
        bound = self._server.getsockname()
        self.host: str = bound[0]
        self.port: int = bound[1]
        self.advertised_host = advertised_host or (
            socket.getfqdn() if self.host in ("0.0.0.0", "::") else self.host
        )
        if view is None:
            from pcmodel.wire.view import SingleBrokerView

            view = SingleBrokerView(node_id, self.advertised_host, self.port)
        self.view = view
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._last_threads: list[threading.Thread] = []
        self._stopping = False
        self._started = False
        self._refusing = False
        self._stats = StatsRecorder()
        self._wake_r, self._wake_w = socket.socketpair()
        self._accepter = threading.Thread(
            target=self._accept_loop, name=f"kafka-accept-{self.port}"
        )

    # --- public ---------------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the listener is bound to."""
        return self.host, self.port

    @property
    def bootstrap_servers(self) -> str:
        """``"host:port"`` as Kafka clients' ``bootstrap_servers`` setting wants it."""
        host = f"[{self.advertised_host}]" if ":" in self.advertised_host else self.advertised_host
        return f"{host}:{self.port}"

    @property
    def connection_count(self) -> int:
        """How many client connections are open right now."""
        with self._lock:
            return len(self._connections)

    def statistics(self) -> ListenerStats:
        """An immutable snapshot: requests per API, connections, and recent fetch waits."""
        return self._stats.snapshot(self.connection_count)

    def start(self) -> KafkaListener:
        """Start accepting connections; returns self. Calling it twice is an error."""
        with self._lock:
            if self._started:
                raise RuntimeError("this KafkaListener was already started")
            self._started = True
        self._accepter.start()
        return self

    def stop(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Stop accepting, close every connection and join every thread (each up to ``timeout``).

        A connection in the middle of a long-polling Fetch ends when that fetch returns (at the
        latest after the client's ``max_wait_ms``); one waiting in a JoinGroup or SyncGroup is
        closed within a tenth of a second, its member left to expire as if the broker died.
        With ``wait=False`` the connections are shut down but their threads are not joined
        (call :meth:`join` later): a caller that holds a lock those threads may be waiting for
        cannot wait for them. Idempotent.
        """
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            started = self._started
        if started:
            self._wake_w.send(b"x")
            self._accepter.join(timeout)
        self._server.close()
        self._wake_r.close()
        self._wake_w.close()
        with self._lock:
            # Under the lock: a serving thread closes its socket under it too, so no socket is
            # shut down after its descriptor was closed (and perhaps reused).
            for sock in self._connections:
                _shutdown(sock)
            # No connection is admitted after this: these are all the threads to join.
            self._last_threads = list(self._connections.values())
        if wait:
            self.join(timeout)

    def join(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` seconds for each connection thread of a stopped listener."""
        with self._lock:
            threads = list(self._last_threads)
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("Kafka connection thread %s did not end within %s s",
                            thread.name, timeout)

    def __enter__(self) -> KafkaListener:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopping else f"connections={self.connection_count}"
        return f"<KafkaListener {self.bootstrap_servers} node_id={self.node_id} {state}>"

    # --- accepting ------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_r in ready:
                    return
                try:
                    sock, peer = self._server.accept()
                except OSError as exc:
                    log.warning("Kafka listener: accept failed: %s", exc)
                    continue
                self._admit(sock, peer)

    def _admit(self, sock: socket.socket, peer: Any) -> None:
        refused = None  # decided under the lock; logged and closed outside it
        with self._lock:
            if self._stopping:
                refused = ""
            elif len(self._connections) >= self.max_connections:
                refusing_already, self._refusing = self._refusing, True
                refused = "" if refusing_already else (
                    f"Kafka listener: refusing connections from {_peer_name(peer)} on: "
                    f"{len(self._connections)} are open (max_connections="
                    f"{self.max_connections}); logged once until one is accepted again"
                )
            else:
                self._refusing = False
                thread = threading.Thread(
                    target=self._serve, args=(sock, peer),
                    name=f"kafka-conn-{_peer_name(peer)}",
                )
                self._connections[sock] = thread
        self._stats.connection(accepted=refused is None)
        if refused is None:
            thread.start()
            return
        if refused:
            log.warning("%s", refused)
        sock.close()

    # --- serving one connection -----------------------------------------------------------------

    def _serve(self, sock: socket.socket, peer: Any) -> None:
        name = _peer_name(peer)
        host = _client_host(peer)
        state: dict[str, Any] = {}
        try:
            sock.settimeout(self.send_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not self._stopping:
                frame = self._read_frame(sock, name)
                reply = self._handle(frame, state, name, host)
                if reply is not None:
                    sock.sendall(reply)
        except _ConnectionClosed:
            pass
        except ProtocolViolation as exc:
            log.warning("Kafka client %s: %s; closing its connection", name, exc)
        except CloseConnection as exc:
            log.info("Kafka client %s: %s; closing its connection", name, exc)
        except TimeoutError:
            log.warning(
                "Kafka client %s did not read its responses for %s s; closing its connection",
                name, self.send_timeout,
            )
        except OSError as exc:
            if not self._stopping:
                log.info("Kafka client %s: connection lost: %s", name, exc)
        finally:
            with self._lock:
                self._connections.pop(sock, None)
                sock.close()

    def _read_frame(self, sock: socket.socket, name: str) -> bytes:
        size_bytes = self._recv_exactly(sock, _SIZE.size, between_requests=True)
        (size,) = _SIZE.unpack(size_bytes)
        if size < 0 or size > self.max_request_bytes:
            raise ProtocolViolation(
                f"announced a request of {size} bytes, more than max_request_bytes="
                f"{self.max_request_bytes} (Kafka's socket.request.max.bytes)"
                if size > 0 else f"announced a request of negative size {size}"
            )
        return self._recv_exactly(sock, size, between_requests=False)

    def _recv_exactly(self, sock: socket.socket, size: int, *, between_requests: bool) -> bytes:
        # Read in chunks rather than allocating ``size`` up front: a client that announces
        # 100 MiB and sends nothing must not make the broker hold 100 MiB.
        chunks: list[bytes] = []
        got = 0
        while got < size:
            try:
                chunk = sock.recv(min(size - got, _RECV_CHUNK))
            except TimeoutError:
                if between_requests and got == 0 and not self._stopping:
                    continue  # an idle client: Kafka keeps idle connections for minutes
                raise ProtocolViolation(
                    f"sent {got} of {size} bytes and then nothing for {self.send_timeout} s"
                ) from None
            if not chunk:
                if between_requests and got == 0:
                    raise _ConnectionClosed
                raise ProtocolViolation(f"closed the connection after {got} of {size} bytes")
            chunks.append(chunk)
            got += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _handle(self, frame: bytes, state: dict[str, Any], name: str,
                host: str = "") -> bytes | None:
        request = decode_request(frame, self.handlers)
        if request.handler is None:
            self._stats.unserved(request.api_key, request.api_version)
            # Raises ProtocolViolation (the connection is closed, as Kafka closes it) for
            # anything but an ApiVersions newer than ours, which clients send first and which
            # gets KIP-511's answer.
            refusal = unserved_response(request, self.handlers)
            log.debug("Kafka client %s asked for ApiVersions v%d; answered UNSUPPORTED_VERSION",
                      name, request.api_version)
            return encode_response(refusal, request.correlation_id)
        ctx = make_context(
            request, broker=self.broker, node_id=self.node_id, host=self.advertised_host,
            port=self.port, handlers=self.handlers, connection_state=state, stats=self._stats,
            view=self.view, stopping=lambda: self._stopping, client_host=host,
        )
        self._stats.request(request.handler.name)
        try:
            response = request.handler.handle(ctx, request.body)
        except CloseConnection:
            raise
        except Exception as exc:
            log.exception("Kafka listener: %s v%d from %s failed", request.handler.name,
                          request.api_version, name)
            return _error_reply(ctx, request, exc)
        if response is None:
            return None
        return encode_response(response, request.correlation_id)


def _error_reply(ctx: Any, request: Any, exc: Exception) -> bytes:
    """The encoded answer a Kafka broker sends to ``request`` (as decoded by
    :func:`~pcmodel.wire.framing.decode_request`) whose handler raised ``exc``
    (:func:`~pcmodel.wire.error_responses.error_response`). Raises :class:`CloseConnection`
    where Kafka closes the connection instead: no answer expected, or none could be built."""
    name = f"{request.handler.name} v{request.api_version}"
    try:
        response = error_response(ctx, request.body, exc)
        if response is not None:
            return encode_response(response, request.correlation_id)
    except Exception as inner:
        log.exception("Kafka listener: the error response to %s failed", name)
        raise CloseConnection(
            f"{name} failed ({exc!r}) and so did its error response ({inner!r})"
        ) from inner
    raise CloseConnection(f"{name} failed ({exc!r}) and expects no answer") from exc


def _client_host(peer: Any) -> str:
    """A client's address as Kafka's brokers show it (Java's ``InetAddress.toString()`` of
    the socket's peer, which DescribeGroups answers as a member's ``client_host``): ``"/"``
    and the address, an IPv6 one in Java's uncompressed form (``/0:0:0:0:0:0:0:1``)."""
    if not (isinstance(peer, tuple) and peer):
        return ""
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return f"/{peer[0]}"
    if address.version == 6:
        return "/" + ":".join(f"{int(group, 16):x}" for group in address.exploded.split(":"))
    return f"/{address}"


def _peer_name(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


def _shutdown(sock: socket.socket) -> None:
    """Wake the thread blocked on ``sock`` (closing alone does not wake a blocked recv)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
