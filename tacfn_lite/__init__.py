"""tacfn-lite: a teaching and analysis kit for TACFN (arXiv 2505.06536). Importing the package
has no side effects: no seeding, no plotting style, no downloads."""

from .config import CLASS_NAMES  # noqa: F401  (SynthAV/RAVDESS class names)
from .config import VERSION as __version__  # noqa: F401


def __getattr__(name: str):
    """``tacfn_lite.predict(path, checkpoint)`` without importing torch at package import."""
    if name == "predict":
        from .inference import predict

        return predict
    raise AttributeError(f"module 'tacfn_lite' has no attribute {name!r}")
