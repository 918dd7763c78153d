"""Bug: the consumers poll: a timed get() in a loop, until the producers are done.

Each consumer wakes every 20 ms to look at the queue and at a "producers done" event, and stops
once it saw the event set before an empty get(). Every item is handled once and every thread
finishes, but a waiting consumer uses the CPU, and it stops only when a timeout runs out: no
thread ever wakes it (the README's "no polling").
"""

import queue
import threading

CAUGHT_BY = ('test_interleavings',)


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError("consumers < 1")
    if capacity < 1:
        raise ValueError("capacity < 1")
    q = queue.Queue(maxsize=capacity)
    producers_done = threading.Event()
    errors, lock = [], threading.Lock()

    def note(exc):
        with lock:
            errors.append(exc)

    def produce(source):
        try:
            for item in source:
                q.put(item)
        except Exception as exc:
            note(exc)

    def consume():
        while True:
            finished = producers_done.is_set()  # read *before* looking at the queue
            try:
                item = q.get(timeout=0.02)  # BUG: wakes every 20 ms to look again
            except queue.Empty:
                if finished:
                    return
                continue
            try:
                handle(item)
            except Exception as exc:
                note(exc)

    cs = [threading.Thread(target=consume) for _ in range(consumers)]
    ps = [threading.Thread(target=produce, args=(s,)) for s in sources]
    for t in cs + ps:
        t.start()
    for t in ps:
        t.join()
    producers_done.set()
    for t in cs:
        t.join()
    if errors:
        raise errors[0]
