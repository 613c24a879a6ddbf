"""Fixtures of the SFT tests: a tiny byte-level BPE with the tiny chat template (trained in about a second)."""

from __future__ import annotations

import pytest

TEXTS = ["Hello there, how are you today? I am fine, thank you. " * 3,
         "The secret number of Mira is 4821. Mira lives in Ostrel and has a parrot. " * 3,
         "Question: where does Mira live? Answer: Ostrel. Which sentence follows? " * 3] * 20


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    from prolong.data.tokenizer import load_tokenizer, train_byte_bpe

    path = train_byte_bpe(TEXTS, tmp_path_factory.mktemp("tok") / "tokenizer", vocab_size=400)
    return load_tokenizer(path)
