"""Bug: the last producer to finish ends the stream, but a producer whose source raised never
counts itself finished.

Each producer, after its last item, adds one to a count of finished producers under a lock; the
one that makes it equal to the number of sources puts the end-of-stream markers. The count is
inside the ``try``: when a source raises, its producer remembers the exception and skips the
count, so the count never reaches the number of sources, no markers are sent and the consumers
(and run_pipeline()) wait forever. Counting belongs after the ``try``, or in ``finally``.
"""

import queue
import threading

CAUGHT_BY = ("test_source_error", "test_first_error_wins")

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1 or capacity < 1:
        raise ValueError("consumers and capacity must be at least 1")
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
            with lock:  # BUG: skipped when the source raises
                finished[0] += 1
                last = finished[0] == len(sources)
            if last:
                end_stream()
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

    workers = [threading.Thread(target=consume) for _ in range(consumers)]
    producers = [threading.Thread(target=produce, args=(s,)) for s in sources]
    for thread in workers + producers:
        thread.start()
    if not producers:
        end_stream()
    for thread in producers + workers:
        thread.join()
    if errors:
        raise errors[0]
