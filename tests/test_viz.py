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


def test_a_map_the_model_does_not_have_is_titled_as_missing_and_a_curve_states_its_scale():
    """The official TACFN selects the last audio step: it has no audio selection map to draw."""
    import matplotlib.pyplot as plt
    import numpy as np

    from tacfn_lite.viz import plot_explanation

    frames = np.zeros((8, 32, 32, 3), np.uint8)
    mfcc = np.random.default_rng(0).normal(size=(63, 13))
    titles = lambda fig: " | ".join(ax.get_title() for ax in fig.axes)  # noqa: E731
    fig = plot_explanation(frames, mfcc, np.ones((8, 4, 4)) / 128, None,
                           map_names=("video_weight", "audio_select"))
    assert "audio_select: none in this model" in titles(fig) and "video_weight:" not in titles(fig)
    curve = np.linspace(0.0, 0.05, 63)
    fig2 = plot_explanation(frames, mfcc, None, curve, map_names=("video_weight", "audio_select"))
    assert "audio_select (curve: 0.000 at the bottom to 0.050 at the top)" in titles(fig2)
    plt.close("all")
