"""Every lesson notebook runs top to bottom in a fresh Jupyter kernel, without an error.

The notebooks are executed headless through nbclient with a real ipykernel (the ``python3``
kernel, which jupyter_client starts with this test's own interpreter, so the kernel imports the
pcmodel under test). They are also checked to be stored without outputs and to match their
generator, ``notebooks/build.py``, so that what is reviewed is what runs.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT = 60  # seconds for one cell
NOTEBOOK_BUDGET = 60  # seconds for a whole notebook on a 2-core machine (the lessons' promise)


def load_builder():
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOK_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute(notebook, cwd: Path):
    """Run ``notebook`` in a fresh kernel with ``cwd`` as working directory; return it run."""
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return notebook


def test_there_are_lessons():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]
    assert len(NOTEBOOKS) >= 4


@pytest.mark.timeout(30)
def test_stored_notebooks_match_their_generator_and_have_no_outputs():
    builder = load_builder()
    assert sorted(builder.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        stored = path.read_text(encoding="utf-8")
        assert stored == builder.render(path.name), (
            f"{path.name} differs from notebooks/build.py: run python notebooks/build.py"
        )
        notebook = nbformat.reads(stored, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name
        assert notebook.metadata.kernelspec.name == KERNEL


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
@pytest.mark.timeout(NOTEBOOK_BUDGET * 3)  # generous: a loaded CI machine is slower
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
