import torch

from prolong.eval.generate import greedy_generate, plain_generate


def test_chunked_prefill_equals_generate(make_llama):
    model = make_llama(300, seed=1)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, 300, (n,), generator=g).tolist() for n in (70, 23, 131)]
    ours, stats = greedy_generate(model, prompts, 24, stop_token_ids=[2, 9], pad_token_id=0, prefill_chunk=32)
    ref, _ = plain_generate(model, prompts, 24, stop_token_ids=[2, 9], pad_token_id=0)
    assert ours == ref
    for p, o in zip(prompts, ours):  # batching does not change any row
        single, _ = greedy_generate(model, [p], 24, stop_token_ids=[2, 9], prefill_chunk=1000)
        assert single[0] == o
    t = stats.throughput()
    assert t["prompt_tokens"] == 224 and t["tokens_per_s"] > 0 and stats.memory()["peak_memory_mb"] > 0


def test_ppl_tail_matches_full_forward(make_llama):
    import torch.nn.functional as F

    from prolong.eval.tasks.ppl import tail_nll

    model = make_llama(300, seed=2)
    ids = torch.randint(3, 300, (200,), generator=torch.Generator().manual_seed(3)).tolist()
    nll, n = tail_nll(model, ids, tail_tokens=64, chunk=48)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    ref = F.cross_entropy(logits[-64:], torch.tensor(ids[-64:]), reduction="sum").item()
    assert n == 64 and abs(nll - ref) < 1e-3 * abs(ref)


def test_helmet_stop_tokens_and_truncation(bpe_tokenizer):
    from prolong.eval import prompts as P
    from prolong.eval.runner import stop_ids
    from prolong.eval.tasks.longdoc import doc_tokens

    class _Cfg:
        eos_token_id = [2, 7]

    class _M:
        generation_config = _Cfg()

    vocab = bpe_tokenizer.get_vocab()
    ids = stop_ids(bpe_tokenizer, True, _M())
    assert 2 in ids and 7 in ids  # generation_config's EOS list, as HELMET's HFModel
    newline = {vocab[t] for t in ("Ċ", "ĊĊ") if t in vocab}
    assert newline and newline <= set(ids)
    assert set(ids) - newline - {2, 7} == set()  # only "\n" / "\n\n" tokens, not every token starting with "\n"
    assert stop_ids(bpe_tokenizer, False) == [bpe_tokenizer.eos_token_id]
    # truncate_llama2: cut after token max_len - len(tok(postfix)) (special tokens counted), then the postfix
    text = " ".join(f"word{i}" for i in range(300))
    out = P.truncate_document(bpe_tokenizer, text, 50)
    enc = bpe_tokenizer(text, return_offsets_mapping=True)
    sep = len(bpe_tokenizer(P.TRUNCATION_POSTFIX)["input_ids"])
    assert out == text[: enc["offset_mapping"][50 - sep][1]] + P.TRUNCATION_POSTFIX
    assert P.truncate_document(bpe_tokenizer, "short text", 50) == "short text"
    # generate_configs.py: narrativeqa_130772, infbench_qa_eng_130862, infbench_sum_eng_129672, multi_lexsum_130372
    assert doc_tokens("narrativeqa", 131072, 100) == 130772 and doc_tokens("infbench_qa", 131072, 10) == 130862
    assert doc_tokens("infbench_sum", 131072, 1200) == 129672 and doc_tokens("multi_lexsum", 131072, 400) == 130372
    # HELMET sends no system message by default (--system_message None)
    text, special = P.format_prompt(bpe_tokenizer, "{question}", "", {"question": "hi"}, chat=True)
    assert "system" not in text and not special
