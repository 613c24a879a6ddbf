"""prolong: the reproducible companion to "How to Train Long-Context Language Models (Effectively)"."""

__version__ = "0.1.0"

import os as _os

from prolong.offline import enforce_offline as _enforce_offline

# Batch runs (papermill, CI) set PROLONG_QUIET=1: no progress bars from our loops, nor from libraries (prolong.progress).
if _os.environ.get("PROLONG_QUIET") == "1":
    from prolong.progress import batch_mode as _batch_mode

    _batch_mode()

# Nothing loads from the network unless PROLONG_ALLOW_NETWORK=1 (prolong.offline): set before transformers is imported.
_enforce_offline()
