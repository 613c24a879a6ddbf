"""HELMET-compatible evaluation: long-context categories, NIAH, perplexity and short-context tasks.

Entry points: `runner.evaluate_model` (library), `cli.main` (`prolong eval`). The tiny suite (offline tiny data in
HELMET's file formats) is written by prolong.tiny.eval_suite (`prolong data build-tiny`). See `config.EvalConfig`
for every knob.

Where things are: the paper's vocabulary (categories, which datasets each averages, the short tasks) in
`categories.py`; every task registers itself in `tasks/registry.py` from its module under `tasks/`; answer and ranking
metrics in `metrics.py`; decoding and scoring in `runner.py`.
"""
