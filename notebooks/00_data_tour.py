# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Data tour: SynthAV and the real corpora
#
# **Goal.** Meet the data every later notebook uses. You will see the three SynthAV variants and
# the accuracy each view of the data *can* reach (its designed ceiling), read the ground-truth
# cue masks, look at clips, check the actor-independent split, and learn how to point the kit at
# RAVDESS, IEMOCAP or CREMA-D.

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
import numpy as np
import pandas as pd

from tacfn_lite import CLASS_NAMES, course
from tacfn_lite.config import VARIANTS, get_config
from tacfn_lite.data import load_arrays, make_loaders
from tacfn_lite.data.synthetic import CUE_SECONDS, latent_cases, variant_ceilings
from tacfn_lite.report import record
from tacfn_lite.viz import plot_clip_grid, save_figure

# %% [markdown]
# ## 1. Why a synthetic data set?
#
# Real emotion corpora cannot ship with the kit, and on them nobody knows *where* the evidence
# is. SynthAV is generated (seeded, in seconds) so that the answer is known: every clip has an
# actor (own pitch, face shape, colour), one of the 8 RAVDESS emotions, an **audio cue** (a
# prosodic event in a 0.5 s window: pitch, spectral tilt, tremolo) and a **video cue** (an
# expression in one face region, in a window of frames). Distractors (noise bursts, a moving
# blob, flicker, head jitter) make it more than a lookup table.
#
# ## 2. Designed ceilings
#
# A variant decides which modality carries which part of the label. `variant_ceilings`
# enumerates the variant's definition and computes the best possible accuracy of each view:
# audio alone, video alone, late fusion (product of the two unimodal posteriors) and joint
# fusion (the oracle). Compare models with these numbers, not with 100 %.

# %%
ceilings = {v: variant_ceilings(v) for v in VARIANTS}
record("00.ceilings", ceilings, run_dir)
(pd.DataFrame(ceilings).T * 100).round(1)

# %% [markdown]
# Check what the table says: in `complementary` each modality alone separates the 8 classes
# only into 4 pairs (50 %), so fusion is needed. In `synchrony` the face shows two events and
# only the one at the time of the vocal cue carries the label, so a model must bind audio and
# video *in time*: late fusion, which never lets the video half see the audio, stays at 50 %.

# %%
assert ceilings["complementary"]["audio"] == ceilings["complementary"]["video"] == 0.5
assert ceilings["synchrony"]["late"] < ceilings["synchrony"]["fusion"] == 1.0

# %% [markdown]
# ## 3. How a label becomes cues
#
# `latent_cases(variant, label)` is the variant's definition: for each class, what the clip
# shows (audio cue code; video events as (code, synchronous with the audio?)) with which
# probability. The generator samples from exactly this table, and the ceilings are computed
# from it.

# %%
rows = [{"class": name, "p": p, "audio code": lat.audio_code, "video events": lat.video_events}
        for label, name in enumerate(CLASS_NAMES) for p, lat in latent_cases(variant, label)]
pd.DataFrame(rows)

# %% [markdown]
# ## 4. Load the clips
#
# `course.Course` holds this run's parameters and gives the one config the course uses
# (`course_run.config`; quick = 576 clips, full = 3456). The set is
# generated on first use and cached under a hash of every generation parameter; its content
# hash is recorded so a report can prove which data it ran on.

# %%
course_run = course.Course(variant, quick, seed, device, cache_dir, checkpoint_dir, epochs)
cfg = course_run.config("tacfn")
arrays = load_arrays(cfg.data)
print(f"{len(arrays)} clips; audio {arrays.audio.shape} = (N, Ta, F) MFCC frames; "
      f"video {arrays.video.shape} = (N, T, H, W, 3) uint8")
record(f"00.data.{variant}.{cfg.data.size}.content_hash", arrays.meta["content_hash"], run_dir)
assert arrays.audio.shape[2] == cfg.data.n_mfcc and arrays.video.shape[1] == cfg.data.n_frames

# %% [markdown]
# ## 5. Ground truth
#
# `audio_mask (N, Ta)` marks the MFCC frames of the vocal cue; `video_mask (N, T, H, W)` marks
# the pixels of the true expression event (in `synchrony`, not the decoy). Later notebooks
# score attention maps and attributions against these masks. Check that both last about
# `CUE_SECONDS`.

# %%
hop_s = cfg.data.hop_length / cfg.data.sample_rate
audio_len = arrays.audio_mask.sum(1)[arrays.audio_mask.any(1)] * hop_s  # seconds, clips with a cue
video_len = arrays.video_mask.any((2, 3)).sum(1) / cfg.model.video_rate
print(f"audio cue {audio_len.mean():.2f} s, video cue {video_len[video_len > 0].mean():.2f} s, "
      f"CUE_SECONDS = {CUE_SECONDS}")
assert abs(audio_len.mean() - CUE_SECONDS) <= 2 * hop_s
assert abs(video_len[video_len > 0].mean() - CUE_SECONDS) <= 1 / cfg.model.video_rate

# %% [markdown]
# ## 6. Look at clips
#
# One row per class: evenly spaced frames (frames of the true cue outlined in red) and the MFCC
# image (coefficients z-scored per row) with the audio cue window shaded.

# %%
first_of_class = [int(np.flatnonzero(arrays.labels == c)[0]) for c in range(len(CLASS_NAMES))]
fig = plot_clip_grid(arrays, first_of_class)
print("saved", save_figure(fig, f"{figures_dir}/synthav_{variant}_clips.png"))

# %% [markdown]
# ## 7. Actor-independent splits
#
# Test actors never appear in training or validation, as in the RAVDESS protocol: a model must
# generalise to new voices and faces. Validation actors come from the training actors; the
# epoch is picked on validation only.

# %%
loaders, manifest = make_loaders(cfg, arrays)
actors = {name: sorted(set(dl.dataset.arrays.actors.tolist())) for name, dl in loaders.items()}
for name, ids in actors.items():
    print(f"{name:5s} {len(loaders[name].dataset):4d} clips, actors {ids}")
assert not set(actors["test"]) & (set(actors["train"]) | set(actors["val"]))

# %% [markdown]
# ## 8. Real corpora
#
# The same `Batch` type comes out of every corpus; only the loader changes. Data never ships with
# the kit and is never downloaded: you point `--root` (or `DataConfig.root`) at your copy.
#
# - **RAVDESS**: 24 actors, `Actor_XX/MM-VC-EE-II-SS-RR-AA.mp4` (modality, vocal channel,
#   emotion 01-08, intensity, statement, repetition, actor); 1280×720 video with 48 kHz audio.
#   8 classes, 6 actor-independent folds of 4 actors. Licence CC BY-NC-SA 4.0.
# - **IEMOCAP** (MulT aligned pickles): `train/valid/test` dicts of `text (N, 20, 300)`,
#   `audio (N, 20, 74)`, `vision (N, 20, 35)` features and `labels (N, 4, 2)` for neutral,
#   happy, sad, angry. Pickles can run code, so the kit loads them with a restricted unpickler.
# - **CREMA-D**: 91 actors, 6 emotions, `AudioWAV/*.wav` (16 kHz) and `VideoFlash/*.flv`.
#
# Example: `tacfn-lite prepare ravdess --root /data/RAVDESS --out /data/ravdess_paper --preset
# paper` decodes the corpus once, then `tacfn-lite train --data ravdess --root /data/ravdess_paper
# --preset paper` trains on it. Without a root
# the loader says what is missing instead of guessing:

# %%
try:
    load_arrays(get_config("tiny", **{"data.name": "ravdess"}).data)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# **Exercises.** (1) Set `variant = "synchrony"` in the parameters cell and re-run: how many
# expression events does a clip show, and which one does `video_mask` mark? (2) In `redundant`,
# what fraction of clips has no audio cue at all (`~arrays.audio_mask.any(1)`)? Compare it with
# `REDUNDANT_CUE_DROP` in `tacfn_lite/data/synthetic.py`.
