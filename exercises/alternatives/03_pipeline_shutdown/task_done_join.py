"""Correct, unlike solution.py: ``queue.Queue.join()`` waits until every item was handled, then
one marker per consumer; the first error is kept by a compare-and-set under a lock."""

import queue as queues
import threading


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1 or capacity < 1:
        raise ValueError(f"consumers={consumers}, capacity={capacity}: both must be >= 1")
    work = queues.Queue(maxsize=capacity)
    end = object()
    first = []
    guard = threading.Lock()

    def keep(exc):
        with guard:
            if not first:
                first.append(exc)

    def feed(source):
        try:
            for item in source:
                work.put(item)
        except Exception as exc:
            keep(exc)

    def drain():
        while True:
            item = work.get()
            try:
                if item is end:
                    return
                handle(item)
            except Exception as exc:
                keep(exc)
            finally:
                work.task_done()

    drainers = [threading.Thread(target=drain, name=f"drain {i}") for i in range(consumers)]
    for t in drainers:
        t.start()
    feeders = [threading.Thread(target=feed, args=(s,)) for s in sources]
    for t in feeders:
        t.start()
    for t in feeders:
        t.join()
    work.join()  # every item put so far has been handled
    for _ in drainers:
        work.put(end)
    for t in drainers:
        t.join()
    if first:
        raise first[0]
