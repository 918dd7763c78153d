"""A broker process's entry point and the request server it answers on.

:func:`host_main` is the body of each broker process of a ``Cluster(mode="processes")``: it
builds the :class:`~pcmodel.cluster.host.NodeHost`, starts a :class:`NodeServer` for it, reports
ready through the control pipe and serves until told to stop or until its owner is gone.
:class:`NodeServer` is pcmodel's broker server (authenticated, pickling, on loopback) that also
answers the cluster's and the other brokers' requests (:data:`NODE_METHODS`) from the host.
"""

from __future__ import annotations

import logging
import multiprocessing.connection as mpc
import shutil
import signal
import traceback
from typing import Any

from pcmodel.child_signals import child_signals
from pcmodel.cluster.host import HostSpec, NodeHost
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.server import BrokerServer, portable_exception
from pcmodel.topics.transport import RequestRejected, check_numbers

__all__ = ["COORDINATOR_METHODS", "NODE_METHODS", "NodeServer", "host_main"]

#: What the cluster asks a broker's group coordinator besides client methods: a group's
#: metadata to store and to load (and whether it could be stored), offsets to load and to
#: expire, a transaction's offsets to check and, once committed, to store; and Kafka 4's
#: consumer groups (KIP-848): heartbeats, descriptions, states, the member check of an offset
#: fetch, and a group's state to store and to restore.
COORDINATOR_METHODS = ("group_metadata", "load_group", "group_stored", "group_not_stored",
                       "load_offsets", "expire_offsets", "check_txn_offset_commit",
                       "store_txn_offsets", "consumer_group_heartbeat",
                       "describe_consumer_group", "consumer_group_states", "check_offset_fetch",
                       "consumer_group_snapshot", "restore_consumer_group")

#: What the cluster and the other brokers may ask a broker process (besides client methods).
NODE_METHODS = ("produce", "write_marker", "completions", "fetch", "offsets", "log", "add_replicas",
                "remove_topic", "add_partitions", "end_offset_for_epoch", "set_isolated",
                "set_slowness", "replica_fetch", "offsets_for_leader_epoch", "replica_offsets",
                "delete_records_as_leader", "reconfigure_topic", "epoch_of_offset",
                "describe_producers", "expire_producers", "describe_log_dirs",
                "alter_replica_log_dirs", "set_group_configs")


class NodeServer(BrokerServer):
    """pcmodel's broker server, answering :data:`NODE_METHODS` from the host as well."""
    served_methods = (*BrokerServer.served_methods, *COORDINATOR_METHODS)

    def __init__(self, host: NodeHost, authkey: bytes) -> None:
        super().__init__(host.node.broker, authkey=authkey)
        self._host = host

    def _dispatch(self, request: Any) -> tuple[bool, Any, str]:
        if not (isinstance(request, tuple) and len(request) == 3
                and request[0] in NODE_METHODS and isinstance(request[1], tuple)
                and isinstance(request[2], dict)):
            return super()._dispatch(request)
        method, args, kwargs = request
        try:
            check_numbers(args, f"{method}() argument")
            return True, getattr(self._host, method)(*args, **kwargs), ""
        except RequestRejected as exc:
            return False, KafkaError(str(exc)), ""
        except Exception as exc:
            return False, portable_exception(exc), traceback.format_exc()


def host_main(control: mpc.Connection, spec: HostSpec, authkey: bytes) -> None:
    """Body of a broker process: recover, serve, do the duties until told to stop.

    The process also stops when its owner is gone (the control pipe breaks: the cluster's
    process died, even by SIGKILL); it then removes the cluster's directory, which no one
    else will. Ctrl-C is the owner's business: the terminal sends it to the whole process
    group, and the cluster stops its brokers itself. So is SIGTERM: the owner stops a broker
    through its control pipe (SIGKILL for a crash), never with SIGTERM, and one sent to the
    whole group (a supervisor, ``timeout``, ``kill -- -PGID``) is the owner's signal to stop
    the cluster; brokers that ended by it first would be reported as having died.
    """
    child_signals()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Peers of this server are the cluster and its brokers; one killed by the cluster resets
    # its connections, which is the lesson, not something to warn about.
    logging.getLogger("pcmodel.topics.remote").setLevel(logging.ERROR)
    try:
        host = NodeHost(spec)
        server = NodeServer(host, authkey).start()
    except Exception as exc:
        _tell(control, ("failed", portable_exception(exc)))
        return
    told_to_stop = False
    if _tell(control, ("ready", server.handle)):
        host.start()
        try:
            mpc.wait([control])
            told_to_stop = control.recv() == "stop"
        except (EOFError, OSError):
            pass
    host.interrupt()
    server.stop(timeout=2)
    host.stop()
    if not told_to_stop:
        shutil.rmtree(spec.root, ignore_errors=True)


def _tell(control: mpc.Connection, message: tuple) -> bool:
    """Send ``message`` to the owner; False if it is gone (it closed its end of the pipe while
    this process started, stopping the cluster, or it died)."""
    try:
        control.send(message)
    except OSError:  # BrokenPipeError, or the pipe already closed
        return False
    return True
