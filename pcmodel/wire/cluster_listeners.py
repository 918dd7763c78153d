"""A Kafka listener per broker of a replicated cluster, living and dying with its broker.

::

    from pcmodel.cluster import Cluster

    with Cluster(3) as cluster, cluster.serve_kafka() as listeners:
        print(listeners.bootstrap_servers)      # "127.0.0.1:40001,127.0.0.1:40002,..."
        ...                                     # kafka-python / confluent-kafka / kcat -L
        cluster.kill(cluster.leader("orders", 0))

Every broker gets its own :class:`~pcmodel.wire.KafkaListener` with its own port, serving what
that broker holds (:mod:`pcmodel.wire.cluster_view`): clients learn from Metadata which broker
leads which partition, send their produce and fetch requests there, and hear
NOT_LEADER_OR_FOLLOWER (or a fenced leader epoch) from a broker that does not lead, exactly as
from a Kafka cluster. Killing a broker closes its listener at once — new connections are
refused and open ones are cut, as when a broker process crashes — and the controller drops the
broker from Metadata when its session expires. A restarted broker opens a listener on the
same port again once the controller has registered and unfenced it, as a Kafka broker
enables its request processing only after its first unfencing (``BrokerServer.startup`` waits
for ``BrokerLifecycleManager``'s ``initialUnfenceFuture``): until then, while its previous
incarnation's session runs out and it catches up, connections are refused, and a client
tries the next bootstrap broker, rather than being told NOT_LEADER_OR_FOLLOWER by a broker
that leads nothing yet. The listeners follow the cluster's ``killed``, ``stopped`` and
``unfenced`` events (:meth:`~pcmodel.cluster.Cluster.add_observer`).

A cluster serves classic groups and Kafka 4's consumer groups (KIP-848) side by side, as a
lone broker does (:mod:`pcmodel.cluster.client_consumer_groups`): ConsumerGroupHeartbeat and
ConsumerGroupDescribe (API keys 68 and 69) are answered by the group's coordinator, the leader
of its ``__consumer_offsets`` partition, and any other broker answers NOT_COORDINATOR, as
Kafka's do, so a client set to ``group.protocol=consumer`` finds the new coordinator after a
failover, and the group's members carry on there with their epochs and assignments. A cluster
of broker processes (``mode="processes"``) serves them alike.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.events import ClusterEvent
from pcmodel.topics.errors import IllegalArgumentError, IllegalStateError
from pcmodel.wire.cluster_view import ClusterNodeView
from pcmodel.wire.listener import KafkaListener
from pcmodel.wire.node_connection import NodeConnection

__all__ = ["ClusterListeners"]

log = logging.getLogger(__name__)

class ClusterListeners:
    """The Kafka listeners of every broker of ``cluster``. See the module docstring.

    ``ports`` gives broker ``b`` the port ``ports[b]`` (default: free ports, chosen at start
    and kept for restarts). ``options`` go to each :class:`~pcmodel.wire.KafkaListener`.
    The listeners run in the cluster's own process, also for ``mode="processes"`` (where a
    killed broker is a SIGKILLed process). Raises ``IllegalStateError`` for a stepped cluster
    (real clients need brokers that move on their own), ``IllegalArgumentError`` for a
    ``ports`` of the wrong length, and
    ``OSError`` if a port cannot be bound (the listeners opened so far are closed again).
    """

    def __init__(self, cluster: Cluster, host: str = "127.0.0.1",
                 ports: Sequence[int] | None = None, **options: Any) -> None:
        if cluster.mode == "steps":
            raise IllegalStateError(
                "Kafka listeners need a cluster that runs on its own (mode='threads' or "
                "'processes'), not mode='steps': real clients cannot step a virtual clock")
        brokers = len(cluster.nodes)
        if ports is None:
            ports = [0] * brokers
        elif len(ports) != brokers:
            raise IllegalArgumentError(
                f"ports must give one port per broker ({brokers}), got {list(ports)!r}")
        self.cluster = cluster
        self.host = host
        self._options = options
        connection = cluster.connect()  # creates __consumer_offsets before clients arrive
        self._connections = [NodeConnection(connection, b) for b in range(brokers)]
        self._lock = threading.Lock()
        self._addresses: dict[int, tuple[str, int]] = {}
        self._listeners: dict[int, KafkaListener] = {}
        #: Listeners of killed brokers, stopped without waiting; joined by :meth:`stop`.
        self._retired: list[KafkaListener] = []
        self._stopped = False
        try:
            for b, port in enumerate(ports):
                listener = self._open(b, port)
                self._addresses[b] = (listener.advertised_host, listener.port)
            cluster.add_observer(self._on_event)
            # A broker killed, or restarted and not yet unfenced, before we observed it gets
            # no listener (its "unfenced" event opens it).
            with cluster._lock:
                for b in range(brokers):
                    if not self._serving(b):
                        self._close(b)
        except BaseException:
            self.stop()
            raise

    # --- public ---------------------------------------------------------------------------------

    @property
    def addresses(self) -> dict[int, tuple[str, int]]:
        """``{broker id: (host, port)}`` of every broker's listener, killed ones included."""
        with self._lock:
            return dict(self._addresses)

    @property
    def bootstrap_servers(self) -> str:
        """Every broker's ``host:port``, comma-separated, as Kafka clients' bootstrap setting
        wants it (a client tries them in turn, so a killed broker in the list does no harm)."""
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
                        for _, (h, p) in sorted(self.addresses.items()))

    def listener(self, broker: int) -> KafkaListener | None:
        """Broker ``broker``'s listener now (``None`` while the broker is dead)."""
        with self._lock:
            return self._listeners.get(broker)

    def stop(self, timeout: float = 10.0) -> None:
        """Close every listener and join their threads (each up to ``timeout``); idempotent.
        Does not close the cluster."""
        self.cluster.remove_observer(self._on_event)
        with self._lock:
            self._stopped = True
            listeners = list(self._listeners.values()) + self._retired
            self._listeners.clear()
            self._retired = []
        for listener in listeners:
            listener.stop(timeout)

    def __enter__(self) -> ClusterListeners:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        with self._lock:
            up = sorted(self._listeners)
        return f"<ClusterListeners {self.bootstrap_servers} serving={up}" \
            f"{' stopped' if self._stopped else ''}>"

    # --- following the brokers ------------------------------------------------------------------

    def _on_event(self, event: ClusterEvent) -> None:
        # Called with the cluster lock held: nothing here may wait for a connection thread
        # (one may be waiting for that lock), so a killed broker's listener is stopped without
        # joining, and joined in stop().
        if event.kind in ("killed", "stopped"):
            self._close(event.broker)
        elif event.kind == "unfenced":
            with self._lock:
                if self._stopped or event.broker in self._listeners \
                        or not self.cluster.nodes[event.broker].alive:
                    return
                _, port = self._addresses[event.broker]
            try:
                self._open(event.broker, port)
            except IllegalStateError:
                pass  # stopped meanwhile
            except OSError as exc:
                log.error("broker %d restarted without its Kafka listener: port %d cannot be "
                          "bound again: %s", event.broker, port, exc)

    def _serving(self, broker: int) -> bool:
        """Whether ``broker`` serves clients now (with the cluster lock held): it runs, and
        it is not a restarted incarnation the controller has yet to unfence (a broker that
        lost the controller, fenced or not, goes on serving its last view)."""
        cluster = self.cluster
        return cluster.nodes[broker].alive and broker not in cluster._unregistered and (
            broker in cluster.controller.alive or broker in cluster._isolated_from_controller)

    def _open(self, broker: int, port: int) -> KafkaListener:
        view = ClusterNodeView(self._connections[broker], self._address_map)
        listener = KafkaListener(self._connections[broker], self.host, port, node_id=broker,
                                 view=view, **self._options)
        with self._lock:
            if not self._stopped:
                self._listeners[broker] = listener.start()
                return listener
        listener.stop()
        raise IllegalStateError("the cluster's Kafka listeners were stopped")

    def _close(self, broker: int) -> None:
        with self._lock:
            listener = self._listeners.pop(broker, None)
            if listener is None:
                return
            self._retired.append(listener)
        listener.stop(wait=False)

    def _address_map(self) -> Mapping[int, tuple[str, int]]:
        with self._lock:
            return dict(self._addresses)
