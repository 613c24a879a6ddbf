"""The paper-scale evaluation reads HELMET's released data, never the tiny suite in its place.

The evaluation's data folder (`data_dir`, default `<PROLONG_DATA or data/>/helmet`) is also where `prolong data
build-tiny` writes the tiny suite, and a folder without HELMET's own sub-folders is read in the project's layout
(prolong/eval/data_layout.md). At the tiny scale that is the point; at the paper scale it would score the tiny suite
under the paper's names. `require_helmet_data` is called before a paper-scale evaluation (and before anything is
trained for one): every file HELMET's layout needs for the configured tasks and lengths must be there, and the first
one missing is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

from prolong.eval.config import EvalConfig
from prolong.eval.helmet_format import JSON_KV_KS
from prolong.eval.tasks.common import helmet_layout
from prolong.eval.tasks.rag import helmet_rag_files
from prolong.eval.tasks.recall import JSON_KV_FILE
from prolong.eval.tasks.rerank import helmet_rerank_files

RAG_TASKS = ("nq", "triviaqa", "hotpotqa", "popqa")
DOWNLOAD = "HELMET's released data/: princeton-nlp/HELMET scripts/download_data.sh; prolong/eval/data_layout.md"


def _first_needed(cfg: EvalConfig, root: Path) -> Path:
    """The first file of HELMET's layout the configured tasks read (what to name when the folder has none)."""
    for task in cfg.tasks:
        for length in cfg.lengths:
            if task == "json_kv" and length in JSON_KV_KS:
                return root / JSON_KV_FILE.format(k=JSON_KV_KS[length])
            if task in RAG_TASKS or task == "msmarco_rerank":
                try:
                    (helmet_rag_files(task, root, length) if task in RAG_TASKS else helmet_rerank_files(root, length))
                except FileNotFoundError as err:
                    return Path(str(err).split(": ", 1)[0])
    return root / "kilt"


def require_helmet_data(cfg: EvalConfig, what: str = "the paper-scale evaluation") -> None:
    """Raise FileNotFoundError naming the first file of HELMET's released data that `cfg`'s tasks need and that is
    not under its data folder (a folder holding the tiny suite, or nothing, is never read in its place)."""
    root = cfg.data_root()
    if not helmet_layout(root):
        tiny = " (it holds the tiny suite of `prolong data build-tiny`)" if (root / "rag").is_dir() else ""
        raise FileNotFoundError(
            f"{_first_needed(cfg, root)}: not found - {what} reads HELMET's released data and {root} has none of "
            f"kilt/, msmarco/, json_kv/, alce/, ruler/{tiny}; download {DOWNLOAD}; or set the eval params' data_dir")
    for task in cfg.tasks:
        for length in cfg.lengths:
            if task == "json_kv" and length in JSON_KV_KS:
                path = root / JSON_KV_FILE.format(k=JSON_KV_KS[length])
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: json_kv's file for length {length} not found ({DOWNLOAD})")
            elif task in RAG_TASKS:
                helmet_rag_files(task, root, length)     # raises naming the missing file and the task
            elif task == "msmarco_rerank":
                helmet_rerank_files(root, length)
