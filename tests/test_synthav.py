"""SynthAV is a fair test of fusion: ceilings hold, cues lie inside the ground truth, and the
set is deterministic (issue 3). Probes are linear classifiers on summary features."""

from __future__ import annotations

import numpy as np
import pytest

from tacfn_lite.config import get_config
from tacfn_lite.data.core import ClipArrays
from tacfn_lite.data.probes import (audio_summary_features, linear_probe_accuracy,
                                    probe_report, video_summary_features)
from tacfn_lite.data.splits import split_indices
from tacfn_lite.data.synthetic import (generate_clip, latent_cases, make_actors, params_hash,
                                       variant_ceilings)

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


def _clips(seed, n=6, variant="synchrony"):
    cfg = get_config(variant=variant, data_seed=seed).data
    actors = make_actors(seed)
    return [generate_clip(i, i % 8, i % 24, cfg, actors) for i in range(n)]


def test_same_seed_gives_byte_identical_clips():
    for a, b in zip(_clips(3), _clips(3)):
        for x, y in zip(a, b):
            assert x.tobytes() == y.tobytes()


def test_another_seed_gives_different_clips():
    a, b = _clips(3), _clips(4)
    assert all(x[1].tobytes() != y[1].tobytes() for x, y in zip(a, b))


def test_cache_key_changes_with_every_generation_parameter():
    base = get_config().data
    keys = {params_hash(base)}
    for change in (dict(variant="synchrony"), dict(data_seed=1), dict(n_frames=8),
                   dict(image_size=48), dict(size="full"), dict(n_mfcc=20)):
        keys.add(params_hash(get_config(**change).data))
    assert len(keys) == 7


def test_cached_set_equals_a_fresh_generation(synthav, synthav_cache):
    from tacfn_lite.data.synthetic import load_synthav

    first = synthav("complementary")
    again = load_synthav(get_config(cache_dir=synthav_cache).data, progress=False)
    assert first.meta["content_hash"] == again.meta["content_hash"]
    assert np.array_equal(first.video, again.video)


def test_actor_independent_split_keeps_actors_apart(synthav):
    arrays = synthav("complementary")
    s = split_indices(arrays.actors, fold=2)
    sets = {k: set(arrays.actors[v].tolist()) for k, v in s.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert not (sets["train"] & sets["val"])
    assert len(sets["test"]) == 4 and len(sets["val"]) == 4 and len(sets["train"]) == 16


def test_audio_probe_features_have_expected_shape():
    assert audio_summary_features(np.zeros((2, 63, 13))).shape == (2, 65)
    assert video_summary_features(np.zeros((2, 16, 32, 32, 3), np.uint8)).shape == (2, 512)
