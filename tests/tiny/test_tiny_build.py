"""The one explicit tiny build (prolong.tiny.build_tiny): every step once, nothing on a second call, and a missing
build named by the command that makes it."""

import json

import pytest
import yaml

from prolong import paths
from prolong.tiny import BUILD_COMMAND, build_tiny, not_built, require_built
from prolong.tiny.corpus import GENERATOR_VERSION, SHORT_SOURCES
from tests.helpers.markers import integration


@integration
def test_tiny_build_end_to_end(tmp_path, monkeypatch):
    """A shrunken tiny corpus: corpus -> tokenizer (HF format, chat template) -> stores -> mixture stream, plus the
    eval suite and the SFT files; a second call builds nothing."""
    monkeypatch.setenv("PROLONG_DATA", str(tmp_path))
    params = yaml.safe_load((paths.PARAMS_DIR / "tiny" / "corpus.yaml").read_text())
    params["tiny"].update(code_total_bytes=150_000, code_repo_bytes=60_000, n_books=3, book_chars=[8000, 20000],
                         short_docs={s: 12 for s in SHORT_SOURCES})
    params["train_tokenizer"] = {"vocab_size": 600, "sample_chars": 200_000}
    params["shard_chars"] = 100_000
    (tmp_path / "corpus.yaml").write_text(yaml.safe_dump(params))
    from prolong.data.mixing import MixtureStream
    from prolong.data.stats import length_share_table, long_tokens_table
    from prolong.data.token_store import TokenStore

    built = build_tiny(params=tmp_path / "corpus.yaml", workers=0)
    assert set(built.seconds) == {"corpus", "tokenizer", "stores", "eval_suite", "sft"}
    again = build_tiny(params=tmp_path / "corpus.yaml")
    assert again.seconds == {} and again.stores == built.stores                       # idempotent fast path
    shard = built.stores["books"] / "shard_00000.tokens"                    # a damaged shard: rebuilt, not "fine"
    shard.write_bytes(shard.read_bytes()[:100])
    assert set(build_tiny(params=tmp_path / "corpus.yaml", workers=0).seconds) == {"stores"}
    TokenStore.open(built.stores["books"], verify=True)
    assert (built.eval_suite / "ppl" / "pg19.jsonl").is_file() and built.eval_suite == tmp_path / "helmet"
    assert {p.name for p in built.sft_dir.iterdir()} == {"instructions.jsonl", "synthetic_long.jsonl", "manifest.json"}
    manifest = json.loads((built.corpus_dir / "manifest.json").read_text())
    assert manifest["sources"]["books"]["docs"] == 3
    # a corpus written by another version of the generators is rebuilt, though its config is the same
    (built.corpus_dir / "manifest.json").write_text(json.dumps({**manifest, "generator": GENERATOR_VERSION - 1}))
    assert {"corpus", "tokenizer", "stores"} <= set(build_tiny(params=tmp_path / "corpus.yaml", workers=0).seconds)
    # so are an eval suite and SFT files made by another version (the SFT files are made from the books and suite)
    (built.eval_suite / "tiny_suite.json").write_text(json.dumps({"generator": GENERATOR_VERSION - 1}))
    sft_manifest = json.loads((built.sft_dir / "manifest.json").read_text())
    (built.sft_dir / "manifest.json").write_text(json.dumps({**sft_manifest, "generator": GENERATOR_VERSION - 1}))
    assert set(build_tiny(params=tmp_path / "corpus.yaml", workers=0).seconds) == {"eval_suite", "sft"}
    assert build_tiny(params=tmp_path / "corpus.yaml").seconds == {}

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(built.tokenizer))
    chat = tok.apply_chat_template([{"role": "user", "content": "Where does Mira live?"},
                                    {"role": "assistant", "content": "In Ostrel."}], tokenize=True,
                                   return_dict=True, return_assistant_tokens_mask=True)
    text = tok.decode(chat["input_ids"])
    assert text.startswith("<|user|>") and "<|assistant|>" in text and text.endswith("<|end|>")
    assert 0 < sum(chat["assistant_masks"]) < len(chat["input_ids"])
    assert tok.bos_token == "<|bos|>" and tok.eos_token == "<|eos|>" and tok.pad_token == "<|pad|>"

    stores = {n: TokenStore.open(p) for n, p in built.stores.items()}
    t3 = long_tokens_table(stores, min_tokens=1024, unit=1)
    assert list(t3.columns) == ["source", "long_tokens_B"] and t3.set_index("source").loc["books"].item() > 0
    t14 = length_share_table(stores, (256, 1024))
    assert list(t14.columns) == ["source", ">256", ">1K"]
    mix = {"domains": {"books": {"store": "tiny/stores/books", "min_tokens": 1024},
                       "tulu": {"store": "tiny/stores/tulu"}}, "mixture": ["books@0.6", "tulu@0.4"]}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(mix))
    seqs = MixtureStream.from_yaml(tmp_path / "mix.yaml", seq_len=256).take(10)
    assert [s.domain for s in seqs].count("books") == 6


def test_missing_tiny_data_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PROLONG_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"not built; build it with `{BUILD_COMMAND}`"):
        require_built(tmp_path / "tiny" / "tokenizer")
    assert not_built(tmp_path / "elsewhere" / "tokenizer") is None          # not tiny data: the reader's own error
    (tmp_path / "helmet").mkdir()
    assert not_built(tmp_path / "helmet") is None                            # built


def test_training_on_unbuilt_tiny_data_says_how_to_build_it(tmp_path, monkeypatch):
    """The tiny stage params point at <data>/tiny/tokenizer; training never builds it, it names the command."""
    from prolong.train.config import TrainParams
    from prolong.train.loop import build_data

    monkeypatch.setenv("PROLONG_DATA", str(tmp_path))
    params = TrainParams.from_yaml(paths.PARAMS_DIR / "tiny" / "stages" / "sft.yaml")
    with pytest.raises(FileNotFoundError, match="prolong data build-tiny"):
        build_data(params, acc=None)
