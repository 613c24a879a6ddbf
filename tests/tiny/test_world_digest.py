"""The tiny generators' output is pinned to GENERATOR_VERSION (prolong/tiny/corpus.py). The tiny runs are named by
that version and the corpus params (prolong.tiny.build.world_fingerprint), not by the data they read, so a generator
whose output changes without a version bump would let a run store reuse runs trained on the old world. This test
regenerates a small sample of every tiny generator (each corpus source, the evaluation suite, the SFT instructions)
and compares its digest with the one recorded for the current version.

When it fails after a deliberate change: bump GENERATOR_VERSION (with a line saying what changed) and record the new
digest here under the new version. Never edit the digest of a version already recorded.
"""

from __future__ import annotations

import hashlib
import itertools
import json

from prolong.data.config import TinyCorpusConfig
from prolong.tiny.corpus import DRILL_SOURCES, GENERATOR_VERSION, LONG_SOURCES, SHORT_SOURCES, tiny_documents
from prolong.tiny.eval_suite import write_tiny_suite
from prolong.tiny.instructions import suite_instructions, world_chat
from prolong.tiny.long_qa import rule_based_long_qa

# GENERATOR_VERSION -> sha256 of the sample below (python 3.11; random.Random with str seeds is stable across
# platforms)
DIGESTS = {
    5: "c959aaa977801bccbf6403ed8ed6eb0c242f890ee214053cccfffbd483903e85",
}

SMALL = TinyCorpusConfig(code_total_bytes=40_000, code_repo_bytes=20_000, n_books=2, book_chars=[6000, 12000],
                         short_docs={s: 3 for s in SHORT_SOURCES + DRILL_SOURCES})


def world_sample_digest(tmp_path) -> str:
    h = hashlib.sha256()
    books = []
    for source in LONG_SOURCES + SHORT_SOURCES + DRILL_SOURCES:
        for doc in itertools.islice(tiny_documents(SMALL, source), 3):
            h.update(f"{source}\0{doc}\0".encode())
            if source == "books":
                books.append(doc)
    suite = write_tiny_suite(tmp_path / "suite", n_items=4, n_sent=40, ppl_docs=1, ppl_words=300)
    for f in sorted(p for p in suite.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(suite)}\0".encode() + f.read_bytes())
    rows = suite_instructions(0, 2) + world_chat(0, 5) + rule_based_long_qa(books, 1500, n_questions=2, seed=0,
                                                                             per_book=1)
    h.update(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def test_generators_match_the_digest_of_their_version(tmp_path):
    digest = world_sample_digest(tmp_path)
    assert GENERATOR_VERSION in DIGESTS, (
        f"GENERATOR_VERSION {GENERATOR_VERSION} has no recorded digest: add {GENERATOR_VERSION}: {digest!r} to DIGESTS")
    assert digest == DIGESTS[GENERATOR_VERSION], (
        f"the tiny generators' output changed under GENERATOR_VERSION {GENERATOR_VERSION} (digest {digest}): bump "
        "GENERATOR_VERSION in prolong/tiny/corpus.py and record the new digest under it, so that tiny runs made "
        "from the old data are not reused under the new world")


def test_the_sample_is_deterministic(tmp_path):
    assert world_sample_digest(tmp_path / "a") == world_sample_digest(tmp_path / "b")
