"""The tiny world and everything made from it: the tiny scale's corpus, evaluation suite and instruction data.

    world.py         the people, cities, countries and species, and their facts (one world for all of the below)
    corpus.py        the paper's sources in miniature: code repos, books with long-range facts, ShortMix analogs
    eval_suite.py    every HELMET category in HELMET's file formats, asking about the world's people
    instructions.py  the tiny SFT data: the suite's task formats as chat, chat about the world, synthetic long QA
    long_qa.py       rule-made long-document QA over the corpus's books (the synthetic long SFT ablation)
    build.py         `build_tiny()`: the one explicit, idempotent build of all of it (`prolong data build-tiny`)

    from prolong.tiny import build_tiny
    built = build_tiny()          # TinyPaths: corpus_dir, tokenizer, stores, eval_suite, sft_dir
"""

from prolong.tiny.build import BUILD_COMMAND, TinyPaths, build_tiny, not_built, require_built
from prolong.tiny.world import World, make_world

__all__ = ["BUILD_COMMAND", "TinyPaths", "World", "build_tiny", "make_world", "not_built", "require_built"]
