"""Fixtures: a BPE tokenizer trained on tiny text, a whitespace word-level one, and a tiny random Llama."""

from __future__ import annotations

import random

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from prolong.eval.words import ADJECTIVES, NOUNS, PEOPLE, PLACES, essay_sentence

CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def _corpus() -> list[str]:
    rng = random.Random(0)
    lines = [essay_sentence(rng) for _ in range(3000)]
    lines += [" ".join(rng.choice(NOUNS + ADJECTIVES + PEOPLE + PLACES) for _ in range(12)) for _ in range(500)]
    lines += ["0123456789 abcdef-0123-4567-89ab {}\":,.?[]>: ID Key value JSON data label Document Title Answer"] * 20
    return lines


def _wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    from tokenizers.processors import TemplateProcessing

    tok.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")
    fast.chat_template = CHAT
    return fast


@pytest.fixture(scope="session")
def bpe_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    return _wrap(tok)


@pytest.fixture(scope="session")
def word_tokenizer() -> PreTrainedTokenizerFast:
    """Whitespace/punctuation word-level tokenizer: a very different tokens-per-character ratio."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    trainer = trainers.WordLevelTrainer(vocab_size=5000, special_tokens=SPECIALS)
    tok.train_from_iterator(_corpus(), trainer)
    return _wrap(tok)


def tiny_llama(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def tiny_model(bpe_tokenizer) -> LlamaForCausalLM:
    return tiny_llama(len(bpe_tokenizer))


@pytest.fixture(scope="session")
def make_llama():
    return tiny_llama
