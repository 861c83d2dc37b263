"""Atomic file writes (temp file + rename), JSON files and safe checkpoint loading."""

import errno
import json
import os
import secrets
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(binary_file)`` on a temp file next to ``path``, then rename it into place. On
    failure the temp file goes; OS errors (torch's too) are raised as ``OSError`` on ``path``."""
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        name = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        # a new file of its own (O_EXCL) with the usual mode: 0666 less the process umask
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        tmp = name
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp:
            tmp.unlink(missing_ok=True)
        # torch's zip writer turns a failed write (e.g. ENOSPC) into a RuntimeError naming
        # inline_container.cc or PytorchStreamWriter; the OSError is its context
        torch_writer = isinstance(exc, RuntimeError) and any(
            s in str(exc) for s in ("inline_container", "PytorchStreamWriter"))
        err = exc.__context__ if torch_writer else exc
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror or str(err), str(path)) from exc
        if torch_writer:  # it failed without saying why
            raise OSError(errno.EIO, f"torch could not write the file ({exc})", str(path)) from exc
        raise
    return path


def check_space(path: str | Path, need: int, force: bool = False) -> None:
    """Stop before writing ``need`` bytes under ``path`` when its disk has less free space:
    ``OSError(ENOSPC)`` with the estimate and the free space (``force``: try anyway)."""
    probe = Path(path).absolute()
    while not probe.exists():
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    if usage.total == 0:  # /proc, /sys: no disk behind it, nothing can be stored there
        raise OSError(errno.EACCES, "not a folder on a disk", str(path))
    if need > (free := usage.free) and not force:
        raise OSError(errno.ENOSPC, f"not enough free space: about {need / 1e9:.2f} GB needed "
                      f"(estimated from the settings), {free / 1e9:.2f} GB free", str(path))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def to_jsonable(value: Any) -> Any:
    """``value`` for JSON: arrays and scalars as lists and numbers, NaN and infinities as ``None``."""
    value = value.tolist() if hasattr(value, "tolist") else value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return None if isinstance(value, float) and not abs(value) < float("inf") else value


def write_json(path: str | Path, value: Any, sort_keys: bool = False) -> Path:
    """Write ``value`` (after :func:`to_jsonable`) as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(value), indent=1, sort_keys=sort_keys))


def read_json(path: str | Path, what: str = "file") -> Any:
    """The JSON in ``path``; ``ValueError`` naming the file and ``what`` it is when invalid."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # the latter: a binary file
        raise ValueError(f"{path}: {what} is not valid JSON ({exc})") from exc


def need_file(path: str | Path, what: str, inside: str = "a file") -> Path:
    """``path``; ``ValueError`` naming it when missing or a folder (``inside``: give that there)."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: " + (f"a folder; give {inside}" if Path(path).is_dir()
                                        else f"{what} not found"))
    return Path(path)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    return atomic_write(path, lambda fh: torch.save(obj, fh))


def _load_error(exc: Exception) -> str:
    """torch.load's failure in one line, without its advice to retry with ``weights_only=False``
    (which would run code from the file)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        tail = text.split("WeightsUnpickler error:", 1)[1].split("\n\n")
        detail = next((" ".join(part.split()) for part in tail if part.strip()), "")
        return f"not tensors and plain data ({detail})"
    return f"{type(exc).__name__}: {' '.join(text.split()).split('. ')[0]}"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; raise ``ValueError`` naming a bad file."""
    path = need_file(path, "checkpoint", "a checkpoint file in it, e.g. best.pt")
    try:
        with zipfile.ZipFile(path) as archive:  # torch.load does not check the records' CRC-32
            if damaged := archive.testzip():
                raise ValueError(f"record {damaged} fails its CRC-32 check")
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/corrupt files
        raise ValueError(f"{path}: not a readable tacfn-lite checkpoint (corrupt or truncated?): "
                         f"{_load_error(exc)}") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path}: checkpoint lacks 'model'/'config' entries")
    return ckpt
