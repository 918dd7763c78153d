"""Every lesson notebook runs top to bottom in a fresh Jupyter kernel, without an error.

Each lesson has one readable source, ``notebooks/NN_name.py`` in jupytext's percent format, paired
with the ``NN_name.ipynb`` that Jupyter opens. The pair must hold the same cells, and the
``.ipynb`` no outputs, so that what is reviewed is what runs; any ``NN_*.py`` is picked up.
The notebooks are executed headless through nbclient with a real ipykernel (the ``python3``
kernel, which jupyter_client starts with this test's own interpreter, so the kernel imports the
pcmodel under test). Progress shows as tqdm's notebook widget, not as text redrawn on stderr.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
KERNEL = "python3"
PAIRING = "ipynb,py:percent"
CELL_TIMEOUT = 120  # seconds for one cell, on a machine busy with other work too
NOTEBOOK_BUDGET = 60  # seconds for a whole notebook on a 2-core machine (the lessons' promise)
WIDGET = "application/vnd.jupyter.widget-view+json"


def execute(notebook, cwd: Path):
    """Run ``notebook`` in a fresh kernel with ``cwd`` as working directory; return it run."""
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(cwd)}},
    )
    # Running it puts Python's default SIGINT handler back in this process (the xdist worker
    # that runs the test ignores SIGINT, and later tests' children would inherit the change).
    sigint = signal.getsignal(signal.SIGINT)
    try:
        client.execute()
    finally:
        signal.signal(signal.SIGINT, sigint)
    return notebook


def test_there_are_lessons_each_with_one_source_and_its_pair():
    numbers = [p.name[:2] for p in SOURCES]
    assert len(numbers) >= 6 and len(set(numbers)) == len(numbers), numbers
    assert [p.stem for p in SOURCES] == [p.stem for p in NOTEBOOKS], (
        "every notebooks/NN_name.py needs its NN_name.ipynb and the reverse: "
        "jupytext --to ipynb notebooks/NN_name.py"
    )


def cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_each_ipynb_holds_the_cells_of_its_source_and_no_outputs(source):
    paired = source.with_suffix(".ipynb")
    text = jupytext.read(source)
    stored = nbformat.read(paired, as_version=4)
    assert cells(stored) == cells(text), (
        f"{paired.name} differs from {source.name}: edit the .py, then "
        f"jupytext --sync notebooks/{source.name}"
    )
    for cell in stored.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{paired.name} stores outputs: jupyter nbconvert --clear-output --inplace "
                f"notebooks/{paired.name}"
            )
    for notebook in (text, stored):
        assert notebook.metadata["jupytext"]["formats"] == PAIRING
        assert notebook.metadata["kernelspec"]["name"] == KERNEL


@pytest.mark.timeout(60)
def test_kernel_runs_this_interpreter(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "import sys, pcmodel; print(sys.executable); print(pcmodel.__file__)")]
    execute(notebook, tmp_path)
    executable, package = notebook.cells[0].outputs[0]["text"].split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    import pcmodel

    assert Path(package).resolve() == Path(pcmodel.__file__).resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
@pytest.mark.timeout(NOTEBOOK_BUDGET * 5)  # generous: a loaded CI machine is slower
def test_notebook_runs_without_error(path):
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    execute(notebook, path.parent)  # relative paths in a lesson are relative to notebooks/
    elapsed = time.perf_counter() - started
    print(f"{path.name}: {elapsed:.1f} s")
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    images = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for output in cell.outputs)
    assert images >= 1, f"{path.name} drew no chart"
    # Progress is tqdm's widget where the lesson shows progress; never text bars on stderr.
    stderr = "".join(output.get("text", "") for cell in notebook.cells
                     if cell.cell_type == "code" for output in cell.outputs
                     if output.get("name") == "stderr")
    assert "[####" not in stderr and "[...." not in stderr, f"{path.name}: a text progress bar"
    if "progress=True" in path.read_text() or "enabled=True" in path.read_text():
        pytest.importorskip("ipywidgets")
        widgets = sum(WIDGET in output.get("data", {}) for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.outputs)
        assert widgets >= 1, f"{path.name} shows no progress widget"
