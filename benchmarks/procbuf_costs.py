"""What one put+get of a process buffer costs, piece by piece, in CPU time of one process.

``pcmodel bench`` gives each whole contender's cost alone (its one-actor section); this script
breaks the process buffers' path into its parts, beside the primitives they are built on::

    python benchmarks/procbuf_costs.py              # everything, about 20 s
    python benchmarks/procbuf_costs.py primitives   # only lines whose name contains a word

Each line is nanoseconds of this process's CPU time (``time.process_time_ns``) per operation
(a put+get pair, an acquire+release pair, or one item of a batch), the fastest of ``--rounds``
short rounds: interference only ever adds time, so the minimum is the cost of the code.
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import tempfile
import time
from collections.abc import Callable

from pcmodel.buffers import make_buffer
from pcmodel.buffers.ring import SharedRing
from pcmodel.buffers.robust import Health, RobustCondition, RobustLock
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.buffers.spill import SpillFolder

ITEM = b"12345678"


def cost(step: Callable[[], object], per: int, number: int, rounds: int) -> float:
    """Fastest round's CPU nanoseconds per operation (``step`` does ``per`` of them)."""
    for _ in range(50):
        step()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time_ns()
        for _ in range(number):
            step()
        best = min(best, (time.process_time_ns() - started) / (number * per))
    return best


def cases(context: object, folder: str) -> dict[str, tuple[Callable[[], object], int, object]]:
    """name -> (step, operations per step, object to close or None)."""
    found: dict[str, tuple[Callable[[], object], int, object]] = {}
    lock = context.Lock()
    found["primitives: multiprocessing.Lock acquire+release"] = (
        lambda: (lock.acquire(), lock.release()), 1, None)
    health = Health(context)
    robust_lock = RobustLock(context, health)
    found["primitives: RobustLock acquire+release"] = (
        lambda: (robust_lock.acquire(), robust_lock.release()), 1, None)

    def with_lock() -> None:
        with robust_lock:
            pass

    found["primitives: RobustLock as a with block"] = (with_lock, 1, None)
    condition = RobustCondition(context, robust_lock, health)
    found["primitives: RobustCondition.notify, nobody waiting"] = (condition.notify, 1, None)
    semaphore = context.Semaphore(1 << 20)
    found["primitives: multiprocessing.Semaphore acquire+release"] = (
        lambda: (semaphore.acquire(), semaphore.release()), 1, None)
    robust_semaphore = RobustSemaphore(context, 1 << 20, health)
    found["primitives: RobustSemaphore acquire+release"] = (
        lambda: (robust_semaphore.acquire(), robust_semaphore.release()), 1, None)
    found["primitives: pickle dumps+loads of 8 bytes"] = (
        lambda: pickle.loads(pickle.dumps(ITEM, pickle.HIGHEST_PROTOCOL)), 1, None)
    ring = SharedRing(context, 16, 1 << 20, SpillFolder(folder))
    data = pickle.dumps(ITEM, pickle.HIGHEST_PROTOCOL)
    found["primitives: SharedRing append+popleft of that pickle"] = (
        lambda: (ring.append(data), ring.popleft()), 1, None)
    for variant, instrument in (("condition", "off"), ("condition", "counters"),
                                ("semaphore", "off"), ("queue", "off")):
        buf = make_buffer(variant, 16, "process", context=context, instrument=instrument)
        found[f"buffers: {variant} ({instrument}) put+get"] = (
            lambda put=buf.put, get=buf.get: (put(ITEM), get()), 1, buf)
    # Distinct items: pickle stores a repeated object once, which would flatter every batch.
    chunk = [bytes([k % 251]) * len(ITEM) for k in range(100)]
    for variant in ("condition", "semaphore"):
        buf = make_buffer(variant, 1024, "process", context=context)
        found[f"buffers: {variant} put_many/get_many of 100, per item"] = (
            lambda put=buf.put_many, get=buf.get_many: (put(chunk), get(100)), 100, buf)
    queue = context.Queue()
    found["peers: multiprocessing.Queue put+get (feeder thread in this process)"] = (
        lambda: (queue.put(ITEM), queue.get()), 1, queue)
    found["peers: multiprocessing.Queue lists of 100, per item"] = (
        lambda: (queue.put(chunk), queue.get()), 100, None)
    simple = context.SimpleQueue()
    found["peers: multiprocessing.SimpleQueue put+get"] = (
        lambda: (simple.put(ITEM), simple.get()), 1, simple)
    try:
        import faster_fifo
    except ImportError:
        return found
    fifo = faster_fifo.Queue(max_size_bytes=1 << 20)
    found["peers: faster-fifo put+get"] = (lambda: (fifo.put(ITEM), fifo.get()), 1, fifo)
    found["peers: faster-fifo put_many/get_many of 100, per item"] = (
        lambda: (fifo.put_many(chunk), fifo.get_many(max_messages_to_get=100)), 100, None)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("words", nargs="*", help="only lines whose name contains one of these")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--seconds", type=float, default=0.002, help="length of one round")
    args = parser.parse_args()
    context = multiprocessing.get_context()
    with tempfile.TemporaryDirectory() as folder:
        found = cases(context, folder)
        try:
            for name, (step, per, _) in found.items():
                if args.words and not any(word in name for word in args.words):
                    continue
                started = time.perf_counter()
                step()
                number = max(1, int(args.seconds / max(time.perf_counter() - started, 1e-7)))
                print(f"{name:70s} {cost(step, per, number, args.rounds):8.0f} ns", flush=True)
        finally:
            for _, _, owned in found.values():
                if hasattr(owned, "join_thread"):
                    owned.close()
                    owned.join_thread()
                elif hasattr(owned, "close"):
                    owned.close()


if __name__ == "__main__":
    main()
