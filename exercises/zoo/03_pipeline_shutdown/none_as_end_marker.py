"""Bug: ``None`` is the end-of-stream marker.

Each consumer stops when it gets ``None``, and the caller puts one ``None`` per consumer after
the producers finished. But ``None`` is an ordinary value a source may yield: a consumer that
takes a real ``None`` stops early and the item is never handled; the others do all the work,
and one marker too many is left in the queue (when the queue is full of them, the caller waits
forever to put it; when real ``None`` items stop every consumer, so do the producers). Use a
private marker (``_END = object()``) that no real item can be.
"""

import queue
import threading

CAUGHT_BY = ("test_everything_handled_once",)


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1 or capacity < 1:
        raise ValueError("consumers and capacity must be at least 1")
    items = queue.Queue(maxsize=capacity)
    errors = []
    lock = threading.Lock()

    def produce(source):
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            with lock:
                errors.append(exc)

    def consume():
        while True:
            item = items.get()
            if item is None:  # BUG: None is also a value a source may yield
                return
            try:
                handle(item)
            except Exception as exc:
                with lock:
                    errors.append(exc)

    producers = [threading.Thread(target=produce, args=(s,)) for s in sources]
    workers = [threading.Thread(target=consume) for _ in range(consumers)]
    for thread in workers + producers:
        thread.start()
    for thread in producers:
        thread.join()
    for _ in workers:
        items.put(None)
    for thread in workers:
        thread.join()
    if errors:
        raise errors[0]
