"""The model card of a saved model: `runs/train/<run>/model/README.md` in the Hugging Face layout, so
`huggingface-cli upload <repo> runs/train/<run>/model` publishes a documented model.

YAML front matter (base_model and license where the starting checkpoint is a known one, library_name, tags), then
the stage, where it started from, sequence length, RoPE theta, tokens seen, the data mixture (target proportions
next to the tokens each domain gave), the evaluation scores logged for it, and the command that retrains it.

Written from the run store only (params.yaml, train_log.jsonl, the eval runs that name the model), when the run is
set done (`on_status`, a hook of prolong.runs.Run.set_status that the prolong.train package registers) and again when
an evaluation of it is done; so a card never disagrees with the logged runs. The card is a file next to the weights: nothing fingerprints the model folder.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml

from prolong import paths
from prolong.io import atomic_write_text
from prolong.runs import DAMAGE, MODEL_DIR, Run, iter_runs

CARD = "README.md"
# Checkpoints a stage may start from, by folder name: (Hub id, license). A local copy is named as its Hub original.
KNOWN_BASES = {
    "SmolLM2-135M-Instruct": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0"),
    "Meta-Llama-3-8B-Instruct": ("meta-llama/Meta-Llama-3-8B-Instruct", "llama3"),
    "Meta-Llama-3-8B": ("meta-llama/Meta-Llama-3-8B", "llama3"),
    "Llama-3-8B-ProLong-64k-Base": ("princeton-nlp/Llama-3-8B-ProLong-64k-Base", "llama3"),
    "Llama-3-8B-ProLong-512k-Base": ("princeton-nlp/Llama-3-8B-ProLong-512k-Base", "llama3"),
}


def _root_checkpoint(params: dict[str, Any], depth: int = 0) -> tuple[str | None, list[str]]:
    """(model.pretrained of the chain's first stage or None when trained from scratch, the chain of init runs)."""
    pretrained = (params.get("model") or {}).get("pretrained")
    init = (params.get("train") or {}).get("init_from")
    if pretrained or not init or depth > 16:
        return pretrained, []
    try:
        parent = Run.at(init).params() if "/" in init and not os.path.isabs(init) else Run(Path(init)).params()
    except DAMAGE:
        return None, [init]
    root, chain = _root_checkpoint(parent, depth + 1)
    return root, [init] + chain


def _base(pretrained: str | None) -> tuple[str | None, str | None]:
    """(Hub id, license) of a starting checkpoint when known; a Hub-style id that is not a local folder is kept."""
    if not pretrained:
        return None, None
    known = KNOWN_BASES.get(Path(pretrained).name)
    if known:
        return known
    local = Path(pretrained).is_absolute() or (paths.data_dir() / pretrained).exists() or Path(pretrained).exists()
    return (None if local or pretrained.count("/") != 1 else pretrained), None


def _mixture(data: dict[str, Any]) -> dict[str, float]:
    """domain -> target proportion of the stage's mixture (or its SFT sources)."""
    if data.get("sft"):
        return {k: float(v.get("proportion", 1.0)) for k, v in (data["sft"].get("sources") or {}).items()}
    from prolong.data.config import MixtureConfig

    mixture = Path(data["mixture"])
    return MixtureConfig.from_yaml(mixture if mixture.is_absolute() else paths.REPO_ROOT / mixture).proportions()


def _evaluations(run: Run) -> list[tuple[str, str, float]]:
    """(eval run, metric, score) of every finished evaluation of this run's model."""
    rows = []
    root = run.path.parent.parent  # the run's own store (a test's, PROLONG_RUNS, runs/)
    for ev in iter_runs(root, kind="eval"):
        try:
            if evaluated_run(ev.params(), root) != run.path or not ev.is_done():
                continue
            rows += [(ev.name, k, float(v)) for k, v in sorted(ev.scores().items())]
        except DAMAGE:
            continue
    return rows


def evaluated_run(eval_params: dict[str, Any], root: Path | None = None) -> Path | None:
    """The training run whose model an eval run evaluated ('train/<run>' or the model folder's path)."""
    model = eval_params.get("model")
    if not isinstance(model, str):
        return None
    if model.startswith("train/"):
        return Run.at(model, root).path
    folder = Path(model)
    return folder.parent if folder.name == MODEL_DIR else None


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(paths.REPO_ROOT))
    except ValueError:
        return str(path)


def model_card(run: Run) -> str:
    """The card's text for the training run `run` (its params, log and evaluations as logged)."""
    params = run.params()
    model, data, train = params.get("model") or {}, params.get("data") or {}, params.get("train") or {}
    log = run.train_log()
    last = log.iloc[-1].to_dict() if not log.empty else {}
    seen = {k: int(v) for k, v in (last.get("tokens_per_domain") or {}).items()}
    pretrained, chain = _root_checkpoint(params)
    base_id, license_ = _base(pretrained)
    stage = params.get("experiment", "")
    front = {k: v for k, v in (("base_model", base_id), ("library_name", "transformers"), ("license", license_),
                               ("pipeline_tag", "text-generation"),
                               ("tags", ["prolong", "long-context", "llama", stage] + (["sft"] if data.get("sft")
                                                                                        else [])))
             if v}
    started = (f"`{pretrained}`" if pretrained else "random initialisation") + "".join(
        f" → `{ref}`" for ref in reversed(chain))
    theta = model.get("rope_theta")
    facts = [["stage", f"{stage} ({params.get('label') or run.name})"], ["started from", started],
             ["sequence length", f"{int(data.get('seq_len', 0)):,} tokens"],
             ["RoPE theta", f"{theta:g}" if isinstance(theta, (int, float)) else "the starting checkpoint's"],
             ["document masking", "yes" if model.get("doc_masking", True) else "no"],
             ["tokens seen", f"{int(last.get('tokens', 0)):,} in {int(last.get('step', 0))} steps of "
                             f"{int(train.get('batch_size', 0))} sequences"],
             ["peak learning rate", f"{(params.get('optim') or {}).get('lr', '')}"]]
    try:
        mixture = _mixture(data)
    except (OSError, ValueError, KeyError) as err:  # the mixture file moved: the card says so, the tokens stay
        mixture, facts = {}, facts + [["data mixture", f"unreadable ({err})"]]
    total = sum(seen.values()) or 1
    domains = list(mixture) + [d for d in seen if d not in mixture]
    mix_rows = [[d, f"{mixture[d]:.0%}" if d in mixture else "", f"{seen.get(d, 0):,}",
                 f"{seen.get(d, 0) / total:.1%}"] for d in domains]
    evals = _evaluations(run)
    store = run.path.parent.parent
    where = _relative(store) if _relative(store) != str(store) else "$PROLONG_RUNS"  # no machine path on a card
    command = f"prolong train --params {where}/{run.ref}/params.yaml --run-name {run.name}"
    parts = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {run.name}", "",
             "A long-context language model trained with `prolong`, the companion code of *How to Train Long-Context "
             "Language Models (Effectively)* (Gao et al., ACL 2025). This card is generated from its logged run "
             f"(`{run.ref}`).", "", _md_table(["", "value"], facts), "",
             "## Data mixture", "", _md_table(["domain", "target proportion", "tokens seen", "share seen"], mix_rows)
             if mix_rows else "(no data log)", "",
             "## Evaluation", "", _md_table(["evaluation run", "metric", "score"], [[e, m, f"{v:.2f}"] for e, m, v
                                                                                     in evals])
             if evals else "Not evaluated yet (`prolong eval --model <this folder>` adds its scores here).", "",
             "## How it was made", "", "```bash", command, "```",
             f"\n(the run's resolved params; it was started as `{_invocation()}`)" if _invocation() else "", ""]
    return "\n".join(parts)


def _invocation() -> str:
    """The `prolong ...` command line of this process, when it is one (not a notebook kernel or a test)."""
    argv0 = Path(sys.argv[0]).name if sys.argv else ""
    if argv0 not in ("prolong", "__main__.py", "cli.py"):
        return ""
    return " ".join(["prolong"] + [_relative(Path(a)) if os.path.isabs(a) else a for a in sys.argv[1:]])


def write_model_card(run: Run) -> Path | None:
    """Write `<run>/model/README.md`; a card that cannot be made is a warning, never a failed training run."""
    out = run.path / MODEL_DIR / CARD
    try:
        atomic_write_text(out, model_card(run))
    except (*DAMAGE, OSError) as err:
        warnings.warn(f"{out}: no model card ({type(err).__name__}: {err})", stacklevel=2)
        return None
    return out


def refresh_evaluated_card(eval_run: Run) -> Path | None:
    """After an evaluation: rewrite the card of the model it evaluated (when that model is a logged training run)."""
    try:
        train_dir = evaluated_run(eval_run.params(), eval_run.path.parent.parent)
    except DAMAGE:
        return None
    if train_dir is None or not (train_dir / MODEL_DIR / CARD).is_file():
        return None
    return write_model_card(Run(train_dir))


def on_status(run: Run, status: str) -> None:
    """prolong.runs.ON_STATUS hook: a done training run with a model gets its card; a done evaluation refreshes the
    card of the model it evaluated."""
    if status != "done":
        return
    if run.kind == "train" and (run.path / MODEL_DIR).is_dir():
        write_model_card(run)
    elif run.kind == "eval":
        refresh_evaluated_card(run)
