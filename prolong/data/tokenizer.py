"""Tokenizers: loading one (Llama-3 from a local folder at paper scale), training the tiny byte-level BPE, and the
identity (name + vocab hash) that every token store records so that mixing stores of two tokenizers is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable

# Special tokens of the tiny tokenizer: BOS/EOS/pad for packing, and a small chat vocabulary for SFT.
BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
END_OF_TEXT = "<|end_of_text|>"
"Llama-3's end of a document: what ProLong's data ends documents with (the Instruct tokenizer's EOS is <|eot_id|>)"
CHAT_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
SPECIAL_TOKENS = [BOS, EOS, PAD, *CHAT_TOKENS]

# `{% generation %}` marks assistant tokens, so `apply_chat_template(..., return_assistant_tokens_mask=True)` gives
# the SFT loss mask (paper: instruction tokens are masked out of the loss).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}\n"
    "{% else %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


class TokenizerMismatchError(ValueError):
    """A token store built with another tokenizer than the one in use."""


@dataclass(frozen=True)
class TokenizerIdentity:
    """What a token store records about the tokenizer that produced it."""

    name: str          # path or hub name it was loaded from (informative)
    vocab_hash: str    # sha256 of the sorted vocabulary (token -> id); decides compatibility
    vocab_size: int
    bos_id: int
    eos_id: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerIdentity":
        return cls(**{k: d[k] for k in ("name", "vocab_hash", "vocab_size", "bos_id", "eos_id")})


def load_tokenizer(name_or_path: str | Path):
    """A Hugging Face fast tokenizer from a local folder (or a hub name that is cached; nothing is downloaded)."""
    from transformers import AutoTokenizer

    p = Path(name_or_path)
    if p.is_absolute() and not p.exists():
        raise FileNotFoundError(f"{p}: tokenizer folder not found")
    try:
        return AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=True)
    except OSError as err:
        raise FileNotFoundError(f"{name_or_path}: tokenizer not found locally (a folder under the data root, an "
                                f"absolute path, or a cached hub name): {err}") from err


def _special(config: dict, key: str) -> str | None:
    v = config.get(key)
    return v.get("content") if isinstance(v, dict) else v


def load_fast_tokenizer(path: str | Path):
    """(tokenizers.Tokenizer, TokenizerIdentity) straight from `<path>/tokenizer.json` (+ tokenizer_config.json for
    BOS/EOS), without importing transformers (seconds faster per process); None when the folder has no
    tokenizer.json (then use `load_tokenizer`)."""
    from tokenizers import Tokenizer

    p = Path(path)
    if not (p / "tokenizer.json").is_file():
        return None
    tok = Tokenizer.from_file(str(p / "tokenizer.json"))
    config = json.loads((p / "tokenizer_config.json").read_text()) if (p / "tokenizer_config.json").is_file() else {}
    vocab = tok.get_vocab(with_added_tokens=True)
    bos, eos = _special(config, "bos_token"), _special(config, "eos_token")
    if bos is None or eos is None or bos not in vocab or eos not in vocab:
        raise ValueError(f"{p}: tokenizer needs a BOS and an EOS token for packing (tokenizer_config.json)")
    return tok, TokenizerIdentity(name=str(path), vocab_hash=_vocab_hash(vocab), vocab_size=len(vocab),
                                  bos_id=vocab[bos], eos_id=vocab[eos])


def identity_of(path: str | Path, doc_end: str | None = None) -> TokenizerIdentity:
    """The identity of the tokenizer at `path` (fast path when it has a tokenizer.json). `doc_end` sets the token
    that packing puts after every document (its `eos_id`): None, the tokenizer's EOS; "auto", END_OF_TEXT when the
    vocabulary has it (Llama-3: what ProLong's data uses), else the EOS; any other token must be in the vocabulary."""
    fast = load_fast_tokenizer(path)
    if fast is not None:
        identity, vocab = fast[1], fast[0].get_vocab(with_added_tokens=True)
    else:
        tokenizer = load_tokenizer(path)
        identity, vocab = tokenizer_identity(tokenizer, str(path)), tokenizer.get_vocab()
    if doc_end is None or (doc_end == "auto" and END_OF_TEXT not in vocab):
        return identity
    token = END_OF_TEXT if doc_end == "auto" else doc_end
    if token not in vocab:
        raise ValueError(f"{path}: document-end token {token!r} is not in the tokenizer's vocabulary "
                         f"(doc_end_token: 'auto', or a token the tokenizer has)")
    return replace(identity, eos_id=int(vocab[token]))


def _vocab_hash(vocab: dict[str, int]) -> str:
    return hashlib.sha256(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode()).hexdigest()


def tokenizer_identity(tokenizer, name: str | None = None) -> TokenizerIdentity:
    vocab = tokenizer.get_vocab()
    bos = tokenizer.bos_token_id
    eos = tokenizer.eos_token_id
    if bos is None or eos is None:
        raise ValueError(f"{name or tokenizer.name_or_path}: tokenizer needs a BOS and an EOS token for packing")
    return TokenizerIdentity(name=str(name or tokenizer.name_or_path), vocab_hash=_vocab_hash(vocab),
                             vocab_size=len(vocab), bos_id=int(bos), eos_id=int(eos))


def train_byte_bpe(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 4096) -> Path:
    """Train a byte-level BPE on `texts` and save it in Hugging Face format (with a chat template) to `out_dir`.

    Loadable with `AutoTokenizer.from_pretrained(out_dir)`. Deterministic for the same texts."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   additional_special_tokens=CHAT_TOKENS, model_max_length=1 << 20)
    fast.chat_template = CHAT_TEMPLATE
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    fast.save_pretrained(str(tmp))
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)   # the folder appears complete or not at all
    return out_dir
