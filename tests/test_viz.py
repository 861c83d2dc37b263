"""Figures (viz.py): what a reader must be able to see in them."""

from __future__ import annotations


def test_accuracy_bars_draw_equal_ceilings_as_one_labelled_line():
    import matplotlib.pyplot as plt

    from tacfn_lite.viz import plot_accuracy_bars

    fig = plot_accuracy_bars({"tacfn": 0.8}, {"audio": 0.5, "video": 0.5, "late": 1.0,
                                              "fusion": 1.0})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert labels == ["audio = video ceiling", "late = fusion ceiling", "chance"]
