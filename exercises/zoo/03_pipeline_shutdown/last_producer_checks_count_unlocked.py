"""Bug: the last producer to finish sends the end-of-stream markers, but reads the count of
finished producers after leaving the lock.

Each producer counts itself finished under a lock, then, outside it, sends the markers if the
count says every producer has finished. When the second producer counts itself between the
first one's count and its look, both see "all finished" and both send a marker per consumer.
The consumers stop at the first set; the second set fills the bounded queue and its producer
waits forever to put the rest, so run_pipeline() never returns. Only some interleavings do it.
"""

import queue
import threading

CAUGHT_BY = ("test_interleavings",)

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1 or capacity < 1:
        raise ValueError("consumers and capacity must be at least 1")
    items = queue.Queue(maxsize=capacity)
    errors = []
    lock = threading.Lock()
    finished = [0]

    def produce(source):
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            with lock:
                errors.append(exc)
        with lock:
            finished[0] += 1
        if finished[0] == len(sources):  # BUG: read outside the lock; two producers may both see it
            for _ in range(consumers):
                items.put(_END)

    def consume():
        while True:
            item = items.get()
            if item is _END:
                return
            try:
                handle(item)
            except Exception as exc:
                with lock:
                    errors.append(exc)

    workers = [threading.Thread(target=consume) for _ in range(consumers)]
    producers = [threading.Thread(target=produce, args=(source,)) for source in sources]
    for thread in workers + producers:
        thread.start()
    if not producers:
        for _ in workers:
            items.put(_END)
    for thread in producers + workers:
        thread.join()
    if errors:
        raise errors[0]
