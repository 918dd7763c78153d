"""Correct, unlike solution.py: the last producer to finish sends the end-of-stream markers,
with the count of finished producers read under the same lock that updates it (the caller
sends them itself when there is no producer at all), and the caller joins every thread."""

import queue
import threading

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError(f"consumers must be at least 1, got {consumers}")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    items = queue.Queue(maxsize=capacity)
    errors = []
    lock = threading.Lock()
    finished = [0]

    def end_stream():
        for _ in range(consumers):
            items.put(_END)

    def produce(source):
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            with lock:
                errors.append(exc)
        with lock:
            finished[0] += 1
            last = finished[0] == len(sources)
        if last:
            end_stream()

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
        end_stream()
    for thread in producers + workers:
        thread.join()
    if errors:
        raise errors[0]
