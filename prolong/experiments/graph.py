"""One resolution of an experiment file: the graph of training runs, evaluation runs and index rows it stands for.

`resolve(spec, ...)` turns the experiment's arms into `ArmNode`s, each naming the training runs of its chain (the
shared base first, then the arm's own stages, then SFT), its evaluation run(s) and the index row it will append. Every
run is named by the fingerprint of its resolved params, so arms (and experiments) that share a stage or an evaluation
share the run. The two executors read the same graph: `runner.run_graph` trains and evaluates here (tiny scale) and
`runner.plan_graph` writes it as the cluster's launch script (paper scale).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prolong import paths
from prolong.config import ConfigError, read_yaml
from prolong.eval.config import EvalConfig
from prolong.experiments.config import ArmSpec, EvalSpec, ExperimentSpec, StageSpec
from prolong.runs import params_fingerprint
from prolong.train.config import TrainParams


def experiment_file(scale: str, experiment: str) -> Path:
    return paths.PARAMS_DIR / scale / "experiments" / f"{experiment}.yaml"


def load_experiment(scale: str, experiment: str) -> ExperimentSpec:
    return ExperimentSpec.from_yaml(experiment_file(scale, experiment))


def _repo_path(p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else paths.REPO_ROOT / path


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """Set dotted keys (`model.rope_theta`) in a copy of `data`; a key that is not in the file is an error (the
    params dataclasses would refuse it too, but this names the override)."""
    out = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node, keys = out, dotted.split(".")
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                raise ConfigError(f"{source}: override {dotted!r}: no section {k!r}")
            node = node[k]
        if keys[-1] not in node:
            raise ConfigError(f"{source}: override {dotted!r}: no key {keys[-1]!r} to override")
        node[keys[-1]] = value
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+=@,-]+", "-", text).strip("-").lower()


def stage_name(prefix: str, params: dict[str, Any]) -> str:
    """'<prefix>-<fingerprint>': the fingerprint of the params the run logs (TrainParams.to_dict, `name` unset), of
    the mixture file they name by path (its parsed YAML: a mixture edited in place is another run, never a stale one;
    an edited comment is the same run) and, for a stage on the tiny world's data, of that world (its generators'
    version and corpus params: prolong.tiny.build.world_fingerprint), so regenerated tiny data is never trained on
    under an old run's name. An evaluation's name starts with its model's, so it follows."""
    extra: dict[str, str] = {}
    mixture = (params.get("data") or {}).get("mixture")
    if mixture is not None:
        path = _repo_path(mixture)
        if not path.is_file():
            raise ConfigError(f"{path}: the mixture file of data.mixture does not exist")
        extra["mixture_fingerprint"] = params_fingerprint(read_yaml(path))
    if _reads_tiny_world(params):
        from prolong.tiny.build import world_fingerprint  # here: only a tiny stage pays for importing the generators
        extra["tiny_world"] = world_fingerprint()
    return f"{prefix}-{params_fingerprint({**params, 'name': None, **extra})[:10]}"


def _reads_tiny_world(params: dict[str, Any]) -> bool:
    """A stage on the tiny world's data: it names the tiny tokenizer (every tiny store and SFT file is tokenized with
    it; the other scales name a pretrained model's tokenizer)."""
    return (params.get("data") or {}).get("tokenizer") == paths.TINY_TOKENIZER


@dataclass
class StageNode:
    """A training run: its name under runs/train/ and the resolved params it logs."""

    name: str
    params: dict[str, Any]
    "TrainParams.to_dict() with `name` set: exactly the run's params.yaml"
    source: str

    @property
    def ref(self) -> str:
        return f"train/{self.name}"

    def train_params(self) -> TrainParams:
        return TrainParams.from_dict(self.params, self.source)


@dataclass
class EvalNode:
    """An evaluation run of one training run's final model."""

    name: str
    model: str
    "the evaluated training run ('train/<run>')"
    config: dict[str, Any]
    "EvalConfig.to_dict()"

    @property
    def ref(self) -> str:
        return f"eval/{self.name}"

    @property
    def params(self) -> dict[str, Any]:
        return {"model": self.model, "eval": self.config}


@dataclass
class ArmNode:
    """One arm x seed: its runs, and the index row that records it once they are done."""

    experiment: str
    arm: ArmSpec
    seed: int
    chain: list[StageNode]
    "base chain + the arm's own stages (the model before SFT is the last)"
    own: int
    "how many of `chain` are the arm's own stages"
    sft: StageNode | None
    eval: EvalNode | None
    pre_sft_eval: EvalNode | None
    columns: dict[str, str]
    log_metrics: dict[str, str]

    @property
    def stages(self) -> list[StageNode]:
        return self.chain + ([self.sft] if self.sft else [])

    def index_row(self, scores: dict[str, float]) -> dict[str, Any]:
        return {"experiment": self.experiment, "arm": self.arm.name, "seed": self.seed, "label": self.arm.label,
                "x": self.arm.x, "stages": [s.ref for s in self.chain], "own_stages": self.own,
                "sft": self.sft.ref if self.sft else None, "eval": self.eval.ref if self.eval else None,
                "pre_sft_eval": self.pre_sft_eval.ref if self.pre_sft_eval else None, "columns": dict(self.columns),
                "scores": scores}


@dataclass
class Graph:
    """An experiment resolved: its arms, and the distinct training and evaluation runs in execution order."""

    experiment: str
    description: str
    arms: list[ArmNode]
    stages: list[StageNode] = field(default_factory=list)
    evals: list[EvalNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen_s, seen_e = {}, {}
        for arm in self.arms:
            for s in arm.stages:
                seen_s.setdefault(s.name, s)
            for e in (arm.eval, arm.pre_sft_eval):
                if e is not None:
                    seen_e.setdefault(e.name, e)
        self.stages, self.evals = list(seen_s.values()), list(seen_e.values())


def resolve_stage(stage: StageSpec, init_from: str | None, seed: int | None, steps: int | None) -> StageNode:
    """The stage's params file + overrides + where it starts from + the arm's seed and step budget."""
    source = f"{stage.params} (+ {len(stage.set)} overrides)"
    data = apply_overrides(read_yaml(_repo_path(stage.params)), stage.set, source)
    if init_from is not None:
        data["train"]["init_from"] = init_from
    if seed is not None and stage.seeded:
        data["train"]["seed"] = seed
        data["data"]["seed"] = seed
    if steps:
        data["train"]["steps"] = steps
    data["name"] = None
    params = TrainParams.from_dict(data, source).to_dict()
    name = stage_name(_slug(Path(stage.params).stem), params)
    return StageNode(name, {**params, "name": name}, source)


def resolve_eval(spec: EvalSpec) -> EvalConfig:
    source = f"{spec.params} (+ {len(spec.set)} overrides)"
    return EvalConfig.from_dict(apply_overrides(read_yaml(_repo_path(spec.params)), spec.set, source), source)


def eval_name(model: str, params: dict[str, Any]) -> str:
    """'<model run>-<fingerprint>': the fingerprint of the evaluation run's params ({model: 'train/<run>', eval})."""
    return f"{model}-{params_fingerprint(params)[:10]}"


def eval_node(model: StageNode, spec: EvalSpec) -> EvalNode:
    config = resolve_eval(spec).to_dict()
    node = EvalNode("", model.ref, config)
    node.name = eval_name(model.name, node.params)
    return node


def arm_chain(spec: ExperimentSpec, arm: ArmSpec, seed: int, steps: int | None
              ) -> tuple[list[StageNode], StageNode | None]:
    """The resolved stages of one arm: base chain + the arm's stages, and its SFT stage (or None)."""
    chain, prev = [], None
    for stage in spec.base:
        chain.append(resolve_stage(stage, prev, None, None))
        prev = chain[-1].ref
    for i, stage in enumerate(arm.stages):
        chain.append(resolve_stage(stage, prev, seed, steps if i == 0 else None))
        prev = chain[-1].ref
    sft_spec = None if arm.sft_off else (arm.sft or spec.sft)
    if sft_spec is None:
        return chain, None
    # SFT inherits the RoPE setting of the model it fine-tunes (the paper's SFT keeps Stage 2's theta).
    model = chain[-1].params["model"]
    inherited = {f"model.{k}": model[k] for k in ("rope_theta", "max_position_embeddings") if model.get(k) is not None}
    sft_spec = StageSpec(sft_spec.params, {**inherited, **sft_spec.set}, sft_spec.seeded)
    return chain, resolve_stage(sft_spec, prev, seed, None)


def resolve(spec: ExperimentSpec, arms: list[str] | None = None, seeds: list[int] | None = None,
            steps: int | None = None) -> Graph:
    """The graph of the selected arms x seeds. `steps` overrides the optimizer steps of each arm's first own stage
    (the token budget of the comparison)."""
    nodes = []
    for arm in spec.select(arms or []):
        for seed in seeds or spec.seeds:
            chain, sft = arm_chain(spec, arm, seed, steps)
            final = sft or chain[-1]
            nodes.append(ArmNode(
                spec.experiment, arm, seed, chain, len(arm.stages), sft,
                eval_node(final, spec.eval) if spec.eval is not None else None,
                eval_node(chain[-1], spec.pre_sft_eval) if spec.pre_sft_eval is not None else None,
                spec.columns, spec.log_metrics))
    return Graph(spec.experiment, spec.description, nodes)
