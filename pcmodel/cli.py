"""The ``pcmodel`` command: one subcommand per job, each defined next to the code it drives.

Each entry of ``COMMANDS`` names a module with ``register(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed arguments, returning an exit status). Those modules keep
their imports light and load heavy parts (matplotlib, the scheduler) inside ``func``.

Every command behaves the same way under signals and mistakes (the conventions of Unix tools):

- Ctrl-C (SIGINT) or SIGTERM: the command stops what it started (a ``KeyboardInterrupt`` unwinds
  through its ``finally`` blocks: workers are shut down and joined, buffers closed), prints one
  line ``pcmodel COMMAND: interrupted`` on stderr and exits with status 130 (``pcmodel:
  interrupted`` while the commands are still loading, before one has started). A second signal
  during that clean-up is ignored, so the clean-up is not itself interrupted half-way. The
  console script (:mod:`pcmodel._console`) keeps that promise from its first line to its exit:
  a signal while its modules load, or once the command has finished and the interpreter exits,
  is the same one line and status 130 (``broker`` and ``cluster``: nothing more after their
  ``stopped``).
- A user's mistake (:class:`~pcmodel.errors.UsageError`): one line ``pcmodel COMMAND: error:
  ...`` on stderr, exit status 2, no traceback, and nothing started.
- Standard output that cannot be written (``> /dev/full``, a full disk): one line ``pcmodel
  COMMAND: error: cannot write to standard output (...)`` on stderr, exit status 1.
- Standard output closed early (``pcmodel exercises list | head -1``): the ``BrokenPipeError``
  unwinds like an interrupt, then the command exits quietly with status 141 (128 + SIGPIPE, what
  a shell reports for a tool that SIGPIPE killed), as Python's documentation recommends (its note
  on SIGPIPE): standard output is pointed at ``os.devnull`` so that the interpreter's last flush
  does not fail again.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pcmodel import __version__
from pcmodel.errors import UsageError

#: Exit status after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED = 130
#: Exit status for a user's mistake (argparse's own).
USAGE = 2
#: Exit status when standard output was closed before the command was done (128 + SIGPIPE).
BROKEN_PIPE = 141
#: Exit status when standard output could not be written (a full disk): the command failed.
FAILED = 1

COMMANDS: dict[str, str] = {
    "grade": "pcmodel.grading.cli",
    "exercises": "pcmodel.grading.export",
    "run": "pcmodel.experiments.cli",
    "bench": "pcmodel.experiments.bench",
    "explore": "pcmodel.sched.cli",
    "broker": "pcmodel.topics.cli",
    "cluster": "pcmodel.cluster.cli",
}


def _path(text: str) -> Path:
    """An option's ``type=Path`` value. An empty one is a mistake: ``Path("")`` is the current
    folder, which nobody means by giving nothing (an unset shell variable, say), and a check of
    it would answer for ``.`` instead (``--json .: give the file a suffix``)."""
    if not text:
        raise argparse.ArgumentTypeError("the value is empty; give a path")
    return Path(text)


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser whose mistakes are one line on stderr, as every other mistake of
    ``pcmodel``'s: what was wrong and where the options are described (argparse would print
    the whole usage block first). Its subcommands' parsers are of this class too, and every
    option of theirs declared ``type=Path`` refuses an empty value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", Path, _path)

    def error(self, message: str) -> Any:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` and exit with status 2."""
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every registered subcommand."""
    parser = OneLineParser(
        prog="pcmodel",
        description="Experiments, benchmarks and grading for the producer-consumer model.",
    )
    parser.add_argument("--version", action="version", version=f"pcmodel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


class _Interrupts:
    """What SIGINT and SIGTERM do while a command runs, and after.

    Raising (while the command works): the first one raises ``KeyboardInterrupt`` in the main
    thread, which unwinds through the command's ``finally`` blocks; later ones are only noted,
    so that the clean-up the first one started is not itself cut half-way. Holding (once the
    command's outcome is known, while its last line is printed and the interpreter exits):
    each one is only noted, and the caller decides what it means.

    A handler runs wherever the main thread is, also in a weakref callback or a ``__del__``
    (every import runs one), where Python drops the exception it raises: it printed "Exception
    ignored in ..." with a traceback and went on with the command to its end. So a dropped
    interrupt (``sys.unraisablehook`` sees it) is quietly sent again to the main thread, by a
    thread of its own, every few milliseconds until it is raised outside such a place: a signal
    is handled at the main thread's next line, which is still in the hook (there it is ignored)
    or in the callback (there it is dropped, and sent again).
    """

    def __init__(self) -> None:
        self.arrived: list[int] = []
        #: How many of :attr:`arrived` the command's outcome took into account.
        self.accounted = 0
        self._raising = True
        self._holding = False
        self._raised: KeyboardInterrupt | None = None  # the interrupt raised, until it unwound
        self._sent_again = False  # a dropped interrupt is being sent again
        self._in_hook = False
        self._senders: list[threading.Thread] = []
        self._previous: dict[int, Any] = {}
        self._previous_hook: Any = None

    def install(self) -> None:
        """Become the handler of both signals (main thread only)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._dropped

    def restore(self) -> None:
        """Give both signals back to the handlers they had before :meth:`install`."""
        for sender in self._senders:
            sender.join()  # it stops once its interrupt was raised, or once held
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._previous_hook is not None:
            sys.unraisablehook = self._previous_hook

    def hold(self) -> None:
        """From now on a signal is only noted in :attr:`arrived`."""
        self._raising = False
        self._holding = True
        self._raised = None  # it has unwound the command: let go of its frames

    def _handle(self, signum: int, frame: Any) -> None:
        if self._sent_again:  # the dropped interrupt again (noted when it first arrived)
            if self._in_hook:
                return  # raised here it would be dropped again: the next one comes soon
            self._sent_again = False
        else:
            self.arrived.append(signum)
        if self._raising:
            self._raising = False
            self._raised = KeyboardInterrupt()
            raise self._raised

    def _dropped(self, unraisable: Any) -> None:
        """``sys.unraisablehook``: the interrupt :meth:`_handle` raised, dropped where no
        exception propagates, is sent again; anything else is reported as before."""
        if unraisable.exc_value is None or unraisable.exc_value is not self._raised:
            self._previous_hook(unraisable)
            return
        self._raised = None
        if self._holding:
            return
        self._in_hook = True
        try:
            self._raising = self._sent_again = True
            sender = threading.Thread(target=self._send_again, name="pcmodel-interrupt",
                                      args=(threading.main_thread().ident,), daemon=True)
            self._senders.append(sender)
            sender.start()
        finally:
            self._in_hook = False

    def _send_again(self, main: int) -> None:
        """Signal the main thread until the interrupt it owes is raised (or the command's
        outcome is decided)."""
        while self._sent_again and not self._holding:
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.005)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[Callable[[], bool]]:
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the main thread once;
    later ones are ignored until the block ends (the clean-up they started must finish).

    Yields a function that says whether one arrived. An interrupt that Python drops (raised in
    a weakref callback or a ``__del__``) is sent again until it is raised elsewhere (see
    ``_Interrupts``), but the block may end first, normally after a Ctrl-C: the caller asks.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    interrupts = _Interrupts()
    interrupts.install()
    try:
        yield lambda: bool(interrupts.arrived)
    finally:
        interrupts.restore()


def signal_arrived() -> bool:
    """Whether a Ctrl-C or SIGTERM reached the running command (its handler noted one).

    A ``KeyboardInterrupt`` is either that signal, raised by the handler, or one that code
    raised itself (a student's module that does it at import, say); only this tells them
    apart, since the handler stays in place after the first signal. False outside a
    command (no handler of one installed). Never blocks.
    """
    owner = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    return isinstance(owner, _Interrupts) and bool(owner.arrived)


#: Commands whose normal end is Ctrl-C or SIGTERM (they say ``stopped`` and exit 0): a signal
#: that arrives once they have stopped changes nothing.
SERVING = frozenset({"broker", "cluster"})


def main(argv: Sequence[str] | None = None, *,
         at_exit: Callable[[Callable[[], None]], None] | None = None) -> int:
    """Entry point of the ``pcmodel`` command; returns the process exit status.

    Never raises for a signal, a mistake or a closed standard output: each ends in its one
    line (or none) and status, as the module's docstring lists. ``at_exit`` is for the console
    script (:mod:`pcmodel._console`), whose process ends when this returns: the handlers then
    stay, holding each signal, and ``at_exit`` is handed a check to run once the
    interpreter's own clean-up (``atexit``: multiprocessing's) is done, which reports a
    signal that arrived during it as the command's interruption. Without it the previous
    handlers are restored and a signal after the command is theirs.
    """
    if threading.current_thread() is not threading.main_thread():
        return _run(argv, _Interrupts())  # signals reach the main thread only
    interrupts = _Interrupts()
    interrupts.install()  # from here on no signal is lost, and none is a traceback
    try:
        status = _run(argv, interrupts)
    finally:
        if at_exit is None:
            interrupts.restore()
    if at_exit is not None:
        name = _command_name(argv)

        def report_late_signal() -> None:
            late = len(interrupts.arrived) > interrupts.accounted
            if late and status == 0 and name not in SERVING:
                _interrupted_at_exit(f"pcmodel {name}" if name else "pcmodel")

        at_exit(report_late_signal)
    return status


def _run(argv: Sequence[str] | None, interrupts: _Interrupts) -> int:
    """Parse ``argv``, run its command and turn every way it can end into one status."""
    name = "pcmodel"
    try:
        try:
            # Loading the commands takes a few tenths of a second: a Ctrl-C then gets the same
            # one line as later, not a traceback from the middle of an import.
            with _checked_stdout():
                parser = build_parser()
                try:
                    args = parser.parse_args(argv)
                except SystemExit:  # --help, --version, argparse's own errors
                    _flush_stdout()  # a closed pipe shows here, not in the last flush
                    raise
                if args.command is None:
                    parser.print_help()
                    _flush_stdout()
                    return USAGE
                name = f"pcmodel {args.command}"
                status = int(args.func(args) or 0)
                _flush_stdout()  # a closed pipe shows here, not in the interpreter's last flush
        finally:
            # The outcome is decided: a signal from here on must not cut its line in half.
            interrupts.hold()
        if interrupts.arrived and args.command not in SERVING:
            # The signal came as the command returned (or its KeyboardInterrupt, dropped by
            # Python in a ``__del__``, was still being sent again): interrupted all the same.
            raise KeyboardInterrupt
        interrupts.accounted = len(interrupts.arrived)  # a later one is reported at exit
        return status
    except BrokenPipeError:
        _drop_stdout()
        return BROKEN_PIPE
    except StdoutFailed as exc:
        _drop_stdout()
        print(f"{name}: error: cannot write to standard output ({exc.strerror or exc}); "
              "send it to a file or a program that has room for it", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except UsageError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return USAGE


def _command_name(argv: Sequence[str] | None) -> str | None:
    """The command ``argv`` (or ``sys.argv``) names, if any: the first word that is one."""
    words = sys.argv[1:] if argv is None else argv
    return next((word for word in words if word in COMMANDS), None)


def _interrupted_at_exit(name: str) -> None:
    """End the process as interrupted, from the last step of the interpreter's exit: what it
    printed is flushed first (``os._exit`` flushes nothing)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe or a full disk: the status says enough
        pass
    os.write(2, f"{name}: interrupted\n".encode())
    os._exit(INTERRUPTED)


def _flush_stdout() -> None:
    if sys.stdout is not None:  # None: the command was started with standard output closed
        sys.stdout.flush()


class StdoutFailed(OSError):
    """Standard output could not be written (a full disk, ``> /dev/full``, an I/O error)."""


class _CheckedStdout:
    """Standard output whose write failures are :class:`StdoutFailed`, told apart from the
    OSErrors of the command's own files and buffers (a closed pipe stays BrokenPipeError)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._checked(self._stream.write, text)

    def flush(self) -> None:
        self._checked(self._stream.flush)

    @staticmethod
    def _checked(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc.errno, exc.strerror) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _checked_stdout() -> Iterator[None]:
    """Within the block, ``sys.stdout`` raises :class:`StdoutFailed` when it cannot write."""
    stream = sys.stdout
    if stream is None:
        yield
        return
    sys.stdout = _CheckedStdout(stream)
    try:
        yield
    finally:
        sys.stdout = stream


def _drop_stdout() -> None:
    """Point standard output at ``os.devnull``: what is still buffered for the closed pipe is
    dropped at exit instead of raising again (Python's documentation, note on SIGPIPE)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a stream without a descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
