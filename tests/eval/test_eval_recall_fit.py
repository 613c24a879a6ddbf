"""Every gold of the generated Recall / NIAH tasks survives the runner's cut, at every length and for tokenizers of
different granularity: each item is fitted to its own budget (prolong.eval.tasks.common.fit_item), so the cut of
the context's end (prompts.build_input_ids, as the runner calls it) never reaches a needle at depth 1.0."""

from __future__ import annotations

import random

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

from prolong.eval import prompts as P
from prolong.eval.tasks import recall
from prolong.eval.tasks.common import prompt_len
from prolong.eval.words import ADJECTIVES, NOUNS, essay_sentence

LENGTHS = (1024, 8192, 65536)
TASKS = ("json_kv", "ruler_mk_needle", "ruler_mk_uuid", "ruler_mv", "niah_passkey")


@pytest.fixture(scope="module")
def tiny_bpe(tmp_path_factory) -> PreTrainedTokenizerFast:
    """The project's own tokenizer trainer with the tiny scale's vocabulary (params/tiny/corpus.yaml: 2048), as
    `prolong data build-tiny` trains it, on essay-like text, keys and JSON."""
    from prolong.data.tokenizer import load_tokenizer, train_byte_bpe

    rng = random.Random(2)
    lines = [essay_sentence(rng) for _ in range(2000)]
    lines += [f'"{rng.getrandbits(128):032x}": "{rng.randint(10**6, 10**7)}", Key: Corresponding value' for _ in
              range(300)]
    out = train_byte_bpe(lines, tmp_path_factory.mktemp("tiny_tok"), 2048)
    return load_tokenizer(out)


@pytest.fixture(scope="module")
def bpe_500() -> PreTrainedTokenizerFast:
    """A second byte-level BPE, with half the fixture's vocabulary (more tokens per character)."""
    rng = random.Random(1)
    lines = [essay_sentence(rng) for _ in range(2000)]
    lines += [" ".join(rng.choice(NOUNS + ADJECTIVES) for _ in range(10)) for _ in range(300)]
    lines += [f"{rng.getrandbits(128):032x} {rng.randint(10**6, 10**7)} \"key\": \"value\", label: Answer"
              for _ in range(300)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=500, special_tokens=["<pad>", "<s>", "</s>",
                                                                                         "<unk>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")


def _generate(task: str, tok, length: int, num: int, count: int | None):
    if task == "json_kv":
        return recall.json_kv(tok, length, num, count=count)
    if task == "niah_passkey":
        return recall.passkey(tok, length, num, count=count)
    return recall.ruler(task, tok, length, num, count=count)


def _fields_of(task: str):
    """n -> item 0's fields with n haystack units (the generators' own field builders)."""
    if task == "json_kv":
        return lambda n: recall.json_kv_fields(n, random.Random(0), 0)[0]
    if task == "niah_passkey":
        return lambda n: recall.passkey_fields(n, random.Random(0), 0)[0]
    kind = task.removeprefix("ruler_")
    return lambda n: recall.needles_fields(kind, n, random.Random(0), 0)[0]


def _overshooting_count(task: str, tok, spec, length: int) -> int:
    """About what fits item 0 (prompt length is linear in the units: extrapolate from two small counts) and one
    unit more: what the generators' binary search on one sample gives, give or take, without its log2(n)
    tokenizations at 64K (the next test runs that search itself at small lengths). The items differ in their
    random keys and values, and many overshoot: each must be shrunk on its own."""
    fields = _fields_of(task)
    a, b = prompt_len(tok, spec, fields(20)), prompt_len(tok, spec, fields(80))
    per_unit = (b - a) / 60
    fits = (length - spec.max_new_tokens - (a - 20 * per_unit)) / per_unit
    return int(fits) + 1


def _assert_golds_survive(tok, spec, items, length: int):
    budget = length - spec.max_new_tokens
    for it in items:
        ids, fields = P.build_input_ids(tok, spec.user_template, spec.prefix_template, it.fields, spec.chat, budget,
                                        spec.sep)
        assert len(ids) <= budget
        assert fields["context"] == it.fields["context"], (spec.name, length, "the runner cut this item")
        for a in it.answers:
            assert a in fields["context"], (spec.name, length, it.extra)
        assert len(ids) >= 0.85 * budget, (spec.name, length, len(ids))  # shrunk by a few units, not emptied


@pytest.mark.parametrize("tok_name", ["tiny_bpe", "bpe_500"])
def test_every_gold_survives_the_cut_at_every_length(request, tok_name):
    tok = request.getfixturevalue(tok_name)
    for task in TASKS:
        # the gold at depth 1.0 (the end of the context, the first thing a cut deletes): item 5 of JSON KV's
        # depths, item 10 of the passkey's; RULER draws its depths as RULER does (more items, so some sit late)
        num = {"niah_passkey": 11, "json_kv": 6}.get(task, 12)
        spec, _ = _generate(task, tok, 1024, 1, count=1)
        shrunk = 0
        for length in LENGTHS:
            count = _overshooting_count(task, tok, spec, length)
            spec, items = _generate(task, tok, length, num, count)
            if task in ("json_kv", "niah_passkey"):
                assert items[-1].extra["depth"] == 1.0
            _assert_golds_survive(tok, spec, items, length)
            units = [it.extra.get("num_kvs", it.extra.get("haystack_units")) for it in items]
            shrunk += sum(u is not None and u < count for u in units)
        assert task == "niah_passkey" or shrunk > 0  # the shrinking was exercised (passkey records no count)


@pytest.mark.parametrize("tok_name", ["bpe_tokenizer", "bpe_500"])
def test_binary_search_sizing_leaves_every_gold(request, tok_name):
    """The generators' own sizing (one sample by binary search), then each item fitted: nothing is cut."""
    tok = request.getfixturevalue(tok_name)
    for task in TASKS:
        for length in (1024, 4096):
            spec, items = _generate(task, tok, length, 11 if task == "niah_passkey" else 6, None)
            _assert_golds_survive(tok, spec, items, length)


def test_fit_item_shrinks_an_overshooting_item_to_about_the_largest_fit(bpe_tokenizer):
    from prolong.eval.tasks.base import fit_count

    spec, _ = recall.json_kv(bpe_tokenizer, 1024, 1, count=1)
    make = lambda n: recall.json_kv_fields(n, random.Random(7), 5)  # noqa: E731 (depth 1.0: the gold is last)
    budget = 2048 - spec.max_new_tokens
    largest = fit_count(lambda n: prompt_len(bpe_tokenizer, spec, make(n)[0]), budget)
    for start in (largest + 1, largest + 5, 3 * largest):
        k, fields, gold = recall.fit_item(bpe_tokenizer, spec, 2048, start, make)
        assert prompt_len(bpe_tokenizer, spec, fields) <= budget and largest - 2 <= k <= largest
        assert (fields, gold) == make(k) and fields["context"].rstrip("}").endswith(f'"{gold}"')
    assert recall.fit_item(bpe_tokenizer, spec, 2048, 10, make)[0] == 10  # a fitting item is left alone
