"""The cluster's side of its broker processes: start, call, kill, stop — and the controller's door.

* :class:`HostedBroker` is what a process cluster holds for broker ``b``: its process (started
  from ``multiprocessing``'s fork server, so starting one is a fork of a clean process, safe
  while the cluster's threads run, and no broker inherits another's descriptors), a control
  pipe, a connection pool to its server, and a thread collecting the answers of produce
  requests that wait for replication. ``kill()`` is a real SIGKILL.
* :class:`ControllerServer` is the door through which broker processes reach the controller
  (a BrokerHeartbeat whose answer carries the partition states and the brokers' addresses,
  and AlterPartition): pcmodel's broker server, answering those two requests only.

Both reuse pcmodel's loopback transport (:mod:`pcmodel.topics.server`,
:mod:`pcmodel.topics.client`): authenticated by a key the cluster draws, pickling, every read
with a deadline.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from pcmodel.child_signals import children_ignore_ctrl_c
from pcmodel.cluster.host import HostSpec
from pcmodel.cluster.host_server import COORDINATOR_METHODS, host_main
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.broker import CLIENT_METHODS
from pcmodel.topics.client import RemoteBroker
from pcmodel.topics.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    NoBrokersAvailable,
)
from pcmodel.topics.server import BrokerServer, portable_exception
from pcmodel.topics.transport import RequestRejected, check_numbers

__all__ = ["START_TIMEOUT", "ControllerServer", "HostedBroker", "process_context"]

#: How long a broker process may take to start (recover its journals and serve).
START_TIMEOUT = 30.0

log = logging.getLogger(__name__)
_context: Any = None


def process_context() -> Any:
    """The ``forkserver`` context broker processes start from (its server imports the broker
    code once, so each broker starts as a fork of it)."""
    global _context
    if _context is None:
        try:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["pcmodel.cluster.host_server"])
        except ValueError:  # no fork server (Windows): spawn, slower to start
            ctx = multiprocessing.get_context("spawn")
        _context = ctx
    return _context


class BrokerDoor:
    """A broker process's client methods (:data:`~pcmodel.topics.broker.CLIENT_METHODS`) and
    ``replica_offsets``, as the cluster's client connections call a broker's.

    Each call goes to the current incarnation; ``KafkaConnectionError`` while the broker is
    down or when it dies during the call.
    """

    def __init__(self, hosted: HostedBroker) -> None:
        self._hosted = hosted

    def __getattr__(self, name: str) -> Any:
        if name not in _DOOR_METHODS:
            raise AttributeError(f"a cluster broker offers no {name!r}")
        return functools.partial(self._hosted.call, name)

    def __repr__(self) -> str:
        return f"<BrokerDoor of {self._hosted!r}>"


class HostedBroker:
    """Broker ``node_id`` of a process cluster, as the cluster sees it. See the module doc.

    ``alive`` is the cluster's knowledge (set by the cluster under its lock); ``broker`` is the
    door clients use for the broker's client methods (:class:`BrokerDoor`).
    """

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.alive = False
        self.incarnation = -1
        self.slowness = 0.0
        self.hw_moves = 0
        #: Heartbeats the controller answered this broker (a controlled shutdown counts them).
        self.heartbeats = 0
        self.handle: Any = None
        self.broker = BrokerDoor(self)
        self._link: RemoteBroker | None = None
        self._process: Any = None
        self._control: Any = None
        self._pending: dict[int, ProduceFuture] = {}
        self._pending_lock = threading.Lock()
        self._next_token = 0
        self._listening = False
        self._ending = False  # set when we kill or stop it: its end is no surprise
        self._listener: threading.Thread | None = None

    def __repr__(self) -> str:
        pid = self._process.pid if self._process is not None else None
        return f"<HostedBroker {self.node_id} pid={pid} {'alive' if self.alive else 'down'}>"

    @property
    def pid(self) -> int | None:
        """The process id of the current incarnation (``None`` before the first start)."""
        return None if self._process is None else self._process.pid

    @property
    def exitcode(self) -> int | None:
        """How the current incarnation ended (``-9`` after a kill), ``None`` while it runs."""
        return None if self._process is None else self._process.exitcode

    # --- life ------------------------------------------------------------------------------------

    def start(self, spec: HostSpec, authkey: bytes, timeout: float,
              cancelled: Callable[[], bool] | None = None) -> None:
        """Start a process for ``spec`` and return once it recovered its log and serves.

        Raises ``KafkaError`` saying why if it failed or did not start within ``timeout``,
        and ``KeyboardInterrupt`` once ``cancelled()`` says so (asked every tick while it
        waits): either way the process is killed and reaped first.
        """
        if self._process is not None:  # a previous incarnation: make sure it is gone
            with self._pending_lock:
                self._ending = True
            self._reap(kill=True)
        ctx = process_context()
        ours, theirs = ctx.Pipe()
        process = ctx.Process(target=host_main, args=(theirs, spec, authkey),
                              name=f"pcmodel-cluster-broker-{spec.node_id}")
        # Ctrl-C is the cluster's to handle (see host_main); one that comes while the process
        # starts waits until it is ours to stop.
        with children_ignore_ctrl_c():
            process.start()
            self._process, self._control = process, ours
            theirs.close()
        try:
            deadline = time.monotonic() + timeout
            while not ours.poll(min(spec.tick, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    raise KafkaError(f"broker {self.node_id}'s process did not start within "
                                     f"{timeout} s")
                if cancelled is not None and cancelled():
                    raise KeyboardInterrupt("the cluster's start was cancelled")
            try:
                status, value = ours.recv()
            except EOFError:
                process.join(timeout)
                raise KafkaError(f"broker {self.node_id}'s process exited while starting "
                                 f"(exit code {process.exitcode})") from None
            if status != "ready":
                raise value
            self.handle = value
            self._link = RemoteBroker(value)
        except BaseException:
            self.kill()
            raise
        self.incarnation = spec.incarnation
        self.slowness = spec.slowness
        self._listening, self._ending = True, False
        self._listener = threading.Thread(target=self._collect_answers, args=(self._link,),
                                          name=f"pcmodel-cluster-answers-{self.node_id}")
        self._listener.start()

    def kill(self) -> None:
        """SIGKILL the process and reap it; its pending produces fail (outcome unknown)."""
        with self._pending_lock:
            self._ending = True
        if self._process is not None and self._process.exitcode is None:
            self._process.kill()
        self._reap(kill=True)

    def request_stop(self) -> None:
        """Ask the process to stop, without waiting (:meth:`stop` waits)."""
        with self._pending_lock:
            self._ending = True
        if self._control is not None and not self._control.closed:
            try:
                self._control.send("stop")
            except OSError:
                pass
            self._control.close()
            self._control = None

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the process to stop (it closes its files) and reap it; SIGKILL if it hangs."""
        self.request_stop()
        if self._process is not None:
            self._process.join(timeout)
        self._reap(kill=True)

    def _reap(self, *, kill: bool) -> None:
        if self._process is not None:
            if self._process.exitcode is None and kill:
                self._process.kill()
            self._process.join(10)
        if self._control is not None:
            self._control.close()
            self._control = None
        link, self._link = self._link, None  # first: a call cut by close() sees it is gone
        if link is not None:
            link.close()
        if self._listener is not None:
            if self._listener.ident is not None:  # a start cut short never started it
                self._listener.join(10)
            self._listener = None

    # --- calls -----------------------------------------------------------------------------------

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the broker process; ``KafkaConnectionError`` if it is down or dies meanwhile."""
        link = self._link
        if link is None:
            raise KafkaConnectionError(f"broker {self.node_id} is down")
        try:
            return link.call(method, *args, **kwargs)
        except NoBrokersAvailable as exc:
            raise KafkaConnectionError(f"broker {self.node_id} is down") from exc
        except IllegalStateError as exc:
            if link is not self._link:  # our connection was closed: the broker was killed
                raise KafkaConnectionError(f"broker {self.node_id} died before answering: "
                                           "the outcome is unknown") from exc
            raise

    def produce(self, future: ProduceFuture, *args: Any) -> None:
        """Send a produce; ``future`` gets its answer now or, if it waits for replication,
        when the broker reports it (or a ``KafkaConnectionError`` if the broker dies first)."""
        self._write(future, "produce", *args)

    def write_marker(self, future: ProduceFuture, *args: Any) -> None:
        """Send a transaction marker; answered as :meth:`produce` is."""
        self._write(future, "write_marker", *args)

    def _write(self, future: ProduceFuture, method: str, *args: Any) -> None:
        """Call ``method`` with a token after ``args``; the broker answers now or, under the
        token, through the answers :meth:`_collect_answers` collects."""
        with self._pending_lock:
            if not self._listening:
                future.set_exception(KafkaConnectionError(f"broker {self.node_id} is down"))
                return
            token = self._next_token
            self._next_token += 1
            self._pending[token] = future
        try:
            state, value = self.call(method, *args, token)
        except KafkaError as exc:
            with self._pending_lock:
                self._pending.pop(token, None)
            future.set_exception(exc)
            return
        if state == "pending":
            return
        with self._pending_lock:
            self._pending.pop(token, None)
        if state == "ok":
            future.set_result(value)
        else:
            future.set_exception(value)

    def pending_produces(self) -> int:
        """How many produces sent to this broker wait for its answer."""
        with self._pending_lock:
            return len(self._pending)

    def _collect_answers(self, link: RemoteBroker) -> None:
        """Thread: collect answered produces until the broker's connection ends."""
        while True:
            try:
                answers = link.call("completions", timeout=0.5)
            except KafkaError:
                break
            with self._pending_lock:
                found = [(self._pending.pop(token, None), ok, value)
                         for token, ok, value in answers]
            for future, ok, value in found:
                if future is not None:
                    future.set_result(value) if ok else future.set_exception(value)
        with self._pending_lock:
            self._listening = False
            orphans, self._pending = list(self._pending.values()), {}
            expected = self._ending
        if not expected:
            log.warning("broker %d's process ended on its own (exit code %s); restart(%d) "
                        "starts it again", self.node_id, self.exitcode, self.node_id)
        for future in orphans:
            future.set_exception(KafkaConnectionError(
                f"broker {self.node_id} died before answering: the outcome is unknown"))


_DOOR_METHODS = frozenset(CLIENT_METHODS) | {"replica_offsets", *COORDINATOR_METHODS}


class ControllerServer(BrokerServer):
    """The controller's door for broker processes: ``broker_heartbeat`` and ``alter_isr``."""

    def __init__(self, handlers: dict[str, Callable[..., Any]], authkey: bytes) -> None:
        super().__init__(None, authkey=authkey)  # type: ignore[arg-type] - serves no broker
        self._handlers = handlers

    def _dispatch(self, request: Any) -> tuple[bool, Any, str]:
        if not (isinstance(request, tuple) and len(request) == 3
                and request[0] in self._handlers and isinstance(request[1], tuple)
                and isinstance(request[2], dict)):
            return False, KafkaError(f"the controller answers only {sorted(self._handlers)}"), ""
        method, args, kwargs = request
        try:
            check_numbers(args, f"{method}() argument")
            return True, self._handlers[method](*args, **kwargs), ""
        except RequestRejected as exc:
            return False, KafkaError(str(exc)), ""
        except Exception as exc:
            return False, portable_exception(exc), traceback.format_exc()
