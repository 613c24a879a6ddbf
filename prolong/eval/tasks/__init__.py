"""One module per HELMET category; every builder returns `(TaskSpec, list[EvalItem])` for one input length.

The registry `TASKS` maps a dataset name to its builder and category (see `registry.py`).
"""
