"""RAVDESS (Livingstone & Russo 2018, DESIGN §4): validated names, mp4/wav/landmark-CSV pairs.
Protocol: speech, 8 emotions, 24 actors in 6 actor-independent folds of 4. docs/real-data.md."""

import re
from collections import namedtuple
from functools import partial
from pathlib import Path

from ..config import CLASS_NAMES
from .core import skip_recorder
from .media import load_prepared_corpus
from .prepare import prepare_av

FIELDS = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")
MODALITIES = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
CHANNELS = {"01": "speech", "02": "song"}
SONG_EMOTIONS = {"01", "02", "03", "04", "05", "06"}  # song has no disgust or surprised
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


class RavdessName(namedtuple("RavdessName", FIELDS)):
    """The seven two-digit fields of a RAVDESS file name (strings), validated."""

    @property
    def label(self) -> int:
        return int(self.emotion) - 1  # index into CLASS_NAMES

    @property
    def key(self) -> str:
        """The clip's identity without the modality: pairs an mp4 with its wav."""
        return "-".join(getattr(self, f) for f in FIELDS[1:])


def parse_name(path: str | Path) -> RavdessName:
    """Parse ``MM-VV-EE-II-SS-RR-AA.ext``; ``ValueError`` naming the file and the bad field (its
    range, neutral's intensity, song's emotions, the extension, the ``Actor_XX`` folder)."""
    path = Path(path)
    m = NAME.match(path.stem)
    if m is None:
        raise ValueError(f"{path}: not a RAVDESS name (expected MM-VV-EE-II-SS-RR-AA, 7 two-digit "
                         "fields separated by '-')")
    name = RavdessName(*m.groups())
    allowed = {"modality": MODALITIES, "channel": CHANNELS, "intensity": {"01", "02"},
               "emotion": {f"{i:02d}" for i in range(1, 9)}, "statement": {"01", "02"},
               "repetition": {"01", "02"}, "actor": {f"{i:02d}" for i in range(1, 25)}}
    for f in FIELDS:
        if getattr(name, f) not in allowed[f]:
            raise ValueError(f"{path}: field {f}={getattr(name, f)!r} not in {sorted(allowed[f])}")
    if name.emotion == "01" and name.intensity == "02":
        raise ValueError(f"{path}: neutral (emotion 01) has no strong intensity (02)")
    if name.channel == "02" and name.emotion not in SONG_EMOTIONS:
        raise ValueError(f"{path}: song (channel 02) has no emotion {name.emotion}")
    if path.suffix.lower() != (ext := ".wav" if name.modality == "03" else ".mp4"):
        raise ValueError(f"{path}: modality {name.modality} files end in {ext}")
    if (parent := path.parent.name).startswith("Actor_") and parent != f"Actor_{name.actor}":
        raise ValueError(f"{path}: actor field {name.actor} does not match folder {parent}")
    return name


def scan(root: str | Path, strict: bool = False) -> tuple[list[dict], list[dict]]:
    """Pair the speech files of a RAVDESS tree. Returns (clips, skipped): clips as
    :func:`media.process_clip` takes them, skipped as ``{"file", "reason"}``."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: {'a file, not the' if root.is_file() else 'no'} RAVDESS root folder")
    skipped, skip = skip_recorder(strict)
    csvs = {p.stem: p for p in root.rglob("*.csv")}
    groups: dict[str, dict] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mp4", ".wav")
                       and not p.name.startswith(".")):
        try:
            name = parse_name(path)
        except ValueError as exc:
            skip(path, str(exc).split(": ", 1)[1])
            continue
        if name.channel != "01":  # song: skipped even when strict
            skipped.append({"file": str(path), "reason": "song channel: not in the protocol"})
            continue
        group = groups.setdefault(name.key, {"name": name})
        if name.modality in group:
            skip(path, f"duplicate of {group[name.modality]}")
            continue
        group[name.modality] = path
    clips = []
    for key, g in sorted(groups.items()):
        video, audio = g.get("01") or g.get("02"), g.get("03") or g.get("01")
        if video is None or audio is None:
            have = next(g[m] for m in ("01", "02", "03") if m in g)
            skip(have, "missing pair: no " + ("audio-video/video-only mp4" if video is None
                                              else "speech wav or audio track") + " for this clip")
            continue
        name = g["name"]
        csv = csvs.get(video.stem) or csvs.get(f"01-{key}") or csvs.get(f"02-{key}")
        clips.append({"clip_id": f"ravdess-{key}", "label": name.label, "actor": int(name.actor),
                      "fields": {f: getattr(name, f) for f in FIELDS[1:]},
                      "files": {"video": video, "audio": audio, "landmarks": csv}})
    return clips, skipped


# Entry points prepare(root, out_dir, cfg, strict=, force=) and load_prepared(cfg), via this scan
prepare = partial(prepare_av, "ravdess", scan, class_names=CLASS_NAMES,
                  protocol="speech, 8 emotions")
load_prepared = partial(load_prepared_corpus, corpus="ravdess")
