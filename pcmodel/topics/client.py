"""The client side of a broker process: its handle, and the proxy clients call it through.

- :class:`BrokerHandle` is the address plus the authkey: a small picklable value that can be
  printed, passed to ``multiprocessing`` children (under ``fork`` and ``spawn``) or pasted into a
  notebook (:meth:`BrokerHandle.to_url`). ``handle.connect()`` returns a :class:`RemoteBroker`.
- :class:`RemoteBroker` has the broker's client methods; each call is sent by name and its result,
  or its exception with the same type and message, comes back. It is usable wherever a ``Broker``
  is: ``KafkaProducer(broker=remote)``, ``KafkaConsumer(broker=remote)``. Every call has a
  deadline (``request_timeout_ms``, as Kafka's clients), so a stopped broker raises
  ``KafkaTimeoutError`` instead of blocking a thread for ever.

The overview is in :mod:`pcmodel.topics.remote`; the server is :mod:`pcmodel.topics.server`.
Prior art: ``multiprocessing.managers`` (calls forwarded by name, the remote traceback kept as the
exception's cause), ``concurrent.futures.process`` (``_RemoteTraceback``) and the Java client's
``NetworkClient`` (``request.timeout.ms``, ``socket.connection.setup.timeout.ms``).
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import multiprocessing.connection as mpc
import os
import pickle
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pcmodel.topics.broker import CLIENT_METHODS, Broker
from pcmodel.topics.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NoBrokersAvailable,
)
from pcmodel.topics.transport import Channel, open_channel

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_MS",
    "DEFAULT_REQUEST_TIMEOUT_MS",
    "BrokerHandle",
    "RemoteBroker",
    "RemoteTraceback",
    "check_loopback",
]

#: Bytes of a generated authkey (multiprocessing uses 32 for its own).
AUTHKEY_BYTES = 32
URL_SCHEME = "pcmodel"

# Client deadlines: Kafka's clients' request.timeout.ms and socket.connection.setup.timeout.ms.
DEFAULT_REQUEST_TIMEOUT_MS = 30_000
DEFAULT_CONNECT_TIMEOUT_MS = 10_000
# A client drops a connection idle this long (Kafka's clients: connections.max.idle.ms, 9 min),
# before the broker would (the server's idle_timeout, Kafka's broker: 10 min).
_MAX_IDLE_S = 540.0


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

    def connect(self, **timeouts: int) -> RemoteBroker:
        """Return a new :class:`RemoteBroker` for this broker (``NoBrokersAvailable`` if down);
        ``timeouts`` are its ``request_timeout_ms`` / ``connect_timeout_ms``."""
        return RemoteBroker(self, **timeouts)

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


class RemoteBroker:
    """A proxy with the client methods of a broker that runs in another process.

    Thread-safe: each call borrows an idle connection from a small pool (or opens a new one), so
    a ``fetch`` long-polling in one thread does not hold up a ``heartbeat`` in another. After a
    ``fork`` the child never touches the parent's connections (it opens its own), and pickling a
    ``RemoteBroker`` sends only its handle and timeouts, so it can be passed to ``spawn`` children.

    Deadlines, as Kafka's clients have them: opening a connection (TCP and the authkey handshake)
    takes at most ``connect_timeout_ms``; a call waits for its answer at most
    ``request_timeout_ms`` plus the time the call itself may block on the broker (its
    ``timeout`` argument: a ``fetch`` long poll, a ``join_group``, an ``append`` to a full
    ``"block"`` topic). A call passed ``timeout=None`` asks to wait for ever and has no deadline.
    A broker that is stopped (not dead) therefore turns into ``KafkaTimeoutError``, never into a
    thread blocked for ever; the connection of a call that timed out is closed (its answer may
    still be on its way), the broker may or may not have carried the call out.

    Each method raises what the broker raised (same type and message, the broker's traceback as
    ``__cause__``), ``KafkaTimeoutError`` when the deadline passed, ``KafkaConnectionError``
    when the broker process went away during the call, ``NoBrokersAvailable`` when no broker
    answers, and ``IllegalStateError`` after ``close()`` (also for a call that ``close()`` cut).
    """

    def __init__(
        self,
        handle: BrokerHandle,
        *,
        request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
        connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
    ) -> None:
        if not isinstance(handle, BrokerHandle):
            raise TypeError(f"RemoteBroker needs a BrokerHandle, got {handle!r}")
        self.request_timeout_ms = _positive_ms("request_timeout_ms", request_timeout_ms)
        self.connect_timeout_ms = _positive_ms("connect_timeout_ms", connect_timeout_ms)
        self.handle = handle
        self._lock = threading.Lock()
        self._calls_done = threading.Condition(self._lock)
        self._idle: list[Channel] = []
        self._busy: set[Channel] = set()
        self._pid = os.getpid()
        self._closed = False
        self._bound: float | None = None
        # Connect once now, so that a wrong address or key fails here and not at the first call.
        self._release(self._acquire(time.monotonic() + self.connect_timeout_ms / 1000))

    def connect(self) -> RemoteBroker:
        """Return another proxy to the same broker, with connections (and timeouts) of its own."""
        return RemoteBroker(self.handle, request_timeout_ms=self.request_timeout_ms,
                            connect_timeout_ms=self.connect_timeout_ms)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on the broker with ``args``/``kwargs``; return its result.

        Only names in ``CLIENT_METHODS`` are served; the broker answers any other name with
        ``AttributeError``. See the class docstring for deadlines and errors.
        """
        deadline = self._deadline(method, kwargs)
        channel = self._acquire(deadline)
        try:
            channel.set_timeout(None if deadline is None else deadline - time.monotonic())
            channel.send((method, args, kwargs))
            ok, result, tb = channel.recv()
        except TimeoutError as exc:
            self._discard(channel)
            raise KafkaTimeoutError(
                f"the broker at {_address_text(self.handle)} did not answer {method}() in time "
                f"(request_timeout_ms={self.request_timeout_ms}); is it stopped or overloaded?"
            ) from exc
        except (EOFError, OSError) as exc:
            self._discard(channel)
            if self._closed:
                raise IllegalStateError(
                    f"this RemoteBroker was closed while {method}() waited for the broker"
                ) from exc
            raise KafkaConnectionError(
                f"the connection to the broker at {_address_text(self.handle)} broke during "
                f"{method}(): {exc!r}; is the broker process still running?"
            ) from exc
        except pickle.PicklingError:
            # Nothing was sent (the request is pickled before sending); the connection is fine.
            self._release(channel)
            raise
        except BaseException:
            # Interrupted between request and reply: the reply would confuse the next caller.
            self._discard(channel)
            raise
        self._release(channel)
        if ok:
            return result
        if tb:
            result.__cause__ = RemoteTraceback(tb)
        raise result

    def close(self, timeout_ms: int | None = 0) -> None:
        """Refuse further calls and close every connection; idempotent.

        Calls in flight in other threads get up to ``timeout_ms`` to finish (``None``: as long
        as they take); then their connections are shut down and they raise
        ``IllegalStateError``. Returns within ``timeout_ms`` (plus a few milliseconds).
        """
        deadline = None if timeout_ms is None else time.monotonic() + max(0, timeout_ms) / 1000
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            while self._busy and (deadline is None or deadline > time.monotonic()):
                self._calls_done.wait(None if deadline is None else deadline - time.monotonic())
            busy = list(self._busy)
        if self._pid != os.getpid():
            return  # forked: these connections belong to the parent
        for channel in idle:
            channel.close()
        for channel in busy:
            channel.shutdown()  # its caller wakes up, sees _closed, closes it and raises

    def bound_calls(self, deadline: float | None) -> None:
        """Make every later call end by ``deadline`` (a ``time.monotonic()`` value) at the
        latest, raising ``KafkaTimeoutError`` if the broker has not answered by then; ``None``
        lifts the bound. A client's ``close(timeout)`` uses it to keep its promise."""
        self._bound = deadline

    def _deadline(self, method: str, kwargs: dict[str, Any]) -> float | None:
        """When the answer to ``method`` must have arrived (monotonic), or None: never."""
        blocking = kwargs.get("timeout", _DEFAULT_TIMEOUTS.get(method, 0.0))
        bound = self._bound
        if blocking is None:
            return bound
        extra = blocking if isinstance(blocking, (int, float)) and 0 <= blocking < 1e9 else 0.0
        deadline = time.monotonic() + self.request_timeout_ms / 1000 + extra
        return deadline if bound is None else min(deadline, bound)

    def _acquire(self, deadline: float | None) -> Channel:
        with self._lock:
            if self._closed:
                raise IllegalStateError("this RemoteBroker was closed; connect() a new one")
            if self._pid != os.getpid():
                # Forked: these sockets are shared with the parent. Leave them to the parent (not
                # closing them here keeps the parent's side intact) and start afresh.
                self._idle = []
                self._busy = set()
                self._pid = os.getpid()
            stale = []
            channel = None
            while self._idle:
                candidate = self._idle.pop()
                # Readable while idle means closed by the broker (its idle timeout, or it stopped).
                if candidate.poll() or time.monotonic() - candidate.last_used > _MAX_IDLE_S:
                    stale.append(candidate)
                    continue
                channel = candidate
                break
            if channel is not None:
                self._busy.add(channel)
        for old in stale:
            old.close()
        if channel is not None:
            return channel
        timeout = self.connect_timeout_ms / 1000
        if deadline is not None:
            timeout = min(timeout, max(0.001, deadline - time.monotonic()))
        try:
            channel = open_channel(self.handle.address, self.handle.authkey, timeout)
        except TimeoutError as exc:
            raise KafkaTimeoutError(
                f"the broker at {_address_text(self.handle)} accepted no connection within "
                f"{timeout:g} s (connect_timeout_ms={self.connect_timeout_ms}); is it stopped?"
            ) from exc
        except (OSError, EOFError, mpc.AuthenticationError) as exc:
            raise NoBrokersAvailable(
                f"no broker answered at {_address_text(self.handle)} ({exc!r}); start one with "
                "start_broker_process() or `pcmodel broker`, and check the authkey"
            ) from exc
        with self._lock:
            self._busy.add(channel)
        return channel

    def _release(self, channel: Channel) -> None:
        channel.last_used = time.monotonic()
        with self._lock:
            self._busy.discard(channel)
            self._calls_done.notify_all()
            if not self._closed and self._pid == os.getpid():
                self._idle.append(channel)
                return
        channel.close()

    def _discard(self, channel: Channel) -> None:
        with self._lock:
            self._busy.discard(channel)
            self._calls_done.notify_all()
        channel.close()

    def __enter__(self) -> RemoteBroker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self) -> tuple:
        return (
            functools.partial(RemoteBroker, request_timeout_ms=self.request_timeout_ms,
                              connect_timeout_ms=self.connect_timeout_ms),
            (self.handle,),
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"idle_connections={len(self._idle)}"
        return f"<RemoteBroker {_address_text(self.handle)} {state}>"


def _address_text(handle: BrokerHandle) -> str:
    return f"{handle.address[0]}:{handle.address[1]}"


def _positive_ms(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int of milliseconds, got {value!r}")
    return value


# The blocking time of each method when its caller passes no timeout: the Broker's defaults.
_DEFAULT_TIMEOUTS: dict[str, float | None] = {
    name: parameter.default
    for name in CLIENT_METHODS
    for parameter in [inspect.signature(getattr(Broker, name)).parameters.get("timeout")]
    if parameter is not None and parameter.default is not inspect.Parameter.empty
}


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
