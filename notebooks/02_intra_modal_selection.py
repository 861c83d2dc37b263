# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Intra-modal selection
#
# **Goal.** TACFN's first step (paper §3.1): before touching the other modality, the audio
# tokens are weighed against each other and the most useful are *selected*: the kit uses one
# learned query attending over the audio tokens (the authors' code takes the last step of a
# causal encoder, `selection="last_step"`), so that only a compact vector, not every token, is
# used to reinforce the video. You will read the code, check that selection is
# a distribution over audio tokens for every clip, train TACFN, and compare what it selects
# with the ground-truth cue window.

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
import inspect

import torch

from tacfn_lite import CLASS_NAMES, course, viz
from tacfn_lite.data import load_arrays, make_loaders, to_batch
from tacfn_lite.fusion import SelectReinforce
from tacfn_lite.model import build_model
from tacfn_lite.report import record
from tacfn_lite.runtime import seed_everything
from tacfn_lite.validity import map_pointing
from tacfn_lite.viz import save_figure

# %% [markdown]
# ## 1. The code
#
# `SelectReinforce` is one direction of TACFN (audio → video by default). Step 1 is the
# selection: a learned query attends over the source tokens; the attention weights
# (`selection`, shape `(B, S)`) say which audio tokens were picked, and the weighted sum is the
# selected vector. With `select=False` (ablation, notebook 03) the source is mean-pooled.

# %%
print(inspect.getsource(SelectReinforce.forward))  # the four steps, in order
print(inspect.getsource(SelectReinforce.select))  # step 1, this notebook

# %%
course_run = course.Course(variant, quick, seed, device, cache_dir, checkpoint_dir, epochs)
cfg = course_run.config("tacfn")
arrays = load_arrays(cfg.data)
loaders, _ = make_loaders(cfg, arrays)
test = loaders["test"].dataset.arrays
batch = to_batch(test, range(len(test)))  # the whole test fold, ground truth included
print(len(batch), "test clips; audio_mask", tuple(batch.audio_mask.shape))

# %% [markdown]
# ## 2. Selection is a distribution per clip
#
# Every model returns a `FusionOutput`; for TACFN `audio_select` is `(B, Ta)`, one distribution
# per clip, never averaged over the batch (the public TACFN code summed attention over the
# batch; we do not). Check it on an untrained model.

# %%
seed_everything(seed)
untrained = build_model(cfg.model).eval()
with torch.no_grad():
    out0 = untrained(batch.audio, batch.video)
print("audio_select", tuple(out0.audio_select.shape))
assert torch.allclose(out0.audio_select.sum(1), torch.ones(len(batch)), atol=1e-5)

# %% [markdown]
# ## 3. Train TACFN (or reuse its checkpoint)
#
# The checkpoint lands in `checkpoint_dir`; notebooks 03, 04 and 06-08 reuse it (05 reads the
# claim's TACFN, which notebook 04 trains on the full `synchrony` set).

# %%
model, history = course_run.trained(cfg, arrays)
acc = record("02.tacfn.test_accuracy", history["test"]["accuracy"], run_dir)
print(f"TACFN test accuracy {acc:.1%} (fusion ceiling {arrays.meta['ceilings']['fusion']:.0%})")

# %% [markdown]
# ## 4. What gets selected?
#
# The **pointing game**: does the most-selected audio token fall inside the true cue window?
# Chance is the share of tokens inside the window. We also measure how much selection mass
# falls inside the window. Compare the trained model with the untrained one.

# %%
has_cue = batch.audio_mask.any(1)  # `redundant` has clips without an audio cue
for name, net in {"untrained": untrained, "trained": model}.items():
    with torch.no_grad():
        sel = net(batch.audio, batch.video).audio_select
    hits, chance = map_pointing("audio_select", sel, batch, None)
    mass = (sel * batch.audio_mask).sum(1)[has_cue].mean().item()
    hit = record(f"02.{name}.audio_pointing", hits[has_cue].float().mean().item(), run_dir)
    record(f"02.{name}.audio_mass_in_cue", mass, run_dir)
    print(f"{name:9s}: pointing {hit:.0%} (chance {chance[has_cue].mean():.0%}), "
          f"mass in cue window {mass:.0%}")

# %% [markdown]
# Selection over time for a few test clips (shaded: the true audio cue; dotted: uniform):

# %%
show = [int((batch.label == c).nonzero()[0, 0]) for c in (0, 2, 4, 6)]  # four classes
with torch.no_grad():
    out = model(batch.audio[show], batch.video[show])
titles = [CLASS_NAMES[batch.label[i]] for i in show]
hop_s = cfg.data.hop_length / cfg.data.sample_rate
fig = viz.plot_weights_over_time(out.audio_select.numpy(), batch.audio_mask[show].numpy(),
                                    hop_s, titles, "audio selection")
print("saved", save_figure(fig, f"{figures_dir}/02_audio_selection_{variant}.png"))

# %% [markdown]
# **Reading the result.** Selection is learned only from the classification loss: nothing tells
# the model where the cue is. If the trained model points into the cue window far above chance,
# selection found the evidence by itself; if not, the label was solvable without it (for
# example from pooled statistics), which is itself worth knowing. Read the two numbers
# together: pointing looks only at the peak, mass at the whole map. A high pointing rate with
# mass near chance means a sharp peak in the window over an otherwise flat map (in the curves
# above, some clips show a flat selection), so "the peak is right" is a weaker statement than
# "the model listens there". Quick runs train for only a few epochs; the full run and notebook
# 05 go further.
#
# **Exercises.** (1) Run with `variant="synchrony"`: does selection still find the vocal cue?
# (2) `course_run.config("tacfn", select=False)` trains the ablation: what does
# `audio_select` become?
