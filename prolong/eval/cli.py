"""`prolong eval`: evaluate a saved HF model directory and log the run `runs/eval/<name>`.

    prolong eval --model <dir> --tasks json_kv,ruler_mk_needle --lengths 1024,2048 [--run-name NAME]
    [--params params/tiny/eval_full.yaml] [--data-dir DIR] [--num-samples N] [--judge-url URL]
    [--experiment T04 --arm books --label Books]        also index the run as that arm of a paper table
    prolong eval --model <dir> --params params/tiny/eval.yaml --set num_samples=5 --set judge.enabled=false
Command-line values override the params file (`--set KEY=VALUE` any dotted key of it, checked as strictly); the resolved params are the run's params, and the default run name is
the model folder's name plus their fingerprint.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prolong.config import ConfigError, apply_assignments
from prolong.eval.config import EvalConfig
from prolong.eval.runner import evaluate_model, load_model
from prolong.runs import MODEL_DIR, OldLayoutError, Run, RunMismatchError, append_index, params_fingerprint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="saved HF model directory (with its tokenizer)")
    parser.add_argument("--params", default=None, help="eval params YAML (default: built-in defaults)")
    parser.add_argument("--tasks", default=None, help="comma-separated datasets (overrides params)")
    parser.add_argument("--lengths", default=None, help="comma-separated input lengths in tokens")
    parser.add_argument("--run-name", default=None, help="run folder under runs/eval/ (default: <model>-<fingerprint>)")
    parser.add_argument("--experiment", default=None, help="index the run as an arm of this experiment (e.g. T04)")
    parser.add_argument("--arm", default=None, help="the arm's name in the index (default: the run name)")
    parser.add_argument("--data-dir", default=None, help="HELMET data folder (see prolong/eval/data_layout.md)")
    parser.add_argument("--num-samples", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--judge-url", default=None, help="enable the model judge at this OpenAI-compatible URL")
    parser.add_argument("--judge-key-env", default=None, help="environment variable holding the API key for "
                        "--judge-url (without it no key is sent there; OPENAI_API_KEY goes only to OpenAI)")
    parser.add_argument("--label", default=None, help="row label of the indexed arm in the paper's tables (default: "
                        "the arm)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one dotted key of the eval params (repeatable; applied after the other "
                        "flags); an unknown key or a wrong type is an error naming it")


def resolve_config(args: argparse.Namespace) -> EvalConfig:
    data = EvalConfig.from_yaml(args.params).to_dict() if args.params else EvalConfig().to_dict()
    if args.tasks:
        data["tasks"] = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if args.lengths:
        try:
            data["lengths"] = [int(x) for x in args.lengths.split(",")]
        except ValueError:
            raise ConfigError(f"--lengths {args.lengths!r}: give token counts like 32768,65536") from None
    for key in ("data_dir", "num_samples", "device", "dtype"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.judge_url:
        data["judge"]["enabled"] = True
        data["judge"]["base_url"] = args.judge_url
        data["judge"]["api_key_env"] = ""  # a key only through --judge-key-env, for this URL (prolong.eval.judge)
    if getattr(args, "judge_key_env", None):
        data["judge"]["api_key_env"] = args.judge_key_env
    overrides = getattr(args, "overrides", None) or []
    if overrides:
        data = apply_assignments(EvalConfig, data, overrides)
    source = args.params or "<command line>"
    return EvalConfig.from_dict(data, source=f"{source} with --set {' '.join(overrides)}" if overrides else source)


def run_name(args: argparse.Namespace, params: dict) -> str:
    model = Path(args.model).resolve()
    stem = model.parent.name if model.name == MODEL_DIR else model.name  # runs/train/<run>/model -> <run>
    return args.run_name or f"{stem}-{params_fingerprint(params)[:10]}"


def main(args: argparse.Namespace) -> int:
    try:
        cfg = resolve_config(args)
        if not (Path(args.model) / "config.json").is_file():
            raise FileNotFoundError(f"--model {args.model}: not a saved model directory (no config.json)")
        params = {"model": str(Path(args.model).resolve()), "eval": cfg.to_dict()}
        run = Run.open("eval", run_name(args, params), params)
    except (ConfigError, FileNotFoundError, RunMismatchError, OldLayoutError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        model, tok = load_model(args.model, cfg)
        scores = evaluate_model(model, tok, cfg, run)
    except BaseException as err:
        run.set_status("failed", f"{type(err).__name__}: {err}")
        raise
    run.set_status("done")
    if args.experiment:
        arm = args.arm or run.name
        append_index({"experiment": args.experiment, "arm": arm, "seed": 0, "label": args.label or arm,
                      "eval": run.ref})
    for k, v in scores.items():
        if "@" not in k:
            print(f"{k}: {v:.2f}")
    report = run.path / "categories.json"
    if report.is_file():  # a category's mean without some of its datasets is named as such (HELMET's rule)
        missing = json.loads(report.read_text()).get("missing", [])
        if missing:
            print(f"missing from the category means: {', '.join(missing)}")
    print(f"run: {run.path}")
    return 0

