"""The ``pcmodel`` console script under Ctrl-C and SIGTERM at its first and last moments.

The script is the one ``pip install`` writes for ``[project.scripts]`` in pyproject.toml (the
template of pip's distlib), run as a real child. An audit hook in the child sends the signal
at a chosen point: the Nth module imported once the ``pcmodel`` package has loaded (the
commands are still loading), the moment the command's function has returned, or the
interpreter's exit (an ``atexit`` function, which runs beside multiprocessing's). Whatever
the point, stderr is one line and the status is the promised one: never a traceback, never
death by the signal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)  # pythons started under signals: slow on a busy machine

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM],
                                  ids=["ctrl-c", "sigterm"])


def _console_entry_point() -> tuple[str, str]:
    """``(module, function)`` of the ``pcmodel`` script in pyproject.toml's [project.scripts]."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^pcmodel\s*=\s*"([\w.]+):(\w+)"', section, re.MULTILINE)
    assert found, "pyproject.toml declares no pcmodel script"
    return found.group(1), found.group(2)


def _console_script() -> str:
    """The script pip writes for the entry point (pip's distlib template, word for word)."""
    module, function = _console_entry_point()
    return textwrap.dedent(f"""\
        import re
        import sys
        from {module} import {function}
        if __name__ == '__main__':
            sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
            sys.exit({function}())
        """)


# Run before the script: counts the modules imported from the moment the pcmodel package has
# loaded (its __init__ done, the first instruction of the command's own code next), and
# signals this process when the count reaches the one asked for.
AT_IMPORT = textwrap.dedent("""\
    import os, sys
    SIGNUM, AT = int(os.environ["SIGNAL_NUMBER"]), int(os.environ["SIGNAL_AT_IMPORT"])
    seen = []

    def hook(event, args):
        if event != "import":
            return
        if seen or hasattr(sys.modules.get("pcmodel"), "__version__"):
            seen.append(args[0])
            if len(seen) == AT:
                os.kill(os.getpid(), SIGNUM)

    sys.addaudithook(hook)
""")

# Run before the script: signals this process as the command's function returns.
AT_RETURN = textwrap.dedent("""\
    import argparse, os
    SIGNUM = int(os.environ["SIGNAL_NUMBER"])
    parse_args = argparse.ArgumentParser.parse_args

    def signalling_parse_args(self, *args, **kwargs):
        parsed = parse_args(self, *args, **kwargs)
        func = getattr(parsed, "func", None)
        if func is not None and self.prog == "pcmodel":
            def then_signal(*a, **k):
                status = func(*a, **k)
                os.kill(os.getpid(), SIGNUM)
                return status
            parsed.func = then_signal
        return parsed

    argparse.ArgumentParser.parse_args = signalling_parse_args
""")

# Run before the script: imports the script's module, then registers an exit function, which
# the interpreter runs before any that module registered (the reverse order): a signal while
# the interpreter exits (as one during multiprocessing's joins at exit).
AT_EXIT = textwrap.dedent(f"""\
    import atexit, os
    import {_console_entry_point()[0]}
    atexit.register(os.kill, os.getpid(), int(os.environ["SIGNAL_NUMBER"]))
""")


def _run(prelude: str, signum: int, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", prelude + _console_script(), *args],
        capture_output=True, text=True, timeout=150, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), SIGNAL_NUMBER=str(int(signum)), **env),
        # A child started in the background may inherit SIGINT ignored; a terminal's is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


EXERCISES = ("exercises", "list")


@SIGNALS
@pytest.mark.parametrize("at", [1, 2, 3, 5, 8, 13, 21, 40, 80, 160, 320])
def test_a_signal_while_the_console_script_loads_is_one_line(signum, at):
    child = _run(AT_IMPORT, signum, *EXERCISES, SIGNAL_AT_IMPORT=str(at))
    if child.returncode == 0:  # the command finished before its Nth import: nothing to see
        assert child.stderr == ""
        return
    assert child.returncode == 130, child.stderr
    assert re.fullmatch(r"pcmodel( exercises)?: interrupted\n", child.stderr), child.stderr


@SIGNALS
def test_a_signal_as_the_command_returns_is_one_line_and_130(signum):
    child = _run(AT_RETURN, signum, *EXERCISES)
    assert (child.returncode, child.stderr) == (130, "pcmodel exercises: interrupted\n")
    assert "01_condition_buffer" in child.stdout  # what it had printed is all there


@SIGNALS
def test_a_signal_while_the_interpreter_exits_is_one_line_and_130(signum):
    child = _run(AT_EXIT, signum, *EXERCISES)
    assert (child.returncode, child.stderr) == (130, "pcmodel exercises: interrupted\n")
    assert "01_condition_buffer" in child.stdout


def test_grading_a_file_ends_as_interrupted_when_sigterm_comes_at_exit():
    solution = ROOT / "exercises" / "01_condition_buffer" / "solution.py"
    child = _run(AT_EXIT, signal.SIGTERM, "grade", "01_condition_buffer", "--impl",
                 str(solution), "--no-progress")
    assert (child.returncode, child.stderr) == (130, "pcmodel grade: interrupted\n")
    assert "total: " in child.stdout  # the report was printed whole


@SIGNALS
def test_a_mistake_stays_one_line_when_a_signal_comes_at_exit(signum):
    child = _run(AT_EXIT, signum, "run", "--items", "-1")
    assert child.returncode == 2, child.stderr
    assert child.stderr.count("\n") == 1 and "error" in child.stderr, child.stderr


# Run before the script (after its own ``import re``, so that only what the script's
# ``from pcmodel._console import main`` loads is seen): names every module imported while
# SIGINT still has the handler the interpreter started with, and writes them to stderr, one
# line, as the first import after the handler has changed.
UNCOVERED_IMPORTS = textwrap.dedent("""\
    import os, re, sys, _signal
    started_with = _signal.getsignal(_signal.SIGINT)
    uncovered = []

    def hook(event, args):
        if event != "import" or uncovered is None:
            return
        if _signal.getsignal(_signal.SIGINT) is started_with:
            uncovered.append(args[0])
        else:
            os.write(2, ("uncovered: " + " ".join(uncovered) + "\\n").encode())
            del uncovered[:]
            globals()["uncovered"] = None

    sys.addaudithook(hook)
""")


def test_the_console_script_installs_its_handlers_before_anything_heavy_loads():
    # Only the package's __init__ and the console module itself load before the Ctrl-C
    # handler is in place: pcmodel.errors (queue, threading) took ~50 ms of that window.
    child = _run(UNCOVERED_IMPORTS, signal.SIGINT, *EXERCISES)
    assert child.returncode == 0, child.stderr
    found = re.fullmatch(r"uncovered: ([\w. ]*)\n", child.stderr)
    assert found, child.stderr
    uncovered = found.group(1).split()
    assert "queue" not in uncovered and "threading" not in uncovered, uncovered
    assert set(uncovered) <= {"pcmodel", "pcmodel._console"}, uncovered


def test_shutdown_is_still_importable_from_the_package():
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""\
            import sys
            import pcmodel
            assert "queue" not in sys.modules and "pcmodel.errors" not in sys.modules
            assert "ShutDown" in dir(pcmodel) and "ShutDown" in pcmodel.__all__
            from pcmodel import ShutDown
            from pcmodel.errors import ShutDown as the_class
            assert ShutDown is the_class is pcmodel.ShutDown
            try:
                pcmodel.NoSuchName
            except AttributeError as error:
                assert "NoSuchName" in str(error)
            else:
                raise AssertionError("pcmodel.NoSuchName did not raise")
            """)],
        capture_output=True, text=True, timeout=150, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert (child.returncode, child.stderr) == (0, ""), child.stderr
