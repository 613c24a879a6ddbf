"""`prolong runs migrate` on a store laid out by the old experiment runner: a rerun finds every migrated run logged."""

import copy
import json

import pytest
import yaml

from prolong import paths
from prolong.config import read_yaml
from prolong.eval.config import EvalConfig
from prolong.experiments.config import ExperimentSpec
from prolong.experiments.graph import _slug, apply_overrides, resolve
from prolong.experiments.runner import indexed_row, stage_done
from prolong.migrate import migrate
from prolong.runs import MODEL_DIR, Run, params_fingerprint, read_index
from prolong.train.config import TrainParams

# The old stage params files (548f515: params/tiny/experiments/{base,extend}.yaml, params/tiny/sft.yaml), comments cut;
# the base's and Stage 1's step counts are today's (a store migrates onto the same runs only when the recipe is the same).
_BASE_STEPS = read_yaml(paths.PARAMS_DIR / "tiny" / "stages" / "base.yaml")["train"]["steps"]
_STAGE1_STEPS = read_yaml(paths.PARAMS_DIR / "tiny" / "stages" / "stage1.yaml")["train"]["steps"]
_MODEL = dict(pretrained=None, hidden_size=128, intermediate_size=384, num_layers=4, num_heads=4, num_kv_heads=2,
              vocab_size=None, doc_masking=True, attention="auto", gradient_checkpointing=False, loss_block_size=256)
_OPTIM = dict(betas=[0.9, 0.95], eps=1.0e-8, weight_decay=0.1, grad_clip=1.0, min_lr_ratio=0.1)
_TRAIN = dict(seed=0, precision="auto", peak_flops_per_device=1.0e+11)
OLD = {
    "base": {"experiment": "tiny_base", "name": None, "label": "Tiny base model (256)",
             "model": {**_MODEL, "rope_theta": 10000.0, "max_position_embeddings": 256},
             "data": {"mixture": "params/tiny/mixtures/base.yaml", "seq_len": 256, "tokenizer": None,
                      "build_tiny": True, "seed": 0},
             "optim": {"lr": 2.0e-3, **_OPTIM, "warmup_fraction": 0.1},
             "train": {"steps": _BASE_STEPS, "batch_size": 8, "micro_batch_size": 8, **_TRAIN, "checkpoint_every": 100,
                       "keep_checkpoints": 2}},
    "extend": {"experiment": "tiny_extend", "name": None, "label": "Tiny 1K continued training",
               "model": {**_MODEL, "rope_theta": 160000.0, "max_position_embeddings": 1024},
               "data": {"mixture": "params/tiny/mixtures/ablations/long_books_repos.yaml", "seq_len": 1024,
                        "tokenizer": None, "build_tiny": True, "seed": 0},
               "optim": {"lr": 1.0e-3, **_OPTIM, "warmup_fraction": 0.1},
               "train": {"steps": _STAGE1_STEPS, "batch_size": 4, "micro_batch_size": 4, **_TRAIN,
                         "checkpoint_every": _STAGE1_STEPS,
                         "keep_checkpoints": 1, "init_from": None, "load_optimizer": False}},
    "sft": {"experiment": "sft", "name": "tiny-sft", "label": "Tiny SFT (short instructions)",
            "model": {**_MODEL, "rope_theta": 100000.0, "max_position_embeddings": 4096},
            "data": {"seq_len": 1024, "tokenizer": None, "build_tiny": True, "seed": 0, "sft": {
                "sources": {"instructions": {"path": "tiny/sft/instructions.jsonl", "format": "tulu", "proportion": 1.0},
                            "synthetic_long": {"path": "tiny/sft/synthetic_long.jsonl", "format": "tulu",
                                               "proportion": 0.0}},
                "mask_method": "auto", "lookahead": 8, "overlong": "truncate", "build_tiny": True, "cache": True}},
            "optim": {"lr": 1.0e-3, **_OPTIM, "warmup_fraction": 0.05},
            "train": {"steps": 24, "batch_size": 4, "micro_batch_size": 2, **_TRAIN, "checkpoint_every": 12,
                      "keep_checkpoints": 2, "init_from": "stage2/tiny-stage2", "load_optimizer": False}},
}


def _logged(data, form):
    """What the old `train()` wrote as params.yaml: the old TrainParams.to_dict() (the current one plus the old
    `build_tiny` fields), or, to be lenient, the raw resolved data."""
    if form == "raw":
        return data
    stripped = copy.deepcopy(data)
    stripped["data"].pop("build_tiny")
    if stripped["data"].get("sft"):
        stripped["data"]["sft"].pop("build_tiny")
    out = TrainParams.from_dict(stripped, "old").to_dict()
    out["train"].pop("cpu_threads")  # a field the old code did not have
    out["data"]["build_tiny"] = True
    if out["data"].get("sft"):
        out["data"]["sft"]["build_tiny"] = True
    return {**out, "name": data["name"]}


class OldStore:
    """Lays runs out as the old runner did: `<experiment>/<stem>-<fp10 of the raw resolved data>`, `evals/`, result
    runs `<experiment>/<arm>-s<seed>`."""

    def __init__(self, root, form):
        self.root, self.form, self.created = root, form, 0

    def run(self, folder, name, params, scores=None):
        run = Run(self.root / folder / name)
        run.path.mkdir(parents=True, exist_ok=True)
        (run.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        self.created += 1
        (run.path / "run.json").write_text(json.dumps({"experiment": folder, "run": name, "created_ns": self.created,
                                                       "params_fingerprint": params_fingerprint(params)}))
        run.set_status("done")
        if scores:
            run.write_scores(scores)
            run.write_eval("json_kv", 1024, {"args": {}, "data": [], "averaged_metrics": {"substring_exact_match": 50.0}})
        return run

    def stage(self, stem, overrides, init_from, seed):
        """The old `resolve_stage` + `train_stage`; returns the old ref and the stage's model params."""
        data = apply_overrides(OLD[stem], overrides, stem)
        if init_from is not None:
            data["train"]["init_from"] = init_from
        if seed is not None:
            data["train"]["seed"] = data["data"]["seed"] = seed
        data["name"] = None
        name = f"{_slug(stem)}-{params_fingerprint(data)[:10]}"
        data["name"] = name
        if not (self.root / data["experiment"] / name).exists():
            run = self.run(data["experiment"], name, _logged(data, self.form))
            (run.path / MODEL_DIR).mkdir()
        return f"{data['experiment']}/{name}", data["model"]

    def arm(self, experiment, arm, own_overrides):
        base, _ = self.stage("base", {}, None, None)
        own, model = self.stage("extend", own_overrides, base, 0)
        inherited = {f"model.{k}": model[k] for k in ("rope_theta", "max_position_embeddings")}
        sft, _ = self.stage("sft", {**inherited, "train.steps": 10, "train.checkpoint_every": 10}, own, 0)
        cfg = EvalConfig.from_dict(read_yaml(paths.PARAMS_DIR / "tiny" / "eval.yaml"), "eval").to_dict()
        cfg.pop("cpu_threads")  # a field the old code did not have
        params = {"model": sft, "eval": cfg}
        ev = f"{sft.replace('/', '__')}-{params_fingerprint(params)[:10]}"
        if not (self.root / "evals" / ev).exists():
            self.run("evals", ev, params, {"Recall": 50.0})
        self.run(experiment, f"{arm['name']}-s0", {"label": arm["label"], "evaluation": f"evals/{ev}", "arm": arm,
                                                    "seed": 0, "stages": [base, own], "sft": sft},
                 {"Recall": 50.0, "train_tokens": 81920.0})


def _one_stage_base_T04(tmp_path, monkeypatch):
    """Table 4 with the old layout's base: one from-scratch stage with OLD["base"]'s recipe (today's tiny base is a
    chain of three stages, which no old store holds; a store migrates onto the same runs only for the same recipe).
    The migration reads it as params/tiny/experiments/T04.yaml (paths.PARAMS_DIR points at its folder)."""
    base = read_yaml(paths.PARAMS_DIR / "tiny" / "stages" / "base.yaml")
    base["optim"]["warmup_fraction"] = 0.1
    base["train"].update(batch_size=8, micro_batch_size=8, checkpoint_every=100, keep_checkpoints=2, cpu_threads=2)
    del base["train"]["init_from"]
    folder = tmp_path.parent / f"{tmp_path.name}-params"  # beside the run store, not in it
    folder.mkdir()
    (folder / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    spec = read_yaml(paths.PARAMS_DIR / "tiny" / "experiments" / "T04.yaml")
    spec["base"] = [{"params": str(folder / "base.yaml"), "seeded": False}]
    # the old runs were evaluated on torch's default two threads; today's tiny evaluation fixes one (a rerun of such
    # a store evaluates again), so the migration is checked against a config at the threads the old runs used
    spec["eval"] = {**spec["eval"], "set": {**spec["eval"].get("set", {}), "cpu_threads": 2}}
    (folder / "tiny" / "experiments").mkdir(parents=True)
    for entry in (paths.PARAMS_DIR / "tiny").iterdir():  # stages, mixtures, eval params: the repository's
        if entry.name != "experiments":
            (folder / "tiny" / entry.name).symlink_to(entry)
    (folder / "tiny" / "experiments" / "T04.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    monkeypatch.setattr(paths, "PARAMS_DIR", folder)
    return ExperimentSpec.from_yaml(folder / "tiny" / "experiments" / "T04.yaml")


@pytest.mark.parametrize("form", ["to_dict", "raw"])
def test_migrated_store_is_found_logged_by_a_rerun(tmp_path, monkeypatch, form):
    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path))
    old = OldStore(tmp_path, form)
    arms = {"books": {"data.mixture": "params/tiny/mixtures/ablations/long_books.yaml"},
            "books_repos": {}}  # the old default mixture, moved to params/tiny/mixtures/stage1.yaml
    spec = _one_stage_base_T04(tmp_path, monkeypatch)
    for a in spec.select(list(arms)):
        old.arm("T04", {"name": a.name, "label": a.label, "stages": [{}], "x": None}, arms[a.name])
    messages = []
    counts = migrate(tmp_path, log=messages.append)
    assert counts == {"train": 5, "eval": 2, "index rows": 2, "result runs set aside": 2}
    assert not [m for m in messages if "!" in m], messages  # everything mapped exactly

    graph = resolve(spec, arms=list(arms))
    assert len(graph.stages) == 5  # base, two stage1 runs, two SFT runs
    for stage in graph.stages:
        assert stage_done(stage), stage.ref
        logged = Run.at(stage.ref).params()
        assert logged == stage.params  # exactly what the resolver would log (no build_tiny, defaults present)
        assert read_yaml(Run.at(stage.ref).path / "params.yaml") == stage.params
        assert TrainParams.from_dict(logged, stage.ref).to_dict() == logged
    for node in graph.evals:
        assert Run.at(node.ref).is_done() and Run.at(node.ref).params() == node.params, node.ref
    for arm in graph.arms:
        row = indexed_row(arm)
        assert row is not None, arm.arm.name  # a rerun skips the arm
        assert row["scores"]["train_tokens"] == 81920.0  # as the old result run logged it
    assert {r["arm"] for r in read_index()} == set(arms)


def test_an_old_run_no_experiment_resolves_to_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path))
    old = OldStore(tmp_path, "to_dict")
    base, _ = old.stage("base", {"train.steps": 7}, None, None)  # `--steps`-like change no experiment file makes
    messages = []
    migrate(tmp_path, log=messages.append)
    [new] = [p.name for p in (tmp_path / "train").iterdir()]
    warned = [m for m in messages if m.startswith("  ! ")]
    assert len(warned) == 1 and f"train/{new}: not mapped exactly" in warned[0] and "train.steps" in warned[0]
