"""Correct, unlike solution.py: producers and consumers are tasks of one
``concurrent.futures.ThreadPoolExecutor``; ``wait()`` on the producers' futures, then one marker
per consumer, then ``wait()`` on the consumers'; the pool's ``with`` block joins its workers."""

import queue
import threading
from concurrent.futures import ThreadPoolExecutor, wait

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError(f"consumers={consumers}: must be at least 1")
    if capacity < 1:
        raise ValueError(f"capacity={capacity}: must be at least 1")
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
            if item is _END:
                return
            try:
                handle(item)
            except Exception as exc:
                with lock:
                    errors.append(exc)

    with ThreadPoolExecutor(max_workers=consumers + len(sources)) as pool:
        takers = [pool.submit(consume) for _ in range(consumers)]
        makers = [pool.submit(produce, source) for source in sources]
        wait(makers)
        for _ in range(consumers):
            items.put(_END)
        wait(takers)
    if errors:
        raise errors[0]
