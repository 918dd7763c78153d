"""Correct, unlike solution.py: ``import threading as th``, producer and consumer classes that
subclass ``Thread``, and a shared error log ordered by time."""

import queue
import threading as th


class _Log:
    def __init__(self):
        self._lock = th.Lock()
        self.errors = []

    def add(self, exc):
        with self._lock:
            self.errors.append(exc)


class Producer(th.Thread):
    def __init__(self, source, out, log):
        super().__init__(name="producer")
        self.source, self.out, self.log = source, out, log

    def run(self):
        try:
            for item in self.source:
                self.out.put(item)
        except Exception as exc:
            self.log.add(exc)


class Consumer(th.Thread):
    DONE = ("end of stream",)  # a tuple no caller can pass as an item: compared by identity

    def __init__(self, inbox, handle, log):
        super().__init__(name="consumer")
        self.inbox, self.handle, self.log = inbox, handle, log

    def run(self):
        while (item := self.inbox.get()) is not self.DONE:
            try:
                self.handle(item)
            except Exception as exc:
                self.log.add(exc)


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError("need a consumer")
    if capacity < 1:
        raise ValueError("need capacity")
    pipe = queue.Queue(capacity)
    log = _Log()
    takers = [Consumer(pipe, handle, log) for _ in range(consumers)]
    makers = [Producer(source, pipe, log) for source in sources]
    for worker in [*makers, *takers]:
        worker.start()
    for maker in makers:
        maker.join()
    for _ in takers:
        pipe.put(Consumer.DONE)
    for taker in takers:
        taker.join()
    if log.errors:
        raise log.errors[0]
