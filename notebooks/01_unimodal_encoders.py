# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Unimodal encoders and their ceilings
#
# **Goal.** Build the two encoders TACFN fuses, check their shapes, see how time is encoded so
# that audio tokens and video frames can be matched, and train audio-only and video-only models
# to compare with the ceilings computed in notebook 00.

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

from tacfn_lite import course, viz
from tacfn_lite.data import load_arrays, to_batch
from tacfn_lite.encoders import AudioEncoder, VideoEncoder
from tacfn_lite.model import build_model, count_parameters
from tacfn_lite.report import record
from tacfn_lite.runtime import seed_everything
from tacfn_lite.viz import save_figure

# %%
course_run = course.Course(variant, quick, seed, device, cache_dir, checkpoint_dir, epochs)
cfg = course_run.config("tacfn")
arrays = load_arrays(cfg.data)
batch = to_batch(arrays, range(4))
print("audio", tuple(batch.audio.shape), "(B, Ta, F);  video", tuple(batch.video.shape),
      "(B, T, 3, H, W)")

# %% [markdown]
# ## 1. Audio encoder
#
# MFCC frames → batch norm → two 1-D convolutions (local context) → a time encoding → a
# transformer encoder (self-attention across the clip). This is the paper's audio branch, at
# CPU size (`d_model = 32`, 2 layers); the `paper` preset uses 5 layers of 8 heads.

# %%
print(inspect.getsource(AudioEncoder.forward))
seed_everything(seed)
audio_encoder = AudioEncoder(cfg.model).eval()
with torch.no_grad():
    audio_tokens = audio_encoder(batch.audio)
print("audio tokens", tuple(audio_tokens.shape), "(B, Ta, D)")
assert audio_tokens.shape == (*batch.audio.shape[:2], cfg.model.d_model)

# %% [markdown]
# ## 2. Video encoder
#
# A small 3-D CNN keeps every frame and a 4×4 grid of cells at 32×32 pixels, so the video
# becomes `N = T'·H'·W'` tokens, one per (frame, cell). Each token gets a time encoding and a
# learned cell encoding. TACFN's reinforcement weights live on this grid.

# %%
video_encoder = VideoEncoder(cfg.model).eval()
with torch.no_grad():
    video_tokens, grid = video_encoder(batch.video)
print("video tokens", tuple(video_tokens.shape), "(B, N, D); grid (T', H', W') =", grid)
assert video_tokens.shape == (4, grid[0] * grid[1] * grid[2], cfg.model.d_model)

# %% [markdown]
# ## 3. One clock for both modalities
#
# Audio tokens come 31.25 per second, video frames 8 per second. With
# `time_encoding="shared"` both get the same sinusoidal encoding of absolute time in seconds,
# so a token-level fusion can tell which audio token co-occurs with which frame. Check: the
# audio token whose encoding is most similar to a frame's is the one nearest in time, or its
# neighbour (the check below allows one token either way).

# %%
a_code = audio_encoder.time(audio_tokens.shape[1], torch.device("cpu"))  # (Ta, D)
v_code = video_encoder.time(grid[0], torch.device("cpu"))  # (T', D)
a_t = torch.arange(len(a_code)) / cfg.model.audio_rate
v_t = (torch.arange(len(v_code)) + 0.5) / cfg.model.video_rate
by_code = (v_code @ a_code.T).argmax(1)
by_time = (v_t[:, None] - a_t[None]).abs().argmin(1)
print("nearest audio token by code:", by_code.tolist(), "\nnearest by time:   ", by_time.tolist())
assert (by_code - by_time).abs().max() <= 1

# %% [markdown]
# ## 4. Model sizes
#
# Every model in the course shares these encoders; they differ in the fusion. Parameters at the
# course's size:

# %%
sizes = {name: count_parameters(build_model(course_run.config(name).model))
         for name in course.COURSE_MODELS}
record("01.parameters", sizes, run_dir)
sizes

# %% [markdown]
# ## 5. Train audio-only and video-only models
#
# `course_run.trained` loads the checkpoint for this config from `checkpoint_dir`, or trains
# it first (epoch picked on validation, then one test evaluation). Notebook 04 reuses these two
# checkpoints in its comparison. How close does each get to its designed ceiling?

# %%
accs = {}
for modality in ("audio", "video"):
    mcfg = course_run.config(modality)
    _, history = course_run.trained(mcfg, arrays)
    accs[modality] = record(f"01.{modality}.test_accuracy", history["test"]["accuracy"], run_dir)
ceil = arrays.meta["ceilings"]
fig = viz.plot_accuracy_bars(accs, {m: ceil[m] for m in accs}, f"unimodal models, {variant}")
print("saved", save_figure(fig, f"{figures_dir}/01_unimodal_{variant}.png"))

# %% [markdown]
# **Check.** No unimodal model can beat its ceiling except by chance: the test set has only a
# few dozen clips per actor fold, so allow a few standard errors. A large excess would mean the
# label leaks through a channel the design did not intend.

# %%
n_test = len(arrays) // 6  # one of six actor folds
margin = 3 * (0.25 / n_test) ** 0.5
for modality, acc in accs.items():
    print(f"{modality}: {acc:.1%} (ceiling {ceil[modality]:.1%})")
    assert acc <= ceil[modality] + margin, f"{modality} beats its ceiling: leak?"

# %% [markdown]
# **Exercises.** (1) With `quick=True` the models train for only a few epochs: re-run with
# `quick=False` (or on a GPU) and see how close they come. (2) Set
# `variant="synchrony"`: why is the video ceiling 12.5 % there?
