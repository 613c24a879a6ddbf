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

    from prolong.eval.ppl import tail_nll

    model = make_llama(300, seed=2)
    ids = torch.randint(3, 300, (200,), generator=torch.Generator().manual_seed(3)).tolist()
    nll, n = tail_nll(model, ids, tail_tokens=64, chunk=48)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    ref = F.cross_entropy(logits[-64:], torch.tensor(ids[-64:]), reduction="sum").item()
    assert n == 64 and abs(nll - ref) < 1e-3 * abs(ref)
