"""Build notebooks 00-04, 07 and 08 from the cell lists below (jupytext-style source of truth).

Run ``python notebooks/build.py`` after editing a cell here; it rewrites the .ipynb files without
outputs. Notebooks 05, 06 and 09 are edited as .ipynb directly. Every notebook: a title, a cell
tagged ``parameters`` (papermill), one import cell, then prose → call → check per component.
"""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import nbformat

HERE = Path(__file__).resolve().parent

PARAMETERS = '''\
# Parameters: papermill (tacfn-lite report) overrides these. Paths are relative to notebooks/.
variant = "complementary"  # SynthAV variant: complementary | redundant | synchrony
quick = True  # True: quick data set and few epochs, about a minute on a CPU
seed = 0
device = "auto"  # auto | cpu | cuda | mps
checkpoint_dir = "../runs/course"  # models trained once (01, 02, 04) and reused by later notebooks
figures_dir = "../figures"
run_dir = "../reports/interactive"  # record() writes metrics to run_dir/metrics.json
cache_dir = "../.cache/tacfn_lite"  # SynthAV cache'''


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(dedent(text).strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(dedent(text).strip())


def params() -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})


NB00 = [
    md("""
    # 00 · Data tour: SynthAV and the real corpora

    **Goal.** Meet the data every later notebook uses. You will see the three SynthAV variants and
    the accuracy each view of the data *can* reach (its designed ceiling), read the ground-truth
    cue masks, look at clips, check the actor-independent split, and learn how to point the kit at
    RAVDESS, IEMOCAP or CREMA-D.
    """),
    params(),
    code("""
    import numpy as np
    import pandas as pd

    from tacfn_lite import CLASS_NAMES, course
    from tacfn_lite.config import VARIANTS, get_config
    from tacfn_lite.data import load_arrays, make_loaders
    from tacfn_lite.data.synthetic import CUE_SECONDS, latent_cases, variant_ceilings
    from tacfn_lite.report import record
    from tacfn_lite.viz import plot_clip_grid, save_figure
    """),
    md("""
    ## 1. Why a synthetic data set?

    Real emotion corpora cannot ship with the kit, and on them nobody knows *where* the evidence
    is. SynthAV is generated (seeded, in seconds) so that the answer is known: every clip has an
    actor (own pitch, face shape, colour), one of the 8 RAVDESS emotions, an **audio cue** (a
    prosodic event in a 0.5 s window: pitch, spectral tilt, tremolo) and a **video cue** (an
    expression in one face region, in a window of frames). Distractors (noise bursts, a moving
    blob, flicker, head jitter) make it more than a lookup table.

    ## 2. Designed ceilings

    A variant decides which modality carries which part of the label. `variant_ceilings`
    enumerates the variant's definition and computes the best possible accuracy of each view:
    audio alone, video alone, late fusion (product of the two unimodal posteriors) and joint
    fusion (the oracle). Compare models with these numbers, not with 100 %.
    """),
    code("""
    ceilings = {v: variant_ceilings(v) for v in VARIANTS}
    record("00.ceilings", ceilings, run_dir)
    (pd.DataFrame(ceilings).T * 100).round(1)
    """),
    md("""
    Check what the table says: in `complementary` each modality alone separates the 8 classes
    only into 4 pairs (50 %), so fusion is needed. In `synchrony` the face shows two events and
    only the one at the time of the vocal cue carries the label, so a model must bind audio and
    video *in time*: late fusion, which never lets the video half see the audio, stays at 50 %.
    """),
    code("""
    assert ceilings["complementary"]["audio"] == ceilings["complementary"]["video"] == 0.5
    assert ceilings["synchrony"]["late"] < ceilings["synchrony"]["fusion"] == 1.0
    """),
    md("""
    ## 3. How a label becomes cues

    `latent_cases(variant, label)` is the variant's definition: for each class, what the clip
    shows (audio cue code; video events as (code, synchronous with the audio?)) with which
    probability. The generator samples from exactly this table, and the ceilings are computed
    from it.
    """),
    code("""
    rows = [{"class": name, "p": p, "audio code": lat.audio_code, "video events": lat.video_events}
            for label, name in enumerate(CLASS_NAMES) for p, lat in latent_cases(variant, label)]
    pd.DataFrame(rows)
    """),
    md("""
    ## 4. Load the clips

    `course_config` is the one config the course uses (quick = 576 clips, full = 3456). The set is
    generated on first use and cached under a hash of every generation parameter; its content
    hash is recorded so a report can prove which data it ran on.
    """),
    code("""
    cfg = course.course_config("tacfn", variant, quick, seed, device, cache_dir)
    arrays = load_arrays(cfg.data)
    print(f"{len(arrays)} clips; audio {arrays.audio.shape} = (N, Ta, F) MFCC frames; "
          f"video {arrays.video.shape} = (N, T, H, W, 3) uint8")
    record(f"00.data.{variant}.{cfg.data.size}.content_hash", arrays.meta["content_hash"], run_dir)
    assert arrays.audio.shape[2] == cfg.data.n_mfcc and arrays.video.shape[1] == cfg.data.n_frames
    """),
    md("""
    ## 5. Ground truth

    `audio_mask (N, Ta)` marks the MFCC frames of the vocal cue; `video_mask (N, T, H, W)` marks
    the pixels of the true expression event (in `synchrony`, not the decoy). Later notebooks
    score attention maps and attributions against these masks. Check that both last about
    `CUE_SECONDS`.
    """),
    code("""
    hop_s = cfg.data.hop_length / cfg.data.sample_rate
    audio_len = arrays.audio_mask.sum(1)[arrays.audio_mask.any(1)] * hop_s  # seconds, clips with a cue
    video_len = arrays.video_mask.any((2, 3)).sum(1) / cfg.model.video_rate
    print(f"audio cue {audio_len.mean():.2f} s, video cue {video_len[video_len > 0].mean():.2f} s, "
          f"CUE_SECONDS = {CUE_SECONDS}")
    assert abs(audio_len.mean() - CUE_SECONDS) <= 2 * hop_s
    assert abs(video_len[video_len > 0].mean() - CUE_SECONDS) <= 1 / cfg.model.video_rate
    """),
    md("""
    ## 6. Look at clips

    One row per class: evenly spaced frames (frames of the true cue outlined in red) and the MFCC
    image (coefficients z-scored per row) with the audio cue window shaded.
    """),
    code("""
    first_of_class = [int(np.flatnonzero(arrays.labels == c)[0]) for c in range(len(CLASS_NAMES))]
    fig = plot_clip_grid(arrays, first_of_class)
    print("saved", save_figure(fig, f"{figures_dir}/synthav_{variant}_clips.png"))
    """),
    md("""
    ## 7. Actor-independent splits

    Test actors never appear in training or validation, as in the RAVDESS protocol: a model must
    generalise to new voices and faces. Validation actors come from the training actors; the
    epoch is picked on validation only.
    """),
    code("""
    loaders, manifest = make_loaders(cfg, arrays)
    actors = {name: sorted(set(dl.dataset.arrays.actors.tolist())) for name, dl in loaders.items()}
    for name, ids in actors.items():
        print(f"{name:5s} {len(loaders[name].dataset):4d} clips, actors {ids}")
    assert not set(actors["test"]) & (set(actors["train"]) | set(actors["val"]))
    """),
    md("""
    ## 8. Real corpora

    The same `Batch` type comes out of every corpus; only the loader changes. Data never ships with
    the kit and is never downloaded: you point `--root` (or `DataConfig.root`) at your copy.

    - **RAVDESS**: 24 actors, `Actor_XX/MM-VC-EE-II-SS-RR-AA.mp4` (modality, vocal channel,
      emotion 01-08, intensity, statement, repetition, actor); 1280×720 video with 48 kHz audio.
      8 classes, 6 actor-independent folds of 4 actors. Licence CC BY-NC-SA 4.0.
    - **IEMOCAP** (MulT aligned pickles): `train/valid/test` dicts of `text (N, 20, 300)`,
      `audio (N, 20, 74)`, `vision (N, 20, 35)` features and `labels (N, 4, 2)` for neutral,
      happy, sad, angry. Pickles can run code, so the kit loads them with a restricted unpickler.
    - **CREMA-D**: 91 actors, 6 emotions, `AudioWAV/*.wav` (16 kHz) and `VideoFlash/*.flv`.

    Example: `tacfn-lite train --data ravdess --root /data/RAVDESS --preset paper`. Without a root
    the loader says what is missing instead of guessing:
    """),
    code("""
    try:
        load_arrays(get_config("tiny", **{"data.name": "ravdess"}).data)
    except ValueError as err:
        print("ValueError:", err)
    """),
    md("""
    **Exercises.** (1) Set `variant = "synchrony"` in the parameters cell and re-run: how many
    expression events does a clip show, and which one does `video_mask` mark? (2) In `redundant`,
    what fraction of clips has no audio cue at all (`~arrays.audio_mask.any(1)`)? Compare it with
    `REDUNDANT_CUE_DROP` in `tacfn_lite/data/synthetic.py`.
    """),
]

NB01 = [
    md("""
    # 01 · Unimodal encoders and their ceilings

    **Goal.** Build the two encoders TACFN fuses, check their shapes, see how time is encoded so
    that audio tokens and video frames can be matched, and train audio-only and video-only models
    to compare with the ceilings computed in notebook 00.
    """),
    params(),
    code("""
    import inspect

    import torch

    from tacfn_lite import course
    from tacfn_lite.data import load_arrays, to_batch
    from tacfn_lite.encoders import AudioEncoder, VideoEncoder
    from tacfn_lite.model import build_model, count_parameters
    from tacfn_lite.report import record
    from tacfn_lite.train import seed_everything
    from tacfn_lite.viz import save_figure
    """),
    code("""
    cfg = course.course_config("tacfn", variant, quick, seed, device, cache_dir)
    arrays = load_arrays(cfg.data)
    batch = to_batch(arrays, range(4))
    print("audio", tuple(batch.audio.shape), "(B, Ta, F);  video", tuple(batch.video.shape),
          "(B, T, 3, H, W)")
    """),
    md("""
    ## 1. Audio encoder

    MFCC frames → batch norm → two 1-D convolutions (local context) → a time encoding → a
    transformer encoder (self-attention across the clip). This is the paper's audio branch, at
    CPU size (`d_model = 32`, 2 layers); the `paper` preset uses 5 layers of 8 heads.
    """),
    code("""
    print(inspect.getsource(AudioEncoder.forward))
    seed_everything(seed)
    audio_encoder = AudioEncoder(cfg.model).eval()
    with torch.no_grad():
        audio_tokens = audio_encoder(batch.audio)
    print("audio tokens", tuple(audio_tokens.shape), "(B, Ta, D)")
    assert audio_tokens.shape == (*batch.audio.shape[:2], cfg.model.d_model)
    """),
    md("""
    ## 2. Video encoder

    A small 3-D CNN keeps every frame and a 4×4 grid of cells at 32×32 pixels, so the video
    becomes `N = T'·H'·W'` tokens, one per (frame, cell). Each token gets a time encoding and a
    learned cell encoding. TACFN's reinforcement weights live on this grid.
    """),
    code("""
    video_encoder = VideoEncoder(cfg.model).eval()
    with torch.no_grad():
        video_tokens, grid = video_encoder(batch.video)
    print("video tokens", tuple(video_tokens.shape), "(B, N, D); grid (T', H', W') =", grid)
    assert video_tokens.shape == (4, grid[0] * grid[1] * grid[2], cfg.model.d_model)
    """),
    md("""
    ## 3. One clock for both modalities

    Audio tokens come 31.25 per second, video frames 8 per second. With
    `time_encoding="shared"` both get the same sinusoidal encoding of absolute time in seconds,
    so a token-level fusion can tell which audio token co-occurs with which frame. Check: the
    audio token whose encoding is most similar to a frame's is the one nearest in time.
    """),
    code("""
    a_code = audio_encoder.time(audio_tokens.shape[1], torch.device("cpu"))  # (Ta, D)
    v_code = video_encoder.time(grid[0], torch.device("cpu"))  # (T', D)
    a_t = torch.arange(len(a_code)) / cfg.model.audio_rate
    v_t = (torch.arange(len(v_code)) + 0.5) / cfg.model.video_rate
    by_code = (v_code @ a_code.T).argmax(1)
    by_time = (v_t[:, None] - a_t[None]).abs().argmin(1)
    print("nearest audio token by code:", by_code.tolist(), "\\nnearest by time:   ", by_time.tolist())
    assert (by_code - by_time).abs().max() <= 1
    """),
    md("""
    ## 4. Model sizes

    Every model in the course shares these encoders; they differ in the fusion. Parameters at the
    course's size:
    """),
    code("""
    sizes = {name: count_parameters(build_model(course.course_config(name).model))
             for name in course.COURSE_MODELS}
    record("01.parameters", sizes, run_dir)
    sizes
    """),
    md("""
    ## 5. Train audio-only and video-only models

    `course.trained_model` loads the checkpoint for this config from `checkpoint_dir`, or trains
    it first (epoch picked on validation, then one test evaluation). Notebook 04 reuses these two
    checkpoints in its comparison. How close does each get to its designed ceiling?
    """),
    code("""
    accs = {}
    for modality in ("audio", "video"):
        mcfg = course.course_config(modality, variant, quick, seed, device, cache_dir)
        _, history = course.trained_model(mcfg, checkpoint_dir, arrays)
        accs[modality] = record(f"01.{modality}.test_accuracy", history["test"]["accuracy"], run_dir)
    ceil = arrays.meta["ceilings"]
    fig = course.plot_accuracy_bars(accs, {m: ceil[m] for m in accs}, f"unimodal models, {variant}")
    print("saved", save_figure(fig, f"{figures_dir}/01_unimodal_{variant}.png"))
    """),
    md("""
    **Check.** No unimodal model can beat its ceiling except by chance: the test set has only a
    few dozen clips per actor fold, so allow a few standard errors. A large excess would mean the
    label leaks through a channel the design did not intend.
    """),
    code("""
    n_test = len(arrays) // 6  # one of six actor folds
    margin = 3 * (0.25 / n_test) ** 0.5
    for modality, acc in accs.items():
        print(f"{modality}: {acc:.1%} (ceiling {ceil[modality]:.1%})")
        assert acc <= ceil[modality] + margin, f"{modality} beats its ceiling: leak?"
    """),
    md("""
    **Exercises.** (1) With `quick=True` the models train for only a few epochs: re-run with
    `quick=False` (or on a GPU) and see how close they come. (2) Set
    `variant="synchrony"`: why is the video ceiling 12.5 % there?
    """),
]

NB02 = [
    md("""
    # 02 · Intra-modal selection

    **Goal.** TACFN's first step (paper §3.1): before touching the other modality, the audio
    tokens attend to themselves and *select* what matters, so that only a compact vector, not
    every token, is used to reinforce the video. You will read the code, check that selection is
    a distribution over audio tokens for every clip, train TACFN, and compare what it selects
    with the ground-truth cue window.
    """),
    params(),
    code("""
    import inspect

    import torch

    from tacfn_lite import CLASS_NAMES, course
    from tacfn_lite.data import load_arrays, make_loaders, to_batch
    from tacfn_lite.fusion import SelectReinforce
    from tacfn_lite.model import build_model
    from tacfn_lite.report import record
    from tacfn_lite.train import seed_everything
    from tacfn_lite.validity import map_pointing
    from tacfn_lite.viz import save_figure
    """),
    md("""
    ## 1. The code

    `SelectReinforce` is one direction of TACFN (audio → video by default). Step 1 is the
    selection: a learned query attends over the source tokens; the attention weights
    (`selection`, shape `(B, S)`) say which audio tokens were picked, and the weighted sum is the
    selected vector. With `select=False` (ablation, notebook 03) the source is mean-pooled.
    """),
    code("""
    print(inspect.getsource(SelectReinforce.forward))
    """),
    code("""
    cfg = course.course_config("tacfn", variant, quick, seed, device, cache_dir)
    arrays = load_arrays(cfg.data)
    loaders, _ = make_loaders(cfg, arrays)
    test = loaders["test"].dataset.arrays
    batch = to_batch(test, range(len(test)))  # the whole test fold, ground truth included
    print(len(batch), "test clips; audio_mask", tuple(batch.audio_mask.shape))
    """),
    md("""
    ## 2. Selection is a distribution per clip

    Every model returns a `FusionOutput`; for TACFN `audio_select` is `(B, Ta)`, one distribution
    per clip, never averaged over the batch (the public TACFN code summed attention over the
    batch; we do not). Check it on an untrained model.
    """),
    code("""
    seed_everything(seed)
    untrained = build_model(cfg.model).eval()
    with torch.no_grad():
        out0 = untrained(batch.audio, batch.video)
    print("audio_select", tuple(out0.audio_select.shape))
    assert torch.allclose(out0.audio_select.sum(1), torch.ones(len(batch)), atol=1e-5)
    """),
    md("""
    ## 3. Train TACFN (or reuse its checkpoint)

    The checkpoint lands in `checkpoint_dir`; notebooks 03-07 reuse it.
    """),
    code("""
    model, history = course.trained_model(cfg, checkpoint_dir, arrays)
    acc = record("02.tacfn.test_accuracy", history["test"]["accuracy"], run_dir)
    print(f"TACFN test accuracy {acc:.1%} (fusion ceiling {arrays.meta['ceilings']['fusion']:.0%})")
    """),
    md("""
    ## 4. What gets selected?

    The **pointing game**: does the most-selected audio token fall inside the true cue window?
    Chance is the share of tokens inside the window. We also measure how much selection mass
    falls inside the window. Compare the trained model with the untrained one.
    """),
    code("""
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
    """),
    md("""
    Selection over time for a few test clips (shaded: the true audio cue; dotted: uniform):
    """),
    code("""
    show = [int((batch.label == c).nonzero()[0, 0]) for c in (0, 2, 4, 6)]  # four classes
    with torch.no_grad():
        out = model(batch.audio[show], batch.video[show])
    titles = [CLASS_NAMES[batch.label[i]] for i in show]
    hop_s = cfg.data.hop_length / cfg.data.sample_rate
    fig = course.plot_weights_over_time(out.audio_select.numpy(), batch.audio_mask[show].numpy(),
                                        hop_s, titles, "audio selection")
    print("saved", save_figure(fig, f"{figures_dir}/02_audio_selection_{variant}.png"))
    """),
    md("""
    **Reading the result.** Selection is learned only from the classification loss: nothing tells
    the model where the cue is. If the trained model points into the cue window far above chance,
    selection found the evidence by itself; if not, the label was solvable without it (for
    example from pooled statistics), which is itself worth knowing. Quick runs train for only a
    few epochs; the full run and notebook 05 go further.

    **Exercises.** (1) Run with `variant="synchrony"`: does selection still find the vocal cue?
    (2) `course.course_config("tacfn", ..., select=False)` trains the ablation: what does
    `audio_select` become?
    """),
]

NB03 = [
    md("""
    # 03 · Adaptive reinforcement: spliced weights and `V·w + V`

    **Goal.** TACFN's second and third steps (paper §3.2-3.3). The selected audio vector is
    *spliced* with every video token, a small tanh network scores each (frame, cell), a softmax
    over cells gives the adaptive weight map `w`, and the video is reinforced with a residual:
    `V' = V ⊙ w + V`. You will verify the residual by hand, look at the trained weight map against
    the ground-truth cue, and train ablations that switch each step off.
    """),
    params(),
    code("""
    import inspect
    from dataclasses import replace

    import torch

    from tacfn_lite import CLASS_NAMES, course
    from tacfn_lite.data import load_arrays, make_loaders, to_batch
    from tacfn_lite.fusion import SelectReinforce, TACFNFusion
    from tacfn_lite.report import record
    from tacfn_lite.validity import cell_mask, map_pointing
    from tacfn_lite.viz import save_figure
    """),
    md("""
    ## 1. The equations, in the code

    For video token `v_n` and selected audio vector `â`:
    `h_n = tanh(W_v v_n + W_a â)`, `s_n = u·h_n`, `w = softmax(s)` over the N tokens, then
    `V' = V ⊙ (N·w) + V`. The factor N makes a uniform map equal to 1, so the reweighted term
    keeps the scale of the residual whatever the grid size. The classifier reads
    `[mean(V') ; â]`. `TACFNFusion` runs one direction, or both (`direction="both"`):
    """),
    code("""
    print(inspect.getsource(TACFNFusion.forward))
    """),
    md("""
    ## 2. Check the residual by hand

    Zero the scorer's output layer: every token then scores 0, `w` is uniform (1/N), `N·w = 1`,
    and `V' = V + V = 2V`. Without the residual (`residual=False`), `V' = V`.
    """),
    code("""
    cfg = course.course_config("tacfn", variant, quick, seed, device, cache_dir)
    source, target = torch.randn(2, 5, cfg.model.d_model), torch.randn(2, 7, cfg.model.d_model)
    for residual, factor in ((True, 2.0), (False, 1.0)):
        block = SelectReinforce(replace(cfg.model, residual=residual)).eval()
        torch.nn.init.zeros_(block.score_out.weight)
        pooled, chosen, selection, weights = block(source, target)
        assert torch.allclose(weights, torch.full((2, 7), 1 / 7))
        assert torch.allclose(pooled, factor * target.mean(1), atol=1e-6)
        print(f"residual={residual}: uniform w, pooled V' = {factor:g} × mean(V)  ✓")
    """),
    md("""
    ## 3. The trained weight map

    Reuse TACFN trained in notebook 02 (same config, same checkpoint). `video_weight (B, N)` views
    as `(B, T', H', W')`. Pointing game: is the most-weighted cell inside the true video cue?
    """),
    code("""
    arrays = load_arrays(cfg.data)
    loaders, _ = make_loaders(cfg, arrays)
    batch = to_batch(loaders["test"].dataset.arrays, range(len(loaders["test"].dataset)))
    model, history = course.trained_model(cfg, checkpoint_dir, arrays)
    with torch.no_grad():
        out = model(batch.audio, batch.video)
    weights = out.video_weight.view(len(batch), *out.video_grid)  # (B, T', H', W')
    assert torch.allclose(weights.sum((1, 2, 3)), torch.ones(len(batch)), atol=1e-5)
    """),
    code("""
    hits, chance = map_pointing("video_weight", out.video_weight, batch, out.video_grid)
    has_cue = batch.video_mask.flatten(1).any(1)
    hit = record("03.video_pointing", hits[has_cue].float().mean().item(), run_dir)
    print(f"video pointing game {hit:.0%} (chance {chance[has_cue].mean():.0%})")
    per_frame = weights.sum((2, 3))  # (B, T'): weight mass per frame
    cue_frames = cell_mask(batch.video_mask, out.video_grid).flatten(2).sum(2) > 0  # (B, T')
    mass = (per_frame * cue_frames).sum(1)[has_cue].mean().item()
    print(f"weight mass on the cue frames {record('03.video_mass_in_cue', mass, run_dir):.0%}")
    """),
    code("""
    show = [int((batch.label == c).nonzero()[0, 0]) for c in (0, 2, 4, 6)]  # four classes
    titles = [CLASS_NAMES[batch.label[i]] for i in show]
    fig = course.plot_weights_over_time(per_frame[show].numpy(), cue_frames[show].numpy(),
                                        1 / cfg.model.video_rate, titles, "video weight per frame")
    print("saved", save_figure(fig, f"{figures_dir}/03_video_weight_{variant}.png"))
    """),
    md("""
    ## 4. Ablations

    Each switch turns one step off (`tacfn_lite/fusion.py`): `select=False` mean-pools the audio
    instead of selecting; `reinforce=False` skips the weight map; `residual=False` drops the `+V`;
    `time_encoding="learned"` gives each modality its own learned positions instead of one clock.
    Quick runs train the first only; `quick=False` trains all four. Same data, split, seed and
    epochs as TACFN, so the only difference is the switch.
    """),
    code("""
    accs = {"tacfn": history["test"]["accuracy"]}
    for name, overrides in (course.QUICK_ABLATIONS if quick else course.ABLATIONS).items():
        acfg = course.course_config("tacfn", variant, quick, seed, device, cache_dir, **overrides)
        _, h = course.trained_model(acfg, checkpoint_dir, arrays)
        accs[name] = h["test"]["accuracy"]
    record("03.ablations.test_accuracy", accs, run_dir)
    print({name: f"{acc:.1%}" for name, acc in accs.items()})
    fig = course.plot_accuracy_bars(accs, {"fusion": arrays.meta["ceilings"]["fusion"]},
                                    f"TACFN ablations, {variant}")
    print("saved", save_figure(fig, f"{figures_dir}/03_ablations_{variant}.png"))
    """),
    md("""
    **Reading the result.** One seed on a small test fold moves by several points from noise
    alone, so read differences of a few points as "no evidence either way". `complementary` can
    be solved without binding audio to video *in time*, so the time encoding should matter little
    there; `synchrony` is where it should matter (the design notes measured a 50 % vs 96 % gap on
    a token-level mock-up). Try it: `variant="synchrony"`, `quick=False`, ideally on a GPU.

    **Exercise.** Train `direction="both"` (video also selects and reinforces audio) via
    `course.course_config(..., direction="both")` and compare.
    """),
]

NB04 = [
    md("""
    # 04 · Training TACFN against the baselines

    **Goal.** Train every model on the same split, seed and epochs and compare them with the
    designed ceilings: audio-only, video-only, late fusion (average of unimodal logits),
    concat+FC of pooled features, a MulT-style cross-modal attention block, and TACFN. The
    checkpoints saved here (in `checkpoint_dir`) are what notebooks 05-07 explain and stress.
    """),
    params(),
    code("""
    from IPython.display import Markdown, display

    from tacfn_lite import course
    from tacfn_lite.compare import fusion_flops
    from tacfn_lite.data import load_arrays
    from tacfn_lite.model import build_model, count_parameters
    from tacfn_lite.report import record
    from tacfn_lite.viz import save_figure
    """),
    md("""
    ## 1. Protocol

    Actor-independent split (test actors unseen), AdamW, the epoch with the best **validation**
    accuracy is kept (`best.pt`) and evaluated once on test. Picking the epoch on the test fold,
    as the public RAVDESS code did, inflates results (notebook 09 measures by how much).
    Checkpoints trained in notebooks 01 and 02 with the same config are reused, not retrained.
    """),
    code("""
    arrays = load_arrays(course.course_config("tacfn", variant, quick, seed, device, cache_dir).data)
    histories, rows = {}, {}
    for name in course.COURSE_MODELS:
        mcfg = course.course_config(name, variant, quick, seed, device, cache_dir)
        _, histories[name] = course.trained_model(mcfg, checkpoint_dir, arrays)
        rows[name] = record(f"04.{name}", course.summary_row(histories[name]), run_dir)
    ceilings = arrays.meta["ceilings"]
    display(Markdown(course.markdown_table(rows, ceilings)))
    """),
    md("""
    ## 2. Learning curves

    Training loss and validation accuracy per epoch; the dot marks the epoch kept.
    """),
    code("""
    fig = course.plot_learning_curves(histories)
    print("saved", save_figure(fig, f"{figures_dir}/04_learning_curves_{variant}.png"))
    """),
    md("""
    ## 3. Against the ceilings

    Dashed lines: the best any model of that kind can do on this variant (notebook 00).
    """),
    code("""
    accs = {name: r["test_accuracy"] for name, r in rows.items()}
    fig = course.plot_accuracy_bars(accs, {k: ceilings[k] for k in ("audio", "late", "fusion")},
                                    f"test accuracy, {variant} ({'quick' if quick else 'full'})")
    print("saved", save_figure(fig, f"{figures_dir}/04_comparison_{variant}.png"))
    """),
    md("""
    ## 4. Cost of the fusion

    TACFN's claim is that selecting part of one modality is cheaper than full cross-modal
    attention. Parameters of the whole model and FLOPs of the fusion block alone, for one clip:
    """),
    code("""
    cost = {}
    for name in course.COURSE_MODELS:
        mcfg = course.course_config(name, variant, quick, seed, device, cache_dir)
        cost[name] = {"params": count_parameters(build_model(mcfg.model)),
                      "fusion_flops": fusion_flops(mcfg)}
    record("04.cost", cost, run_dir)
    ratio = cost["tacfn"]["fusion_flops"] / cost["mult"]["fusion_flops"]
    print(f"TACFN fusion FLOPs = {ratio:.2f} × MulT-style")
    cost
    """),
    md("""
    **Checks.** Every checkpoint exists for the later notebooks, and no model beats the oracle
    ceiling by more than the noise of a small test fold (a larger excess would be a leak).
    """),
    code("""
    n_test = len(arrays) // 6
    for name, r in rows.items():
        mcfg = course.course_config(name, variant, quick, seed, device, cache_dir)
        assert course.checkpoint_path(checkpoint_dir, mcfg).exists()
        assert r["test_accuracy"] <= ceilings["fusion"] + 3 * (0.25 / n_test) ** 0.5, name
    print("all", len(rows), "checkpoints saved in", checkpoint_dir)
    """),
    md("""
    **Reading the table.** One seed and a quick run: differences of a few points are noise. For
    claims, use several seeds and the full set:
    `tacfn-lite compare --variant synchrony --size full --seeds 3` (mean ± std per model).

    **Exercises.** (1) Which models reach the fusion ceiling on `complementary`, and why can late
    fusion do it here but not on `synchrony`? (2) Re-run with `variant="synchrony"`.
    """),
]

NB07 = [
    md("""
    # 07 · Robustness: a missing or noisy modality

    **Goal.** Real recordings lose a modality (camera off, face occluded, noisy room). How does
    each trained model from notebook 04 cope when one modality is blanked (zeros), dropped
    (replaced by the training-set mean clip, which carries no label information) or corrupted by
    Gaussian noise of growing strength?
    """),
    params(),
    code("""
    from IPython.display import Markdown, display

    from tacfn_lite import course
    from tacfn_lite.data import load_arrays, make_loaders
    from tacfn_lite.report import record
    from tacfn_lite.robustness import (default_conditions, evaluate_robustness,
                                       format_robustness, training_stats)
    from tacfn_lite.train import resolve_device
    from tacfn_lite.viz import plot_robustness, save_figure
    """),
    md("""
    ## 1. Models and data

    The checkpoints trained in notebook 04 (trained now if you skipped it). Perturbation
    statistics (mean clip, standard deviations) come from the **training** split only.
    """),
    code("""
    cfg = course.course_config("tacfn", variant, quick, seed, device, cache_dir)
    arrays = load_arrays(cfg.data)
    loaders, _ = make_loaders(cfg, arrays)
    models = {name: course.trained_model(course.course_config(name, variant, quick, seed, device,
                                                              cache_dir), checkpoint_dir, arrays)[0]
              for name in course.COURSE_MODELS}
    stats = training_stats(loaders["train"].dataset.arrays)
    test = loaders["test"].dataset.arrays
    """),
    md("""
    ## 2. Evaluate every model under every condition

    The same noise draw is used for every model, so differences are the models' own.
    """),
    code("""
    conditions = default_conditions((0.5, 2.0) if quick else (0.25, 0.5, 1.0, 2.0))
    rows = evaluate_robustness(models, test, stats, conditions, device=resolve_device(device),
                               seed=seed)
    record("07.robustness", {f"{r['model']} | {r['condition']}": r["accuracy"] for r in rows},
           run_dir)
    display(Markdown(format_robustness(rows)))
    """),
    code("""
    fig = plot_robustness(rows)
    print("saved", save_figure(fig, f"{figures_dir}/07_robustness_{variant}.png"))
    """),
    md("""
    **Check.** A unimodal model never looks at the other modality, so perturbing that modality
    must leave its accuracy exactly unchanged. This guards the evaluation itself.
    """),
    code("""
    acc = {(r["model"], r["condition"]): r["accuracy"] for r in rows}
    for r in rows:
        if r["model"] in ("audio", "video") and r["modality"] not in (None, r["model"]):
            assert acc[r["model"], r["condition"]] == acc[r["model"], "clean"], r
    print("unimodal models ignore the other modality ✓")
    """),
    md("""
    **Reading the result.** On `complementary` both modalities are needed, so losing either
    should pull a fused model towards the other modality's 50 % ceiling (or below, if the model
    never learned to cope). Models trained with modality dropout
    (`course.course_config(..., audio_dropout=0.3, video_dropout=0.3)`) learn to cope; the
    `redundant` variant, where each modality alone carries the label, is where that pays off.

    **Exercise.** Train TACFN with modality dropout on `redundant` and compare its
    "video zeros" row with the plain model's.
    """),
]

NB08 = [
    md("""
    # 08 · Reproducibility summary

    **Goal.** Everything needed to trust and repeat this run in one place: every metric the
    notebooks recorded, seeds, package versions, git commit, device and data hashes; and one
    number reproduced from its checkpoint. `tacfn-lite report` writes the same to `run.json`.
    """),
    params(),
    code("""
    from pathlib import Path

    import pandas as pd

    from tacfn_lite import course
    from tacfn_lite.data import load_arrays, make_loaders
    from tacfn_lite.report import environment, load_metrics, record, synthav_hash
    from tacfn_lite.train import evaluate, resolve_device
    """),
    md("""
    ## 1. Every recorded metric

    Notebooks call `record(key, value, run_dir)`; keys start with the notebook number.
    """),
    code("""
    metrics = load_metrics(run_dir)
    table = pd.json_normalize(metrics, sep=" / ").T.rename(columns={0: "value"})
    print(len(metrics), "keys recorded in", Path(run_dir) / "metrics.json")
    table
    """),
    md("""
    ## 2. Code, packages, device
    """),
    code("""
    env = environment(Path("..").resolve(), device)
    print("git commit", env["git"]["commit"], "(uncommitted changes)" if env["git"]["dirty"] else "")
    print("device", env["device"], "\\nseed", seed, "| python", env["python"], "|", env["platform"])
    pd.Series(env["versions"], name="version").to_frame()
    """),
    md("""
    ## 3. Data

    The SynthAV content hash covers every array of the set. If notebook 00 ran in this run
    folder, the hash it recorded must match the set on disk now.
    """),
    code("""
    data = synthav_hash({"variant": variant, "quick": quick, "cache_dir": cache_dir})
    print(data)
    key = f"00.data.{variant}.{data['size']}.content_hash"
    if key in metrics:
        assert metrics[key] == data["content_hash"], "the data changed since notebook 00 ran"
    """),
    md("""
    ## 4. Reproduce one number from its checkpoint

    Reload TACFN from `checkpoint_dir` and evaluate it on the test fold again: the accuracy must
    equal the one recorded when it was trained.
    """),
    code("""
    cfg = course.course_config("tacfn", variant, quick, seed, device, cache_dir)
    arrays = load_arrays(cfg.data)
    model, history = course.trained_model(cfg, checkpoint_dir, arrays)
    loaders, _ = make_loaders(cfg, arrays)
    again = evaluate(model, loaders["test"], resolve_device(device))["accuracy"]
    print(f"recorded {history['test']['accuracy']:.4f}, re-evaluated {again:.4f}")
    assert abs(again - history["test"]["accuracy"]) < 1e-9
    record("08.tacfn.reproduced_test_accuracy", again, run_dir)
    """),
    md("""
    **Repeat the whole run.** `tacfn-lite report --quick` executes notebooks 00-09 into
    `reports/<run-id>/` and writes `run.json`. On a CPU with the same seed, two runs give the same
    metrics (the test suite checks it); on a GPU, cuDNN kernels may differ in the last digits.
    """),
]

NOTEBOOKS = {
    "00_data_tour.ipynb": NB00,
    "01_unimodal_encoders.ipynb": NB01,
    "02_intra_modal_selection.ipynb": NB02,
    "03_adaptive_reinforcement.ipynb": NB03,
    "04_training.ipynb": NB04,
    "07_robustness.ipynb": NB07,
    "08_reproducibility.ipynb": NB08,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=NOTEBOOKS[name])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding gives identical files
        cell["id"] = f"{name[:2]}-{i:02d}"
    return nb


def main() -> int:
    for name in NOTEBOOKS:
        nbformat.write(build(name), HERE / name)
        print("wrote", HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
