"""prolong: the reproducible companion to "How to Train Long-Context Language Models (Effectively)"."""

__version__ = "0.1.0"

import os as _os

from prolong.offline import enforce_offline as _enforce_offline

# Batch runs (papermill, CI) set PROLONG_QUIET=1: no progress bars from our loops, nor from transformers/huggingface.
if _os.environ.get("PROLONG_QUIET") == "1":
    _os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# Nothing loads from the network unless PROLONG_ALLOW_NETWORK=1 (prolong.offline): set before transformers is imported.
_enforce_offline()
