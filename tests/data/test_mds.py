"""The paper's released data as downloaded: MDS folders (plain, zstd, gz) written the way MDSWriter lays them out,
read without mosaicml-streaming, mixed with `<folder>@<proportion>` lines, and trained on with document boundaries
and SFT masks honoured."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
import yaml

from prolong.config import ConfigError
from prolong.data.config import MixtureConfig
from prolong.data.mds import MDSError, MDSFolder
from prolong.data.released import packed_from_sample
from prolong.data.mixing import MixtureStream
from prolong.train.batching import labels_for, make_micro_batch
from tests.helpers.mds import PROLONG_COLUMNS, PROLONG_SFT_COLUMNS, packed_samples, write_mds

HAVE_ZSTD = importlib.util.find_spec("zstandard") is not None
COMPRESSIONS = [None, "gz:6", pytest.param("zstd:16", marks=pytest.mark.skipif(
    not HAVE_ZSTD, reason="zstandard not installed (pip install 'prolong[data]')"))]


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PROLONG_DATA", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_folder_reads_back_every_column(tmp_path, compression):
    columns = {**PROLONG_SFT_COLUMNS, "any": "ndarray", "fixed": "ndarray:int16:2,3", "n": "uint32", "i": "int",
               "s": "str", "j": "json", "x": "float64"}
    rng = np.random.default_rng(0)
    samples = []
    for k, s in enumerate(packed_samples(7, 40, 1000, seed=1, with_mask=True)):
        s.update({"any": rng.random((2, k + 1)).astype(np.float32), "fixed": np.arange(6, dtype=np.int16).reshape(2, 3) * k,
                  "n": k * 1000, "i": -k, "s": f"sample {k} é", "j": {"k": [k]}, "x": k / 3})
        samples.append(s)
    folder = MDSFolder(write_mds(tmp_path / "f", columns, samples, samples_per_shard=3, compression=compression))
    assert len(folder) == 7 and [s.n_samples for s in folder.shards] == [3, 3, 1]
    if compression:  # only the compressed files were written, as a download of a compressed folder holds
        assert not any(p.suffix == ".mds" for p in (tmp_path / "f").iterdir())
    for got, want in zip(folder, samples):
        assert set(got) == set(want)
        for key in ("input_ids", "indices", "mask", "any", "fixed"):
            np.testing.assert_array_equal(got[key], want[key])
            assert got[key].dtype == np.asarray(want[key]).dtype
        assert (got["n"], got["i"], got["s"], got["j"], got["x"]) == (want["n"], want["i"], want["s"], want["j"],
                                                                       want["x"])


def test_boundaries_gaps_padding_and_mask_of_a_sample():
    ids = np.arange(1, 11, dtype=np.uint32)                          # 10 tokens
    sample = {"input_ids": ids, "indices": np.array([[0, 4], [4, 7]], np.uint32),   # tokens 7..9 in no document
              "mask": np.array([0, 1, 1, 1, 0, 0, 1, 1, 1, 1], np.uint8)}
    seq = packed_from_sample(sample, seq_len=12, domain="d", where="x")
    assert seq.doc_lens.tolist() == [4, 3, 3, 2]                     # docs, the gap, the padding to seq_len
    assert seq.input_ids[:10].tolist() == ids.tolist() and seq.input_ids.dtype == np.int32
    # targets: inside a document and masked in (the gap and the padding never)
    assert seq.loss_mask.tolist() == [False, True, True, True, False, False, True] + [False] * 5
    labels = labels_for(seq)
    # position t predicts t+1 of its own document only: 1->2, 2->3, 3->4; 6->7 (token 7 is masked in)
    assert labels.tolist() == [2, 3, 4, -100, -100, 7, -100, -100, -100, -100, -100, -100]
    no_mask = packed_from_sample(sample, seq_len=12, domain="d", where="x", use_mask=False)
    assert no_mask.loss_mask.tolist() == [True] * 7 + [False] * 5
    whole = packed_from_sample({"input_ids": ids}, seq_len=10, domain="d", where="x")
    assert whole.doc_lens.tolist() == [10] and whole.loss_mask is None
    with pytest.raises(MDSError, match=r"here: 10 tokens, more than data.seq_len 8"):
        packed_from_sample(sample, seq_len=8, domain="d", where="here")
    with pytest.raises(MDSError, match=r"here: 'indices' .* not ordered"):
        packed_from_sample({**sample, "indices": np.array([[4, 7], [0, 4]])}, 12, "d", "here")
    with pytest.raises(MDSError, match=r"token id 10 outside the tokenizer's vocabulary of 10"):
        packed_from_sample(sample, 12, "d", "here", vocab_size=10)


def _released(root, compression=None, seq_len=32, vocab=64):
    """A miniature prolong-data release: two domain folders of 4 packed sequences each, ProLong's schema."""
    write_mds(root / "book-65536", PROLONG_COLUMNS, packed_samples(4, seq_len, vocab, seed=1), 2, compression)
    write_mds(root / "fineweb-edu", PROLONG_COLUMNS, packed_samples(4, seq_len, vocab, seed=2, gap=True), 2,
              compression)
    mix = root.parent / f"mix-{compression}.yaml"
    mix.write_text(f"root: {root.name}\nmixture:\n  - book-65536@0.5\n  - fineweb-edu@0.5\n")
    return mix


def _expected_targets(samples, mask=False):
    """Targets counted from the samples themselves: inside each [a, b), tokens a+1 .. b-1 (masked in)."""
    n = 0
    for s in samples:
        for a, b in np.asarray(s["indices"]).tolist():
            n += int(np.asarray(s["mask"])[a + 1:b].sum()) if mask else b - a - 1
    return n


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_mixture_of_folders_streams_packed_sequences_and_resumes(data_root, compression):
    mix = _released(data_root / "prolong-data-64K", compression)
    cfg = MixtureConfig.from_yaml(mix)
    assert cfg.proportions() == {"book-65536": 0.5, "fineweb-edu": 0.5} and cfg.domain("book-65536").kind == "mds"
    stream = MixtureStream.from_yaml(mix, seq_len=32, seed=0)
    seqs = stream.take(8)                                              # one epoch of each domain
    assert [s.domain for s in seqs].count("book-65536") == 4
    assert all(len(s.input_ids) == 32 and s.doc_lens.sum() == 32 for s in seqs)
    released = {d: packed_samples(4, 32, 64, seed=k) for d, k in (("book-65536", 1), ("fineweb-edu", 2))}
    released["fineweb-edu"] = packed_samples(4, 32, 64, seed=2, gap=True)
    for d, samples in released.items():      # every sample exactly once per epoch, its documents as released
        got = sorted((s.input_ids.tolist(), s.doc_lens.tolist()) for s in seqs if s.domain == d)
        want = []
        for s in samples:
            spans = np.asarray(s["indices"]).tolist()
            lens = [b - a for a, b in spans] + ([32 - spans[-1][1]] if spans[-1][1] < 32 else [])
            want.append((s["input_ids"].astype(np.int32).tolist(), lens))
        assert got == sorted(want)
    resumed = MixtureStream.from_yaml(mix, seq_len=32, seed=0)
    first = MixtureStream.from_yaml(mix, seq_len=32, seed=0)
    first.take(5)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert [s.input_ids.tolist() for s in resumed.take(7)] == [s.input_ids.tolist() for s in first.take(7)]


def test_released_paper_mixtures_match_the_store_mixtures():
    """params/paper/mixtures/released/*.yaml are ProLong's scripts' folder lists with the paper's proportions."""
    from prolong import paths

    folder = paths.PARAMS_DIR / "paper" / "mixtures"
    pairs = {"stage1": "released/stage1_64k.yaml", "stage2": "released/stage2_512k.yaml"}
    for store_mix, released in pairs.items():
        ours = MixtureConfig.from_yaml(folder / f"{store_mix}.yaml").proportions()
        rel = MixtureConfig.from_yaml(folder / released)
        assert list(rel.proportions().values()) == list(ours.values())
        assert rel.root and not rel.domains
    sft = MixtureConfig.from_yaml(folder / "released" / "sft_ultrachat.yaml")
    assert sft.proportions() == {"prolong-ultrachat-64K": 1.0}


def test_errors_name_the_file_and_domain(data_root, monkeypatch):
    mix = _released(data_root / "rel")
    (data_root / "rel" / "book-65536" / "shard.00001.mds").unlink()
    with pytest.raises(FileNotFoundError, match=r"mix-None.yaml: domain 'book-65536': .*shard 1: neither file is "
                                                r"there \(shard.00001.mds\)"):
        MixtureStream.from_yaml(mix, seq_len=32)
    bad = data_root / "bad.yaml"
    bad.write_text("root: rel\nmixture: [nowhere@1.0]\n")
    with pytest.raises(FileNotFoundError, match=r"bad.yaml: domain 'nowhere': .*rel/nowhere/index.json: folder "
                                                r"not found"):
        MixtureStream.from_yaml(bad, seq_len=32)
    with pytest.raises(ConfigError, match="not defined under 'domains'.*set 'root'"):
        MixtureConfig.from_dict({"mixture": ["a@1.0"]}, "m.yaml")
    with pytest.raises(ConfigError, match="exactly one of 'store'"):
        MixtureConfig.from_dict({"mixture": ["a@1.0"], "domains": {"a": {"store": "x", "mds": "y"}}}, "m.yaml")
    # a zstd shard without the codec: the error names the file and the package
    if HAVE_ZSTD:
        write_mds(data_root / "z", PROLONG_COLUMNS, packed_samples(2, 16, 64), 2, "zstd")
        monkeypatch.setitem(sys.modules, "zstandard", None)      # as if not installed
        with pytest.raises(MDSError, match=r"z/shard.00000.mds.zstd: zstd-compressed shard: reading it needs the "
                                           r"package zstandard \(pip install 'prolong\[data\]'\)"):
            MDSFolder(data_root / "z").sample(0, 0)


def test_sft_folder_mask_reaches_the_labels(data_root):
    samples = packed_samples(3, 24, 64, seed=5, with_mask=True)
    write_mds(data_root / "prolong-ultrachat-64K", PROLONG_SFT_COLUMNS, samples, 2)
    mix = data_root / "sft.yaml"
    mix.write_text(yaml.safe_dump({"root": ".", "mixture": ["prolong-ultrachat-64K@1.0"]}))
    seqs = MixtureStream.from_yaml(mix, seq_len=24).take(3)
    mb = make_micro_batch(seqs)
    assert mb.n_targets == _expected_targets(samples, mask=True) > 0
    assert mb.cu_seq_lens.tolist() == np.cumsum([0] + [l for s in seqs for l in s.doc_lens.tolist()]).tolist()


@pytest.mark.integration
@pytest.mark.parametrize("compression", COMPRESSIONS[::2])     # plain and zstd
def test_train_from_released_folders(data_root, compression):
    """A few tiny optimizer steps straight from MDS folders: every sample of both domains is used once, and the
    loss counts exactly the targets inside the released document spans."""
    from prolong.train.loop import DataSetup, train
    from tests.helpers.train import VOCAB, tiny_params

    mix = _released(data_root / "rel", compression, seq_len=32, vocab=VOCAB)
    data = DataSetup(lambda r, n: MixtureStream.from_yaml(mix, 32, 0, r, n), vocab_size=VOCAB)
    params = tiny_params(seq_len=32, steps=2, batch_size=4, micro_batch_size=2)
    run = train(params, run_name=f"mds-{str(compression).replace(':', '-')}", data=data)
    log = run.train_log()
    assert run.status() == "done" and np.isfinite(log.loss).all()
    want = _expected_targets(packed_samples(4, 32, VOCAB, seed=1)) + \
        _expected_targets(packed_samples(4, 32, VOCAB, seed=2, gap=True))
    assert int(log.n_targets.sum()) == want
    assert log.tokens_per_domain.iloc[-1] == {"book-65536": 4 * 32, "fineweb-edu": 4 * 32}


def test_mds_ranks_skip_the_others_samples(data_root):
    """MDSReader.skip(k) is k next_plan() calls (across shards and epochs): each of 3 ranks gets the global
    stream's samples."""
    mix = _released(data_root / "prolong-data-64K")
    glob = MixtureStream.from_yaml(mix, seq_len=32, seed=0).take(30)
    for r in range(3):
        got = MixtureStream.from_yaml(mix, seq_len=32, seed=0, dp_rank=r, dp_size=3).take(10)
        assert [s.input_ids.tolist() for s in got] == [s.input_ids.tolist() for s in glob[r::3]]
    a, b = (MixtureStream.from_yaml(mix, seq_len=32, seed=0).readers[0] for _ in range(2))
    for k in (0, 1, 3, 2, 7, 5):
        for _ in range(k):
            a.next_plan()
        b.skip(k)
        assert a.state() == b.state()
