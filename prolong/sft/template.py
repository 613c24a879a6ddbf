"""Chat-formatting a conversation with the tokenizer's template, and the SFT loss mask (assistant tokens only).

The loss mask is True on every token the template emits *for an assistant message*: its content and its end-of-turn
token (tiny: `<|end|>`; Llama-3: `<|eot_id|>`), so the model learns to answer and to stop. Everything else (system,
user, the role headers, BOS) is masked out of the loss (paper: instruction tokens are masked).

Two ways to find the assistant spans, which agree on the tiny template (tests/sft/test_sft_template.py):
    "tags"    `apply_chat_template(..., return_assistant_tokens_mask=True)`: needs `{% generation %}` tags in the
              template (the tiny tokenizer's has them)
    "prefix"  render the conversation prefix by prefix: the assistant message i spans the characters between
              render(messages[:i], add_generation_prompt=True) and render(messages[:i+1]); tokens of the full
              rendering (with offsets) starting inside such a span are assistant tokens. Works for any template
              whose renderings of prefixes are string prefixes of the full rendering (Llama-3's is)
    "auto"    tags when the template has them, else prefix

The returned ids start with BOS (added when the template does not emit it) and end with the last turn's end token;
no EOS is appended: the end-of-turn token is what generation stops on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

MaskMethod = Literal["auto", "tags", "prefix"]


class TemplateError(ValueError):
    """The chat template does not render a conversation in a way the mask can be computed from."""


@dataclass
class EncodedConversation:
    """A chat-formatted conversation: input_ids (n,) int32 and loss_mask (n,) bool (True on assistant tokens)."""

    input_ids: np.ndarray
    loss_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)


def _render(tokenizer, messages, add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def has_generation_tags(tokenizer) -> bool:
    tmpl = tokenizer.chat_template or ""
    return "{% generation %}" in tmpl or "{%- generation %}" in tmpl


def _mask_by_tags(tokenizer, messages) -> tuple[list[int], list[bool]]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    ids, mask = list(out["input_ids"]), [bool(x) for x in out["assistant_masks"]]
    if not any(mask):
        raise TemplateError("the template's {% generation %} tags marked no assistant token")
    return ids, mask


def _mask_by_prefix(tokenizer, messages) -> tuple[list[int], list[bool]]:
    full = _render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        head = _render(tokenizer, messages[:i], add_generation_prompt=True) if i else ""
        if i == 0:  # a conversation opening with the assistant: its header is what the template emits before it
            head = _render(tokenizer, [], add_generation_prompt=True) if _renders_empty(tokenizer) else ""
        upto = _render(tokenizer, messages[:i + 1])
        if not full.startswith(upto) or not upto.startswith(head):
            raise TemplateError(f"the chat template does not render turn {i + 1} as a prefix of the whole "
                                "conversation; use a template with {% generation %} tags (mask_method: tags)")
        # the turn ends at its end-of-turn token: whitespace the template adds after it (ChatML's "\n" after
        # <|im_end|>) is the next turn's glue, not the answer
        spans.append((len(head), max(len(head), len(upto.rstrip()))))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    mask = [False] * len(ids)
    for k, (a, b) in enumerate(offsets):
        if b > a:
            mask[k] = any(s <= a < e for s, e in spans)
    return ids, mask


def _renders_empty(tokenizer) -> bool:
    try:
        _render(tokenizer, [], add_generation_prompt=True)
        return True
    except Exception:  # noqa: BLE001 - some templates index messages[0]
        return False


def encode_conversation(tokenizer, messages: list[dict[str, str]], method: MaskMethod = "auto"
                        ) -> EncodedConversation:
    """Chat-format `messages` with the tokenizer's template; loss_mask marks the assistant tokens (module doc)."""
    if method == "auto":
        method = "tags" if has_generation_tags(tokenizer) else "prefix"
    if method == "tags":
        ids, mask = _mask_by_tags(tokenizer, messages)
    elif method == "prefix":
        ids, mask = _mask_by_prefix(tokenizer, messages)
    else:
        raise ValueError(f"unknown mask method {method!r} (auto, tags, prefix)")
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids, mask = [bos, *ids], [False, *mask]
    return EncodedConversation(np.asarray(ids, dtype=np.int32), np.asarray(mask, dtype=bool))


@dataclass
class EncodedSet:
    """The tokenized conversations of one source, flat: conversation i is ids[offsets[i]:offsets[i+1]]."""

    ids: np.ndarray        # (total,) int32
    mask: np.ndarray       # (total,) bool, True on assistant tokens
    offsets: np.ndarray    # (n + 1,) int64
    info: dict = field(default_factory=dict)   # load report (n_records, skipped) and cache key

    @classmethod
    def from_encoded(cls, convs: Sequence[EncodedConversation], info: dict | None = None) -> "EncodedSet":
        lens = np.array([len(c) for c in convs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        ids = np.concatenate([c.input_ids for c in convs]).astype(np.int32) if convs else np.zeros(0, np.int32)
        mask = np.concatenate([c.loss_mask for c in convs]).astype(bool) if convs else np.zeros(0, bool)
        return cls(ids, mask, offsets, info or {})

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> EncodedConversation:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return EncodedConversation(self.ids[a:b], self.mask[a:b])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def first_target(self) -> np.ndarray:
        """(n,) position of each conversation's first target token (its length when it has none)."""
        pos = np.flatnonzero(self.mask)
        conv = np.searchsorted(self.offsets, pos, side="right") - 1
        first = self.lengths.copy()
        uniq, idx = np.unique(conv, return_index=True)
        first[uniq] = pos[idx] - self.offsets[uniq]
        return first
