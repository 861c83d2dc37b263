"""The report's front page reports: results tables first, rounded numbers, a failed notebook on
top in red, inline figures, and a static explorer whose slider works without a kernel."""

from __future__ import annotations

import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from test_browser import CHROMIUM_ARGS, chromium, screenshot_dir  # noqa: F401  (fixtures)

from tacfn_lite.config import get_config
from tacfn_lite.frontpage import index_html
from tacfn_lite.model import build_model
from tacfn_lite.viz import save_figure, write_static_explorer

METRICS = {
    "00.ceilings": {"synchrony": {"audio": 0.5, "video": 0.125, "late": 0.5, "fusion": 1.0}},
    "04.tacfn": {"test_accuracy": 0.9895833333333334, "test_uar": 0.99, "test_macro_f1": 0.9876,
                 "best_epoch": 11},
    "04.claim.tacfn": {"test_accuracy": 0.97, "test_uar": 0.97, "test_macro_f1": 0.97,
                       "best_epoch": 17},
    "04.claim.late": {"test_accuracy": 0.5, "test_uar": 0.5, "test_macro_f1": 0.45, "best_epoch": 2},
    "04.claim.gap_points": {"concat": 45.0, "late": 47.0},
    "04.concat": {"test_accuracy": 0.4895833333333333, "test_uar": 0.49, "test_macro_f1": 0.47,
                  "best_epoch": 3},
    "06.validity": {"tacfn": {"n_clips": 32, "n_correct": 24, "audio_select_pointing": 0.82,
                              "audio_select_chance": 0.05, "video_weight_pointing": 0.8,
                              "video_weight_chance": 0.13, "ig_audio_pointing": 0.7,
                              "ig_video_pointing": 0.6, "ig_audio_chance": 0.25,
                              "ig_video_chance": 0.045, "deletion_auc_ratio": 0.41},
                    "concat": {"n_clips": 32, "n_correct": 16, "audio_select_pointing": None,
                               "ig_video_pointing": 0.5, "ig_video_chance": 0.045}},
    "07.robustness": {"tacfn | clean": 0.99, "tacfn | audio zeros": 0.12,
                      "tacfn | video zeros": 0.5},
}


@pytest.fixture
def run_folder(tmp_path, synthav):
    """A report run folder as ``run_report`` leaves it: figures, explorer, metrics."""
    run_dir = tmp_path / "run"
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    save_figure(fig, run_dir / "figures" / "04_comparison_synchrony.png", dpi=40)
    plt.close(fig)
    arrays = synthav("synchrony")
    model = build_model(get_config("tiny", variant="synchrony").model)
    write_static_explorer(model, arrays, np.arange(3), run_dir / "explorer", dpi=30)
    notebooks = [{"notebook": "04_training.ipynb", "executed": "04_training.ipynb",
                  "status": "ok", "seconds": 12.3, "html": "04_training.html"}]
    run = {"run_id": "test", "status": "ok", "quick": True, "seconds_total": 61.0,
           "seeds": {"seed": 0}, "parameters": {"variant": "synchrony", "run_dir": str(run_dir)},
           "environment": {"git": {"commit": "abc123", "dirty": False},
                           "versions": {"torch": "2.13.0"},
                           "machine": {"device": "cpu", "device_name": "cpu (x)"}},
           "data": {"synthav": {"variant": "synchrony", "size": "quick", "content_hash": "h"}},
           "notebooks": notebooks, "figures": ["04_comparison_synchrony.png"],
           "figures_dir": str(run_dir / "figures"), "metrics": METRICS}
    return run, run_dir


def test_front_page_opens_with_rounded_results_before_the_environment(run_folder):
    run, run_dir = run_folder
    page = index_html(run, run_dir)
    heads = re.findall(r"<h2>(.*?)</h2>", page)
    assert heads[:5] == ["The claim: synchrony", "Comparison", "Explanation validity",
                         "Robustness", "Explore the maps"]
    assert "45.0 points above concat and 47.0 above late fusion</b>: the claim holds" in page
    claim_table = page[page.index("The claim"):page.index("<h2>Comparison")]
    assert "<td>tacfn</td><td>97.0</td>" in claim_table and "<td>late</td><td>50.0</td>" in claim_table
    assert "<td>97.0</td><td>18</td>" in claim_table  # best_epoch 17 counted from 0: epoch 18
    assert "claim.tacfn" not in page[page.index("<h2>Comparison"):]  # not repeated below
    assert heads.index("Environment") > heads.index("Figures")
    assert "<td>99.0</td>" in page and "<td>49.0</td>" in page  # rounded, in %
    assert "0.4895833333333333" not in page and "48.958" not in page
    assert "fusion 100.0" in page and "chance 12.5" in page  # ceilings and chance beside
    assert "<img src='figures/04_comparison_synchrony.png'" in page
    assert "class='fail'" not in page
    assert "<p class='cap'>SynthAV synchrony, notebook 06: notebook 04&#x27;s models on the first test clips" in page  # what each table shows
    validity = page[page.index("<h2>Explanation validity"):page.index("<h2>Robustness")]
    # each pointing rate beside its own chance: cells for the video map, pixels for IG's
    assert ("<td>tacfn</td><td>24 of 32</td><td>82.0 (5.0)</td><td>80.0 (13.0)</td>"
            "<td>70.0 (25.0)</td><td>60.0 (4.5)</td><td>0.41</td>") in validity
    assert "<td>concat</td><td>16 of 32</td><td>–</td><td>–</td><td>–</td><td>50.0 (4.5)</td>" \
        in validity  # no map of its own (null in metrics.json) is a dash
    assert "TACFN of the claim (SynthAV synchrony, notebook 05): 3 test clips" in page


def test_a_failed_notebook_is_shown_first_with_its_cell_and_error(run_folder):
    run, run_dir = run_folder
    run["notebooks"].append({"notebook": "05_attention_maps.ipynb", "executed": "05.ipynb",
                             "status": "failed", "seconds": 1.0, "cell": "In [7]",
                             "error": "ValueError: boom", "cell_source": "explode()"})
    page = index_html(run, run_dir)
    fail = page.index("class='fail'")
    assert fail < page.index("<h2>Comparison</h2>")
    assert "05_attention_maps.ipynb failed</b> at cell In [7]: ValueError: boom" in page


def test_static_explorer_lists_every_clip_with_its_image(run_folder):
    _, run_dir = run_folder
    clips = json.loads((run_dir / "explorer" / "explorer.json").read_text())["clips"]
    assert len(clips) == 3 and {c["image"] for c in clips} == {f"clip_{i:03d}.png" for i in range(3)}
    for c in clips:
        assert (run_dir / "explorer" / c["image"]).read_bytes()[:4] == b"\x89PNG"
        assert c["correct"] == (c["pred"] == c["true"]) and 0.0 <= c["prob"] <= 1.0


@pytest.mark.browser
def test_front_page_renders_tables_images_and_a_working_slider(run_folder, chromium,  # noqa: F811
                                                               screenshot_dir):  # noqa: F811
    from playwright.sync_api import sync_playwright

    run, run_dir = run_folder
    (run_dir / "index.html").write_text(index_html(run, run_dir))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.goto((run_dir / "index.html").as_uri())
        assert page.locator("table").count() >= 4
        assert page.locator("table tr").count() >= 10
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) >= 2 and all(w > 0 for w in widths), widths  # every image rendered
        first = page.get_attribute("#ex-image", "src")
        label = page.inner_text("#ex-label")
        page.locator("#ex-slider").fill("2")
        page.wait_for_function(f"document.getElementById('ex-image').src.indexOf('{first}') < 0")
        assert page.get_attribute("#ex-image", "src") == "explorer/clip_002.png"
        assert page.inner_text("#ex-label") != label
        page.screenshot(path=str(screenshot_dir / "report_front_page.png"), full_page=True)
        browser.close()
