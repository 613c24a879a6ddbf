"""Cite's NLI path run for real: a tiny T5ForConditionalGeneration and a byte-level BPE tokenizer built here (the
project's `train_byte_bpe`), saved to a folder that `cite_nli_model` points at, then the Cite task built through the
registry and its citation recall / precision scored. The T5 ignores its input (cross-attention outputs zeroed) and
its output layer is set so that greedy decoding says "1" (or "0") and stops: the loading, the prompt, the
generation and the decoding are the product's, only the answer is fixed. The decision logic (what counts as
entailed, which passages are needed) is tested apart with a stub whose generations are scripted strings."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from prolong.data.tokenizer import EOS, PAD, train_byte_bpe
from prolong.eval.cite_metrics import citation_scores
from prolong.eval.config import EvalConfig
from prolong.eval.nli import Seq2SeqNLI, entailed, nli_prompt
from prolong.eval.tasks import cite
from prolong.eval.tasks.registry import get_task

DOCS = [{"title": "Tower", "text": "The tower is in Paris and was built in 1889."},
        {"title": "Bridge", "text": "A bridge crosses the river."},
        {"title": "Park", "text": "The park opened in 1901."}]
TEXTS = ["premise: Title: Tower hypothesis: The tower is in Paris.", "A bridge crosses the river. 0 1"] * 20
SHORT_MAX_LENGTH = 32
"the tokenizer's model_max_length: the joint passages are longer, and must still reach the model whole"


def _answering(model: T5ForConditionalGeneration, token: int, eos: int) -> None:
    """Make greedy decoding emit `token` then `eos` whatever the input: the decoder no longer reads the encoder,
    so its hidden state after the start token (h1) and after `token` (h2) are fixed vectors; the output layer gets
    a row for `token` orthogonal to h2 and one for `eos` orthogonal to h1 (every other row 0), so `token` wins
    the first step and `eos` the second."""
    # an output layer of its own, as T5 v1.1 models such as TRUE have (transformers 5 ties it to the embeddings in
    # a fresh model and keeps a checkpoint's distinct lm_head untied when loading)
    model.lm_head.weight = torch.nn.Parameter(model.shared.weight.detach().clone())
    with torch.no_grad():
        for block in model.decoder.block:
            block.layer[1].EncDecAttention.o.weight.zero_()
        enc = model.encoder(input_ids=torch.tensor([[token]])).last_hidden_state
        start = model.config.decoder_start_token_id
        h = model.decoder(input_ids=torch.tensor([[start, token]]), encoder_hidden_states=enc).last_hidden_state[0]
        h1, h2 = h[0], h[1]
        u1 = h1 - (h1 @ h2) / (h2 @ h2) * h2
        u2 = h2 - (h2 @ h1) / (h1 @ h1) * h1
        model.lm_head.weight.zero_()
        model.lm_head.weight[token] = u1 / u1.norm() * 10
        model.lm_head.weight[eos] = u2 / u2.norm() * 10


@pytest.fixture(scope="module")
def nli_folders(tmp_path_factory):
    """{"random", "yes", "no"} -> a saved T5 NLI folder (model + tokenizer)."""
    root = tmp_path_factory.mktemp("nli")
    tok_dir = train_byte_bpe(TEXTS, root / "tokenizer", vocab_size=300)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    tok.model_max_length = SHORT_MAX_LENGTH
    pad, eos = tok.convert_tokens_to_ids(PAD), tok.convert_tokens_to_ids(EOS)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2,
                   num_decoder_layers=2, pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad,
                   tie_word_embeddings=False)
    out = {}
    for name, answer in (("random", None), ("yes", "1"), ("no", "0")):
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(cfg).eval()
        if answer is not None:
            _answering(model, tok.convert_tokens_to_ids(answer), eos)
        model.save_pretrained(str(root / name))
        tok.save_pretrained(str(root / name))
        out[name] = root / name
    return out


def _spy(nli: Seq2SeqNLI) -> list[list[int]]:
    """The encoder's input ids of every NLI call."""
    seen = []

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen.append(ids[0].tolist())

    nli.model.encoder.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_loaded_model_reads_helmets_prompt_untruncated_and_answers(nli_folders):
    yes = Seq2SeqNLI(nli_folders["yes"], device="cpu")
    assert next(yes.model.parameters()).dtype == torch.float32  # bfloat16 only on an accelerator
    seen = _spy(yes)
    premise = "Title: Tower\nThe tower is in Paris and was built in 1889.\nTitle: Park\nThe park opened in 1901."
    assert yes(premise, "The tower is in Paris.") is True
    assert yes.generate(premise, "The tower is in Paris.") == "1"
    # eval_alce.py's input text, tokens and all (no BOS/EOS added by this tokenizer), and nothing cut
    assert yes.tokenizer.decode(seen[0]) == "premise: " + premise + " hypothesis: The tower is in Paris."
    assert len(seen[0]) > SHORT_MAX_LENGTH
    no = Seq2SeqNLI(nli_folders["no"], device="cpu")
    assert no.generate(premise, "x") == "0" and no(premise, "x") is False
    rnd = Seq2SeqNLI(nli_folders["random"], device="cpu")  # whatever an untrained model says is read the same way
    said = rnd.generate(premise, "x")
    assert rnd(premise, "x") is (said == "1")


def _alce_fixture(root) -> None:
    rows = [{"question": "Where is the tower?", "answer": "Paris.", "docs": DOCS,
             "qa_pairs": [{"short_answers": ["Paris"]}]}]
    prompts = {"instruction": "Instruction: answer and cite.", "demo_prompt": "{instruction}\n\n{question}\n\n"
               "{context}\n\nAnswer: {answer}", "doc_prompt": "Document [{ID}](Title: {title}): {text}",
               "demos": [{"question": "Q?", "answer": "A [1].", "docs": DOCS[:1]}]}
    (root / "alce").mkdir()
    (root / "prompts").mkdir()
    (root / "alce" / "asqa_eval_gtr_top2000.json").write_text(json.dumps(rows))
    (root / "prompts" / "asqa_revised.json").write_text(json.dumps(prompts))


# sentence 1 cites two passages, sentence 2 one, sentence 3 none; [9] is out of range
OUTPUT = "The tower is in Paris [1][2].\nThe park opened in 1901 [3]. It is old. The river [9]."


@pytest.mark.parametrize("answer, calls, want", [
    # "yes": recall 2 of 4 sentences (no citation / out of range: 0); sentence 1's two passages each entail alone,
    # so both count: precision 3 of 3 citations; calls: joint + 2 alone for sentence 1, joint for sentence 2
    ("yes", 4, {"citation_rec": 0.5, "citation_prec": 1.0}),
    # "no": only the two joint calls, nothing supported
    ("no", 2, {"citation_rec": 0.0, "citation_prec": 0.0}),
])
def test_cite_task_scores_citations_with_the_saved_model(tmp_path, nli_folders, bpe_tokenizer, answer, calls, want):
    _alce_fixture(tmp_path)
    cite._NLI.clear()  # the loaded-once cache, keyed by path
    cfg = EvalConfig(tasks=["alce_asqa"], data_dir=str(tmp_path), cite_nli_model=str(nli_folders[answer]),
                     num_samples=1, shots=1, device="cpu")
    spec, items = get_task("alce_asqa").items(bpe_tokenizer, 4096, cfg)  # as the runner builds it
    nli = cite._NLI[str(nli_folders[answer])]
    seen = _spy(nli)
    mets, _ = spec.score(OUTPUT, items[0])
    assert {k: mets[k] for k in want} == pytest.approx(want)
    assert len(seen) == calls
    texts = [nli.tokenizer.decode(s) for s in seen]
    joint = "Title: Tower\nThe tower is in Paris and was built in 1889.\nTitle: Bridge\nA bridge crosses the river."
    assert texts[0] == f"premise: {joint} hypothesis: The tower is in Paris."  # eval_alce's joint passage
    if answer == "yes":
        assert texts[1:3] == [f"premise: Title: {d['title']}\n{d['text']} hypothesis: The tower is in Paris."
                              for d in DOCS[:2]]
    assert texts[-1] == "premise: Title: Park\nThe park opened in 1901. hypothesis: The park opened in 1901."
    get_task("alce_asqa").items(bpe_tokenizer, 8192, cfg)
    assert cite._NLI[str(nli_folders[answer])] is nli  # loaded once, not per build


class ScriptedNLI(Seq2SeqNLI):
    """The product's decision (`__call__` -> `entailed`) over scripted generations: the hypothesis and the premise's
    titles -> what the model "said"; anything not scripted says "0"."""

    def __init__(self, said: dict[tuple[str, tuple[str, ...]], str]):
        self.said, self.calls = said, []

    def generate(self, premise: str, hypothesis: str) -> str:
        titles = tuple(line.removeprefix("Title: ") for line in premise.split("\n") if line.startswith("Title: "))
        self.calls.append((hypothesis, titles))
        return self.said.get((hypothesis, titles), "0")


def test_decision_reads_exactly_1():
    assert entailed("1") and not any(entailed(s) for s in ("0", "1.", " 1", "11", "", "yes"))
    assert nli_prompt("P", "H") == "premise: P hypothesis: H"


def test_citation_logic_with_scripted_answers():
    h = "The tower and the park."
    # the pair entails; Tower alone does not, and Park alone (the pair without Tower) does not either: Tower is
    # needed; the same for Park. Both count. Calls: joint, then per passage alone and the rest.
    nli = ScriptedNLI({(h, ("Tower", "Park")): "1"})
    assert citation_scores(f"{h[:-1]} [1][3].", DOCS, nli) == {"citation_rec": 1.0, "citation_prec": 1.0}
    assert nli.calls == [(h, ("Tower", "Park")), (h, ("Tower",)), (h, ("Park",)), (h, ("Park",)), (h, ("Tower",))]
    # Tower alone entails: Park is not needed (the others alone still entail) -> 1 of 2
    nli = ScriptedNLI({(h, ("Tower", "Park")): "1", (h, ("Tower",)): "1"})
    assert citation_scores(f"{h[:-1]} [1][3].", DOCS, nli) == {"citation_rec": 1.0, "citation_prec": 0.5}
    # a model that says "1." is not entailment: recall 0, and no precision check is run
    nli = ScriptedNLI({(h, ("Tower", "Park")): "1."})
    assert citation_scores(f"{h[:-1]} [1][3].", DOCS, nli) == {"citation_rec": 0.0, "citation_prec": 0.0}
    assert len(nli.calls) == 1
    # at most three citations: the fourth is never read, and three count as citations
    nli = ScriptedNLI({("Four.", ("Tower", "Bridge", "Park")): "1"})
    s = citation_scores("Four [1][2][3][1].", DOCS, nli)
    # each of the three: alone "0", and the other two without it "0" too: all needed, 3 of 3
    assert s == {"citation_rec": 1.0, "citation_prec": 1.0}
    assert nli.calls[0] == ("Four.", ("Tower", "Bridge", "Park"))
