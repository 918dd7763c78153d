"""A broker in its own process, and the proxy through which clients in any process talk to it.

Kafka clients reach a broker over the network; here a client in another process reaches a
:class:`~pcmodel.topics.broker.Broker` over :mod:`multiprocessing.connection`, the standard
library's authenticated, pickling socket. The pieces:

- :class:`~pcmodel.topics.server.BrokerServer` serves one ``Broker`` on a loopback address, one
  thread per connection, every resource bounded (backlog, handshake deadline, connections, idle
  time, request size and content).
- :class:`~pcmodel.topics.client.BrokerHandle` (address and authkey, picklable, printable as a
  URL) and :class:`~pcmodel.topics.client.RemoteBroker` (the proxy with the broker's client
  methods, each call with a deadline), in :mod:`pcmodel.topics.client`.
- :func:`start_broker_process` (here) starts a broker process and returns a
  :class:`BrokerProcess` (its handle, ``stop()``, and a context manager). The process exits when
  it is told to, or when the process that started it exits (it watches its parent's sentinel),
  so no broker outlives its owner. ``pcmodel broker`` (:mod:`pcmodel.topics.cli`) runs one in
  the foreground of a terminal.

Everything is importable from here. Prior art: ``multiprocessing.managers`` and
``concurrent.futures.process``.
"""

from __future__ import annotations

import atexit
import functools
import logging
import multiprocessing
import multiprocessing.connection as mpc
import secrets
import threading
import weakref
from typing import Any

from pcmodel.topics.broker import Broker
from pcmodel.topics.client import (
    AUTHKEY_BYTES,
    BrokerHandle,
    RemoteBroker,
    RemoteTraceback,
    check_loopback,
)
from pcmodel.topics.errors import IllegalArgumentError, NoBrokersAvailable
from pcmodel.topics.server import BrokerServer, portable_exception

__all__ = [
    "BrokerHandle",
    "BrokerProcess",
    "BrokerServer",
    "RemoteBroker",
    "RemoteTraceback",
    "check_loopback",
    "start_broker_process",
]

log = logging.getLogger(__name__)


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
    server_options: dict[str, Any] | None = None,
) -> None:
    """Body of the broker process: serve until told to stop or until the parent is gone."""
    kafka = None
    try:
        broker = Broker(**broker_options)
        server = BrokerServer(broker, host=host, port=port, authkey=authkey,
                              **(server_options or {})).start()
        if kafka_address is not None:
            try:
                kafka = broker.serve_kafka(*kafka_address)
            except BaseException:
                server.stop()
                raise
    except Exception as exc:
        control.send((ProcessCommand.FAILED, portable_exception(exc)))
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

    def connect(self, **timeouts: int) -> RemoteBroker:
        """Return a new :class:`RemoteBroker` for this broker (``request_timeout_ms``,
        ``connect_timeout_ms`` may be given)."""
        return self.handle.connect(**timeouts)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to exit and wait for it; terminate it if it does not in ``timeout``
        seconds. ``IllegalArgumentError``, with nothing done, unless ``timeout`` is a number of
        seconds from 0 to ``threading.TIMEOUT_MAX``."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not 0 <= timeout <= threading.TIMEOUT_MAX:
            raise IllegalArgumentError(
                f"stop() needs a timeout of 0 to {threading.TIMEOUT_MAX:g} seconds, got "
                f"{timeout!r}")
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
    server_options: dict[str, Any] | None = None,
    **broker_options: Any,
) -> BrokerProcess:
    """Start a ``Broker(**broker_options)`` in a new process and return once it accepts clients.

    ``port=0`` lets the system choose a free port (read it from ``handle.address``); ``authkey``
    defaults to a random one; ``context`` is a multiprocessing context (``fork``, ``spawn``,
    ``forkserver``; the default context otherwise). Under ``spawn`` the ``broker_options`` must
    pickle. With ``kafka_port`` (0: any free port) the broker also serves Kafka clients on
    ``kafka_host:kafka_port`` (see :meth:`Broker.serve_kafka`); read the address from
    ``process.bootstrap_servers``. ``server_options`` go to
    :class:`~pcmodel.topics.server.BrokerServer` (``max_connections``, ``handshake_timeout``,
    ``idle_timeout``, ``backlog``). Raises ``ValueError`` for a non-loopback host, what the
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
              None if kafka_port is None else (kafka_host, kafka_port),
              dict(server_options or {})),
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
