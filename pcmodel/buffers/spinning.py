"""Busy-waiting before sleeping, for as long as it has lately paid off.

In a buffer of capacity 1 every item is a hand-over: the producer cannot put its next item until
the consumer has taken the last one, and the other way round. A process that waits there for a
wake-up or a permit is waiting for a peer running on the other core, a few microseconds away.
Sleeping costs more than that: a context switch here, a wake-up system call there, and the time
the kernel takes to run the sleeper again (tens to hundreds of microseconds on a virtual
machine), so sleeping sets the pace: measured on two cores, a producer and a consumer that try
again for a few microseconds before they sleep move 3 to 5 times as many items per second. A
batch larger than the room left in a buffer is such a chain of hand-overs at any capacity.

On a machine with more runnable processes than cores the peer is often not running at all, and
every try is wasted: there the same fixed spin made capacity 1 more than twice as slow. So a
:class:`Spinner` learns from its own outcomes, as the adaptive mutexes of glibc and of Java's
HotSpot do: a spin that succeeded after ``i`` tries makes the next ones at least ``2i + 16``
tries long (up to its maximum); one that failed halves them; and every 32nd spin is a full one,
so that a spinner that learnt to give up early notices when the machine has gone quiet again.
That full spin must outlast the time a sleeping peer takes to wake: once both sides have learnt
to sleep, each waits for a peer that is itself asleep, and only a spin longer than a wake-up
finds it running again (with one shorter than that, a single pause of the producer left a
buffer of capacity 1 handing every item over through two sleeps; see ``robust.WAIT_SPIN``).
A spinner may also keep a floor (``least``): it then never spins less than that, and learns only
how much longer to spin, which is what a lock whose holders copy large items needs.

Threads never spin: under the GIL a spinning thread would keep the one it waits for from running.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Spinner"]

_PROBE_EVERY = 32  # spins; a power of two (tested with a mask)
_HEADROOM = 16  # tries beyond twice what the last success needed


class Spinner:
    """How many times to try again before sleeping, learnt from the last tries.

    One per primitive and per process (it travels to a child as a copy): its state is a plain
    attribute, never shared memory, so learning costs no synchronisation. A miss halves the
    tries down to ``least`` (0 by default), never below. With ``learns=False`` it always spins
    ``most`` times.
    """

    __slots__ = ("most", "least", "tries", "spins", "learns")

    def __init__(self, most: int, *, learns: bool = True, least: int = 0) -> None:
        if not 0 <= least <= most:
            raise ValueError(f"a spinner needs 0 <= least <= most, not least={least}, "
                             f"most={most}")
        self.most = most  # a full spin: about 0.1 µs per try
        self.least = least
        self.tries = most
        self.spins = 0
        self.learns = learns  # False: always ``most`` tries

    def spin(self, try_take: Callable[[bool], bool]) -> bool:
        """Call ``try_take(False)`` until it returns True (then return True) or the tries run
        out (False). Never blocks for longer than ``most`` tries; never sleeps."""
        tries = self.most
        if self.learns:
            self.spins += 1
            if self.spins & (_PROBE_EVERY - 1):  # not a probe: as long as lately paid off
                tries = self.tries
        for tried in range(tries):
            if try_take(False):
                enough = 2 * tried + _HEADROOM
                if self.learns and enough > self.tries:
                    self.tries = min(self.most, enough)
                return True
        if self.learns:
            self.tries = max(self.least, self.tries >> 1)
        return False
