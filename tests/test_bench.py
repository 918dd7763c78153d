"""The benchmark: --quick runs every point of the grid and writes well-formed results.

No timing is asserted here: speed is what the benchmark reports, not what tests check.
"""

from __future__ import annotations

import json
import multiprocessing
import threading

import pytest

from pcmodel.cli import main
from pcmodel.experiments.bench import (
    ACTORS,
    CAPACITIES,
    COMPARISONS,
    CONTENDERS,
    ActorKind,
    BareConditionBuffer,
    TextbookSemaphoreBuffer,
    available,
    measured_at,
    parse_actors,
    parse_capacity,
    parse_size,
    run_trial,
)
from tests.conftest import Interrupted, interrupt_the_first_waiter, wait_until
from tests.test_cli_mistakes import one_error_line


@pytest.mark.timeout(120)
def test_quick_mode_measures_the_whole_grid(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "condition vs queue.Queue" in out and "ratio" in out
    assert f"results written to {path}" in out
    data = json.loads(path.read_text())
    assert data["meta"]["config"]["quick"] is True
    points = {(b.value, cap, p, c, 8) for b in ActorKind for cap in CAPACITIES for p, c in ACTORS}
    measured = {(m["backend"], m["capacity"], m["producers"], m["consumers"], m["item_size"],
                 m["contender"]) for m in data["measurements"]}
    expected = {(*point, c.name) for point in points for c in CONTENDERS
                if c.backend.value == point[0] and available(c)}
    assert measured == expected
    assert available(next(c for c in CONTENDERS if c.name == "faster-fifo")), \
        "faster-fifo (the bench extra) is part of the test environment"
    for m in data["measurements"]:
        assert len(m["rates"]) == 1 and m["median"] > 0 and m["items"] > 0
        if m["backend"] == "process":  # where the time went: sleeps and CPU per item
            assert m["sleeps_per_item"] >= 0 and m["cpu_us_per_item"] > 0
        else:
            assert "sleeps_per_item" not in m
    compared = {(c["backend"], c["capacity"], c["producers"], c["consumers"], c["item_size"],
                 c["comparison"]) for c in data["comparisons"]}
    assert compared == {(*point, comp.label) for point in points
                        for comp in COMPARISONS[ActorKind(point[0])]}
    for c in data["comparisons"]:
        assert c["ratio"] == pytest.approx(c["contender_rate"] / c["baseline_rate"])
        assert (c["met"] is None) == (c["target"] is None)
        if c["target"] is not None:
            assert c["met"] == (c["ratio"] >= c["target"])


@pytest.mark.timeout(60)
def test_thread_backend_only_with_repeats(tmp_path, capsys):
    path = tmp_path / "t.json"
    assert main(["bench", "--quick", "--backend", "thread", "--repeat", "2", "--json",
                 str(path)]) == 0
    data = json.loads(path.read_text())
    assert {m["backend"] for m in data["measurements"]} == {"thread"}
    assert all(len(m["rates"]) == 2 for m in data["measurements"])
    assert all(len(c["ratios"]) == 2 for c in data["comparisons"])


@pytest.mark.timeout(60)
def test_threads_are_measured_at_every_item_size_asked_for(tmp_path, capsys):
    # Every size but the first was dropped silently on threads: asked for 8 B and 1 MiB, the
    # results held 8 B only. Now each size has its grid (1 MiB: single items, small capacities).
    path = tmp_path / "t.json"
    assert main(["bench", "--quick", "--backend", "thread", "--item-sizes", "8,1M", "--json",
                 str(path), "--no-progress"]) == 0
    data = json.loads(path.read_text())
    measured = {(m["capacity"], m["producers"], m["consumers"], m["item_size"], m["contender"])
                for m in data["measurements"]}
    expected = {(cap, p, c, size, k.name) for size in (8, 1 << 20) for cap in CAPACITIES
                for p, c in ACTORS for k in CONTENDERS
                if k.backend is ActorKind.THREAD and available(k) and measured_at(k, cap, size)}
    assert measured == expected
    assert {c["item_size"] for c in data["comparisons"]} == {8, 1 << 20}
    assert "1 MiB" in capsys.readouterr().out  # the table has rows at each size


def test_bad_repeat_is_refused(tmp_path, capsys):
    assert main(["bench", "--repeat", "0", "--json", str(tmp_path / "x.json")]) == 2
    assert "--repeat" in capsys.readouterr().err
    assert main(["bench", "--item-sizes", "8,huge", "--json", str(tmp_path / "x.json")]) == 2
    assert "'huge' is not an item size" in capsys.readouterr().err


def test_an_item_size_given_twice_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "x.json"
    assert main(["bench", "--quick", "--item-sizes", "8,1K,1024,8B", "--json", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "pcmodel bench: error: --item-sizes names 8 B, 1 KiB more than once; give each size "
        "once"]
    assert not out.exists()


def test_item_sizes_parse_and_large_items_stay_small_and_single():
    assert [parse_size(t) for t in ("8", "1K", "64KiB", "1m", "2048")] == [
        8, 1024, 65536, 1 << 20, 2048]
    single = next(c for c in CONTENDERS if c.name == "condition" and c.backend is ActorKind.PROCESS)
    batched = next(c for c in CONTENDERS if c.name == "condition x100")
    assert measured_at(single, 16, 1 << 20) and not measured_at(single, 1024, 1 << 20)
    assert not measured_at(batched, 1, 1 << 20) and measured_at(batched, 1024, 65536)


@pytest.mark.timeout(120)
def test_process_trials_at_every_item_size(tmp_path):
    """One small trial per item size on processes, peers included: every item arrives."""
    for size in (8, 1024, 1 << 20):
        for contender in CONTENDERS:
            if (contender.backend is ActorKind.PROCESS and contender.name in (
                    "condition", "queue", "faster-fifo", "multiprocessing.SimpleQueue")
                    and available(contender)):
                usage: dict[str, float] = {}
                rate, moved = run_trial(contender, 16, 1, 1, 40,
                                        multiprocessing.get_context("fork"), size, usage)
                assert rate > 0 and moved == 40
                assert usage["sleeps_per_item"] >= 0 and usage["cpu_us_per_item"] > 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cls", [TextbookSemaphoreBuffer, BareConditionBuffer])
def test_yardsticks_are_correct_bounded_fifo_buffers(cls):
    buf = cls(3)
    got: list[int] = []
    consumer = threading.Thread(target=lambda: got.extend(buf.get() for _ in range(500)))
    consumer.start()
    for value in range(500):
        buf.put(value)
    consumer.join(20)
    assert not consumer.is_alive()
    assert got == list(range(500))


@pytest.mark.timeout(30)
def test_bare_condition_batches_keep_order():
    buf = BareConditionBuffer(7)
    got: list[int] = []

    def consume() -> None:
        while len(got) < 1000:
            got.extend(buf.get_many(100))

    consumer = threading.Thread(target=consume)
    consumer.start()
    for low in range(0, 1000, 100):
        buf.put_many(range(low, low + 100))
    consumer.join(20)
    assert not consumer.is_alive()
    assert got == list(range(1000))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("contender", [c for c in CONTENDERS if c.backend is ActorKind.THREAD],
                         ids=lambda c: c.name)
def test_each_thread_contender_moves_every_item(contender):
    rate, moved = run_trial(contender, 4, 2, 3, 700)
    assert rate > 0
    assert moved == 700


@pytest.mark.timeout(30)
def test_bare_condition_passes_wake_ups_on_like_the_variant():
    # The yardstick follows the condition variant's algorithm: one batch wakes one getter,
    # which wakes the next; a woken getter that raises passes its wake-up on.
    buf = BareConditionBuffer(8)
    got: list[str] = []
    getters = [threading.Thread(target=lambda: got.append(buf.get())) for _ in range(4)]
    for thread in getters:
        thread.start()
    wait_until(lambda: buf._waiting_get == 4)
    buf.put_many(["a", "b", "c", "d"])
    for thread in getters:
        thread.join(10)
    assert sorted(got) == ["a", "b", "c", "d"]

    interrupt_the_first_waiter(buf._not_empty)

    def first() -> None:
        with pytest.raises(Interrupted):
            buf.get()

    first_thread = threading.Thread(target=first, name="first")
    first_thread.start()
    wait_until(lambda: buf._waiting_get == 1)
    second = threading.Thread(target=lambda: got.append(buf.get()))
    second.start()
    wait_until(lambda: buf._waiting_get == 2)
    buf.put("e")
    first_thread.join(10)
    second.join(10)
    lost = second.is_alive()
    if lost:
        buf.put("release")  # lets the never-woken getter go
        second.join(10)
    assert not lost and got[-1] == "e"


@pytest.mark.timeout(60)
def test_the_topics_benchmark_times_each_stage_alone():
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "topics_bench.py"
    bench = runpy.run_path(str(path))  # the script's functions, its main() not run
    rates = bench["stage_rates"](600)  # its stand-in broker must still be one a producer takes
    assert set(rates) == {"send", "append", "poll"}
    assert all(rate.wall > 0 and rate.cpu > 0 for rate in rates.values())


@pytest.mark.parametrize("text", ["17M", "1024M", "99999999999999999999999"])
def test_an_item_size_too_large_to_measure_is_refused(text):
    # A size no trial can move (a billion-gigabyte item made the producer fail with a traceback
    # and the trial wait two minutes for it) is refused before anything starts.
    with pytest.raises(ValueError, match="too large"):
        parse_size(text)
    assert parse_size("16M") == 16 << 20


def test_an_item_size_in_other_digits_is_refused_plainly():
    with pytest.raises(ValueError, match="is not an item size"):
        parse_size("²")


@pytest.mark.timeout(60)
def test_capacities_and_actors_choose_the_points_measured(tmp_path):
    path = tmp_path / "one.json"
    assert main(["bench", "--quick", "--backend", "thread", "--capacities", "16",
                 "--actors", "2x3", "--json", str(path), "--no-progress"]) == 0
    data = json.loads(path.read_text())
    points = {(m["capacity"], m["producers"], m["consumers"]) for m in data["measurements"]}
    assert points == {(16, 2, 3)}
    assert {(c["capacity"], c["producers"], c["consumers"])
            for c in data["comparisons"]} == {(16, 2, 3)}


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--capacities", "0", "--capacities: '0' is not a capacity; write a number of items from "
                          "1 to 4096"),
    ("--capacities", "16,huge", "--capacities: 'huge' is not a capacity"),
    ("--capacities", "5000", "--capacities: '5000' is not a capacity"),
    ("--capacities", "16,1,16", "--capacities names 16 more than once; give each capacity "
                                "once"),
    ("--actors", "4", "--actors: '4' is not producers x consumers; write them as 1x1 or 4x4, "
                      "each from 1 to 16"),
    ("--actors", "1x0", "--actors: '1x0' is not producers x consumers"),
    ("--actors", "1x1,4X4,4x4", "--actors names 4x4 more than once; give each pair once"),
])
def test_bad_capacities_and_actors_are_refused_before_anything_runs(tmp_path, capsys, option,
                                                                    value, message):
    out = tmp_path / "x.json"
    assert main(["bench", "--quick", option, value, "--json", str(out)]) == 2
    assert one_error_line(capsys, "bench").startswith("pcmodel bench: error: " + message)
    assert not out.exists()


def test_capacities_and_actors_parse():
    assert [parse_capacity(t) for t in ("1", " 16", "4096")] == [1, 16, 4096]
    assert [parse_actors(t) for t in ("1x1", "4X4", " 2x16 ")] == [(1, 1), (4, 4), (2, 16)]
