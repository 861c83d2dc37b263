"""tacfn-lite: a teaching and analysis kit for TACFN (arXiv 2505.06536).

Importing the package has no side effects: no seeding, no plotting style, no downloads.
"""

__version__ = "0.1.0"

CLASS_NAMES = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
