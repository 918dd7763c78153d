"""The depth panel stays readable at any number of items: per-bin range and time-weighted mean."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection  # noqa: E402

from pcmodel.plots import depth  # noqa: E402
from pcmodel.plots.depth import depth_bins  # noqa: E402
from pcmodel.plots.runs import _Bars  # noqa: E402


def test_bins_hold_the_range_and_the_time_weighted_mean():
    # depth 0 on [0, 1), 4 on [1, 1.5), 2 on [1.5, 2]: two bins of one second each.
    edges, lows, highs, means = depth_bins([(0.0, 0), (1.0, 4), (1.5, 2), (2.0, 2)], 2)
    assert edges == [0.0, 1.0]
    assert (lows, highs) == ([0, 2], [0, 4])
    assert means == pytest.approx([0.0, 3.0])


def test_dense_samples_draw_a_band_and_a_mean_sparse_ones_a_step_line():
    from matplotlib.figure import Figure

    dense = tuple((i * 0.001, i % 5) for i in range(4000))
    sparse = dense[:50]
    for samples, band in ((dense, True), (sparse, False)):
        ax = Figure().subplots()
        depth.draw_depth(ax, _Bars((), samples, 4), "time (s)")
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert bool(bands) is band
        labels = [line.get_label() for line in ax.get_lines()]
        assert ("items in buffer: time-weighted mean" in labels) is band
