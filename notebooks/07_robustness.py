# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Robustness: a missing or noisy modality
#
# **Goal.** Real recordings lose a modality (camera off, face occluded, noisy room). How does
# each trained model (notebooks 01, 02 and 04) cope when one modality is blanked (zeros), dropped
# (replaced by the training-set mean clip, which carries no label information) or corrupted by
# Gaussian noise of growing strength?

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
from IPython.display import Markdown, display

from tacfn_lite import course
from tacfn_lite.data import load_arrays, make_loaders
from tacfn_lite.report import record
from tacfn_lite.robustness import (default_conditions, evaluate_robustness,
                                   format_robustness, training_stats)
from tacfn_lite.runtime import resolve_device
from tacfn_lite.viz import plot_robustness, save_figure

# %% [markdown]
# ## 1. Models and data
#
# The checkpoints trained in notebooks 01, 02 and 04 (trained now if you skipped them). Perturbation
# statistics (mean clip, standard deviations) come from the **training** split only.

# %%
course_run = course.Course(variant, quick, seed, device, cache_dir, checkpoint_dir, epochs)
cfg = course_run.config("tacfn")
arrays = load_arrays(cfg.data)
loaders, _ = make_loaders(cfg, arrays)
models = {name: course_run.trained(course_run.config(name), arrays)[0]
          for name in course.COURSE_MODELS}
stats = training_stats(loaders["train"].dataset.arrays)
test = loaders["test"].dataset.arrays

# %% [markdown]
# ## 2. Evaluate every model under every condition
#
# The same noise draw is used for every model, so differences are the models' own.

# %%
conditions = default_conditions((0.5, 2.0) if quick else (0.25, 0.5, 1.0, 2.0))
rows = evaluate_robustness(models, test, stats, conditions, device=resolve_device(device),
                           seed=seed)
record("07.robustness", {f"{r['model']} | {r['condition']}": r["accuracy"] for r in rows},
       run_dir)
display(Markdown(format_robustness(rows)))

# %%
fig = plot_robustness(rows)
print("saved", save_figure(fig, f"{figures_dir}/07_robustness_{variant}.png"))

# %% [markdown]
# **Check.** A unimodal model never looks at the other modality, so perturbing that modality
# must leave its accuracy exactly unchanged. This guards the evaluation itself.

# %%
acc = {(r["model"], r["condition"]): r["accuracy"] for r in rows}
for r in rows:
    if r["model"] in ("audio", "video") and r["modality"] not in (None, r["model"]):
        assert acc[r["model"], r["condition"]] == acc[r["model"], "clean"], r
print("unimodal models ignore the other modality ✓")

# %% [markdown]
# **Reading the result.** On `complementary` both modalities are needed, so losing either
# leaves a fused model at most the other modality's 50 % ceiling. Compare each printed row with
# 50 %: a row near it means the model still uses the remaining modality fully, a row well below
# it means the model leaned on the removed one (models trained with both modalities always
# present can go either way, and which way differs between the two modalities).
# Modality dropout (`course_run.config(name, audio_dropout=0.3, video_dropout=0.3)`) is meant to
# teach a model to cope: none of the models above was trained with it, and the exercise tests
# it on `redundant`, where each modality alone carries the label.
#
# **Exercise.** Train TACFN with modality dropout on `redundant` and compare its
# "video zeros" row with the plain model's.
