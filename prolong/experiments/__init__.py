"""The paper's experiments as arms of chained stages (prolong.experiments.config) and their runner."""

from prolong.experiments.config import ArmSpec, EvalSpec, ExperimentSpec, StageSpec
from prolong.experiments.runner import load_experiment, plan_experiment, run_experiment

__all__ = ["ArmSpec", "EvalSpec", "ExperimentSpec", "StageSpec", "load_experiment", "plan_experiment",
           "run_experiment"]
