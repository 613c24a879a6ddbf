"""Packing chat-formatted conversations into fixed-length sequences without ever splitting one (SFT packing).

Rules (paper: "a leftover tail starts the next sequence for pretraining data and is dropped for SFT data"):
  * a conversation is placed whole in one sequence, as one document piece (attention stays inside it);
  * the sequence is filled first-fit from a small look-ahead window of the next `lookahead` conversations (in data
    order); when no conversation of the window fits the space left, that space is closed with ONE padding piece
    (pad tokens, no targets, attention only within itself) and the sequence is emitted, so every sequence has
    exactly `seq_len` tokens and the training loop needs no special case;
  * the sequence still open when the data end (the "tail") is dropped, with the conversations in it
    (pretraining keeps its tail: it starts the next sequence);
  * a conversation longer than `seq_len` is truncated to `seq_len` tokens (overlong="truncate") or skipped
    (overlong="skip"); both are counted. A truncated conversation without any target left is skipped.

Packing is planned on lengths only (`plan_packing`), so a resumable stream can re-plan an epoch from its seed:
`ConversationReader`, the SFT reader of `prolong.data.mixing.MixtureStream`, shuffles a source's conversations per
epoch from (seed, source, epoch), plans the epoch and walks its sequences, so its state is just (epoch, sequence).
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from prolong.data.packing import PackedSequence
from prolong.sft.template import EncodedConversation, EncodedSet

Overlong = Literal["truncate", "skip"]


@dataclass
class PackStats:
    """What packing did with the conversations it was given."""

    n_conversations: int = 0
    n_packed: int = 0
    n_sequences: int = 0
    n_truncated: int = 0
    "longer than seq_len, cut to seq_len"
    n_skipped_overlong: int = 0
    "longer than seq_len with overlong=skip (or with no target left after truncation)"
    n_dropped_tail: int = 0
    "conversations of the final, unfinished sequence"
    conversation_tokens: int = 0
    "tokens of the packed conversations (the rest of the emitted tokens is padding)"
    padding_tokens: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class PackPlan:
    """sequences[k] = [(conversation index, tokens taken), ...] in order; the padding is seq_len - sum(taken)."""

    sequences: list[list[tuple[int, int]]] = field(default_factory=list)
    stats: PackStats = field(default_factory=PackStats)


def plan_packing(lengths: Sequence[int], seq_len: int, order: Sequence[int] | None = None, lookahead: int = 8,
                 overlong: Overlong = "truncate", has_targets_within: Sequence[bool] | None = None) -> PackPlan:
    """Plan the packing of conversations of `lengths`, visited in `order` (default: as given). See module doc.

    has_targets_within[i]: whether conversation i keeps a target when truncated to seq_len (default: True)."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    if lookahead < 1:
        raise ValueError(f"lookahead must be >= 1, got {lookahead}")
    if overlong not in ("truncate", "skip"):
        raise ValueError(f"overlong must be 'truncate' or 'skip', got {overlong!r}")
    order = range(len(lengths)) if order is None else order
    plan, st = PackPlan(), PackStats(n_conversations=len(order))
    window: deque[tuple[int, int]] = deque()
    it = iter(order)
    exhausted = False
    current: list[tuple[int, int]] = []
    filled = 0

    def refill() -> None:
        nonlocal exhausted
        while not exhausted and len(window) < lookahead:
            i = next(it, None)
            if i is None:
                exhausted = True
                return
            n = int(lengths[i])
            if n > seq_len:
                if overlong == "skip" or (has_targets_within is not None and not has_targets_within[i]):
                    st.n_skipped_overlong += 1
                    continue
                st.n_truncated += 1
                n = seq_len
            if n > 0:
                window.append((int(i), n))

    refill()
    while window:
        for k, (i, n) in enumerate(window):
            if n <= seq_len - filled:
                del window[k]
                current.append((i, n))
                filled += n
                break
        else:  # nothing in the window fits: close the sequence with padding
            plan.sequences.append(current)
            st.padding_tokens += seq_len - filled
            current, filled = [], 0
            continue
        if filled == seq_len:
            plan.sequences.append(current)
            current, filled = [], 0
        refill()
    st.n_dropped_tail = len(current)
    st.n_sequences = len(plan.sequences)
    st.n_packed = sum(len(s) for s in plan.sequences)
    st.conversation_tokens = sum(n for s in plan.sequences for _, n in s)
    plan.stats = st
    return plan


def materialize(pieces: Sequence[tuple[int, int]], convs: Sequence[EncodedConversation], seq_len: int, pad_id: int,
                domain: str = "") -> PackedSequence:
    """The PackedSequence of one planned sequence: conversations, then one padding piece if space is left."""
    ids = np.full(seq_len, pad_id, dtype=np.int32)
    mask = np.zeros(seq_len, dtype=bool)
    doc_lens, pos = [], 0
    for i, n in pieces:
        c = convs[i]
        ids[pos:pos + n] = c.input_ids[:n]
        mask[pos:pos + n] = c.loss_mask[:n]
        doc_lens.append(n)
        pos += n
    if pos < seq_len:
        doc_lens.append(seq_len - pos)   # padding: a piece of its own, no targets
    return PackedSequence(ids, np.asarray(doc_lens, dtype=np.int32), mask, domain)


def pack_conversations(convs: Sequence[EncodedConversation], seq_len: int, pad_id: int, domain: str = "",
                       lookahead: int = 8, overlong: Overlong = "truncate",
                       order: Sequence[int] | None = None) -> tuple[list[PackedSequence], PackPlan]:
    """Pack encoded conversations (module doc); returns the sequences and the plan (with its stats)."""
    plan = plan_packing([len(c) for c in convs], seq_len, order, lookahead, overlong,
                        [bool(c.loss_mask[:seq_len].any()) for c in convs])
    return [materialize(s, convs, seq_len, pad_id, domain) for s in plan.sequences], plan


class ConversationReader:
    """Walks the packing plan of one SFT source (its encoded conversations) epoch by epoch: every sequence holds whole
    conversations and padding; the conversations of an epoch's unfinished last sequence are dropped."""

    def __init__(self, name: str, data: EncodedSet, seq_len: int, pad_id: int, seed: int = 0, lookahead: int = 8,
                 overlong: Overlong = "truncate"):
        self.name, self.data, self.seq_len, self.pad_id, self.seed = name, data, seq_len, pad_id, seed
        self.lookahead, self.overlong = lookahead, overlong
        self.key = zlib.crc32(name.encode())
        self.lengths = data.lengths
        self.fits_target = data.first_target() < seq_len      # keeps a target when truncated to seq_len
        self.epoch, self.pos = 0, 0
        self._plan_epoch: int | None = None
        self._plan: PackPlan | None = None
        if len(self.plan().sequences) == 0:
            raise ValueError(f"SFT source {name!r}: its {len(data)} conversations do not fill one sequence of "
                             f"{seq_len} tokens")

    def plan(self) -> PackPlan:
        """The packing plan of the current epoch (re-planned from the seed when the epoch changes)."""
        if self._plan_epoch != self.epoch:
            order = np.random.default_rng([self.seed, self.key, self.epoch]).permutation(len(self.data))
            self._plan = plan_packing(self.lengths, self.seq_len, order, self.lookahead, self.overlong,
                                      self.fits_target)
            self._plan_epoch = self.epoch
        return self._plan  # type: ignore[return-value]

    def next_plan(self) -> list[tuple[int, int]]:
        """(conversation, tokens taken) of the next sequence."""
        pieces = self.plan().sequences[self.pos]
        self.pos += 1
        if self.pos >= len(self.plan().sequences):
            self.epoch, self.pos = self.epoch + 1, 0
        return pieces

    def materialize(self, pieces: Sequence[tuple[int, int]]) -> PackedSequence:
        return materialize(pieces, self.data, self.seq_len, self.pad_id, self.name)

    def state(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load(self, s: dict) -> None:
        self.epoch, self.pos = int(s["epoch"]), int(s["pos"])
