"""HELMET-compatible evaluation: long-context categories, NIAH, perplexity and short-context tasks.

Entry points: `runner.evaluate_model` (library), `cli.main` (`prolong eval`), `tiny_tasks.write_tiny_suite`
(offline toy data in HELMET's file formats). See `config.EvalConfig` for every knob.
"""
