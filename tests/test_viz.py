"""Figures (viz.py): what a reader must be able to see in them."""

from __future__ import annotations

import pytest


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
    assert "audio_select (curve: 0.0000 at the bottom to 0.0500 at the top)" in titles(fig2)
    plt.close("all")


def test_a_signed_pixel_map_is_not_faded_by_a_few_extreme_pixels():
    """IG's video map: one pixel 100× the rest set the colour scale, and every other pixel showed
    at about a tenth of full opacity (the notebook 06 figure looked empty)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from tacfn_lite.viz import plot_video_map

    ig = np.full((8, 32, 32), 0.01)
    ig[3, 5, 5] = 1.0  # one extreme pixel
    ig[4] = -0.01
    fig = plot_video_map(np.zeros((8, 32, 32, 3), np.uint8), ig, signed=True, n_show=8)
    overlay = fig.axes[4].images[1]  # frame 4: the image, then the map
    assert overlay.get_clim() == pytest.approx((-0.01, 0.01))  # ± the 99th percentile of |IG|
    assert np.asarray(overlay.get_alpha()).min() > 0.8  # the moderate pixels are seen
    sparse = np.zeros((8, 32, 32))
    sparse[0, 0, 0] = -2.0  # 99th percentile 0: the maximum sets the scale
    assert plot_video_map(np.zeros((8, 32, 32, 3), np.uint8), sparse, signed=True).axes[0] \
        .images[1].get_clim() == pytest.approx((-2.0, 2.0))
    plt.close("all")


def test_every_heat_map_has_a_colour_bar_with_its_range_and_a_missing_map_has_none():
    import matplotlib.pyplot as plt
    import numpy as np

    from tacfn_lite.viz import plot_explanation

    frames = np.zeros((8, 32, 32, 3), np.uint8)
    grid_map = np.linspace(0.0, 0.5, 8 * 16).reshape(8, 4, 4)
    ig_audio = np.random.default_rng(0).uniform(-1, 1, size=(63, 13))
    ig_audio[0, 0] = -3.0
    bars = lambda fig: [c.get_ylim() for ax in fig.axes for c in ax.child_axes]  # noqa: E731
    fig = plot_explanation(frames, ig_audio, grid_map, ig_audio)
    assert bars(fig) == [pytest.approx((0.0, 0.5)), pytest.approx((-3.0, 3.0))]
    assert bars(plot_explanation(frames, ig_audio, None, np.ones(63))) == []  # curve: in title
    tiny = plot_explanation(frames, 1e-6 * ig_audio, 1e-6 * grid_map, 1e-6 * ig_audio)
    tiny.canvas.draw()  # an offset label ("1e-6") on a bar overlapped the last frame's title
    assert [c.yaxis.get_offset_text().get_text() for ax in tiny.axes for c in ax.child_axes] \
        == ["", ""]
    plt.close("all")
