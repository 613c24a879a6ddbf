"""`prolong runs migrate`: convert a run store of the old layout into train/, eval/ and index.jsonl.

The old layout kept a folder per experiment: stage runs under their stage's name (`base/`, `stage1/`, `t15_runs/`),
evaluations under `evals/`, and per arm a result run (`T04/books-s0`, `fig3.pre_sft/long_060-s0`, `T15/reordering`)
that copied its evaluation's files. Migration moves every stage run to `train/` and every evaluation to `eval/`,
rewriting each one's params into what the current resolution (prolong.experiments.graph) produces for the same stage
(`stage_params`: removed keys dropped, stems and moved files mapped, `init_from` / `model` the migrated runs, rounded
through `TrainParams` / `EvalConfig`) and naming it as the resolver does (`stage_name`, `eval_name`), so a rerun
finds it logged. It appends one index row per result run (in their creation order) and moves the result runs, whose
content is copies, to `runs/migrated-old-layout/` (delete it when satisfied). A run that no experiment file of the
scale resolves to now is still moved, and named in a `!` line with the reason (a rerun will run it again).
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from prolong import paths
from prolong.config import ConfigError, read_yaml
from prolong.eval.config import EvalConfig
from prolong.experiments.config import ExperimentSpec
from prolong.experiments.graph import StageNode, eval_name, resolve, stage_name
from prolong.io import atomic_write_json, atomic_write_text, read_json
from prolong.runs import KINDS, Run, append_index, params_fingerprint
from prolong.train.config import TrainParams

ATTIC = "migrated-old-layout"
_FINGERPRINTED = re.compile(r"^(.*)-[0-9a-f]{10}$")

# What changed between the old layout's stage params and the current ones (params/<scale>/stages/):
TINY_CPU_THREADS = 2
"the old tiny runs ran on torch's default threads, one per core: 2 on this project's machines, which the tiny params now fix"
STEMS = {"extend": "stage1", "long": "stage2"}
"old stage params file stem (the prefix of its runs' names) -> the current file's (base, sft: unchanged)"
EXPERIMENTS = {"tiny_base": "base", "tiny_extend": "stage1", "tiny_long": "stage2"}
"old `experiment` of a stage -> the current file's"
MIXTURES = {"params/tiny/mixtures/ablations/long_books_repos.yaml": "params/tiny/mixtures/stage1.yaml"}
"a mixture file that moved (same mixture): old path -> current path"
CHANGED_MIXTURES = {"params/tiny/mixtures/stage1.yaml"}
"a mixture file whose path is kept but whose mixture is another now: a run trained on the old one maps to nothing"
TINY_TOKENIZER = paths.TINY_TOKENIZER
"what `data.build_tiny: true` + `data.tokenizer: null` trained with (`prolong data build-tiny` writes it there)"
REMOVED = ("build_tiny",)
"keys of `data` and `data.sft` that the current params no longer have"


class Unmapped(ValueError):
    """An old run that no current resolution can produce (the message says why)."""


def _stripped(old: dict[str, Any], init_from: str | None) -> dict[str, Any]:
    """The old params without the removed keys, starting from the migrated `init_from` (nothing else changed)."""
    data = copy.deepcopy(old)
    for section in (data.get("data"), (data.get("data") or {}).get("sft")):
        if isinstance(section, dict):
            for key in REMOVED:
                section.pop(key, None)
    if isinstance(data.get("train"), dict):
        data["train"]["init_from"] = init_from
    return data


def stage_params(old: dict[str, Any], init_from: str | None) -> dict[str, Any]:
    """An old stage run's params as the current resolver would produce them for the same stage (`TrainParams.to_dict`,
    `name` unset): removed keys dropped, the tiny tokenizer named, moved files and stage names mapped, `init_from` the
    migrated run. Raises `Unmapped` when there is no such stage."""
    data = old.get("data") or {}
    tiny = bool(data.get("build_tiny")) or bool((data.get("sft") or {}).get("build_tiny"))
    params = _stripped(old, init_from)
    params["experiment"] = EXPERIMENTS.get(params.get("experiment"), params.get("experiment"))
    params["name"] = None
    data = params.get("data") or {}
    if tiny and data.get("tokenizer") is None:
        data["tokenizer"] = TINY_TOKENIZER
    if tiny:
        params.setdefault("train", {}).setdefault("cpu_threads", TINY_CPU_THREADS)
    if data.get("mixture") in CHANGED_MIXTURES:
        raise Unmapped(f"it trained on the old {data['mixture']}, whose mixture has changed since")
    if data.get("mixture") in MIXTURES:
        data["mixture"] = MIXTURES[data["mixture"]]
    try:
        return TrainParams.from_dict(params, "old params").to_dict()
    except (ConfigError, TypeError, ValueError) as err:
        raise Unmapped(f"its params are not valid current params: {err}") from None


def _resolved(scale: str) -> tuple[dict[str, StageNode], set[str]] | None:
    """The stages (by name) and evaluation names of every arm x seed of the scale's experiment files."""
    folder = paths.PARAMS_DIR / scale / "experiments"
    if not folder.is_dir():
        return None
    stages, evals = {}, set()
    for spec in sorted(folder.glob("*.yaml")):
        graph = resolve(ExperimentSpec.from_yaml(spec))
        stages.update((s.name, s) for s in graph.stages)
        evals.update(e.name for e in graph.evals)
    return stages, evals


def _leaves(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    return {k: v for key, val in d.items() for k, v in _leaves(val, f"{prefix}{key}.").items()} or {prefix: d}


def _closest(name: str, params: dict[str, Any], stages: dict[str, StageNode], scale: str) -> str:
    """Why `name` is none of the resolved stages: how it differs from the closest one of its stage."""
    prefix, mine = name.rsplit("-", 1)[0], _leaves({**params, "name": None})
    diffs = []
    for node in stages.values():
        if node.name.rsplit("-", 1)[0] == prefix:
            theirs = _leaves({**node.params, "name": None})
            diffs.append((sorted(k.rstrip(".") for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)),
                          node.ref))
    if not diffs:
        return f"no experiment of params/{scale}/experiments has a stage {prefix!r}"
    keys, ref = min(diffs, key=lambda d: len(d[0]))
    return f"no experiment of params/{scale}/experiments resolves to it; the closest, {ref}, differs in {', '.join(keys)}"


def _old_runs(root: Path) -> list[Run]:
    folders = [p for p in sorted(root.iterdir()) if p.is_dir() and p.name not in KINDS
               and not p.name.startswith("bench") and p.name != ATTIC]
    return [Run(r.parent) for f in folders for r in sorted(f.glob("*/run.json"))]


def _move(run: Run, root: Path, kind: str, name: str, params: dict[str, Any]) -> str:
    """Move `run` to <kind>/<name> with `params` as its logged params; return the new ref."""
    dest = root / kind / name
    if dest.exists():
        raise FileExistsError(f"{dest}: already exists; cannot migrate {run.path} onto it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run.path), str(dest))
    identity = read_json(dest / "run.json")
    identity.pop("experiment", None)
    identity.update(kind=kind, run=name, params_fingerprint=params_fingerprint(params))
    atomic_write_text(dest / "params.yaml", yaml.safe_dump(params, sort_keys=False))
    atomic_write_json(dest / "run.json", identity)
    return f"{kind}/{name}"


def _columns(scale: str, experiment: str) -> dict[str, str]:
    spec = paths.PARAMS_DIR / scale / "experiments" / f"{experiment}.yaml"
    return dict(read_yaml(spec).get("columns") or {}) if spec.is_file() else {}


def migrate(root: str | Path | None = None, scale: str = "tiny", log=print) -> dict[str, int]:
    """Convert the store at `root` (default: the run store); return how many runs of each kind were converted."""
    root = Path(root) if root is not None else paths.runs_dir()
    runs = _old_runs(root)
    stages = [r for r in runs if isinstance(r.params().get("train"), dict) and "model" in r.params()]
    evals = [r for r in runs if r not in stages and {"model", "eval"} <= set(r.params())]
    results = [r for r in runs if r not in stages and r not in evals]
    moved: dict[str, str] = {}  # old ref -> new ref

    resolved = _resolved(scale)
    unmapped: dict[str, str] = {}  # new ref -> why no current resolution names it

    # stages in chain order: a stage is renamed once the run it starts from is
    pending = list(stages)
    while pending:
        ready = [r for r in pending if r.params()["train"].get("init_from") not in
                 {f"{p.path.parent.name}/{p.name}" for p in pending}]
        if not ready:
            raise ValueError(f"{root}: init_from references form a cycle among {[str(r.path) for r in pending]}")
        for run in ready:
            old, old_ref = run.params(), f"{run.path.parent.name}/{run.name}"
            init = old["train"].get("init_from")
            init = moved.get(init, init)
            m = _FINGERPRINTED.match(run.name)
            why = None
            try:
                params = stage_params(old, init)
                # fingerprint-named: an experiment's stage, named as the resolver names it; else a run named by hand
                name = stage_name(STEMS.get(m.group(1), m.group(1)), params) if m else run.name
            except Unmapped as err:
                params, name, why = _stripped(old, init), run.name, str(err)
            params["name"] = name
            moved[old_ref] = _move(run, root, "train", name, params)
            if why is None and m and resolved is not None and name not in resolved[0]:
                why = (f"it starts from {init}, which is not mapped exactly" if init in unmapped
                       else _closest(name, params, resolved[0], scale))
            if why is not None:
                unmapped[moved[old_ref]] = why
            log(f"  {old_ref} -> {moved[old_ref]}")
        pending = [r for r in pending if r not in ready]

    rows = []
    for run in evals:
        params, old_ref = run.params(), f"{run.path.parent.name}/{run.name}"
        label = params.pop("label", None)
        params["model"] = model = moved.get(params["model"], params["model"])
        shared = run.path.parent.name == "evals" and model.startswith("train/")
        why = f"it evaluates {model}, which is not mapped exactly" if model in unmapped else None
        if scale == "tiny" and isinstance(params.get("eval"), dict):
            params["eval"].setdefault("cpu_threads", TINY_CPU_THREADS)
        try:
            params["eval"] = EvalConfig.from_dict(params.get("eval"), f"{run.path}/params.yaml").to_dict()
        except (ConfigError, TypeError, ValueError) as err:
            why = why or f"its eval config is not a valid current one ({err})"
        # a shared evaluation is named as the resolver names it; `prolong eval --experiment X --run-name Y` by hand
        name = eval_name(model.split("/", 1)[1], params) if shared else run.name
        created = int(read_json(run.path / "run.json").get("created_ns", 0))
        moved[old_ref] = _move(run, root, "eval", name, params)
        if why is None and shared and resolved is not None and name not in resolved[1]:
            why = f"no experiment of params/{scale}/experiments evaluates {model} with this eval config"
        if why is not None:
            unmapped[moved[old_ref]] = why
        log(f"  {old_ref} -> {moved[old_ref]}")
        if run.path.parent.name != "evals":  # `prolong eval --experiment X --run-name Y`: an arm of X
            rows.append({"experiment": old_ref.split("/")[0], "arm": name, "seed": 0, "label": label or name,
                         "eval": moved[old_ref], "created_ns": created})

    pre_sft = {(r.path.parent.name[: -len(".pre_sft")], r.name): r.params().get("evaluation")
               for r in results if r.path.parent.name.endswith(".pre_sft")}
    for run in results:
        folder, p = run.path.parent.name, run.params()
        if folder.endswith(".pre_sft"):
            continue
        scores, created = run.scores(), int(read_json(run.path / "run.json").get("created_ns", 0))
        if "evaluation" in p:  # an experiment arm's result run
            arm = p["arm"]
            rows.append({
                "experiment": folder, "arm": arm["name"], "seed": p["seed"], "label": p["label"], "x": arm.get("x"),
                "stages": [moved.get(s, s) for s in p["stages"]], "own_stages": len(arm.get("stages") or []),
                "sft": moved.get(p["sft"], p["sft"]) if p.get("sft") else None,
                "eval": moved.get(p["evaluation"], p["evaluation"]),
                "pre_sft_eval": (lambda e: moved.get(e, e) if e else None)(pre_sft.get((folder, run.name))),
                "columns": _columns(scale, folder),
                "scores": {k: scores[k] for k in ("train_tokens", "x") if k in scores}, "created_ns": created})
        elif "stage" in p:  # a T15 result run: tokens/s of one training run
            rows.append({"experiment": folder, "arm": run.name, "seed": 0, "label": p["label"],
                         "stages": [moved.get(p["stage"], p["stage"])], "own_stages": 1,
                         "scores": {k: v for k, v in scores.items() if k not in ("change", "measured_s")},
                         "created_ns": created})
        else:
            raise ValueError(f"{run.path}: not a run of the old layout this command knows; move it away by hand")
    for row in sorted(rows, key=lambda r: r["created_ns"]):
        append_index(row, root)
        stale = [ref for ref in [*(row.get("stages") or []), row.get("sft"), row.get("eval"), row.get("pre_sft_eval")]
                 if ref in unmapped]
        if stale:
            log(f"  ! index row {row['experiment']}/{row['arm']}-s{row['seed']} names {', '.join(stale)}: "
                "a rerun of the experiment runs this arm again")
    for ref, why in unmapped.items():
        log(f"  ! {ref}: not mapped exactly to what the experiments resolve to now ({why}); "
            "a rerun will not find it logged and will run it again")
    for run in results:
        dest = root / ATTIC / run.path.parent.name / run.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(run.path), str(dest))
    for folder in {r.path.parent for r in runs}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return {"train": len(stages), "eval": len(evals), "index rows": len(rows), "result runs set aside": len(results)}
