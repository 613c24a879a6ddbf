"""HELMET-compatible evaluation: long-context categories, NIAH, perplexity and short-context tasks.

Entry points: `runner.evaluate_model` (library), `cli.main` (`prolong eval`). The tiny suite (offline tiny data in
HELMET's file formats) is written by prolong.tiny.eval_suite (`prolong data build-tiny`). See `config.EvalConfig`
for every knob.
"""
