"""The ``pcmodel`` console script: Ctrl-C gets its one line from the first instruction on.

The script that ``pip install`` writes imports this module, then calls :func:`main`. Until
:func:`pcmodel.cli.main` takes the signals over, the commands' code is still loading (argparse,
then every command's module): nothing has been started and nothing written, so a Ctrl-C or
SIGTERM there prints ``pcmodel: interrupted`` and ends the process with status 130 at once,
instead of a ``KeyboardInterrupt`` traceback from the middle of an import. That is why this
module installs that handler before anything else, with ``_signal`` (the C module behind
``signal``) and ``os``, which the interpreter loaded before any script ran: not even an import
runs uncovered. It loads :mod:`pcmodel.cli` only after. (What runs before this module is the
script's ``import re`` and the ``pcmodel`` package's own ``__init__``, which imports nothing:
``pcmodel.ShutDown`` loads on first use, so ``queue`` and ``threading`` load covered too.)

After the command, the process still has work to do: the interpreter's exit runs ``atexit``
functions (multiprocessing's joins the workers it still knows of). A signal then is held, and
the check :func:`pcmodel.cli.main` hands over runs last of all (``atexit`` runs its functions
in the reverse order of registration, and this module registers first): it reports the signal
as the command's interruption, one line and status 130, never a traceback.

``pcmodel.cli.main`` stays the function to call from Python (tests, notebooks): importing
this module changes the process's signal handlers, so only the console script does.
"""

import _signal  # noqa: I001 - first, and in this order: see the module's docstring
import os


def _interrupted_while_loading(signum: int, frame: object) -> None:
    os.write(2, b"pcmodel: interrupted\n")
    os._exit(130)  # nothing started yet: nothing to stop, flush or reap


for _signum in (_signal.SIGINT, _signal.SIGTERM):
    _signal.signal(_signum, _interrupted_while_loading)

import atexit  # noqa: E402 - after the handlers, which cover its loading

__all__ = ["main"]

_checks_at_exit: list = []


def _run_checks_at_exit() -> None:
    for check in _checks_at_exit:
        check()


atexit.register(_run_checks_at_exit)


def main() -> int:
    """Run the command ``sys.argv`` names and return its exit status (see :mod:`pcmodel.cli`);
    the handlers installed when this module was imported cover the loading before it."""
    from pcmodel.cli import main as command_main

    return command_main(at_exit=_checks_at_exit.append)
