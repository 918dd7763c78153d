"""``pcmodel broker``: run a broker in the foreground of a terminal, for notebooks to share.

It prints the broker's URL (address and authkey) and a snippet to paste into each notebook or
program that should use it, then serves until Ctrl-C or SIGTERM. The broker listens on loopback
only; with ``--authkey-file`` the key is read from a file (so it need not be printed at all),
otherwise a random one is generated for this run.

With ``--kafka [HOST:]PORT`` the same broker also speaks Kafka's wire protocol on a second port,
for kafka-python, confluent-kafka and kcat (:mod:`pcmodel.wire`). The two ports are different
doors into one broker: pcmodel's clients use the authenticated one, Kafka clients the other.
Give those clients' groups a short initial rebalance delay with
``--group-initial-rebalance-delay-ms`` (Kafka's ``group.initial.rebalance.delay.ms``).

Prior art: ``python -m http.server`` (serve in the foreground, print where, stop on Ctrl-C) and
``jupyter lab`` (print the URL with its token).
"""

from __future__ import annotations

import argparse
import importlib
import socket
import sys
from pathlib import Path
from typing import Any

from pcmodel.errors import UsageError
from pcmodel.stop_signals import stop_signals, wait_for_stop
from pcmodel.topics.broker import Broker
from pcmodel.topics.broker_checks import INT32_MAX, INT64_MAX
from pcmodel.topics.group_offsets import DEFAULT_OFFSETS_RETENTION_MINUTES
from pcmodel.topics.idempotence import DEFAULT_PRODUCER_ID_EXPIRATION_MS
from pcmodel.topics.remote import BrokerServer, check_loopback
from pcmodel.topics.transactions import (
    DEFAULT_TIMED_OUT_CHECK_INTERVAL_MS,
    DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
)

__all__ = ["KAFKA_INT_MAX", "KAFKA_LONG_MAX", "TRANSACTION_OPTIONS", "add_transaction_options",
           "check_kafka_int", "check_kafka_listener", "check_kafka_long", "check_listen_address",
           "register", "run_broker", "transaction_options"]


def register(subparsers: Any) -> None:
    """Add the ``broker`` subcommand."""
    parser = subparsers.add_parser(
        "broker",
        help="run a topics broker in the foreground for notebooks and programs to share",
        description="Serve a pcmodel Broker on a loopback address until Ctrl-C; print the URL "
        "that clients pass to BrokerHandle.from_url().",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument(
        "--authkey-file",
        type=Path,
        help="file whose contents (stripped of surrounding whitespace) are the authkey; "
        "default: a random key, printed in the URL",
    )
    parser.add_argument(
        "--kafka",
        metavar="[HOST:]PORT",
        help="also serve Kafka clients (kafka-python, confluent-kafka, kcat) on this address "
        "(needs the kafka extra; HOST defaults to 127.0.0.1; PORT 0 picks a free port)",
    )
    parser.add_argument(
        "--group-initial-rebalance-delay-ms",
        type=int,
        default=0,
        metavar="MS",
        help="Kafka's group.initial.rebalance.delay.ms: a new group's first rebalance waits "
        "this long for more members (default 0; a few hundred ms suits kafka-python clients)",
    )
    parser.add_argument(
        "--offsets-retention-minutes",
        type=int,
        default=DEFAULT_OFFSETS_RETENTION_MINUTES,
        metavar="MIN",
        help="Kafka's offsets.retention.minutes: a group's committed offsets expire this long "
        "after it became empty (default 10080, a week)",
    )
    parser.add_argument(
        "--producer-id-expiration-ms",
        type=int,
        default=DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        metavar="MS",
        help="Kafka's producer.id.expiration.ms: a partition forgets an idempotent producer "
        "that wrote nothing to it this long (default 86400000, a day)",
    )
    add_transaction_options(parser)
    parser.set_defaults(func=run_broker)


#: The transaction settings a command takes: option, Kafka's name, default, what it does.
TRANSACTION_OPTIONS = (
    ("--transaction-max-timeout-ms", "transaction.max.timeout.ms",
     DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
     "the longest transaction_timeout_ms a transactional producer may ask for"),
    ("--transaction-abort-timed-out-transaction-cleanup-interval-ms",
     "transaction.abort.timed.out.transaction.cleanup.interval.ms",
     DEFAULT_TIMED_OUT_CHECK_INTERVAL_MS,
     "how often the coordinator aborts the transactions that outlived their timeout"),
)


def add_transaction_options(parser: argparse.ArgumentParser) -> None:
    """Add :data:`TRANSACTION_OPTIONS` to ``parser`` (``pcmodel broker`` and
    ``pcmodel cluster`` take them)."""
    for option, kafka_name, default, what in TRANSACTION_OPTIONS:
        parser.add_argument(option, type=int, default=default, metavar="MS",
                            help=f"Kafka's {kafka_name}: {what} (default {default})")


#: The largest value of a Kafka setting of type ``int`` (a Java int), as every numeric setting
#: these commands take is in Kafka: a larger one is refused there, and here it silently meant
#: "for ever" (a group whose first rebalance never came). The wire's int32 limit under the name
#: these commands' callers import.
KAFKA_INT_MAX = INT32_MAX
#: The largest value of a Kafka setting of type ``long`` (a Java long), such as
#: ``leader.imbalance.check.interval.seconds``: the wire's int64 limit, named for the commands.
KAFKA_LONG_MAX = INT64_MAX


def check_kafka_int(option: str, value: int, least: int) -> int:
    """``value`` if it is a valid value of the Kafka ``int`` setting ``option`` (at least
    ``least``), else ``UsageError``."""
    return _check_kafka_number(option, value, least, KAFKA_INT_MAX, "int")


def check_kafka_long(option: str, value: int, least: int) -> int:
    """``value`` if it is a valid value of the Kafka ``long`` setting ``option`` (at least
    ``least``), else ``UsageError``."""
    return _check_kafka_number(option, value, least, KAFKA_LONG_MAX, "long")


def _check_kafka_number(option: str, value: int, least: int, most: int, kind: str) -> int:
    if value < least:
        raise UsageError(f"{option} must be >= {least}, got {value}")
    if value > most:
        raise UsageError(f"{option} must be <= {most} (a Kafka {kind}), got {value}")
    return value


def transaction_options(args: argparse.Namespace) -> tuple[int, int]:
    """The ``(max timeout, abort check interval)`` of :data:`TRANSACTION_OPTIONS` in ``args``;
    ``UsageError`` for one below 1 or above :data:`KAFKA_INT_MAX`."""
    values = []
    for option, *_ in TRANSACTION_OPTIONS:
        value = getattr(args, option.removeprefix("--").replace("-", "_"))
        values.append(check_kafka_int(option, value, 1))
    return values[0], values[1]


def parse_kafka_address(text: str) -> tuple[str, int]:
    """``"9092"``, ``"HOST:9092"`` or ``"[::1]:9092"`` as ``(host, port)``; ``ValueError`` else."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--kafka wants [HOST:]PORT, such as 9092 or 127.0.0.1:9092; "
                         f"got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--kafka port must be 0..65535, got {port}")
    return host, port


def check_listen_address(host: str, port: int, option: str) -> None:
    """Raise ``UsageError`` unless a TCP listener can be opened on ``host:port`` now.

    Tried for real, as an output path is: a listening socket is opened and closed again. An
    address that is not this machine's, a port in use or one that needs privileges is then
    the user's mistake, one line and status 2 before anything starts, not an error after a
    broker was built (a port taken by another program between the check and the start is
    still an error then, status 1).
    """
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.create_server((host, port)):  # as the listeners open theirs
            pass
    except socket.gaierror as exc:  # a name that does not resolve
        reason = exc.strerror
    except OSError as exc:  # create_server adds "(while attempting to bind ...)": drop it
        reason = (exc.strerror or str(exc)).split(" (while attempting", 1)[0]
    else:
        return
    raise UsageError(f"{option}: cannot listen on {host}:{port} ({reason}); give an address "
                     "of this machine and a free port")


def check_kafka_listener(option: str = "--kafka") -> None:
    """Raise ``UsageError`` saying what to install if the Kafka listener cannot be loaded
    (it needs the ``kafka`` extra)."""
    try:
        importlib.import_module("pcmodel.wire.listener")
    except ImportError as exc:
        raise UsageError(f"{option}: {exc}") from None


def run_broker(args: argparse.Namespace) -> int:
    """Serve a broker until SIGINT or SIGTERM; return the exit status."""
    try:
        host = check_loopback(args.host)
    except ValueError as exc:
        raise UsageError(f"--host: {exc}") from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    authkey = None
    if args.authkey_file is not None:
        try:
            authkey = args.authkey_file.read_bytes().strip()
        except OSError as exc:
            raise UsageError(f"--authkey-file {args.authkey_file}: cannot read it "
                             f"({exc.strerror or exc}); name the file that holds the key") \
                from None
        if not authkey:
            raise UsageError(f"--authkey-file {args.authkey_file} is empty; put a secret in it")
    kafka_address = None
    if args.kafka is not None:
        try:
            kafka_address = parse_kafka_address(args.kafka)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    delay_ms = check_kafka_int("--group-initial-rebalance-delay-ms",
                               args.group_initial_rebalance_delay_ms, 0)
    check_kafka_int("--offsets-retention-minutes", args.offsets_retention_minutes, 1)
    check_kafka_int("--producer-id-expiration-ms", args.producer_id_expiration_ms, 1)
    max_timeout_ms, abort_interval_ms = transaction_options(args)
    check_listen_address(host, args.port, "--port")
    if kafka_address is not None:
        check_kafka_listener()
        check_listen_address(*kafka_address, "--kafka")
    # From here on a stop signal only makes ``wake`` readable, however early it lands (while
    # the broker starts, during the prints), and the wait sees it; during the clean-up it is
    # ignored, so the clean-up always finishes, and the last line is the one promised: a
    # second Ctrl-C as it is printed changes nothing (see pcmodel.stop_signals).
    with stop_signals() as wake:
        broker = Broker(group_initial_rebalance_delay_ms=delay_ms,
                        offsets_retention_minutes=args.offsets_retention_minutes,
                        producer_id_expiration_ms=args.producer_id_expiration_ms,
                        transaction_max_timeout_ms=max_timeout_ms,
                        transaction_abort_timed_out_transaction_cleanup_interval_ms=(
                            abort_interval_ms))
        kafka = server = None
        try:
            if kafka_address is not None:
                try:
                    kafka = broker.serve_kafka(*kafka_address)
                except (OSError, ImportError) as exc:  # the port was taken since the check
                    print(f"pcmodel broker: error: cannot serve Kafka clients on "
                          f"{kafka_address[0]}:{kafka_address[1]}: {exc}", file=sys.stderr)
                    return 1
            try:
                server = BrokerServer(broker, host=host, port=args.port, authkey=authkey)
            except OSError as exc:
                print(f"pcmodel broker: error: cannot listen on {host}:{args.port}: {exc}",
                      file=sys.stderr)
                return 1
            server.start()
            _print_how_to_connect(args, server, kafka)
            wait_for_stop(wake)
        finally:
            if kafka is not None:
                kafka.stop()
            broker.close()
            if server is not None:
                server.stop()
        print("pcmodel broker stopped.", flush=True)
    return 0


def _print_how_to_connect(args: argparse.Namespace, server: BrokerServer, kafka: Any) -> None:
    """Print where the broker listens and the lines that connect a program to it."""
    address = server.handle.address
    print(f"pcmodel broker listening on {address[0]}:{address[1]}")
    if args.authkey_file is None:
        url = server.handle.to_url()
        print(f"URL: {url}")
        print("Connect from Python with:")
        print("    from pcmodel.topics.remote import BrokerHandle")
        print(f'    broker = BrokerHandle.from_url("{url}").connect()')
    else:
        print("Connect from Python with:")
        print("    from pcmodel.topics.remote import BrokerHandle")
        # The key stays in its file: clients read it from there too.
        print("    from pathlib import Path")
        key = f"Path({str(args.authkey_file.resolve())!r}).read_bytes().strip()"
        print(f"    broker = BrokerHandle({address!r}, {key}).connect()")
    if kafka is not None:
        print(f"Kafka clients: bootstrap_servers={kafka.bootstrap_servers!r} "
              "(kafka-python, confluent-kafka, kcat -b)")
    print("Stop with Ctrl-C.", flush=True)
