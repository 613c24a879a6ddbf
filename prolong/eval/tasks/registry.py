"""The task registry: every evaluation task registers itself here under its dataset name, with its category.

Two kinds of task:
- long-context tasks (`build`): the `(TaskSpec, items)` of one input length, decoded and scored by
  `prolong.eval.runner.evaluate_task`;
- whole-model tasks (`evaluate`): perplexity and the short-context tasks, which score the model once, not per length.

Which datasets belong to which HELMET category is defined once, in `prolong.eval.categories.HELMET_CATEGORIES`:
task modules register names taken from it, `register` refuses a dataset under a HELMET category that does not list
it, and `check_complete` (run when `prolong.eval.tasks` is imported) refuses a listed dataset left unregistered.

Importing `prolong.eval.tasks` imports every task module, so the registry is complete once the package is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from prolong.eval.categories import HELMET_CATEGORIES

if TYPE_CHECKING:
    from prolong.eval.tasks.base import EvalItem, TaskSpec

# The params argument is a prolong.eval.config.EvalConfig; it is typed Any here because the config imports this
# registry (it checks task names when a params file is read), and the registry must not import the config back.
Builder = Callable[[str, Any, int, Any], "tuple[TaskSpec, list[EvalItem]]"]
"(dataset name, tokenizer, input length, EvalConfig) -> the task's spec and test items at that length"
Evaluator = Callable[[str, Any, Any, Any], "WholeModelResult"]
"(dataset name, model, tokenizer, EvalConfig) -> the task's output JSON, the length it is logged under, and its score"


@dataclass(frozen=True)
class WholeModelResult:
    result: dict[str, Any]
    "the output JSON written into the run"
    length: int
    "the length the result is logged under (PPL: the document length; short tasks: 0)"
    score: float
    "the value of the task's column"


@dataclass(frozen=True)
class Task:
    name: str
    "dataset name as written in params and results (json_kv, nq, msmarco_rerank, ppl, hellaswag, ...)"
    category: str
    "a HELMET category (prolong.eval.categories.CATEGORIES), NIAH, PPL or Short"
    build: Builder | None = None
    "long-context tasks: spec and items of one input length"
    evaluate: Evaluator | None = None
    "whole-model tasks: run once on the model"
    column: str = ""
    "whole-model tasks: the score's column (PPL, HellaSwag, ...)"

    def items(self, tokenizer: Any, length: int, cfg: Any) -> tuple[TaskSpec, list[EvalItem]]:
        spec, items = self.build(self.name, tokenizer, length, cfg)
        assert spec.category == self.category, (self.name, spec.category, self.category)
        return spec, items

    def run(self, model: Any, tokenizer: Any, cfg: Any) -> WholeModelResult:
        return self.evaluate(self.name, model, tokenizer, cfg)


TASKS: dict[str, Task] = {}


def _add(task: Task) -> None:
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} registered twice")
    if task.category in HELMET_CATEGORIES and task.name not in HELMET_CATEGORIES[task.category]:
        raise ValueError(f"task {task.name!r} is not one of {task.category}'s datasets in "
                         f"prolong.eval.categories.HELMET_CATEGORIES")
    TASKS[task.name] = task


def check_complete() -> None:
    """Every dataset of HELMET_CATEGORIES is registered (under its category, which `_add` guarantees)."""
    missing = [d for ds in HELMET_CATEGORIES.values() for d in ds if d not in TASKS]
    if missing:
        raise ValueError(f"datasets of prolong.eval.categories.HELMET_CATEGORIES with no registered task: {missing}")


def register(names: str | Iterable[str], category: str) -> Callable[[Builder], Builder]:
    """Decorator: register a long-context builder under one or more dataset names of one category."""
    def wrap(fn: Builder) -> Builder:
        for n in ([names] if isinstance(names, str) else names):
            _add(Task(n, category, build=fn))
        return fn
    return wrap


def register_whole_model(names: dict[str, str], category: str) -> Callable[[Evaluator], Evaluator]:
    """Decorator: register a whole-model evaluator under dataset names, each mapped to its score column."""
    def wrap(fn: Evaluator) -> Evaluator:
        for n, column in names.items():
            _add(Task(n, category, evaluate=fn, column=column))
        return fn
    return wrap


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def known_task(name: str) -> bool:
    return name in TASKS
