"""`prolong data ...`: build the tiny data, tokenize a corpus, print statistics, peek at a mixture.

    prolong data build-tiny [--force]
    prolong data tokenize --params params/paper/mixtures/corpus.yaml [--only code_repos books] [--workers 8]
                          [--verify]                          (checksums of built stores; damaged shards rebuilt)
    prolong data stats --params params/tiny/corpus.yaml [--min-tokens 4096] [--thresholds 1024 4096 16384]
    prolong data peek --mixture params/tiny/mixtures/stage1.yaml --seq-len 1024 [--n 4]
    prolong data verify --params params/tiny/corpus.yaml     checksums of every shard (opening checks sizes only)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True)
    p = sub.add_parser("build-tiny", help="the tiny data: corpus, tokenizer, token stores, eval suite, SFT files "
                                          "(skips what exists)")
    p.add_argument("--force", action="store_true", help="rebuild everything")
    p.add_argument("--workers", type=int, default=None, help="tokenization processes (default: from params)")
    p = sub.add_parser("tokenize", help="tokenize the sources of a corpus params file into token stores")
    p.add_argument("--params", required=True, help="corpus YAML (tokenizer, sources, store_root)")
    p.add_argument("--only", nargs="*", default=None, help="only these sources")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--force", action="store_true", help="rebuild stores that exist")
    p.add_argument("--verify", action="store_true", help="check the checksums of built stores (not only sizes) and "
                   "rebuild the shards that fail")
    p.add_argument("--doc-end-token", default=None, help="the token after every document when packing (default: the "
                   "params' doc_end_token, 'auto': <|end_of_text|> when the tokenizer has it, as ProLong's data)")
    p = sub.add_parser("stats", help="Table 3 / Table 14 statistics of the token stores of a corpus")
    p.add_argument("--params", required=True, help="corpus YAML")
    p.add_argument("--min-tokens", type=int, default=65536, help="long-document threshold of Table 3")
    p.add_argument("--thresholds", type=int, nargs="*", default=[4096, 8192, 16384, 32768], help="Table 14 columns")
    p.add_argument("--unit", type=float, default=1e9, help="Table 3 unit (1e9: billions, as the paper)")
    p = sub.add_parser("verify", help="check every shard of the corpus's token stores against its recorded size and "
                                      "checksum, naming each damaged file (the next build rebuilds them)")
    p.add_argument("--params", required=True, help="corpus YAML")
    p = sub.add_parser("peek", help="print the first packed sequences of a mixture")
    p.add_argument("--mixture", required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    from prolong.config import ConfigError

    try:
        return _COMMANDS[args.data_command](args)
    except (ConfigError, FileNotFoundError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _build_tiny(args) -> int:
    from prolong.tiny import build_tiny

    paths = build_tiny(force=args.force, workers=args.workers)
    print(f"corpus: {paths.corpus_dir}")
    print(f"tokenizer: {paths.tokenizer}")
    for name, p in paths.stores.items():
        print(f"store {name}: {p}")
    print(f"eval suite: {paths.eval_suite}")
    print(f"sft: {paths.sft_dir}")
    if paths.seconds:
        print("built: " + ", ".join(f"{k} {v:.1f}s" for k, v in paths.seconds.items()))
    return 0


def _tokenize(args) -> int:
    from prolong.data.config import CorpusConfig
    from prolong.data.stats import store_summary
    from prolong.data.store_build import build_corpus_stores

    corpus = CorpusConfig.from_yaml(args.params)
    if args.doc_end_token:
        corpus = dataclasses.replace(corpus, doc_end_token=args.doc_end_token)
    try:
        stores = build_corpus_stores(corpus, only=args.only, force=args.force, workers=args.workers,
                                     verify=args.verify)
    except ValueError as err:
        if str(err).startswith("doc_end_token:"):   # name the params file the token came from
            raise ValueError(f"{args.params}: {err}") from err
        raise
    print(store_summary(stores).to_string(index=False))
    return 0


def _open_stores(params: str):
    from prolong.data.config import CorpusConfig
    from prolong.data.token_store import TokenStore

    corpus = CorpusConfig.from_yaml(params)
    return {n: TokenStore.open(corpus.store_path(n)) for n in corpus.sources
            if (corpus.store_path(n) / "store.json").is_file()}


def _stats(args) -> int:
    from prolong.data.stats import length_share_table, long_tokens_table, store_summary

    stores = _open_stores(args.params)
    if not stores:
        print(f"error: {args.params}: no token store is built yet (run `prolong data tokenize`)", file=sys.stderr)
        return 2
    print(store_summary(stores).to_string(index=False))
    print(f"\nTable 3 analog: tokens in documents >= {args.min_tokens} tokens (unit {args.unit:g})")
    print(long_tokens_table(stores, args.min_tokens, args.unit).to_string(index=False))
    print("\nTable 14 analog: % of documents longer than")
    print(length_share_table(stores, args.thresholds).round(1).to_string(index=False))
    return 0


def _peek(args) -> int:
    from prolong.data.mixing import MixtureStream

    stream = MixtureStream.from_yaml(args.mixture, seq_len=args.seq_len, seed=args.seed)
    for i, seq in enumerate(stream.take(args.n)):
        print(f"[{i}] domain={seq.domain} docs={len(seq.doc_lens)} doc_lens={seq.doc_lens.tolist()[:12]}")
    print("tokens per domain:", stream.tokens_per_domain)
    return 0


def _verify(args) -> int:
    from prolong.data.config import CorpusConfig
    from prolong.data.token_store import damaged_shards

    corpus = CorpusConfig.from_yaml(args.params)
    bad = 0
    for name in corpus.sources:
        path = corpus.store_path(name)
        if not (path / "store.json").is_file():
            print(f"store {name}: not built ({path})")
            continue
        damaged = damaged_shards(path, checksums=True)
        for problems in damaged.values():
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
        bad += len(damaged)
        print(f"store {name}: " + (f"{len(damaged)} damaged shards" if damaged else "every shard verifies"))
    if bad:
        print(f"error: {bad} damaged shards; `prolong data tokenize --params {args.params} --verify` rebuilds them",
              file=sys.stderr)
    return 2 if bad else 0


_COMMANDS = {"build-tiny": _build_tiny, "tokenize": _tokenize, "stats": _stats, "peek": _peek, "verify": _verify}
