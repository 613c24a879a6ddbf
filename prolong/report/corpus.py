"""Corpus statistics beside the paper's: the analogs of Table 3 (tokens in long documents per source) and Table 14
(share of documents longer than 4K/8K/16K/32K tokens) for the user's own token stores (e.g. the tiny corpus).

The statistics are computed from the token stores themselves (the corpus is the "run"); the paper's rows come from
results/paper as everywhere else. Written as `figures/tables/T03.<name>.csv|md`, `figures/tables/T14.<name>.csv|md`
and drawn beside the paper in `figures/T14.png`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from prolong import paths
from prolong.data.config import CorpusConfig, MixtureConfig
from prolong.data.stats import length_share_table, long_tokens_table
from prolong.data.token_store import TokenStore
import prolong.report.plot as plot  # the module, not the package (whose __init__ imports tables)
from prolong.report.tables import Outputs, _long, _tables
from prolong.report.render import write_table
from prolong.run_table import load_runs

# Tiny sources -> the paper's row labels (Tables 3, 5, 14).
PAPER_LABELS = {
    "code_repos": "Code Repos", "books": "Books", "fineweb": "FineWeb", "fineweb_edu": "FineWeb-Edu",
    "wikipedia": "Wikipedia", "tulu": "Tulu-v2", "stackexchange": "StackExchange", "arxiv": "ArXiv",
    "openwebmath": "OpenWebMath",
}
THRESHOLDS = (4096, 8192, 16384, 32768)


def _fmt(frame: pd.DataFrame, digits: int) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns[1:]:
        out[col] = out[col].map(lambda v: f"{v:.{digits}f}")
    return out


def mixture_length_share(shares: pd.DataFrame, stores: Mapping[str, TokenStore], mixture: MixtureConfig) -> dict:
    """The "ShortMix" row of Table 14: share of documents longer than each threshold in documents drawn by the
    mixture's token proportions (a domain contributes documents in proportion to p_i / mean document length_i)."""
    props = mixture.proportions()
    weights = {d: p / float(stores[d].doc_lengths().mean()) for d, p in props.items()}
    total = sum(weights.values())
    by_source = shares.set_index("source")
    return {col: sum(weights[d] / total * by_source.loc[d, col] for d in props) for col in shares.columns[1:]}


def corpus_tables(stores: Mapping[str, TokenStore], name: str, long_min_tokens: int, shortmix: MixtureConfig | None,
                  short_sources: list[str], out: Outputs | None = None) -> dict[str, pd.DataFrame]:
    """Write the T03 and T14 analogs of `stores` (labelled `name`, e.g. "tiny") beside the paper's tables.

    T03: tokens (millions; the paper counts billions) in documents of at least `long_min_tokens` tokens.
    T14: percent of documents of each short source longer than 4K/8K/16K/32K tokens, plus the ShortMix row."""
    out = out or Outputs()
    t03 = long_tokens_table(stores, min_tokens=long_min_tokens, unit=1e6).rename(columns={"long_tokens_B": "long_tokens_M"})
    t03 = t03.sort_values("long_tokens_M", ascending=False, kind="stable")
    t03["source"] = t03["source"].map(lambda s: PAPER_LABELS.get(s, s))
    t14 = length_share_table({s: stores[s] for s in short_sources}, THRESHOLDS)
    if shortmix is not None:
        t14.loc[len(t14)] = {"source": "ShortMix", **mixture_length_share(t14, stores, shortmix)}
    t14["source"] = t14["source"].map(lambda s: PAPER_LABELS.get(s, s))

    t03_text, t14_text = _fmt(t03, 2), _fmt(t14, 1)
    out.written += write_table(t03_text, out.tables_dir, f"T03.{name}",
                               f"T03 analog ({name}): tokens (millions) in documents of at least {long_min_tokens} tokens")
    out.written += write_table(t14_text, out.tables_dir, f"T14.{name}",
                               f"T14 analog ({name}): percent of documents longer than 4K/8K/16K/32K tokens")
    # Table 14 drawn for the paper and for this corpus, one panel each.
    paper = _tables(load_runs(["paper"], experiments=["T14"]), "T14", Outputs(out.tables_dir, out.figures_dir))
    frame = pd.concat([_long(paper), plot.long_form(t14_text, name)], ignore_index=True)
    out.written.append(plot.bars(frame, "Documents longer than (%)", out.figures_dir / "T14.png",
                                    x="row", hue="metric", ylabel="% of documents"))
    return {"T03": t03, "T14": t14}


def corpus_stores(corpus_params: str | Path) -> dict[str, TokenStore]:
    """The token stores of a corpus params file (relative to the repository root); the tiny corpus (one with a `tiny`
    section, e.g. params/tiny/corpus.yaml) must be built first (`prolong data build-tiny`)."""
    path = Path(corpus_params)
    path = path if path.is_absolute() else paths.REPO_ROOT / path
    corpus = CorpusConfig.from_yaml(path)
    if corpus.tiny is not None:
        from prolong.tiny import require_built

        require_built(*(corpus.store_path(name) for name in corpus.sources))
    return {name: TokenStore.open(corpus.store_path(name)) for name in corpus.sources}


def document_lengths(stores: Mapping[str, TokenStore]) -> pd.DataFrame:
    """Documents, tokens and length quantiles per source (for a quick look in the notebook)."""
    rows = []
    for name, store in stores.items():
        lengths = store.doc_lengths()
        rows.append({"source": PAPER_LABELS.get(name, name), "docs": int(store.n_docs), "tokens": int(store.n_tokens),
                     "median": float(np.median(lengths)), "p90": float(np.percentile(lengths, 90)),
                     "max": int(lengths.max())})
    return pd.DataFrame(rows)
