"""Typed specs of the paper's experiments: arms made of chained training stages, SFT and evaluation.

An experiment file (`params/<scale>/experiments/<id>.yaml`) names a shared `base` chain (the pretrained model every arm
continues from, built once), the stage chain of each arm (a stage = a training params file + dotted overrides), the
SFT stage and the evaluation (prolong.experiments.graph resolves it into training runs, evaluation runs and index rows).

    experiment: T04
    base: [{params: params/tiny/stages/base.yaml}]
    sft: {params: params/tiny/stages/sft.yaml}
    eval: params/tiny/eval.yaml
    arms:
      - name: books
        label: Books                      # the paper's row label
        stages: [{params: params/tiny/stages/stage1.yaml,
                  set: {data.mixture: params/tiny/mixtures/ablations/long_books.yaml}}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prolong.config import Config, ConfigError, read_yaml
from prolong.paths import REPO_ROOT


@dataclass
class StageSpec(Config):
    """One training stage: a params file of prolong.train plus overrides."""

    params: str
    "training params file (relative to the repository root)"
    set: dict[str, Any] = field(default_factory=dict)
    "dotted-key overrides, e.g. {model.rope_theta: 8.0e4, data.mixture: ...}"
    seeded: bool = True
    "take the arm's seed (train.seed and data.seed); the shared base stages are not seeded"


@dataclass
class EvalSpec(Config):
    """An evaluation of one model."""

    params: str
    "evaluation params file (prolong.eval.config.EvalConfig)"
    set: dict[str, Any] = field(default_factory=dict)
    "dotted-key overrides, e.g. {lengths: [1024, 2048]}"


@dataclass
class ArmSpec(Config):
    """One row of a table (or one point of a figure)."""

    name: str
    "short id, used in run names"
    label: str
    "the row label in the paper's table"
    stages: list[StageSpec] = field(default_factory=list)
    "training stages after the base chain, in order (each starts from the previous one's final model)"
    sft: StageSpec | None = None
    "this arm's SFT stage (default: the experiment's); `sft_off: true` skips SFT"
    sft_off: bool = False
    "evaluate the model before SFT only"
    x: float | None = None
    "numeric coordinate for figures (long-data share, synthetic share, theta, training tokens ...)"


@dataclass
class ExperimentSpec(Config):
    """A paper experiment at one scale."""

    experiment: str
    "table or figure id; result runs are logged under this experiment (e.g. T04, fig3)"
    description: str
    "what the experiment varies and what the paper found"
    base: list[StageSpec]
    """the shared chain every arm starts from (the pretrained model), trained once; or the path of a file whose
    `stages:` list it is (params/tiny/base_chain.yaml: one definition for every tiny experiment)"""
    arms: list[ArmSpec]
    "the rows"
    eval: EvalSpec | None = None
    """evaluation of each arm's final model (after SFT unless the arm has sft_off); null: the arm's scores come from
    its training log only (`log_metrics`, Table 15)"""
    sft: StageSpec | None = None
    "the SFT stage applied to each arm (null: no SFT)"
    pre_sft_eval: EvalSpec | None = None
    "also evaluate each arm's model before SFT (its rows in the tidy table have phase 'pre_sft'), e.g. for PPL"
    seeds: list[int] = field(default_factory=lambda: [0])
    "seeds of the arms' own stages (the base is shared)"
    columns: dict[str, str] = field(default_factory=dict)
    "score -> the table's column name where they differ (e.g. Recall -> JsonKV@512K in Table 8)"
    log_metrics: dict[str, str] = field(default_factory=dict)
    """score -> training-log column: the median of that column over the steps after the first (which pays for
    start-up) of the arm's last own stage, e.g. {tokens_per_s_per_gpu: tokens_per_s} for Table 15"""

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "ExperimentSpec":
        if isinstance(data, dict) and isinstance(data.get("base"), str):  # base: <file with a stages: list>
            chain = read_yaml(REPO_ROOT / data["base"])
            if not isinstance(chain, dict) or "stages" not in chain:
                raise ConfigError(f"{source}: base: {data['base']} has no 'stages' list")
            data = {**data, "base": chain["stages"]}
        return super().from_dict(data, source)

    def __post_init__(self) -> None:
        names = [a.name for a in self.arms]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"arm name {sorted(dup)[0]!r} appears twice")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        if self.eval is None and not self.log_metrics:
            raise ConfigError(f"{self.experiment}: give an eval, or log_metrics to read from the training log")

    def select(self, arms: list[str]) -> list[ArmSpec]:
        """The arms named in `arms` (all when empty); an unknown name is an error listing the known ones."""
        if not arms:
            return list(self.arms)
        known = {a.name: a for a in self.arms}
        unknown = [a for a in arms if a not in known]
        if unknown:
            raise ConfigError(f"{self.experiment}: unknown arm {unknown[0]!r} (arms: {', '.join(known)})")
        return [known[a] for a in arms]
