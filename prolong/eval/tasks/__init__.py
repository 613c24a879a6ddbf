"""One module per HELMET category (plus perplexity and the short-context tasks); each registers its datasets in
`registry.TASKS` (name -> builder and category). Importing this package imports every task module, so the registry
is complete.
"""

from prolong.eval.tasks import cite, icl, longdoc, ppl, rag, recall, rerank, short  # noqa: F401  (registers the tasks)
from prolong.eval.tasks.registry import check_complete

check_complete()
