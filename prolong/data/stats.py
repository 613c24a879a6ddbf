"""Corpus statistics of token stores, as the paper reports them.

    long_tokens_table({"Code Repos": store, ...}, min_tokens=65536)   # Table 3: tokens in long documents
    length_share_table({"ArXiv": store, ...}, thresholds=(4096, 8192, 16384, 32768))   # Table 14
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from prolong.data.token_store import TokenStore


def long_tokens_table(stores: Mapping[str, TokenStore], min_tokens: int = 65536, unit: float = 1e9) -> pd.DataFrame:
    """Table 3: per source, tokens in documents of at least `min_tokens` tokens, in units of `unit` (paper: B)."""
    rows = []
    for name, store in stores.items():
        lengths = store.doc_lengths()
        rows.append({"source": name, "long_tokens_B": float(lengths[lengths >= min_tokens].sum()) / unit})
    return pd.DataFrame(rows, columns=["source", "long_tokens_B"])


def _label(n: int) -> str:
    return f">{n // 1024}K" if n % 1024 == 0 else f">{n}"


def length_share_table(stores: Mapping[str, TokenStore],
                       thresholds: Sequence[int] = (4096, 8192, 16384, 32768)) -> pd.DataFrame:
    """Table 14: per source, the percentage of documents longer than each threshold (columns '>4K', '>8K', ...)."""
    rows = []
    for name, store in stores.items():
        lengths = store.doc_lengths()
        row = {"source": name}
        for t in thresholds:
            row[_label(t)] = 100.0 * float(np.mean(lengths > t)) if len(lengths) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=["source"] + [_label(t) for t in thresholds])


def store_summary(stores: Mapping[str, TokenStore]) -> pd.DataFrame:
    """Documents, tokens and length quantiles per store (for the build log and `prolong data stats`)."""
    rows = []
    for name, store in stores.items():
        lengths = store.doc_lengths()
        q = np.percentile(lengths, [50, 90]) if len(lengths) else [np.nan, np.nan]
        rows.append({"source": name, "docs": store.n_docs, "tokens": store.n_tokens, "median_len": float(q[0]),
                     "p90_len": float(q[1]), "max_len": int(lengths.max()) if len(lengths) else 0})
    return pd.DataFrame(rows)
