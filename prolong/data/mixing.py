"""The one mixer: domains mixed by token proportions into a deterministic, resumable, rank-aware stream of packed
sequences, for pretraining and SFT alike (only the reader differs).

Every sequence comes from one domain and has seq_len tokens. The next sequence's domain is the one furthest behind its
target (deficit rule: argmax_d p_d * (n + 1) - c_d, with c_d sequences of domain d among the first n; ties go to the
first domain as written), not a random draw, so the realised token share of each domain stays within ONE SEQUENCE of
its target at every step (|c_d - p_d * n| < 1, i.e. |share_d - p_d| < 1/n after n sequences).

A domain is read by a `Reader`, which packs its own data ("one packer per mode"):
    pretraining  prolong.data.packing.DocumentReader      token-store documents with BOS/EOS, a cut tail starts the
                                                          domain's next sequence         (MixtureStream.from_yaml)
    SFT          prolong.sft.packing.ConversationReader    whole conversations with assistant loss masks and padding,
                                                          the tail dropped               (prolong.sft.stream)
    released     prolong.data.released.MDSReader           ProLong's released MDS samples, one packed sequence each,
                                                          indices -> doc_lens, mask -> loss mask (a domain `mds:` or
                                                          a `<folder>@<proportion>` line under the mixture's `root`)

Ranks: the global stream is cut into rounds of `dp_size` sequences; data-parallel rank r gets the r-th sequence of each
round (disjoint samples); ranks of one sequence-parallel group pass the same dp_rank and get the same sample. Every
rank runs the deficit rule over the whole round (a few numpy operations per sequence) but plans only its own
sequence: the other ranks' sequences of a domain are counted and skipped in one `skip(k)` of its reader just before
the domain is next read here (DocumentReader and MDSReader skip without planning; a reader without `skip` plans and
drops). So a rank's cost per sample does not grow with dp_size, `state_dict()` (which applies the pending skips)
after k samples is the same on every rank (but `tokens_per_domain`), and a resume may change dp_size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from prolong.config import ConfigError
from prolong.data.config import MixtureConfig
from prolong.data.mds import MDSFolder
from prolong.data.packing import DocumentReader, PackedSequence
from prolong.data.released import MDSReader
from prolong.data.token_store import TokenStore, check_same_tokenizer
from prolong.data.tokenizer import TokenizerIdentity

STATE_VERSION = 1


class Reader(Protocol):
    """One domain of a stream: plans its next sequence cheaply, materializes a plan on demand, and resumes."""

    name: str

    def next_plan(self) -> Any:
        """Advance past the next sequence of seq_len tokens and return what `materialize` needs to build it."""

    def materialize(self, plan: Any) -> PackedSequence: ...
    # optional: def skip(self, k: int) -> None, the state after k next_plan() calls without planning them
    def state(self) -> dict: ...
    def load(self, s: dict) -> None: ...


def check_stream_args(seq_len: int, dp_rank: int, dp_size: int) -> None:
    if not 0 <= dp_rank < dp_size:
        raise ValueError(f"dp_rank {dp_rank} must be in [0, dp_size={dp_size})")
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")


class MixtureStream:
    """Infinite iterator of `PackedSequence`s mixing the domains of `readers` by token `proportions` (module doc).

    proportions: domain -> share of tokens, in the order written (the tie order), one reader per domain."""

    def __init__(self, readers: Sequence[Reader], proportions: dict[str, float], seq_len: int, seed: int = 0,
                 dp_rank: int = 0, dp_size: int = 1):
        check_stream_args(seq_len, dp_rank, dp_size)
        self.seq_len, self.seed = seq_len, seed
        self.dp_rank, self.dp_size = dp_rank, dp_size
        self.proportions = proportions
        self.names = list(proportions)
        if [r.name for r in readers] != self.names:
            raise ValueError(f"readers {[r.name for r in readers]} do not match the domains {self.names}")
        self.readers = list(readers)
        self._p = [float(proportions[d]) for d in self.names]
        self.n_global = 0                                          # sequences planned by all ranks together
        self.counts = [0] * len(self.names)                        # c_d over the global stream
        self.tokens_per_domain = {d: 0 for d in self.names}        # tokens of the samples THIS rank yielded
        self._pending = [0] * len(self.names)                      # other ranks' sequences not yet skipped, per domain

    @classmethod
    def from_mixture(cls, mixture: MixtureConfig, seq_len: int, seed: int = 0, dp_rank: int = 0, dp_size: int = 1,
                     tokenizer: TokenizerIdentity | None = None, source: str = "<mixture>") -> "MixtureStream":
        """The pretraining stream of a mixture: one DocumentReader per domain over its token store. Every store must
        have been built with `tokenizer` (default: the first store's); `source` names the params file in errors."""
        check_stream_args(seq_len, dp_rank, dp_size)
        proportions = mixture.proportions()
        stores: dict[Path, TokenStore] = {}
        readers = []
        for name in proportions:
            dom = mixture.domain(name)
            path = dom.store_path()
            if dom.kind == "mds":             # the released packed sequences, streamed as they are
                readers.append(_mds_reader(name, path, seq_len, seed, dom.use_mask, tokenizer, source))
                continue
            if path not in stores:
                try:
                    stores[path] = TokenStore.open(path, expect=tokenizer)
                except FileNotFoundError as err:
                    raise FileNotFoundError(f"{source}: domains.{name}.store: {err}") from err
            store = stores[path]
            if tokenizer is None:
                tokenizer = store.tokenizer
            check_same_tokenizer(store.tokenizer, tokenizer, str(path))
            # BOS and the document-end token as the store records them (`prolong data tokenize`: doc_end_token)
            reader = DocumentReader(name, store, seq_len, store.tokenizer.bos_id, store.tokenizer.eos_id,
                                    dom.min_tokens, dom.max_tokens, seed)
            if reader.n_docs == 0:
                rng = f"{dom.min_tokens}..{dom.max_tokens or 'inf'}"
                raise ConfigError(f"{source}: domain {name!r} is empty: store {path} has no document with "
                                  f"{rng} tokens")
            readers.append(reader)
        return cls(readers, proportions, seq_len, seed, dp_rank, dp_size)

    @classmethod
    def from_yaml(cls, path: str | Path, seq_len: int, seed: int = 0, dp_rank: int = 0, dp_size: int = 1,
                  tokenizer: TokenizerIdentity | None = None) -> "MixtureStream":
        """The pretraining stream of a mixture params file (params/*/mixtures/*.yaml)."""
        return cls.from_mixture(MixtureConfig.from_yaml(path), seq_len, seed, dp_rank, dp_size, tokenizer,
                                source=str(path))

    # ---- the stream --------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PackedSequence]:
        return self

    def __next__(self) -> PackedSequence:
        mine = None
        for r in range(self.dp_size):                 # one round: one sequence per data-parallel rank
            d = self._next_domain()
            self.counts[d] += 1
            self.n_global += 1
            if r != self.dp_rank:
                self._pending[d] += 1                 # another rank's: skipped when domain d is next read here
                continue
            self._skip_pending(d)
            reader = self.readers[d]
            mine = reader.materialize(reader.next_plan())
            self.tokens_per_domain[reader.name] += self.seq_len
        return mine  # type: ignore[return-value]

    def _next_domain(self) -> int:
        """The deficit rule, argmax_d p_d * (n + 1) - c_d, the first domain on ties; in plain floats (the same IEEE
        operations as numpy's, a few times faster on a handful of domains: every rank evaluates it dp_size times per
        sample)."""
        n1, best, best_d = self.n_global + 1, -float("inf"), 0
        for d, (p, c) in enumerate(zip(self._p, self.counts)):
            v = p * n1 - c
            if v > best:
                best, best_d = v, d
        return best_d

    def _skip_pending(self, d: int) -> None:
        """Move reader d past the sequences other ranks took from it since this rank last read it."""
        k, self._pending[d] = self._pending[d], 0
        reader = self.readers[d]
        if k and hasattr(reader, "skip"):
            reader.skip(k)
        else:
            for _ in range(k):
                reader.next_plan()

    def take(self, n: int) -> list[PackedSequence]:
        return [next(self) for _ in range(n)]

    # ---- resume ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-able position of the stream (identical on every rank, except `tokens_per_domain`)."""
        for d in range(len(self.names)):
            self._skip_pending(d)
        return {"version": STATE_VERSION, "seed": self.seed, "seq_len": self.seq_len, "proportions": self.proportions,
                "n_global": self.n_global, "counts": {d: int(c) for d, c in zip(self.names, self.counts)},
                "domains": {r.name: r.state() for r in self.readers},
                "tokens_per_domain": dict(self.tokens_per_domain)}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where `state` was taken (same domains, proportions, seq_len and seed)."""
        for key, mine in (("seed", self.seed), ("seq_len", self.seq_len), ("proportions", self.proportions)):
            if state.get(key) != mine:
                raise ValueError(f"data state was saved with {key}={state.get(key)!r}, this stream has {mine!r}")
        self.n_global = int(state["n_global"])
        self._pending = [0] * len(self.names)
        self.counts = [int(state["counts"][d]) for d in self.names]
        domains = state["domains"] if "domains" in state else state["sources"]   # "sources": old SFTStream states
        for r in self.readers:
            r.load(domains[r.name])
        self.tokens_per_domain = {d: int(state["tokens_per_domain"].get(d, 0)) for d in self.names}


def _mds_reader(name: str, path: Path, seq_len: int, seed: int, use_mask: bool, tokenizer: TokenizerIdentity | None,
                source: str) -> MDSReader:
    """The reader of an MDS domain; a missing folder or shard is an error naming the params file and the domain."""
    try:
        folder = MDSFolder(path)
        folder.check_present()
    except (FileNotFoundError, ValueError) as err:
        kind = FileNotFoundError if isinstance(err, FileNotFoundError) else ConfigError
        raise kind(f"{source}: domain {name!r}: {err}") from err
    if "input_ids" not in folder.columns:
        raise ConfigError(f"{source}: domain {name!r}: {path / 'index.json'} has no column 'input_ids' "
                          f"(columns: {', '.join(folder.columns)})")
    return MDSReader(name, folder, seq_len, seed, use_mask, tokenizer.vocab_size if tokenizer else None)
