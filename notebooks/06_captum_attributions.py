# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Captum attributions: which inputs cause the prediction, and can we trust that?
#
# **Goal.** Attention weights say where a model looks, not what it uses. Attributions answer
# the causal question: how much each MFCC value and each pixel moved the logit of the
# predicted class. We compute them with Captum on **both modalities at once**, sanity-check
# them (completeness, model randomisation), and score them against SynthAV ground truth for
# TACFN, a MulT-style block and concat, side by side.

# %% tags=["parameters"]
# Parameters: papermill (tacfn-lite report) overrides these. Paths are relative to notebooks/.
variant = "complementary"  # SynthAV variant: complementary | redundant | synchrony
quick = True  # True: quick set, short runs (04's claim: full synchrony set, a few minutes)
seed = 0
epochs = 0  # 0: the course's epochs (quick 12, claim 24, full 40); n > 0: every model n (smoke run)
device = "auto"  # auto | cpu | cuda | mps
checkpoint_dir = "../runs/course"  # models trained once (01, 02, 04) and reused by later notebooks
figures_dir = "../reports/interactive/figures"  # the README's figures/ change only via make figures
run_dir = "../reports/interactive"  # record() writes metrics to run_dir/metrics.json
cache_dir = "../.cache/tacfn_lite"  # SynthAV cache

# %%
import pandas as pd
import torch

from tacfn_lite import course, explain
from tacfn_lite.data import load_arrays, to_batch
from tacfn_lite.data.splits import split_indices
from tacfn_lite.report import record
from tacfn_lite.validity import unit_scores, validity_table
from tacfn_lite.viz import (plot_explanation, plot_modality_importance,
                            plot_perturbation_curves, save_figure)

# %% [markdown]
# ## 1. Models and clips
#
# Three fused models trained on the same split (notebook 04's checkpoints, trained here if
# missing): TACFN, MulT-style full cross-attention, and concat of pooled features. Captum
# sees each through `explain.LogitsForward`, a tensor-only forward `(audio, video) → logits`.

# %%
course_run = course.Course(variant, quick, seed, device, cache_dir, checkpoint_dir, epochs)
cfg = course_run.config("tacfn")
arrays = load_arrays(cfg.data, progress=False)
models = {name: course_run.trained(course_run.config(name), arrays)[0]
          for name in ("tacfn", "mult", "concat")}
test = split_indices(arrays.actors, cfg.data.fold, seed=cfg.data.data_seed)["test"]
batch = to_batch(arrays, test[:8])
with torch.no_grad():
    target = models["tacfn"](batch.audio, batch.video).logits.argmax(-1)  # explain predictions
print({name: round(sum(p.numel() for p in m.parameters()) / 1e3, 1) for name, m in models.items()}, "k params")

# %% [markdown]
# ## 2. Baselines are a choice: name it
#
# IG integrates gradients on the straight path from a **baseline** to the input; occlusion and
# ablation replace inputs by it. The attribution answers "compared with what?":
#
# - `zeros`: black video, MFCC all 0. Not neutral: "no face" is evidence too.
# - `mean`: each clip's own average over time. Keeps the actor, removes every event in time,
#   so attributions answer *when* the evidence happens (the question SynthAV can check).
# - `blur`: slow structure kept, sharp events removed.
#
# We use `mean` below. **Check:** each baseline has the inputs' shapes.

# %%
for name in explain.BASELINES:
    base_audio, base_video = explain.make_baselines(name, batch.audio, batch.video)
    assert base_audio.shape == batch.audio.shape and base_video.shape == batch.video.shape
print(explain.make_baselines.__doc__.split("Shapes")[0])

# %% [markdown]
# ## 3. Integrated Gradients on audio and video together
#
# One call attributes the tuple `(audio, video)`; the result has the inputs' shapes.
# **Completeness** is IG's built-in check: the attributions must add up to
# f(input) − f(baseline) for the target logit. Captum returns the gap as the convergence
# delta; we require it below 1 % of the output change.

# %%
ig = explain.integrated_gradients(models["tacfn"], batch.audio, batch.video, target,
                                  baseline="mean", n_steps=64)
err = ig.completeness_error
record("06.ig_completeness_error_max", float(err.max()), run_dir)
print(f"completeness error: max {err.max():.2e}, mean {err.mean():.2e}")
assert err.max() < 0.01

# %% [markdown]
# Red = evidence *for* the predicted class, blue = against, on both the frames (summed over
# RGB) and the MFCC image; ground truth outlined in green.

# %%
k, clip = 0, int(test[0])
fig = plot_explanation(arrays.video[clip], arrays.audio[clip], ig.video_pixels()[k].numpy(),
                       ig.audio[k].numpy(), arrays.video_mask[clip], arrays.audio_mask[clip],
                       title=f"IG (mean baseline), predicted {arrays.class_names[int(target[k])]}",
                       signed=True, map_names=("IG video", "IG audio"))
print("saved", save_figure(fig, f"{figures_dir}/06_ig_{variant}.png"))

# %% [markdown]
# ## 4. Occlusion: the same question by brute force
#
# Occlusion slides a patch (4 audio frames; 2 frames × 8×8 pixels) over each modality,
# replaces it by the baseline and records the drop of the target logit. No gradients, so it
# is a useful cross-check of IG; it is coarser and costs one forward per patch.

# %%
occ = explain.occlusion(models["tacfn"], batch.audio[:1], batch.video[:1], target[:1], "mean")
fig = plot_explanation(arrays.video[clip], arrays.audio[clip], occ.video_pixels()[0].numpy(),
                       occ.audio[0].numpy(), arrays.video_mask[clip], arrays.audio_mask[clip],
                       title="occlusion (mean baseline)", signed=True,
                       map_names=("occlusion video", "occlusion audio"))
print("saved", save_figure(fig, f"{figures_dir}/06_occlusion_{variant}.png"))

# %% [markdown]
# ## 5. How much does each modality matter? (FeatureAblation per modality)
#
# One mask group per modality: remove all audio (or all video, `zeros` baseline = missing
# modality) and measure the drop of the true class's logit, averaged per class. By design every
# `complementary` class needs both modalities (audio narrows the label to one pair, video to
# another pair), and on `synchrony` the audio carries half the label and *which* video event is
# synchronous the other half. Yet a logit drop is not the same as need: for some classes
# removing one modality barely lowers the true logit (near-zero cells below), because a blank
# input can raise the rival classes' logits instead, or the model keeps that class's evidence
# mostly in one modality and uses the other to push rivals down. Accuracy with a modality
# removed (notebook 07) measures need; this map shows where the true logit's evidence sits.

# %%
batch_all = to_batch(arrays, test)
importance = explain.modality_ablation(models["tacfn"], batch_all.audio, batch_all.video,
                                       batch_all.label, baseline="zeros")  # (B, 2)
per_class = explain.modality_importance_per_class(importance, batch_all.label, 8)
record("06.modality_importance", per_class.tolist(), run_dir)
fig = plot_modality_importance(per_class.numpy(), arrays.class_names)
print("saved", save_figure(fig, f"{figures_dir}/06_modality_importance_{variant}.png"))

# %% [markdown]
# ## 6. Sanity check: randomise the model
#
# If a map barely changes when every weight is re-initialised, it explains the input, not
# the model (Adebayo et al., 2018). We compare |IG| per audio frame and video cell of the
# trained and a randomised TACFN by rank correlation: near 1 = the map ignores the model.

# %%
random_ig = explain.integrated_gradients(explain.randomised_copy(models["tacfn"]), batch.audio,
                                         batch.video, target, baseline="mean", n_steps=64)
units = [torch.cat([a.flatten(1) for a in unit_scores(attr)], 1).abs() for attr in (ig, random_ig)]
corr = explain.rank_correlation(*units)  # |IG| per audio frame and video cell
record("06.randomised_rank_corr", float(corr.mean()), run_dir)
print(f"rank correlation trained vs randomised: {corr.mean():.2f} (per clip {corr.numpy().round(2)})")

# %% [markdown]
# ## 7. Validity table: TACFN, MulT-style and concat against ground truth
#
# `validity_table` runs all of the above on correctly classified test clips of each model:
# pointing game for the model's own maps (TACFN only; the others return none) and for IG, each
# with its chance (`*_chance`: what a uniformly random map scores, the cue's share of the audio
# frames; of the video *cells* for TACFN's video map, of the *pixels* for IG's video map, which
# is why the two video chances differ), over that model's correct clips (`n_correct` of `n_clips`),
# completeness, **deletion** (remove the highest-attributed audio frames and video cells
# first: the probability should collapse faster than for a random order, lower AUC is better)
# and **insertion** (the reverse, higher is better), and the randomisation correlation.
# Quick runs score 32 clips with 32 IG steps; `bench/validity.py` scores the full test fold.

# %%
idx = test[:32] if quick else test
tables = {name: validity_table(m, arrays, idx, n_steps=32 if quick else 64,
                                 n_random=2, n_randomised=8).to_dict()
          for name, m in models.items()}
columns = ["n_clips", "n_correct", "accuracy", "audio_select_pointing", "audio_select_chance",
           "video_weight_pointing", "video_weight_chance", "ig_audio_pointing", "ig_audio_chance",
           "ig_video_pointing", "ig_video_chance", "completeness_error_mean",
           "deletion_auc_ratio", "insertion_auc_ratio", "randomised_ig_rank_corr"]
table = pd.DataFrame(tables).T.reindex(columns=columns)
record("06.validity", table.to_dict(orient="index"), run_dir)
table.round(3)

# %%
curves = {f"{name} {kind}": tables[name][f"deletion_{kind}_curve"]
          for name in tables for kind in ("ig", "random")}
fig = plot_perturbation_curves(curves, title=f"deletion, {variant}")
print("saved", save_figure(fig, f"{figures_dir}/06_deletion_{variant}.png"))

# %% [markdown]
# **Check.** IG must order the inputs better than chance for every model: deleting by IG
# must hurt more than deleting at random (AUC ratio below 1).

# %%
for name, t in tables.items():
    assert t["deletion_auc_ratio"] < 1.0, (name, t["deletion_auc_ratio"])
    assert t["completeness_error_mean"] < 0.01, (name, t["completeness_error_mean"])

# %% [markdown]
# ## How to read these maps
#
# - **Attention maps** (notebook 05) say where TACFN *weighs*; **attributions** say what
#   *changes the output*. Trust a map when both agree with the ground truth and the
#   randomised model's map does not.
# - **Signs matter.** Red (positive) is evidence for the explained class, blue against. Do
#   not sum attributions over clips: signs cancel.
# - **Compared with what?** Every attribution is relative to its baseline; say which one.
# - **Deletion / insertion** test the *ranking* an attribution gives, not its pixels: a map
#   can look plausible and still rank poorly, and vice versa.
