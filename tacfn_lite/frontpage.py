"""The report's front page, ``reports/<run>/index.html`` (README "Report"); plain HTML, offline."""

import html
import json
import os
from pathlib import Path

from .cards import pct
from .io import read_json

e = html.escape
STYLE = ("body{font-family:sans-serif;max-width:64em;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:3px 9px;"
         "border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child"
         "{text-align:left}.fail{background:#fde2e2;border:2px solid #c00;padding:.6em 1em}"
         ".thumbs a{display:inline-block;margin:4px;text-align:center;font-size:.8em}"
         ".thumbs img{height:140px;border:1px solid #ccc}.cap{color:#555;margin:.3em 0 0}")
KEY_FIGURES = ("04_comparison", "04_learning_curves", "05_", "06_deletion", "07_robustness")


def table(head: list[str], rows: list[list], caption: str = "", empty: str = "") -> str:
    """An HTML table (cells escaped), or the paragraph ``empty`` (if given) without rows."""
    if empty and not rows:
        return f"<p>{e(empty)}</p>"
    th = "".join(f"<th>{e(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    cap = f"<p class='cap'>{e(caption)}</p>" if caption else ""  # a <caption> wraps to the table
    return f"{cap}<table><tr>{th}</tr>{body}</table>"


def comparison(metrics: dict, variant: str, prefix: str = "04.") -> str:
    """Test accuracy, UAR and macro F1 per model (notebook 04) next to ceilings and chance;
    ``prefix="04.claim."`` gives the claim's table (section 5, always `synchrony`)."""
    rows = [[k.removeprefix(prefix), pct(v["test_accuracy"]), pct(v["test_uar"]),
             pct(v["test_macro_f1"]), v["best_epoch"] + 1 if "best_epoch" in v else ""]
            for k, v in metrics.items() if k.startswith(prefix) and "." not in
            k.removeprefix(prefix) and isinstance(v, dict) and "test_accuracy" in v]
    ceil = (metrics.get("00.ceilings") or {}).get(variant, {})
    note = ("Designed ceilings: " + ", ".join(f"{k} {pct(c)}" for k, c in ceil.items())
            + "; " if ceil else "") + "chance 12.5 (8 classes). Test actors never seen in training."
    return table(["model", "accuracy %", "UAR %", "macro F1 %", "epoch picked (from 1)"], rows,
                 f"SynthAV {variant}, test fold. {note}", "Not recorded (notebook 04 did not run).")


def claim(metrics: dict) -> str:
    """TACFN against concat and late fusion on `synchrony` and the verdict (≥ 20 points)."""
    gap = metrics.get("04.claim.gap_points")
    verdict = "" if not gap else (
        f"<p><b>TACFN is {gap['concat']:.1f} points above concat and {gap['late']:.1f} above late "
        f"fusion</b>: the claim {'holds' if min(gap.values()) >= 20 else 'is NOT shown'} "
        "in this run (20 points required).</p>")
    return verdict + comparison(metrics, "synchrony", "04.claim.")


def validity(metrics: dict, variant: str) -> str:
    """Pointing game (each beside its chance), deletion per model (notebook 06)."""
    tables = metrics.get("06.validity") or {}
    maps = dict(audio_select="audio map", video_weight="video map", ig_audio="IG audio",
                ig_video="IG video")
    num = lambda t, k: isinstance(t.get(k), (int, float)) and t[k] == t[k]  # NaN/None: none
    hit = lambda t, k: (f"{pct(t[k + '_pointing'])} ({pct(t[k + '_chance'])})"
                        if num(t, k + "_pointing") and num(t, k + "_chance") else "–")
    rows = [[m, f"{t['n_correct']:.0f} of {t['n_clips']:.0f}" if num(t, "n_clips") else "?",
             *(hit(t, k) for k in maps), f"{t['deletion_auc_ratio']:.2f}"
             if num(t, "deletion_auc_ratio") else "–"] for m, t in tables.items()]
    return table(["model", "clips scored", *(f"{v} → cue % (chance)" for v in maps.values()),
                  "deletion AUC / random"], rows, f"SynthAV {variant}, notebook 06: notebook 04's "
                 "models on the first test clips, scored where each is right. Chance: what a "
                 "random map hits (the cue's share of audio frames; video cells for the map, "
                 "pixels for IG).", "No validity table recorded (notebook 06).")


def robustness(metrics: dict, variant: str) -> str:
    """Accuracy per model under a missing modality (notebook 07), clean first."""
    acc = metrics.get("07.robustness") or {}
    pairs = [k.split(" | ", 1) for k in acc]
    models = list(dict.fromkeys(m for m, _ in pairs))
    conds = [c for c in ("clean", "audio zeros", "audio mean", "video zeros", "video mean")
             if any(c == k for _, k in pairs)]
    rows = [[c] + [pct(acc.get(f"{m} | {c}")) for m in models] for c in conds]
    return table(["condition"] + models, rows, f"SynthAV {variant}: test accuracy % with one "
                 "modality removed.", "No robustness summary recorded (notebook 07).")


def thumbnails(figures: list[str], fig_dir: str) -> str:
    """Key figures first, every figure as a thumbnail linking to the full-size image."""
    order = sorted(figures, key=lambda f: (not Path(f).name.startswith(KEY_FIGURES), f))
    links = "".join(f"<a href='{e(fig_dir)}/{e(f)}'><img src='{e(fig_dir)}/{e(f)}' alt='{e(f)}'>"
                    f"<br>{e(Path(f).stem)}</a>" for f in order if f.endswith(".png"))
    return f"<div class='thumbs'>{links}</div>" if links else "<p>No figures.</p>"


def explorer(run_dir: Path) -> str:
    """The static explorer written by ``viz.write_static_explorer`` (slider + menus, no kernel)."""
    index = run_dir / "explorer" / "explorer.json"
    if not index.is_file():
        return "<p>No static explorer in this run (notebook 05 writes it).</p>"
    clips = read_json(index, "static explorer index")["clips"]
    return (f"<p>TACFN of the claim (SynthAV synchrony, notebook 05): {len(clips)} test clips of "
            "unseen actors, frames with the video weights, MFCC with the audio selection, the "
            "ground-truth cue outlined.</p><div id='explorer'><p id='ex-label'></p>"
            "<input id='ex-slider' type='range' min='0' "
            f"max='{len(clips) - 1}' value='0' style='width:30em'> <select id='ex-filter'>"
            "<option value='all'>all clips</option><option value='right'>correct</option>"
            "<option value='wrong'>wrong</option></select><br><img id='ex-image' alt='maps' "
            "style='max-width:100%'></div><script>const CLIPS=" + json.dumps(clips) + ";"
            "const s=document.getElementById('ex-slider'),f=document.getElementById('ex-filter');"
            "function shown(){return CLIPS.filter(c=>f.value=='all'||(f.value=='right')=="
            "c.correct)}function draw(){const L=shown();s.max=Math.max(L.length-1,0);const c="
            "L[Math.min(s.value,L.length-1)];if(!c)return;"
            "document.getElementById('ex-image').src='explorer/'+c.image;"
            "document.getElementById('ex-label').textContent=c.clip_id+': predicted '+c.pred+"
            "' (p='+c.prob.toFixed(2)+'), true '+c.true+(c.correct?' ✓':' ✗')}"
            "s.oninput=draw;f.onchange=draw;draw();</script>")


def failures(notebooks: list[dict]) -> str:
    return "".join(f"<div class='fail'><b>{e(n['notebook'])} {e(n['status'])}</b> at cell "
                   f"{e(n['cell'])}: {e(n['error'])}<br><code>{e(n.get('cell_source', ''))}"
                   "</code></div>"
                   for n in notebooks if n["status"] != "ok")


def environment(run: dict) -> str:
    env, data = run["environment"], (run.get("data") or {}).get("synthav") or {}
    git = env["git"]
    rows = [["commit", f"{git['commit']}" + (" (uncommitted changes)" if git["dirty"] else "")],
            ["device", env["machine"].get("device_name", "")], ["seed", run["seeds"]["seed"]],
            ["data", f"SynthAV {data.get('variant')} {data.get('size')}, content hash "
             f"{data.get('content_hash')}" if data else "–"],
            ["versions", ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)]]
    return table(["", ""], rows)


def index_html(run: dict, run_dir: Path) -> str:
    """The whole front page of one report run."""
    m, variant = run["metrics"], run["parameters"].get("variant", "")
    nb_rows = [[n["notebook"], n["status"], n["seconds"], n.get("cell", "") + " " +
                n.get("error", "")] for n in run["notebooks"]]
    links = " · ".join(f"<a href='{e(n.get('html', ''))}'>{e(n['notebook'][:2])}</a>"
                       for n in run["notebooks"])
    fig_dir = os.path.relpath(run["figures_dir"], run_dir)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>tacfn-lite report "
            f"{e(run['run_id'])}</title><style>{STYLE}</style></head><body>"
            f"<h1>tacfn-lite report {e(run['run_id'])}</h1>{failures(run['notebooks'])}"
            f"<p>{'Quick' if run['quick'] else 'Full'} run, status <b>{e(run['status'])}</b>, "
            f"{run['seconds_total']:.0f} s. Notebooks: {links}</p>"
            f"<h2>The claim: synchrony</h2>{claim(m)}"
            f"<h2>Comparison</h2>{comparison(m, variant)}<h2>Explanation validity</h2>"
            f"{validity(m, variant)}<h2>Robustness</h2>{robustness(m, variant)}"
            f"<h2>Explore the maps</h2>"
            f"{explorer(run_dir)}<h2>Figures</h2>{thumbnails(run['figures'], fig_dir)}"
            f"<h2>Environment</h2>{environment(run)}<h2>Notebooks</h2>"
            f"{table(['notebook', 'status', 'seconds', 'error'], nb_rows)}"
            "<p>Raw: <a href='run.json'>run.json</a> · <a href='metrics.json'>metrics.json</a>"
            "</p></body></html>")
