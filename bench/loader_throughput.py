"""Loader throughput (DESIGN §5): samples/s of the cached shards that ``prepare`` writes vs a
JPEG-per-frame loader (``cv2.imwrite`` / ``cv2.imread``) on the same clips, in one run.

Both loaders go through a torch ``DataLoader`` (batch 16, shuffled, ``num_workers=0``) and yield
the same :class:`tacfn_lite.data.Batch` (float video in [0, 1]); the uint8-only rate (what a
GPU pipeline that converts on the device would need) is reported too. Two sizes: the tiny
config's 16 frames at 32² (SynthAV quick, 576 clips) and the paper's 30 frames at 224²
(SynthAV frames resized, fewer clips). Target: shards ≥ 10× the JPEG loader.

    python bench/loader_throughput.py          # writes bench/results/loader_throughput.json
    python bench/loader_throughput.py --smoke  # seconds; schema check only
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from common import base_parser, write_result
from torch.utils.data import DataLoader, Dataset

from tacfn_lite.config import get_config
from tacfn_lite.data.core import Batch, ClipArrays, ClipDataset, collate_batches
from tacfn_lite.data.media import Clip, arrays_from_cache, read_manifest
from tacfn_lite.data.prepare import write_prepared
from tacfn_lite.data.synthetic import load_synthav


class JpegClips(Dataset):
    """One folder per clip: ``frame_NNN.jpg`` per frame + ``audio.npy``; decoded per item."""

    def __init__(self, folders: list[Path], labels: np.ndarray, uint8_only: bool = False):
        self.folders, self.labels, self.uint8_only = folders, labels, uint8_only

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, i: int):
        files = sorted(self.folders[i].glob("frame_*.jpg"))
        video = np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])
        return video, np.load(self.folders[i] / "audio.npy"), int(self.labels[i])


def jpeg_collate(items, uint8_only: bool):
    video = torch.from_numpy(np.stack([v for v, _, _ in items]))  # (B, T, H, W, 3) uint8
    if uint8_only:
        return video
    return Batch(audio=torch.from_numpy(np.stack([a for _, a, _ in items]).astype(np.float32)),
                 video=video.permute(0, 1, 4, 2, 3).float().div_(255.0),  # (B, T, 3, H, W)
                 label=torch.tensor([y for _, _, y in items]), clip_id=[""] * len(items))


def resize_clips(arrays: ClipArrays, n: int, frames: int, size: int) -> ClipArrays:
    """First ``n`` clips with frames resampled in time to ``frames`` and resized to ``size``²."""
    idx = np.linspace(0, arrays.video.shape[1] - 1, frames).round().astype(int)
    video = np.stack([[cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR)
                       for f in clip[idx]] for clip in arrays.video[:n]])
    return ClipArrays(arrays.audio[:n], video, arrays.labels[:n], arrays.actors[:n],
                      arrays.clip_ids[:n], class_names=arrays.class_names, meta={})


def rate(loader, n: int, passes: int) -> float:
    t0 = time.perf_counter()
    for _ in range(passes):
        for _batch in loader:
            pass
    return n * passes / (time.perf_counter() - t0)


def bytes_under(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(arrays: ClipArrays, work: Path, batch: int, passes: int) -> dict:
    n = len(arrays)
    shard_dir, jpeg_dir = work / "shards", work / "jpeg"
    clips = ((str(i), lambda i=i: Clip(arrays.audio[i], arrays.video[i], int(arrays.labels[i]),
                                       int(arrays.actors[i]), {"clip_id": str(arrays.clip_ids[i])}))
             for i in range(n))
    t0 = time.perf_counter()
    write_prepared("bench", clips, shard_dir, class_names=arrays.class_names, settings={},
                   skipped=[], folds=False)
    write_shards_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    folders = []
    for i in range(n):
        folder = jpeg_dir / f"clip_{i:05d}"
        folder.mkdir(parents=True)
        for t, frame in enumerate(arrays.video[i]):
            cv2.imwrite(str(folder / f"frame_{t:03d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        np.save(folder / "audio.npy", arrays.audio[i].astype(np.float16))
        folders.append(folder)
    write_jpeg_s = time.perf_counter() - t0

    t0 = time.perf_counter()  # cold part of the shard loader: read + hash-check + concatenate
    cached = arrays_from_cache(shard_dir, read_manifest(shard_dir, "bench"))
    load_s = time.perf_counter() - t0
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    shard_batches = DataLoader(ClipDataset(cached), batch_size=batch, shuffle=True,
                               generator=gen(), collate_fn=collate_batches)
    shard_uint8 = DataLoader(range(n), batch_size=batch, shuffle=True, generator=gen(),
                             collate_fn=lambda idx: torch.from_numpy(cached.video[np.sort(idx)]))
    jpeg_batches = DataLoader(JpegClips(folders, arrays.labels), batch_size=batch, shuffle=True,
                              generator=gen(), collate_fn=lambda b: jpeg_collate(b, False))
    jpeg_uint8 = DataLoader(JpegClips(folders, arrays.labels), batch_size=batch, shuffle=True,
                            generator=gen(), collate_fn=lambda b: jpeg_collate(b, True))
    # same clips, same content (JPEG is lossy: mean absolute pixel error)
    jpeg_first = JpegClips(folders[:1], arrays.labels)[0][0]
    if not np.array_equal(cached.video, arrays.video):
        raise ValueError("shard round trip changed the frames")
    r = {
        "clips": n, "frames": int(arrays.video.shape[1]), "image_size": int(arrays.video.shape[2]),
        "batch_size": batch, "passes": passes,
        "shards_samples_per_s": rate(shard_batches, n, passes),
        "jpeg_samples_per_s": rate(jpeg_batches, n, passes),
        "shards_uint8_samples_per_s": rate(shard_uint8, n, passes),
        "jpeg_uint8_samples_per_s": rate(jpeg_uint8, n, passes),
        "shard_load_seconds": load_s,
        "write_seconds": {"shards": write_shards_s, "jpeg": write_jpeg_s},
        "disk_bytes": {"shards": bytes_under(shard_dir), "jpeg": bytes_under(jpeg_dir)},
        "jpeg_mean_abs_pixel_error": float(np.abs(jpeg_first.astype(float) - arrays.video[0]).mean()),
    }
    epoch_s = n / r["shards_samples_per_s"]  # shard rate with its one-off load spread over 1 epoch
    r["shards_samples_per_s_incl_load_1_epoch"] = n / (epoch_s + load_s)
    r["speedup"] = r["shards_samples_per_s"] / r["jpeg_samples_per_s"]
    r["speedup_incl_load_1_epoch"] = r["shards_samples_per_s_incl_load_1_epoch"] / r["jpeg_samples_per_s"]
    r["speedup_uint8"] = r["shards_uint8_samples_per_s"] / r["jpeg_uint8_samples_per_s"]
    r["write_seconds"] = {k: round(v, 3) for k, v in r["write_seconds"].items()}
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--paper-clips", type=int, default=64, help="clips at 30 × 224²")
    p.add_argument("--passes", type=int, default=3, help="epochs over the clips per loader")
    p.add_argument("--cache-dir", default=".cache/tacfn_lite")
    args = p.parse_args()
    torch.set_num_threads(1)  # one core per loader, as a DataLoader worker would have
    arrays = load_synthav(get_config(cache_dir=args.cache_dir).data, progress=False)
    settings = {"tiny_16x32": arrays if not args.smoke else arrays.subset(np.arange(16)),
                "paper_30x224": resize_clips(arrays, 4 if args.smoke else args.paper_clips, 30, 224)}
    passes = 1 if args.smoke else args.passes
    results = {}
    for name, clips in settings.items():
        work = Path(tempfile.mkdtemp(prefix=f"loader_{name}_"))
        try:
            results[name] = measure(clips, work, batch=16, passes=passes)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    target = 10.0
    write_result("loader_throughput", {
        "smoke": args.smoke, "target_speedup": target, "results": results,
        "meets_target": {k: v["speedup"] >= target for k, v in results.items()},
        "note": ("shards = tacfn_lite prepare's uint8/float16 npz shards read into memory once "
                 "(load time reported separately); JPEG = one cv2.imwrite file per frame, "
                 "cv2.imread per item; both single-process DataLoaders yielding the same Batch"),
    }, args.results_dir)


if __name__ == "__main__":
    main()
