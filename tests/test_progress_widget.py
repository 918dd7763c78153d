"""Progress bars: tqdm's widget only inside a running Jupyter kernel, the text bar elsewhere."""

from __future__ import annotations

import pytest

from pcmodel.experiments.progress import ProgressBar


def test_an_imported_but_idle_ipykernel_does_not_make_a_widget(capsys):
    pytest.importorskip("ipykernel.kernelapp")  # imported, as a test suite may have done
    with ProgressBar(2, "job", enabled=True) as bar:
        assert bar._widget is None
        bar.advance(2)
    assert "job [" in capsys.readouterr().err
