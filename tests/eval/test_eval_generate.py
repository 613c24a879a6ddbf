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


def test_unpadded_chunks_run_cached_attention_and_restore_the_model(make_llama):
    """One prompt (no padding) prefills through prolong_cached attention in chunks that do not divide it, with a
    cache smaller than the tokens: same tokens as `generate`; the model's own attention is set back afterwards."""
    from prolong.eval.generate import attention_implementation
    from prolong.model.cached_attention import CACHED_ATTN_IMPLEMENTATION

    model = make_llama(300, seed=4)
    before = model.config._attn_implementation
    prompt = torch.randint(3, 300, (157,), generator=torch.Generator().manual_seed(5)).tolist()
    for chunk in (16, 50, 157, 400):
        ours, _ = greedy_generate(model, [prompt], 20, prefill_chunk=chunk)
        ref, _ = plain_generate(model, [prompt], 20)
        assert ours == ref and len(ours[0]) == 20
    assert model.config._attn_implementation == before
    with attention_implementation(model, CACHED_ATTN_IMPLEMENTATION):
        assert model.config._attn_implementation == CACHED_ATTN_IMPLEMENTATION
    assert model.config._attn_implementation == before


def test_generation_of_a_training_model_with_document_attention(make_llama):
    """A model built for training ("prolong_doc" attention) generates as the same weights under sdpa."""
    from prolong.model.build import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
                                    max_position_embeddings=512), vocab_size=300).eval()
    ref_model = make_llama(300)
    ref_model.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(6)
    prompts = [torch.randint(3, 300, (n,), generator=g).tolist() for n in (90, 90, 40)]
    for batch in (prompts[:2], prompts):  # unpadded, then padded
        ours, _ = greedy_generate(model, batch, 12, prefill_chunk=32)
        ref, _ = plain_generate(ref_model, batch, 12)
        assert ours == ref
    assert model.config._attn_implementation == "prolong_doc"


def test_preallocated_cache_grows_past_its_capacity():
    from prolong.eval.kv_cache import PreallocatedLayer

    layer = PreallocatedLayer(capacity=4)
    chunks = [torch.randn(2, 3, n, 5) for n in (3, 1, 6, 1)]
    for c in chunks:
        k, v = layer.update(c, -c)
    full = torch.cat(chunks, dim=2)
    assert torch.equal(k, full) and torch.equal(v, -full) and layer.get_seq_length() == 11 and layer.capacity >= 11
