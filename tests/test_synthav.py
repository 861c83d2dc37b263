"""SynthAV is a fair test of fusion: ceilings hold, cues lie inside the ground truth, and the
set is deterministic (issue 3). Probes are linear classifiers on summary features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tacfn_lite.config import get_config
from tacfn_lite.data.core import ClipArrays
from tacfn_lite.data.splits import split_indices
from tacfn_lite.data.synthetic import (
    VIDEO_CODES,
    generate_clip,
    latent_cases,
    make_actors,
    params_hash,
    synth_video,
    variant_ceilings,
)

# Linear probes of the designed ceilings: unlearned summaries (MFCC time statistics; per-pixel
# temporal extremes of each frame minus the clip's mean frame) fed to a multinomial logistic
# regression.


def audio_summary_features(audio: np.ndarray) -> np.ndarray:
    """Per-coefficient mean, std, max, min and (max - median) over time.

    Shapes: audio ``(N, Ta, F)`` → ``(N, 5F)``.
    """
    a = np.asarray(audio, dtype=np.float32)
    med = np.median(a, axis=1)
    return np.concatenate([a.mean(1), a.std(1), a.max(1), a.min(1), a.max(1) - med], axis=1)


def video_summary_features(video: np.ndarray, pool: int = 2) -> np.ndarray:
    """Per-pixel temporal max and min of (grey frame - mean grey frame), average-pooled.

    Shapes: video ``(N, T, H, W, 3)`` uint8 → ``(N, 2 · H/pool · W/pool)``.
    """
    grey = np.asarray(video, dtype=np.float32).mean(-1) / 255.0  # (N, T, H, W)
    diff = grey - grey.mean(1, keepdims=True)
    n, _, h, w = grey.shape
    stats = np.stack([diff.max(1), diff.min(1)], 1)  # (N, 2, H, W)
    return stats.reshape(n, 2, h // pool, pool, w // pool, pool).mean((3, 5)).reshape(n, -1)


def linear_probe_accuracy(features: np.ndarray, targets: np.ndarray, train: np.ndarray,
                          test: np.ndarray, epochs: int = 300, weight_decay: float = 1e-3,
                          seed: int = 0) -> float:
    """Accuracy on ``test`` rows of a standardised multinomial logistic regression fit on
    ``train`` rows."""
    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(features, dtype=torch.float32)
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    x = (x - mu) / sd
    y = torch.as_tensor(targets, dtype=torch.long)
    n_classes = int(y.max()) + 1
    w = (torch.randn(x.shape[1], n_classes, generator=g) * 0.01).requires_grad_()
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(x[train] @ w + b, y[train]).backward()
        opt.step()
    with torch.no_grad():
        return float(((x[test] @ w + b).argmax(1) == y[test]).float().mean())


def probe_report(arrays: ClipArrays, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Probe accuracy from audio alone, video alone and both (features concatenated)."""
    fa, fv = audio_summary_features(arrays.audio), video_summary_features(arrays.video)
    y = arrays.labels
    return {"audio": linear_probe_accuracy(fa, y, train, test),
            "video": linear_probe_accuracy(fv, y, train, test),
            "both": linear_probe_accuracy(np.concatenate([fa, fv], 1), y, train, test)}


# Quick sets test on 4 held-out actors (96 clips): one standard error at 50 % is 5 points.
SLACK = 0.12


def actor_split(arrays):
    s = split_indices(arrays.actors, fold=0)
    return np.concatenate([s["train"], s["val"]]), s["test"]


def test_ceilings_are_computed_from_the_variant_definitions():
    assert variant_ceilings("complementary") == {"audio": 0.5, "video": 0.5, "late": 1.0, "fusion": 1.0}
    assert variant_ceilings("synchrony") == {"audio": 0.5, "video": 0.125, "late": 0.5, "fusion": 1.0}
    red = variant_ceilings("redundant")
    assert red["audio"] == pytest.approx(0.8 + 0.2 / 8) and red["fusion"] == pytest.approx(1 - 0.04 * 7 / 8)


def test_complementary_pairs_are_different_per_modality():
    audio_pairs = {lab: latent_cases("complementary", lab)[0][1].audio_code for lab in range(8)}
    video_pairs = {lab: latent_cases("complementary", lab)[0][1].video_events[0][0] for lab in range(8)}
    joint = {(audio_pairs[c], video_pairs[c]) for c in range(8)}
    assert len(set(audio_pairs.values())) == 4 and len(set(video_pairs.values())) == 4
    assert len(joint) == 8  # together they name every class


def test_synchrony_decoy_mirrors_the_true_event():
    for label in range(8):
        for _, lat in latent_cases("synchrony", label):
            (true_code, sync), (decoy, other) = lat.video_events
            assert sync and not other
            assert true_code % 2 == label % 2 and decoy % 2 != label % 2
            assert true_code // 2 != decoy // 2  # different face regions


def test_complementary_probes_sit_at_the_unimodal_ceiling_and_fuse_above_90(synthav):
    arrays = synthav("complementary")
    acc = probe_report(arrays, *actor_split(arrays))
    assert abs(acc["audio"] - 0.5) < SLACK
    assert 0.5 - 0.2 < acc["video"] < 0.5 + SLACK
    assert acc["both"] > 0.9


def test_synchrony_video_alone_cannot_beat_its_ceiling_though_it_sees_the_events(synthav):
    arrays = synthav("synchrony")
    train, test = actor_split(arrays)
    fv = video_summary_features(arrays.video)
    assert linear_probe_accuracy(fv, arrays.labels, train, test) < 0.125 + SLACK
    # The same probe does read the faces: which pair of events is shown, {0,3} or {1,2}, is
    # (true region == label parity), with the true region read off the ground-truth mask.
    rows = np.arange(arrays.video.shape[2])[None, None, :, None]
    true_lower = (arrays.video_mask * rows).sum((1, 2, 3)) / arrays.video_mask.sum((1, 2, 3)) > 16
    pair = (true_lower.astype(int) == arrays.labels % 2).astype(int)
    assert linear_probe_accuracy(fv, pair, train, test) > 0.7
    # ... but parity itself, which needs the audio's timing, stays at chance.
    assert linear_probe_accuracy(fv, arrays.labels % 2, train, test) < 0.5 + SLACK


def _masked(arrays: ClipArrays, keep_inside: bool) -> ClipArrays:
    a_keep = arrays.audio_mask if keep_inside else ~arrays.audio_mask
    v_keep = arrays.video_mask if keep_inside else ~arrays.video_mask
    return ClipArrays(arrays.audio * a_keep[..., None], arrays.video * v_keep[..., None],
                      arrays.labels, arrays.actors, arrays.clip_ids)


def test_cue_lies_inside_the_ground_truth_masks(synthav):
    arrays = synthav("complementary")
    train, test = actor_split(arrays)
    inside_only = probe_report(_masked(arrays, keep_inside=True), train, test)
    outside_only = probe_report(_masked(arrays, keep_inside=False), train, test)
    assert inside_only["both"] > 0.85  # zeroing outside the masks keeps the label
    assert outside_only["both"] < 0.125 + SLACK  # zeroing inside destroys it


def test_masks_cover_one_window_of_half_a_second(synthav):
    arrays = synthav("complementary")
    a_len = arrays.audio_mask.sum(1)
    v_frames = arrays.video_mask.any((2, 3)).sum(1)
    assert set(np.unique(v_frames)) == {4}  # 0.5 s at 8 fps
    assert a_len.min() >= 15 and a_len.max() <= 17  # 0.5 s at 31.25 frames/s
    for mask in (arrays.audio_mask, arrays.video_mask.any((2, 3))):  # (N, Ta) and (N, T)
        steps = np.diff(mask.astype(int), axis=1)
        assert np.all((steps == 1).sum(1) + mask[:, 0] == 1)  # one contiguous run per clip
    # The face-region mask covers part of each cue frame, never the whole frame.
    pixels = arrays.video_mask.sum((2, 3))  # (N, T)
    cue_pixels = pixels[pixels > 0]
    assert cue_pixels.min() >= 100 and cue_pixels.max() <= arrays.video_mask[0, 0].size // 2


@pytest.mark.parametrize("variant", ["complementary", "synchrony"])
def test_audio_mask_lies_within_the_true_video_event(synthav, variant):
    """Audio frame j sits at j·512/16000 s; video frame f spans [f/8, (f+1)/8) s. The audio
    mask starts with the (true) video event, within one audio frame, and ends inside it."""
    arrays = synthav(variant)
    cfg = get_config().data
    a_times = np.arange(arrays.audio.shape[1]) * cfg.hop_length / cfg.sample_rate
    fps = cfg.n_frames / cfg.duration
    for a_mask, v_mask in zip(arrays.audio_mask, arrays.video_mask.any((2, 3))):
        frames = np.flatnonzero(v_mask)
        start, stop = frames[0] / fps, (frames[-1] + 1) / fps
        assert start <= a_times[a_mask].min() < start + cfg.hop_length / cfg.sample_rate
        assert a_times[a_mask].max() < stop


def test_audio_cue_window_stands_out_from_the_rest_of_the_clip(synthav):
    """Mean MFCC inside the audio mask differs from the rest of the clip far more than the mean
    over a window of the same length away from the cue (noise bursts make single clips vary)."""
    arrays = synthav("complementary")
    audio = arrays.audio.astype(np.float64)  # (N, Ta, F)
    cue_gap, null_gap = [], []
    for clip, mask in zip(audio, arrays.audio_mask):
        length = int(mask.sum())
        away = np.zeros_like(mask)
        if np.flatnonzero(mask)[0] >= len(mask) // 2:
            away[:length] = True
        else:
            away[-length:] = True
        assert not (away & mask).any()
        for window, gaps in ((mask, cue_gap), (away, null_gap)):
            gaps.append(np.abs(clip[window].mean(0) - clip[~window].mean(0)).mean())
    cue_gap, null_gap = np.array(cue_gap), np.array(null_gap)
    assert cue_gap.mean() > 2 * null_gap.mean()  # about 1.5 vs 0.6 on the quick set
    assert (cue_gap > null_gap).mean() > 0.9


@pytest.mark.parametrize("code", range(len(VIDEO_CODES)))
def test_video_cue_changes_the_face_only_inside_the_mask_of_its_frames(code):
    """The same clip (same seed) drawn with and without one cue event starting at frame 5."""
    cfg = get_config().data
    actor = make_actors(0)[3]
    with_cue, mask = synth_video(actor, [(code, 5)], cfg, np.random.default_rng(7))
    without, no_mask = synth_video(actor, [], cfg, np.random.default_rng(7))
    changed = (with_cue != without).any(-1)  # (T, S, S)
    assert np.flatnonzero(changed.any((1, 2))).tolist() == [5, 6, 7, 8]  # 0.5 s at 8 fps
    assert np.flatnonzero(mask.any((1, 2))).tolist() == [5, 6, 7, 8]
    assert not (changed & ~mask).any()  # every change is inside the ground-truth mask
    assert changed.sum((1, 2))[5:9].min() >= 5  # a visible feature, not one pixel
    assert np.abs(with_cue.astype(int) - without).max() >= 100
    assert not no_mask.any()


def test_clips_span_the_value_range_and_move_over_time(synthav):
    arrays = synthav("complementary")
    assert np.isfinite(arrays.audio).all()
    assert arrays.audio.std(1).mean(1).min() > 0.1  # every clip's MFCC varies over time
    assert arrays.video.min() < 30 and arrays.video.max() > 220  # dark features, bright skin
    frame_std = arrays.video.reshape(*arrays.video.shape[:2], -1).astype(np.float32).std(2)
    assert frame_std.min() > 20  # no blank frame
    assert (np.abs(np.diff(arrays.video.astype(int), axis=1)).max((2, 3, 4)) > 0).all()
    assert arrays.audio_mask.any(1).all() and arrays.video_mask.any((1, 2, 3)).all()


def _clips(seed, n=6, variant="synchrony"):
    cfg = get_config(variant=variant, data_seed=seed).data
    actors = make_actors(seed)
    return [generate_clip(i, i % 8, i % 24, cfg, actors) for i in range(n)]


def test_same_seed_gives_byte_identical_clips():
    first = _clips(3)
    for a, b in zip(first, _clips(3)):
        for x, y in zip(a, b):
            assert x.tobytes() == y.tobytes()
        assert a[0].std() > 0 and a[1].std() > 0 and a[2].any() and a[3].any()  # not blank
    assert first[0][1].tobytes() != first[1][1].tobytes()  # and clips differ from each other


def test_another_seed_gives_different_clips():
    a, b = _clips(3), _clips(4)
    assert all(x[1].tobytes() != y[1].tobytes() for x, y in zip(a, b))


def test_cache_key_changes_with_every_generation_parameter():
    base = get_config().data
    keys = {params_hash(base)}
    for change in ({"variant": "synchrony"}, {"data_seed": 1}, {"n_frames": 8},
                   {"image_size": 48}, {"size": "full"}, {"n_mfcc": 20}):
        keys.add(params_hash(get_config(**change).data))
    assert len(keys) == 7


def test_cached_set_equals_a_fresh_generation(synthav, synthav_cache):
    from tacfn_lite.data.synthetic import load_synthav

    first = synthav("complementary")
    again = load_synthav(get_config(cache_dir=synthav_cache).data, progress=False)
    assert first.meta["content_hash"] == again.meta["content_hash"]
    for name in ("audio", "video", "audio_mask", "video_mask", "labels"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert first.video.std() > 0 and first.audio.std() > 0


def test_actor_independent_split_keeps_actors_apart(synthav):
    arrays = synthav("complementary")
    s = split_indices(arrays.actors, fold=2)
    sets = {k: set(arrays.actors[v].tolist()) for k, v in s.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert not (sets["train"] & sets["val"])
    assert len(sets["test"]) == 4 and len(sets["val"]) == 4 and len(sets["train"]) == 16


def test_audio_summary_is_mean_std_max_min_and_peak_over_median_per_coefficient():
    audio = np.array([[[1.0, 10.0], [2.0, 40.0], [6.0, 10.0]]])  # (N=1, Ta=3, F=2)
    std0, std1 = np.sqrt(14 / 3), np.sqrt(200)  # population std of (1, 2, 6) and (10, 40, 10)
    expected = [[3, 20, std0, std1, 6, 40, 1, 10, 6 - 2, 40 - 10]]
    np.testing.assert_allclose(audio_summary_features(audio), expected, rtol=1e-6)


def test_video_summary_is_pooled_temporal_extremes_of_the_frame_difference():
    """One white pixel in the second of two black 2×2 frames: grey 0 then 1, mean 0.5, so the
    difference is -0.5 then +0.5 at that pixel and 0 elsewhere."""
    video = np.zeros((1, 2, 2, 2, 3), np.uint8)  # (N, T, H, W, 3)
    video[0, 1, 0, 0] = 255
    np.testing.assert_allclose(video_summary_features(video, pool=1),
                               [[0.5, 0, 0, 0, -0.5, 0, 0, 0]])
    np.testing.assert_allclose(video_summary_features(video, pool=2), [[0.125, -0.125]])
