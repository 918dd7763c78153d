"""A broker in its own process, and the proxy through which clients in any process talk to it.

Kafka clients reach a broker over the network; here a client in another process reaches a
:class:`~pcmodel.topics.broker.Broker` over :mod:`multiprocessing.connection`, the standard
library's authenticated, pickling socket. Three pieces:

- :class:`BrokerServer` serves one ``Broker`` on a loopback address. Every connection must pass
  the ``authkey`` challenge first (an unauthenticated one is dropped), then sends requests
  ``(method, args, kwargs)``; only names in :data:`~pcmodel.topics.broker.CLIENT_METHODS` are
  forwarded. Each connection has its own server thread, so a long-polling ``fetch`` on one
  connection never delays another client.
- :class:`BrokerHandle` is the address plus the authkey: a small picklable value that can be
  printed, passed to ``multiprocessing`` children (under ``fork`` and ``spawn``) or pasted into a
  notebook (:meth:`BrokerHandle.to_url`). ``handle.connect()`` returns a :class:`RemoteBroker`.
- :class:`RemoteBroker` has the broker's client methods; each call is sent by name and its result,
  or its exception with the same type and message, comes back. It is usable wherever a ``Broker``
  is: ``KafkaProducer(broker=remote)``, ``KafkaConsumer(broker=remote)``.

:func:`start_broker_process` starts a broker process and returns a :class:`BrokerProcess` (its
handle, ``stop()``, and a context manager). The process exits when it is told to, or when the
process that started it exits (it watches its parent's sentinel), so no broker outlives its owner.
``pcmodel broker`` (:mod:`pcmodel.topics.cli`) runs one in the foreground of a terminal.

Prior art: ``multiprocessing.managers`` (a server thread per connection, calls forwarded by name
with an exposed-methods list, the remote traceback kept as the exception's cause) and
``concurrent.futures.process`` (``_RemoteTraceback``).
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import secrets
import socket
import threading
import traceback
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pcmodel.topics.broker import CLIENT_METHODS, Broker
from pcmodel.topics.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    NoBrokersAvailable,
)

__all__ = [
    "BrokerHandle",
    "BrokerProcess",
    "BrokerServer",
    "RemoteBroker",
    "RemoteTraceback",
    "start_broker_process",
]

log = logging.getLogger(__name__)

#: Bytes of a generated authkey (multiprocessing uses 32 for its own).
AUTHKEY_BYTES = 32
URL_SCHEME = "pcmodel"


def check_loopback(host: str) -> str:
    """Return ``host`` if it names the local machine only, else raise ``ValueError``.

    The broker unpickles what its authenticated clients send it, so it must not be reachable
    from other machines: only ``localhost`` and IPv4 loopback addresses (``127.0.0.0/8``) are
    allowed (``multiprocessing.connection`` speaks IPv4 only).
    """
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(
            f"host must be an IPv4 loopback address such as 127.0.0.1, got {host!r}"
        ) from None
    if not address.is_loopback:
        raise ValueError(
            f"host {host!r} is reachable from other machines; a broker listens on loopback only "
            "(127.0.0.1)"
        )
    return host


@dataclass(frozen=True)
class BrokerHandle:
    """How to reach a broker process: its loopback ``address`` and the ``authkey`` it demands.

    Picklable and immutable. ``connect()`` opens a :class:`RemoteBroker`. The ``repr`` hides the
    key (it is a password); ``to_url()`` shows it, for pasting into another program.
    """

    address: tuple[str, int]
    authkey: bytes

    def __post_init__(self) -> None:
        host, port = self.address
        check_loopback(host)
        if not isinstance(self.authkey, bytes) or not self.authkey:
            raise ValueError("authkey must be non-empty bytes")
        object.__setattr__(self, "address", (host, int(port)))

    def connect(self) -> RemoteBroker:
        """Return a new :class:`RemoteBroker` for this broker (``NoBrokersAvailable`` if down)."""
        return RemoteBroker(self)

    def to_url(self) -> str:
        """``pcmodel://127.0.0.1:PORT?authkey=HEX``: the handle as one line of text."""
        host, port = self.address
        return f"{URL_SCHEME}://{host}:{port}?authkey={self.authkey.hex()}"

    @classmethod
    def from_url(cls, url: str) -> BrokerHandle:
        """Parse what :meth:`to_url` printed; raises ``ValueError`` saying what is wrong."""
        parts = urlsplit(url.strip())
        keys = parse_qs(parts.query).get("authkey", [])
        if parts.scheme != URL_SCHEME or parts.hostname is None or parts.port is None or not keys:
            raise ValueError(
                f"not a broker URL: {url!r}; expected {URL_SCHEME}://127.0.0.1:PORT?authkey=HEX "
                "as printed by `pcmodel broker`"
            )
        try:
            authkey = bytes.fromhex(keys[0])
        except ValueError:
            raise ValueError(f"the authkey in {url!r} is not hexadecimal") from None
        return cls((parts.hostname, parts.port), authkey)

    def __repr__(self) -> str:
        return f"BrokerHandle(address={self.address!r}, authkey=<{len(self.authkey)} bytes>)"


class RemoteTraceback(Exception):  # noqa: N818 - concurrent.futures' name for the same thing
    """The broker process's traceback, attached as ``__cause__`` of a re-raised exception."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


# --- the client side --------------------------------------------------------------------------


class RemoteBroker:
    """A proxy with the client methods of a broker that runs in another process.

    Thread-safe: each call borrows an idle connection from a small pool (or opens a new one), so
    a ``fetch`` long-polling in one thread does not hold up a ``heartbeat`` in another. After a
    ``fork`` the child never touches the parent's connections (it opens its own), and pickling a
    ``RemoteBroker`` sends only its handle, so it can be passed to ``spawn`` children too.

    Each method raises what the broker raised (same type and message, the broker's traceback as
    ``__cause__``), ``KafkaConnectionError`` when the broker process went away during the call,
    ``NoBrokersAvailable`` when no broker answers, and ``IllegalStateError`` after ``close()``.
    """

    def __init__(self, handle: BrokerHandle) -> None:
        if not isinstance(handle, BrokerHandle):
            raise TypeError(f"RemoteBroker needs a BrokerHandle, got {handle!r}")
        self.handle = handle
        self._lock = threading.Lock()
        self._idle: list[mpc.Connection] = []
        self._pid = os.getpid()
        self._closed = False
        # Connect once now, so that a wrong address or key fails here and not at the first call.
        self._release(self._acquire())

    def connect(self) -> RemoteBroker:
        """Return another proxy to the same broker, with connections of its own."""
        return RemoteBroker(self.handle)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on the broker with ``args``/``kwargs``; return its result.

        Only names in ``CLIENT_METHODS`` are served; the broker answers any other name with
        ``AttributeError``.
        """
        conn = self._acquire()
        try:
            payload = (method, args, kwargs)
            conn.send(payload)
            ok, result, tb = conn.recv()
        except (EOFError, OSError) as exc:
            conn.close()
            raise KafkaConnectionError(
                f"the connection to the broker at {self.handle.address} broke during "
                f"{method}(): {exc!r}; is the broker process still running?"
            ) from exc
        except pickle.PicklingError:
            # Nothing was sent (the request is pickled before sending); the connection is fine.
            self._release(conn)
            raise
        except BaseException:
            # Interrupted between request and reply: the reply would confuse the next caller.
            conn.close()
            raise
        self._release(conn)
        if ok:
            return result
        if tb:
            result.__cause__ = RemoteTraceback(tb)
        raise result

    def close(self) -> None:
        """Close the idle connections and refuse further calls; idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn in idle:
                conn.close()

    def _acquire(self) -> mpc.Connection:
        with self._lock:
            if self._closed:
                raise IllegalStateError("this RemoteBroker was closed; connect() a new one")
            if self._pid != os.getpid():
                # Forked: these sockets are shared with the parent. Leave them to the parent (not
                # closing them here keeps the parent's side intact) and start afresh.
                self._idle = []
                self._pid = os.getpid()
            if self._idle:
                return self._idle.pop()
        try:
            return mpc.Client(self.handle.address, family="AF_INET", authkey=self.handle.authkey)
        except (OSError, EOFError, mpc.AuthenticationError) as exc:
            raise NoBrokersAvailable(
                f"no broker answered at {self.handle.address} ({exc!r}); start one with "
                "start_broker_process() or `pcmodel broker`, and check the authkey"
            ) from exc

    def _release(self, conn: mpc.Connection) -> None:
        with self._lock:
            if not self._closed and self._pid == os.getpid():
                self._idle.append(conn)
                return
        conn.close()

    def __enter__(self) -> RemoteBroker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self) -> tuple:
        return (RemoteBroker, (self.handle,))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"idle_connections={len(self._idle)}"
        return f"<RemoteBroker {self.handle.address[0]}:{self.handle.address[1]} {state}>"


def _forwarder(name: str) -> Any:
    def method(self: RemoteBroker, *args: Any, **kwargs: Any) -> Any:
        return self.call(name, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(Broker, name).__doc__
    return method


# The proxy gets one real method per client method, so help(), dir() and hasattr() see them.
for _name in CLIENT_METHODS:
    setattr(RemoteBroker, _name, _forwarder(_name))
del _name


# --- the server side --------------------------------------------------------------------------


class BrokerServer:
    """Serves one broker on a loopback address; one thread per client connection.

    ``start()`` begins accepting; ``stop()`` stops accepting, ends every connection and joins the
    threads (it does not close the broker: its owner does). ``authkey=None`` generates one.
    ``handle`` is what clients need. Raises ``ValueError`` for a non-loopback ``host``.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        authkey: bytes | None = None,
    ) -> None:
        host = check_loopback(host)
        if authkey is None:
            authkey = secrets.token_bytes(AUTHKEY_BYTES)
        self._broker = broker
        self._authkey = authkey
        # No authkey on the Listener itself: its accept() would run the challenge in the accept
        # thread, and one silent client could then hold up everybody. Each connection thread
        # runs the challenge instead.
        self._listener = mpc.Listener((host, port), family="AF_INET")
        self.handle = BrokerHandle(tuple(self._listener.address[:2]), authkey)
        self._lock = threading.Lock()
        self._connections: set[mpc.Connection] = set()
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
        self._accepter.join(timeout)
        self._listener.close()
        with self._lock:
            # Under the lock: a serving thread closes its connection under it too, so no socket
            # is shut down after its descriptor was closed (and perhaps reused).
            for conn in self._connections:
                _shutdown_socket(conn)
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _accept_loop(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:
                if self._stopping:
                    return
                log.exception("broker accept failed")
                continue
            with self._lock:
                if self._stopping:
                    conn.close()
                    return
                thread = threading.Thread(
                    target=self._serve, args=(conn,), name=f"broker-conn-{len(self._threads)}"
                )
                self._connections.add(conn)
                self._threads.add(thread)
            thread.start()

    def _serve(self, conn: mpc.Connection) -> None:
        try:
            first = _FirstMessage(conn)
            try:
                mpc.deliver_challenge(first, self._authkey)
                mpc.answer_challenge(conn, self._authkey)
            except (mpc.AuthenticationError, EOFError, OSError) as exc:
                if self._stopping:
                    return
                if _looks_like_kafka(first.data):
                    self._hint_kafka_client()
                else:
                    log.warning("refused a connection that failed authentication: %r", exc)
                return
            while True:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                except Exception as exc:  # a request that does not unpickle
                    reply: tuple = (False, _portable(exc), "")
                else:
                    reply = self._dispatch(request)
                if not _send_reply(conn, reply):
                    return
        finally:
            with self._lock:
                self._connections.discard(conn)
                self._threads.discard(threading.current_thread())
                conn.close()

    def _hint_kafka_client(self) -> None:
        with self._lock:
            hinted, self._kafka_hinted = self._kafka_hinted, True
        if not hinted:
            log.warning(
                "a Kafka client connected to %s:%s, but this port speaks pcmodel's protocol; "
                "start the broker with --kafka for Kafka clients", *self.handle.address,
            )

    def _dispatch(self, request: Any) -> tuple[bool, Any, str]:
        if (
            not isinstance(request, tuple)
            or len(request) != 3
            or not isinstance(request[0], str)
            or not isinstance(request[1], tuple)
            or not isinstance(request[2], dict)
        ):
            return False, TypeError(f"malformed broker request {request!r}"), ""
        method, args, kwargs = request
        if method not in CLIENT_METHODS:
            return (
                False,
                AttributeError(
                    f"{method!r} is not a broker client method; a remote broker serves only: "
                    f"{', '.join(CLIENT_METHODS)}"
                ),
                "",
            )
        try:
            return True, getattr(self._broker, method)(*args, **kwargs), ""
        except Exception as exc:
            return False, _portable(exc), traceback.format_exc()

    def __repr__(self) -> str:
        return f"<BrokerServer {self.handle.address} connections={len(self._connections)}>"


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


def _looks_like_kafka(message: bytes) -> bool:
    """True if a client's first message is a Kafka request (ApiVersions or Metadata header).

    Kafka frames, like ``multiprocessing``'s, start with a 4-byte size; then come the API key
    (18 ApiVersions, 3 Metadata: what clients send first), its version and a correlation id.
    """
    return len(message) >= 8 and message[0] == 0 and message[1] in (3, 18) and message[2] == 0


def _send_reply(conn: mpc.Connection, reply: tuple) -> bool:
    """Send ``reply``, or an error saying why it does not pickle; False if the peer is gone."""
    try:
        try:
            conn.send(reply)
        except OSError:
            raise
        except Exception as exc:  # the reply does not pickle, so nothing was sent
            conn.send((False, KafkaError(f"the broker's reply does not pickle: {exc}"), ""))
    except OSError:
        return False
    return True


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling both ways, else a KafkaError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return KafkaError(f"{type(exc).__name__}: {exc}")
    return exc


def _shutdown_socket(conn: mpc.Connection) -> None:
    """Wake a thread blocked in ``conn.recv()``: shut the socket down (closing alone does not)."""
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


# --- the broker process -----------------------------------------------------------------------


class ProcessCommand:
    """Messages on the control pipe between a :class:`BrokerProcess` and its process."""

    READY = "ready"
    FAILED = "failed"
    STOP = "stop"


def _broker_process_main(
    control: mpc.Connection,
    host: str,
    port: int,
    authkey: bytes,
    broker_options: dict[str, Any],
    kafka_address: tuple[str, int] | None = None,
) -> None:
    """Body of the broker process: serve until told to stop or until the parent is gone."""
    kafka = None
    try:
        broker = Broker(**broker_options)
        server = BrokerServer(broker, host=host, port=port, authkey=authkey).start()
        if kafka_address is not None:
            try:
                kafka = broker.serve_kafka(*kafka_address)
            except BaseException:
                server.stop()
                raise
    except Exception as exc:
        control.send((ProcessCommand.FAILED, _portable(exc)))
        return
    control.send((ProcessCommand.READY, (server.handle, kafka and kafka.bootstrap_servers)))
    parent = multiprocessing.parent_process()
    watched = [control] + ([parent.sentinel] if parent is not None else [])
    # Returns on a STOP message, on EOF (the owner closed its end) or when the parent exited.
    mpc.wait(watched)
    if kafka is not None:
        kafka.stop()
    broker.close()
    server.stop()


class BrokerProcess:
    """A broker running in a child process; see :func:`start_broker_process`.

    ``handle`` connects clients; ``bootstrap_servers`` is the Kafka listener's ``"host:port"``
    (``None`` unless started with ``kafka_port``); ``stop()`` ends the process (idempotent,
    also at interpreter exit); usable as a context manager.
    """

    def __init__(
        self,
        process: multiprocessing.process.BaseProcess,
        control: mpc.Connection,
        handle: BrokerHandle,
        bootstrap_servers: str | None = None,
    ) -> None:
        self.process = process
        self.handle = handle
        self.bootstrap_servers = bootstrap_servers
        self._control = control
        self._stop_at_exit = functools.partial(_stop_at_exit, weakref.ref(self))
        atexit.register(self._stop_at_exit)

    @property
    def pid(self) -> int | None:
        """The broker process's id."""
        return self.process.pid

    def is_alive(self) -> bool:
        """True while the broker process runs."""
        return self.process.is_alive()

    def connect(self) -> RemoteBroker:
        """Return a new :class:`RemoteBroker` for this broker."""
        return self.handle.connect()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to exit and wait for it; terminate it if it does not in ``timeout``."""
        atexit.unregister(self._stop_at_exit)
        if not self._control.closed:
            try:
                self._control.send((ProcessCommand.STOP,))
            except OSError:
                pass
            self._control.close()
        self.process.join(timeout)
        if self.process.exitcode is None:
            log.warning("broker process %s did not stop in %s s; terminating it", self.pid, timeout)
            self.process.terminate()
            self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(timeout)

    def __enter__(self) -> BrokerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process.is_alive() else f"exited {self.process.exitcode}"
        return f"<BrokerProcess pid={self.pid} {self.handle.address} {state}>"


def _stop_at_exit(ref: weakref.ReferenceType[BrokerProcess]) -> None:
    owner = ref()
    if owner is not None:
        owner.stop()


def start_broker_process(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    authkey: bytes | None = None,
    context: Any = None,
    start_timeout: float = 30.0,
    kafka_port: int | None = None,
    kafka_host: str = "127.0.0.1",
    **broker_options: Any,
) -> BrokerProcess:
    """Start a ``Broker(**broker_options)`` in a new process and return once it accepts clients.

    ``port=0`` lets the system choose a free port (read it from ``handle.address``); ``authkey``
    defaults to a random one; ``context`` is a multiprocessing context (``fork``, ``spawn``,
    ``forkserver``; the default context otherwise). Under ``spawn`` the ``broker_options`` must
    pickle. With ``kafka_port`` (0: any free port) the broker also serves Kafka clients on
    ``kafka_host:kafka_port`` (see :meth:`Broker.serve_kafka`); read the address from
    ``process.bootstrap_servers``. Raises ``ValueError`` for a non-loopback host, what the
    broker constructor (or the Kafka listener) raised, and ``NoBrokersAvailable`` if the
    process did not report ready within ``start_timeout``.
    """
    check_loopback(host)
    ctx = context if context is not None else multiprocessing.get_context()
    if authkey is None:
        authkey = secrets.token_bytes(AUTHKEY_BYTES)
    ours, theirs = ctx.Pipe()
    process = ctx.Process(
        target=_broker_process_main,
        args=(theirs, host, port, authkey, broker_options,
              None if kafka_port is None else (kafka_host, kafka_port)),
        name="pcmodel-broker",
    )
    process.start()
    theirs.close()
    if not ours.poll(start_timeout):
        process.terminate()
        process.join(start_timeout)
        ours.close()
        raise NoBrokersAvailable(f"the broker process did not start within {start_timeout} s")
    try:
        status, value = ours.recv()
    except EOFError:
        process.join(start_timeout)
        ours.close()
        raise NoBrokersAvailable(
            f"the broker process exited during start-up (exit code {process.exitcode})"
        ) from None
    if status == ProcessCommand.FAILED:
        process.join(start_timeout)
        ours.close()
        raise value
    handle, bootstrap_servers = value
    return BrokerProcess(process, ours, handle, bootstrap_servers)
