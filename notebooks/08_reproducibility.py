# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Reproducibility summary
#
# **Goal.** Everything needed to trust and repeat this run in one place: every metric the
# notebooks recorded, seeds, package versions, git commit, device and data hashes; and one
# number reproduced from its checkpoint. `tacfn-lite report` writes the same to `run.json`.

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
from pathlib import Path

import pandas as pd

from tacfn_lite import course
from tacfn_lite.data import load_arrays, make_loaders
from tacfn_lite.report import environment, load_metrics, record, synthav_hash
from tacfn_lite.runtime import resolve_device
from tacfn_lite.train import evaluate

# %% [markdown]
# ## 1. Every recorded metric
#
# Notebooks call `record(key, value, run_dir)`; keys start with the notebook number. This
# notebook runs before 09, so 09's numbers join `metrics.json` after it; the table below shows
# every row (scroll it). `best_epoch` here is the 0-based row of the run's `history.json`; the
# tables of notebook 04 and the model cards count epochs from 1 (so 11 here is their 12).

# %%
metrics = load_metrics(run_dir)
table = pd.json_normalize(metrics, sep=" / ").T.rename(columns={0: "value"})
print(len(metrics), "keys recorded in", Path(run_dir) / "metrics.json")
with pd.option_context("display.max_rows", None, "display.max_colwidth", 80):
    display(table)  # noqa: F821  (IPython's display)

# %% [markdown]
# ## 2. Code, packages, device

# %%
env = environment(Path("..").resolve(), device)
print("git commit", env["git"]["commit"], "(uncommitted changes)" if env["git"]["dirty"] else "")
machine = env["machine"]
print("device", machine["device_name"], "\nseed", seed, "| python", machine["python"], "|",
      machine["platform"])
pd.Series(env["versions"], name="version").to_frame()

# %% [markdown]
# ## 3. Data
#
# The SynthAV content hash covers every array of the set. If notebook 00 ran in this run
# folder, the hash it recorded must match the set on disk now.

# %%
data = synthav_hash({"variant": variant, "quick": quick, "cache_dir": cache_dir})
print(data)
key = f"00.data.{variant}.{data['size']}.content_hash"
if key in metrics:
    assert metrics[key] == data["content_hash"], "the data changed since notebook 00 ran"

# %% [markdown]
# ## 4. Reproduce one number from its checkpoint
#
# Reload TACFN from `checkpoint_dir` and evaluate it on the test fold again: the accuracy must
# equal the one recorded when it was trained.

# %%
course_run = course.Course(variant, quick, seed, device, cache_dir, checkpoint_dir, epochs)
cfg = course_run.config("tacfn")
arrays = load_arrays(cfg.data)
model, history = course_run.trained(cfg, arrays)
loaders, _ = make_loaders(cfg, arrays)
again = evaluate(model, loaders["test"], resolve_device(device))["accuracy"]
print(f"recorded {history['test']['accuracy']:.4f}, re-evaluated {again:.4f}")
assert abs(again - history["test"]["accuracy"]) < 1e-9
_ = record("08.tacfn.reproduced_test_accuracy", again, run_dir)

# %% [markdown]
# **Repeat the whole run.** `tacfn-lite report --quick` executes notebooks 00-09 into
# `reports/<run-id>/` and writes `run.json`. On the same machine (same CPU type and torch build)
# with the same seed, two runs give the same metrics (the test suite checks it); another CPU
# type rounds in another order and can follow another trajectory (the README gives the claim on
# two kinds of VM); on a GPU, cuDNN kernels may differ in the last digits.
