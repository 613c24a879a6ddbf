"""The token after every document when `prolong data tokenize` stores feed the packer: by default what ProLong's data
uses, Llama-3's `<|end_of_text|>`, not the Instruct tokenizer's EOS `<|eot_id|>`; configurable (params key
`doc_end_token`, flag `--doc-end-token`); a tokenizer without `<|end_of_text|>` (the tiny one) keeps its own EOS."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from prolong import cli
from prolong.data.mixing import MixtureStream
from prolong.data.token_store import TokenStore
from prolong.data.tokenizer import identity_of

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]


def _instruct_like_tokenizer(folder, eos="<|eot_id|>", specials=SPECIALS):
    """A word-level tokenizer with Llama-3-Instruct's special tokens and EOS (`<|eot_id|>`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(50)]
    vocab = {t: i for i, t in enumerate(specials + ["<unk>"] + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    folder.mkdir(parents=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": specials[0], "eos_token": eos}))
    return vocab


def _corpus(tmp_path, monkeypatch, **extra):
    monkeypatch.setenv("PROLONG_DATA", str(tmp_path / "data"))
    vocab = _instruct_like_tokenizer(tmp_path / "data" / "tok")
    raw = tmp_path / "data" / "raw.jsonl"
    raw.write_text("".join(json.dumps({"text": " ".join(f"w{(i + j) % 50}" for j in range(5 + i))}) + "\n"
                           for i in range(6)))
    params = tmp_path / "corpus.yaml"
    params.write_text(yaml.safe_dump({"tokenizer": "tok", "store_root": "stores", "workers": 0,
                                      "sources": {"docs": {"kind": "jsonl", "path": "raw.jsonl"}}, **extra}))
    mixture = tmp_path / "mixture.yaml"
    mixture.write_text(yaml.safe_dump({"mixture": ["docs@1.0"], "domains": {"docs": {"store": "stores/docs"}}}))
    return params, mixture, vocab


def _packed_ends(mixture, tmp_path, vocab):
    """The token after each document of a few packed sequences, read as the training loop reads them (with the
    model's tokenizer, whose EOS is <|eot_id|>)."""
    trainer = identity_of(tmp_path / "data" / "tok")
    assert trainer.eos_id == vocab["<|eot_id|>"]
    stream = MixtureStream.from_yaml(mixture, seq_len=64, tokenizer=trainer)
    ends, specials = set(), set()
    for _ in range(3):
        seq = next(stream)
        bounds = np.cumsum(seq.doc_lens)
        ends |= {int(seq.input_ids[b - 1]) for b in bounds[:-1]}  # the last piece may be cut by the length
        specials |= {int(t) for t in seq.input_ids if int(t) < len(SPECIALS)}
    assert vocab["<|begin_of_text|>"] in specials and specials - {vocab["<|begin_of_text|>"]} == ends
    return ends


def test_default_is_end_of_text_as_prolongs_data(tmp_path, monkeypatch):
    params, mixture, vocab = _corpus(tmp_path, monkeypatch)
    assert cli.main(["data", "tokenize", "--params", str(params)]) == 0
    store = TokenStore.open(tmp_path / "data" / "stores" / "docs")
    assert store.tokenizer.eos_id == vocab["<|end_of_text|>"]
    assert _packed_ends(mixture, tmp_path, vocab) == {vocab["<|end_of_text|>"]}


def test_doc_end_token_is_configurable(tmp_path, monkeypatch, capsys):
    params, mixture, vocab = _corpus(tmp_path, monkeypatch, doc_end_token="<|eot_id|>")
    assert cli.main(["data", "tokenize", "--params", str(params)]) == 0
    assert _packed_ends(mixture, tmp_path, vocab) == {vocab["<|eot_id|>"]}
    # the flag overrides the params; a store built with another document-end token is not silently reused
    argv = ["data", "tokenize", "--params", str(params), "--doc-end-token", "<|end_of_text|>"]
    assert cli.main(argv) == 2
    assert f"{params}: doc_end_token: {tmp_path}/data/stores/docs/store.json: store docs was built with " \
           f"document-end token id {vocab['<|eot_id|>']}, not {vocab['<|end_of_text|>']}" in capsys.readouterr().err
    assert cli.main(argv + ["--force"]) == 0
    assert _packed_ends(mixture, tmp_path, vocab) == {vocab["<|end_of_text|>"]}
    assert cli.main(["data", "tokenize", "--params", str(params), "--doc-end-token", "<|im_end|>"]) == 2
    err = capsys.readouterr().err
    assert f"{params}: doc_end_token:" in err and "'<|im_end|>' is not in the tokenizer's vocabulary" in err


def test_auto_keeps_the_eos_of_a_tokenizer_without_end_of_text(tmp_path):
    vocab = _instruct_like_tokenizer(tmp_path / "tok", eos="<|eos|>", specials=["<|bos|>", "<|eos|>"])
    assert identity_of(tmp_path / "tok", "auto") == identity_of(tmp_path / "tok")
    assert identity_of(tmp_path / "tok", "auto").eos_id == vocab["<|eos|>"]
    with pytest.raises(ValueError, match=r"tok: document-end token '<\|end_of_text\|>' is not in the tokenizer"):
        identity_of(tmp_path / "tok", "<|end_of_text|>")
