"""Addresses a serving command cannot listen on are the user's mistake: one line, status 2,
found before a broker or a cluster is built (as an output path is, by trying it for real)."""

from __future__ import annotations

import socket

import pytest

import pcmodel.cluster.cli as cluster_cli
import pcmodel.topics.cli as broker_cli
from pcmodel.cli import main


@pytest.fixture
def nothing_starts(monkeypatch):
    """Fail the test if a command gets as far as building its broker or cluster."""

    def refuse(*args, **kwargs):
        pytest.fail("the command started working before it found the mistake")

    monkeypatch.setattr(broker_cli, "Broker", refuse)
    monkeypatch.setattr(cluster_cli, "make_cluster", refuse)


@pytest.fixture
def taken_port():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        yield taken.getsockname()[1]


def one_error_line(capsys, command: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pcmodel {command}: error: "), captured.err
    assert captured.out == ""
    return lines[0]


def test_broker_kafka_on_an_address_of_another_machine(nothing_starts, capsys):
    assert main(["broker", "--kafka", "8.8.8.8:0"]) == 2
    line = one_error_line(capsys, "broker")
    assert "--kafka: cannot listen on 8.8.8.8:0 (Cannot assign requested address)" in line


def test_broker_kafka_on_a_name_that_does_not_resolve(nothing_starts, capsys):
    assert main(["broker", "--kafka", "no-such-host.invalid:0"]) == 2
    assert "--kafka: cannot listen on no-such-host.invalid:0" in one_error_line(capsys, "broker")


def test_broker_kafka_on_a_port_in_use(nothing_starts, capsys, taken_port):
    assert main(["broker", "--kafka", str(taken_port)]) == 2
    line = one_error_line(capsys, "broker")
    assert f"cannot listen on 127.0.0.1:{taken_port} (Address already in use)" in line


def test_broker_on_a_port_in_use(nothing_starts, capsys, taken_port):
    assert main(["broker", "--port", str(taken_port)]) == 2
    assert f"--port: cannot listen on 127.0.0.1:{taken_port}" in one_error_line(capsys, "broker")


def test_cluster_kafka_on_an_address_of_another_machine(nothing_starts, capsys):
    assert main(["cluster", "--kafka", "8.8.8.8:0"]) == 2
    assert "--kafka: cannot listen on 8.8.8.8:0" in one_error_line(capsys, "cluster")


@pytest.fixture
def taken_second_port():
    """A port taken, whose predecessor was free a moment ago: a cluster told to listen from
    the predecessor on finds its second broker's port taken. (Any port next to a taken one
    may be another test's, or a client connection's own end, when tests run in parallel.)"""
    for _ in range(100):
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            try:
                socket.create_server(("127.0.0.1", port - 1)).close()
            except OSError:
                continue  # in use too: try another pair
            yield port
            return
    pytest.fail("found no free port next to a taken one in 100 tries")


def test_cluster_kafka_port_of_its_second_broker_in_use(nothing_starts, capsys,
                                                         taken_second_port):
    assert main(["cluster", "--brokers", "2", "--kafka", str(taken_second_port - 1)]) == 2
    assert f"cannot listen on 127.0.0.1:{taken_second_port}" in one_error_line(capsys,
                                                                               "cluster")


@pytest.mark.parametrize("rows", ["0", "-1"])
def test_explore_max_rows_below_one(capsys, rows):
    assert main(["explore", "pcmodel:condition", "--max-rows", rows]) == 2
    assert f"--max-rows must be at least 1, not {rows}" in one_error_line(capsys, "explore")
