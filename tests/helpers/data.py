"""Helpers of the data tests: fake tokenizer identities and traceable random documents."""

from __future__ import annotations

import numpy as np

from prolong.data.tokenizer import TokenizerIdentity

FAKE_TOK = TokenizerIdentity(name="fake", vocab_hash="f" * 64, vocab_size=1000, bos_id=1, eos_id=2)
OTHER_TOK = TokenizerIdentity(name="other", vocab_hash="0" * 64, vocab_size=1000, bos_id=1, eos_id=2)


def random_docs(rng: np.random.Generator, n: int, lo: int, hi: int, base: int = 10) -> list[np.ndarray]:
    """n documents with lengths in [lo, hi]; document i is filled with tokens that encode its index, so pieces can
    be traced back (token = base + i*... kept < 2**31)."""
    out = []
    for i in range(n):
        length = int(rng.integers(lo, hi + 1))
        out.append((base + (i * 7919 + np.arange(length)) % 100_000).astype(np.uint32))
    return out


# documents of a jsonl source for the token-store build tests (the `corpus` fixture of tests/data/conftest.py)
TEXTS = [f"Document {i}: the number is {i * 37 % 1000}. " * (1 + i % 9) for i in range(60)]
