"""No model, tokenizer or dataset load reaches the network unless the user opts in.

Everything this project loads is a local path (a run's model, a built tokenizer, a downloaded checkpoint under the
data folder). Without offline mode, a name that is not a local folder makes transformers and datasets try the Hub,
retrying for about a minute on a cluster node without network before failing; with it, the load fails at once with
a message naming the path. `PROLONG_ALLOW_NETWORK=1` opts in (e.g. to download a doc tokenizer once).
"""

from __future__ import annotations

import os
import sys

OPT_IN = "PROLONG_ALLOW_NETWORK"
_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def network_allowed() -> bool:
    return os.environ.get(OPT_IN, "") not in ("", "0")


def enforce_offline() -> None:
    """Set the Hugging Face offline flags for this process and its children (papermill kernels, workers); where
    huggingface_hub or datasets was imported before prolong, also their already-read constants."""
    if network_allowed():
        return
    for flag in _FLAGS:
        os.environ[flag] = "1"
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_OFFLINE = True
    ds = sys.modules.get("datasets.config")
    if ds is not None:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
            if hasattr(ds, name):
                setattr(ds, name, True)
