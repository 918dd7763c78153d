"""The results shared by the xdist workers of a run: each key computed once, read back exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.shared_results import SharedResults, fingerprint

REPO = Path(__file__).resolve().parent.parent

# One worker of a run: walks keys 0..19 from its own start, logs each computation, prints results.
WORKER = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
from tests.shared_results import SharedResults
base, worker, log = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
shared = SharedResults(SimpleNamespace(getbasetemp=lambda: base / f"popen-{worker}"), "demo")
def compute(key):
    with open(log, "a") as f:
        f.write(f"{worker} {key}\\n")
    return {"key": key, "by": worker, "pair": (key, [key])}
results = [shared.get(("demo", key), lambda: compute(key)) for key in shared.walk(range(20))]
print(json.dumps(sorted(repr(r) for r in results)))
"""


def _factory(base: Path, worker: str) -> SimpleNamespace:
    return SimpleNamespace(getbasetemp=lambda: base / f"popen-{worker}")


@pytest.mark.parametrize("count", [2, 3])
def test_workers_compute_each_key_once_and_read_the_same_values(tmp_path, count):
    log = tmp_path / "log"
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTEST_XDIST_WORKER_COUNT=str(count))
    workers = {
        worker: subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), worker, str(log)],
            stdout=subprocess.PIPE, text=True, env=dict(env, PYTEST_XDIST_WORKER=worker))
        for worker in (f"gw{i}" for i in range(count))
    }
    outputs = {worker: proc.communicate(timeout=30)[0] for worker, proc in workers.items()}
    assert all(proc.returncode == 0 for proc in workers.values()), outputs
    computed = [line.split()[1] for line in log.read_text().splitlines()]
    assert sorted(computed, key=int) == [str(key) for key in range(20)]
    seen = [json.loads(out) for out in outputs.values()]
    assert all(s == seen[0] for s in seen) and len(seen[0]) == 20


@pytest.mark.parametrize(("worker", "count", "order"), [
    ("gw0", "2", [1, 2, 3, 4, 5, 6]), ("gw1", "2", [4, 5, 6, 1, 2, 3]),
    ("gw1", "3", [3, 4, 5, 6, 1, 2]), ("gw2", "3", [5, 6, 1, 2, 3, 4]),
])
def test_each_worker_starts_on_its_own_share_and_walks_every_item(
        tmp_path, monkeypatch, worker, count, order):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", count)
    assert SharedResults(_factory(tmp_path, worker), "demo").walk([1, 2, 3, 4, 5, 6]) == order


def test_under_xdist_a_result_round_trips_and_a_failure_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    shared = SharedResults(_factory(tmp_path, "gw1"), "demo")
    value = ({"score": 0, "checks": [{"id": "a", "got": "x"}]}, 1.5)
    assert shared.get(("k",), lambda: value) == value
    assert shared.get(("k",), lambda: pytest.fail("computed twice")) == value

    def failing():
        raise RuntimeError("no result")

    with pytest.raises(RuntimeError):
        shared.get(("bad",), failing)
    assert shared.get(("bad",), lambda: "computed again") == "computed again"


def test_without_xdist_every_call_computes_and_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    factory = SimpleNamespace(getbasetemp=lambda: pytest.fail("no folder without xdist"),
                              mktemp=lambda name: tmp_path / name)
    shared = SharedResults(factory, "demo")
    calls = []
    assert [shared.get(("k",), lambda: calls.append(1) or len(calls)) for _ in range(2)] == [1, 2]
    assert shared.walk([1, 2, 3]) == [1, 2, 3]
    assert shared.folder_for("x", factory) == tmp_path / "x"
    assert not list(tmp_path.iterdir())


def test_a_fingerprint_changes_with_the_content(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("x = 1\n")
    before = fingerprint(path)
    path.write_text("x = 2\n")
    assert fingerprint(path) != before and fingerprint(path)[0] == str(path)
