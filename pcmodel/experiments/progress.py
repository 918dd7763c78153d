"""A progress bar for long runs and sweeps: one line on a terminal, a widget in a notebook.

The bar is drawn only where someone can see it: by default when the stream is a terminal, or
whenever the caller asks (``enabled=True``, e.g. ``run_workload(progress=True)`` in a notebook).
On a terminal it is a tiny standard-library bar redrawn in place on stderr, throttled, so
updating it after every item costs almost nothing. In a Jupyter notebook, when the optional
``notebooks`` extra is installed (tqdm and ipywidgets), it is tqdm's notebook widget instead: a
kernel's stderr is no terminal, and ``\\r`` redraws there pile up as many outputs. Prior art:
``tqdm``'s carriage-return redraw and its ``disable=None`` meaning "only on a TTY".

>>> with ProgressBar(3, "runs", enabled=False) as bar:
...     bar.advance()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

__all__ = ["ProgressBar", "progress"]

T = TypeVar("T")


class ProgressBar:
    """A one-line bar ``label [#####.....]  50% 5/10 1.2s`` redrawn in place.

    ``enabled=None`` draws only when ``stream`` is a TTY. Redraws happen at most every
    ``interval`` seconds of ``clock`` (and once more on :meth:`close`, which ends the line).
    A bar never raises because its stream cannot be written to.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        width: int = 30,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total must be an int >= 0, not {total!r}")
        self.total = total
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.width = width
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self.done = 0
        self.closed = False
        # In a notebook, tqdm's widget draws instead (only for the default stream: a caller who
        # hands over a stream of its own wants the text there).
        self._widget = _notebook_bar(total, label) if enabled and stream is None else None

    def update(self, done: int) -> None:
        """Set how many units are done (clamped to ``total``); redraw if it is time to."""
        self.done = max(0, min(done, self.total))
        if not self.enabled or self.closed:
            return
        if self._widget is not None:
            if self._widget.total != self.total:
                self._widget.total = self.total
            self._widget.update(self.done - self._widget.n)
            return
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= self.interval:
            self._draw(now)

    def advance(self, units: int = 1) -> None:
        """Add ``units`` done."""
        self.update(self.done + units)

    def close(self) -> None:
        """Draw the final state and end the line (idempotent)."""
        if self.closed:
            return
        if self._widget is not None:
            self.update(self.done)
            self._widget.close()
        elif self.enabled:
            self._draw(self._clock())
            self._write("\n")
        self.closed = True

    def render(self, now: float | None = None) -> str:
        """The bar's text (without the leading carriage return)."""
        elapsed = (self._clock() if now is None else now) - self._started
        fraction = self.done / self.total if self.total else 1.0
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        label = f"{self.label} " if self.label else ""
        return f"{label}[{bar}] {fraction:4.0%} {self.done}/{self.total} {elapsed:.1f}s"

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        self._write("\r" + self.render(now))

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # closed or broken stream: progress is not worth a crash
            self.enabled = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _notebook_bar(total: int, label: str) -> Any:
    """tqdm's notebook widget when running in a Jupyter kernel with tqdm and ipywidgets
    installed (the ``notebooks`` extra), else None."""
    # Imported is not running: only a shell that belongs to a kernel draws widgets.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    try:
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:
        return None
    try:
        return notebook_tqdm(total=total, desc=label or None)
    except ImportError:  # tqdm is there but ipywidgets is not ("IProgress not found")
        return None


def progress(items: Iterable[T], total: int | None = None, label: str = "", *,
             enabled: bool | None = None, stream: TextIO | None = None) -> Iterator[T]:
    """Yield ``items`` while a :class:`ProgressBar` counts them (``total`` defaults to len)."""
    if total is None:
        items = list(items)
        total = len(items)
    with ProgressBar(total, label, enabled=enabled, stream=stream) as bar:
        for item in items:
            yield item
            bar.advance()
