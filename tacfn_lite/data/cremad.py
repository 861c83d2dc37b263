"""CREMA-D (Cao et al. 2014, DESIGN §4): 91 actors, 6 emotions, ``AudioWAV/*.wav`` (16 kHz) +
``VideoFlash/*.flv``, 6 actor-independent folds of ~15, Haar-cascade faces. docs/real-data.md."""

import re
from collections import namedtuple
from functools import partial
from pathlib import Path

from .core import skip_recorder
from .media import load_prepared_corpus
from .prepare import prepare_av

# Emotion codes → kit class names; class index follows CLASS_NAMES' order.
EMOTIONS = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry", "FEA": "fearful",
            "DIS": "disgust"}
CLASS_NAMES = tuple(EMOTIONS.values())
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
LEVELS = ("LO", "MD", "HI", "XX")
NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


class CremaName(namedtuple("CremaName", ("actor", "sentence", "emotion", "level"))):
    """The fields of a CREMA-D file name, validated; ``actor`` is an int (1001..1091)."""

    @property
    def label(self) -> int:
        return CLASS_NAMES.index(EMOTIONS[self.emotion])


def parse_name(path: str | Path) -> CremaName:
    """Parse ``1001_DFA_ANG_XX.wav``; ``ValueError`` naming the file and the bad field."""
    path = Path(path)
    m = NAME.match(path.stem)
    if m is None:
        raise ValueError(f"{path}: not a CREMA-D name (expected ActorID_Sentence_Emotion_Level, "
                         "e.g. 1001_DFA_ANG_XX)")
    actor, sentence, emotion, level = m.groups()
    for field, value, allowed in (("actor", actor, [str(a) for a in range(1001, 1092)]),
                                  ("sentence", sentence, SENTENCES),
                                  ("emotion", emotion, tuple(EMOTIONS)), ("level", level, LEVELS)):
        if value not in allowed:
            shown = "1001..1091" if field == "actor" else sorted(allowed)
            raise ValueError(f"{path}: field {field}={value!r} is not one of {shown}")
    return CremaName(int(actor), sentence, emotion, level)


def scan(root: str | Path, strict: bool = False) -> tuple[list[dict], list[dict]]:
    """Pair ``AudioWAV/<stem>.wav`` with ``VideoFlash/<stem>.flv``. Returns (clips, skipped):
    clips as :func:`media.process_clip` takes them, skipped as ``{"file", "reason"}``."""
    root = Path(root)
    wav_dir, flv_dir = root / "AudioWAV", root / "VideoFlash"
    for folder in (wav_dir, flv_dir):
        if not folder.is_dir():
            raise ValueError(f"{folder}: CREMA-D folder not found (need AudioWAV/ and VideoFlash/)")
    skipped, skip = skip_recorder(strict)
    wavs = {p.stem: p for p in sorted(wav_dir.glob("*.wav"))}
    flvs = {p.stem: p for p in sorted(flv_dir.glob("*.flv"))}
    items = []
    for stem in sorted(set(wavs) | set(flvs)):
        path = wavs.get(stem) or flvs[stem]
        try:
            name = parse_name(path)
        except ValueError as exc:
            skip(path, str(exc).split(": ", 1)[1])
            continue
        if stem not in wavs or stem not in flvs:
            skip(path, "missing pair: no " + ("AudioWAV/.wav" if stem not in wavs
                                              else "VideoFlash/.flv") + " with this name")
            continue
        items.append({"clip_id": f"cremad-{stem}", "label": name.label, "actor": name.actor,
                      "fields": {f: getattr(name, f) for f in ("sentence", "emotion", "level")},
                      "files": {"video": flvs[stem], "audio": wavs[stem]}})
    return items, skipped


# Entry points prepare(root, out_dir, cfg, strict=, force=) and load_prepared(cfg), via this scan
prepare = partial(prepare_av, "cremad", scan, class_names=CLASS_NAMES,
                  protocol="6 emotions, all levels")
load_prepared = partial(load_prepared_corpus, corpus="cremad")
