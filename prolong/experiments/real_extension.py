"""Stage 1 of the paper on a real model, in miniature, on a CPU (opt-in): SmolLM2-135M-Instruct extended past its
8K window with the recipe's dials, judged against training-free extension.

    prolong model extend --params params/small/extension_smollm2.yaml [--set seeds=[0]] [--set stage1_set=[...]]
      -> runs/train/<name>-theta_only/model         the checkpoint with theta raised, nothing trained
         runs/train/<name>-stage1-s<seed>/model     Stage 1 (params/small/stages/cpu_extension.yaml), one per seed
         runs/eval/<name>-<arm>-L<length>           one eval run per arm (and seed) and length
         results/smollm2_extension/recall_vs_length.{csv,md,png}

The arms (Table 18's logic: what training adds has to be measured against raising theta alone):
    original     the checkpoint as it is (theta 1e5, an 8K window)
    theta_only   RoPE theta raised (x16, as the paper's 5e5 -> 8e6), no training: the control
    stage1       theta raised and continued training on long code-repository and book text (documents of at least
                 the training length) mixed 60/40 with ShortMix, document masks on: the paper's Stage 1 at CPU size
Evaluated on JSON KV and RULER's MK-needle (the passkey is too easy to show what training adds: SmolLM2 finds it at
16K with theta raised and no training), the passkey, and, for what the short data is there to keep, perplexity on
real English held out from every arm's training: the Python documentation's topic pages that ship with the
interpreter (`pydoc_data.topics`, written to `<data root>/<eval.ppl.file>` on first use). HellaSwag and ARC need their
files under the data root (not shipped, nothing is downloaded); put them in `eval.tasks` when they are there. The
table gives, per arm, task and length, the mean over seeds and its standard error (stage1), with the items per seed;
the figure draws them with error bars over seeds.

The training text is the tiny world's (`prolong data build-tiny`), re-tokenized with SmolLM2's tokenizer into
`small/cpu_stores/` (params/small/mixtures/cpu_corpus.yaml): local, generated, the same source kinds as the paper
scale. Everything already logged (a stage, an eval length) is reused, so a stopped run resumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from prolong import paths
from prolong.config import Config, ConfigError
from prolong.eval.config import EvalConfig
from prolong.io import atomic_write_text
from prolong.model.length_sweep import SweepConfig, evaluate_lengths, markdown_table, require_checkpoint, sweep_table
from prolong.report.verdict import Estimate
from prolong.runs import MODEL_DIR, Run

ARMS = ("original", "theta_only", "stage1")
DEFAULT_PARAMS = paths.PARAMS_DIR / "small" / "extension_smollm2.yaml"


@dataclass
class ExtensionConfig(Config):
    """A CPU context extension of a real checkpoint (module doc)."""

    model: str
    "the checkpoint folder (relative paths under the data root), e.g. models/SmolLM2-135M-Instruct"
    name: str
    "run names: runs/train/<name>-..., runs/eval/<name>-<arm>-L<length>"
    rope_theta: float
    "the raised RoPE theta of theta_only and stage1 (SmolLM2: 1e5 -> 1.6e6, x16)"
    stage1: str
    "Stage 1's training params (repository-relative), e.g. params/small/stages/cpu_extension.yaml"
    corpus: str
    "the corpus params that build Stage 1's token stores (params/small/mixtures/cpu_corpus.yaml)"
    eval: EvalConfig
    "the evaluation at every length (its lengths and item counts are set per length below)"
    samples: dict[int, int]
    "length -> items per task at that length"
    tasks_at: dict[int, list[str]] = field(default_factory=dict)
    "length -> the tasks run there (a subset of eval.tasks); a length not listed runs every task"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    "Stage 1's seeds (data order and training); the untrained arms need none"
    stage1_set: list[str] = field(default_factory=list)
    "extra `key=value` overrides of Stage 1's params (e.g. train.steps=2 for a smoke run)"
    window: int = 32768
    "max_position_embeddings of the theta-raised arms (Stage 1's as well): fixed, so adding a length keeps the runs"
    arms: list[str] = field(default_factory=lambda: list(ARMS))
    "the arms to run (original, theta_only, stage1)"
    out: str = "results/smollm2_extension"
    "table and figure folder, relative to the repository root"

    def __post_init__(self) -> None:
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown:
            raise ConfigError(f"arms: {unknown[0]!r} is not an arm ({', '.join(ARMS)})")
        if self.rope_theta <= 0:
            raise ConfigError(f"rope_theta must be positive, got {self.rope_theta}")
        if "stage1" in self.arms and not self.seeds:
            raise ConfigError("seeds: the stage1 arm needs at least one seed")
        self.sweep(self.model, "check")  # samples and tasks_at are validated as a sweep's
        if self.max_length() > self.window:
            raise ConfigError(f"samples: length {self.max_length()} is past window {self.window}")

    def sweep(self, model: str | Path, label: str) -> SweepConfig:
        """The length sweep of one arm's model (runs/eval/<name>-<label>-L<length>)."""
        return SweepConfig(model=str(model), name=f"{self.name}-{label}", eval=self.eval, samples=self.samples,
                           tasks_at=self.tasks_at, out=self.out)

    def max_length(self) -> int:
        return max(self.samples)


def load_extension(path: str | Path = DEFAULT_PARAMS, overrides: list[str] | None = None) -> ExtensionConfig:
    return ExtensionConfig.from_yaml(path, overrides=overrides)


def theta_only_model(cfg: ExtensionConfig, log=print) -> Path:
    """The checkpoint with RoPE theta raised and its window set to `window`, nothing trained
    (built through the same `build_model` as a training stage, saved as a training run's final model)."""
    import torch

    from prolong.model.build import ModelConfig, build_model, resolve_model_path
    from prolong.train.stage import write_model_folder

    src = resolve_model_path(cfg.model)
    # params in a training stage's shape (its model card reads them): the model section and no data, no steps
    run = Run.open("train", f"{cfg.name}-theta_only",
                   {"experiment": "theta_only", "label": "RoPE theta raised, nothing trained",
                    "model": {"pretrained": str(src), "rope_theta": cfg.rope_theta,
                              "max_position_embeddings": cfg.window}, "data": {}, "train": {"steps": 0}})
    out = run.path / MODEL_DIR
    if run.is_done() and (out / "config.json").is_file():
        return out
    lm = build_model(ModelConfig(pretrained=str(src), rope_theta=cfg.rope_theta,
                                 max_position_embeddings=cfg.window), dtype=torch.float32)
    has_tokenizer = (src / "tokenizer_config.json").is_file()  # with its chat template; a bare test model has none
    write_model_folder(lm, out, str(src) if has_tokenizer else None, torch.float32)
    run.set_status("done", f"theta {cfg.rope_theta:g}, no training")
    log(f"{out}: theta {cfg.rope_theta:g}, nothing trained")
    return out


def stage1_params(cfg: ExtensionConfig, seed: int):
    """Stage 1's params for one seed: the checkpoint, the raised theta, the seed, then `stage1_set`."""
    from prolong.train.config import TrainParams

    sets = [f"model.pretrained={cfg.model}", f"model.rope_theta={cfg.rope_theta}",
            f"model.max_position_embeddings={cfg.window}", f"train.seed={seed}",
            f"data.seed={seed}", *cfg.stage1_set]
    return TrainParams.from_yaml(paths.REPO_ROOT / cfg.stage1, overrides=sets)


def stage1_model(cfg: ExtensionConfig, seed: int) -> Path:
    """Stage 1 for one seed through the training loop, which refuses a run folder made with other params, returns at
    once when the run is already trained and resumes a stopped one from its checkpoint."""
    from prolong.train.loop import train

    run = train(stage1_params(cfg, seed), run_name=f"{cfg.name}-stage1-s{seed}")
    if not (run.path / MODEL_DIR).is_dir():
        raise RuntimeError(f"{run.path}: Stage 1 stopped before its last step ({run.status()}); run again to continue")
    return run.path / MODEL_DIR


def heldout_text(cfg: ExtensionConfig) -> Path | None:
    """The held-out English of the PPL check, one jsonl document per pydoc topic page (sorted by topic, so the same
    interpreter gives the same file); written once, None when PPL is not among the tasks."""
    if "ppl" not in cfg.eval.tasks:
        return None
    p = Path(cfg.eval.ppl.file)
    p = p if p.is_absolute() else cfg.eval.data_root() / p
    if not p.is_file():
        import json
        import sys

        from pydoc_data.topics import topics

        version = sys.version.split()[0]
        lines = [json.dumps({"text": topics[k], "source": f"pydoc_data.topics[{k!r}] (Python {version})"})
                 for k in sorted(topics)]
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, "\n".join(lines) + "\n")
    return p


def ensure_stores(cfg: ExtensionConfig) -> None:
    """Stage 1's token stores: the tiny world's text (built if missing) tokenized with the checkpoint's tokenizer."""
    from prolong.data.config import CorpusConfig
    from prolong.data.store_build import build_corpus_stores
    from prolong.tiny.build import build_tiny

    build_tiny()
    build_corpus_stores(CorpusConfig.from_yaml(paths.REPO_ROOT / cfg.corpus))


def run_extension(cfg: ExtensionConfig, log=print) -> pd.DataFrame:
    """Every arm's model, its sweep, then the table and the figure (module doc)."""
    require_checkpoint(cfg.model)
    heldout_text(cfg)
    sweeps: list[tuple[str, int | None, list[Run]]] = []
    if "original" in cfg.arms:
        sweeps.append(("original", None, evaluate_lengths(cfg.sweep(cfg.model, "original"), log)))
    if "theta_only" in cfg.arms:
        sweeps.append(("theta_only", None, evaluate_lengths(cfg.sweep(theta_only_model(cfg, log), "theta_only"),
                                                            log)))
    if "stage1" in cfg.arms:
        ensure_stores(cfg)
        for seed in cfg.seeds:
            model = stage1_model(cfg, seed)
            sweeps.append(("stage1", seed, evaluate_lengths(cfg.sweep(model, f"stage1-s{seed}"), log)))
    table = extension_table([(arm, seed, sweep_table(runs)) for arm, seed, runs in sweeps])
    write_outputs(table, paths.REPO_ROOT / cfg.out)
    return table


def extension_table(per_run: list[tuple[str, int | None, pd.DataFrame]]) -> pd.DataFrame:
    """One row per (arm, task, length): the mean over seeds of each seed's score, its standard error over seeds
    (NaN with one seed), the seeds and the items per seed."""
    rows = []
    for arm, seed, t in per_run:
        rows += [{"arm": arm, "seed": seed, **r} for r in t.to_dict("records")]
    if not rows:
        return pd.DataFrame(columns=["arm", "task", "length", "seeds", "n", "score", "se", "wall_s"])
    long = pd.DataFrame(rows)
    out = []
    for (arm, task, length), g in long.groupby(["arm", "task", "length"], sort=False):
        est = Estimate.of(g.score)  # over seeds
        out.append({"arm": arm, "task": task, "length": int(length), "seeds": est.n, "n": int(g.n.iloc[0]),
                    "score": est.mean, "se": est.se, "wall_s": float(g.wall_s.sum())})
    order = {a: i for i, a in enumerate(ARMS)}
    return (pd.DataFrame(out).sort_values(["task", "length", "arm"], key=lambda c: c.map(order) if c.name == "arm"
                                          else c).reset_index(drop=True))


def markdown(table: pd.DataFrame) -> str:
    """Per arm, tasks as rows and lengths as columns: 'mean ± se (items x seeds)'."""
    parts = []
    for arm in [a for a in ARMS if a in set(table.arm)]:
        t = table[table.arm == arm]
        fmt = [".2f" if task == "ppl" else ".0f" for task in t.task]  # PPL is not x100
        cell = [f"{s:{f}} ± {e:{f}} ({n}x{k})" if not math.isnan(e) else f"{s:{f}} ({n}x{k})"
                for s, e, n, k, f in zip(t.score, t.se, t.n, t.seeds, fmt)]
        parts.append(f"**{arm}**\n\n" + markdown_table(t, cell))
    return "\n\n".join(parts)


def write_outputs(table: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "recall_vs_length.csv", table.to_csv(index=False))
    atomic_write_text(out / "recall_vs_length.md", markdown(table) + "\n\nscore x100 (ppl: perplexity on held-out "
                      "English, lower is better, documents instead of items), mean ± standard error over seeds (items "
                      f"per seed x seeds); {table.wall_s.sum() / 60:.1f} minutes of evaluation\n")
    tasks = sorted(t for t in table.task.unique() if t != "ppl")
    has_ppl = "ppl" in set(table.task)
    sns.set_theme(style="whitegrid", font_scale=0.8)
    ncol = len(tasks) + has_ppl
    fig, axes = plt.subplots(1, ncol, figsize=(3.2 * ncol, 3.2), squeeze=False)
    palette = dict(zip(ARMS, sns.color_palette("colorblind", len(ARMS))))
    if has_ppl:  # the short-context check: one point per arm, error bar over seeds
        ax = axes[0][-1]
        g = table[table.task == "ppl"].reset_index(drop=True)
        for i, r in g.iterrows():
            ax.errorbar([i], [r.score], yerr=[0 if math.isnan(r.se) else r.se], marker="o", capsize=3,
                        color=palette[r.arm])
        ax.set_xticks(range(len(g)), list(g.arm))
        ax.set_xlim(-0.5, len(g) - 0.5)
        ax.set_title(f"PPL, held-out English ({int(g.length.iloc[0])} tokens)")
        ax.set_ylabel("perplexity (lower is better)")
    for ax, task in zip(axes[0], tasks):
        for arm, g in table[table.task == task].groupby("arm", sort=False):
            ax.errorbar(g.length, g.score, yerr=g.se.fillna(0), marker="o", capsize=3, label=arm,
                        color=palette[arm])
        ax.set_xscale("log", base=2)
        lengths = sorted(table[table.task == task].length.unique())
        ax.set_xticks(lengths, [f"{v // 1024}K" for v in lengths])
        ax.axvline(8192, color="grey", ls=":", lw=1)
        ax.set_title(task)
        ax.set_xlabel("input length (tokens)")
        ax.set_ylim(-5, 105)
    axes[0][0].set_ylabel("score (x100)")
    if tasks:
        axes[0][len(tasks) - 1].legend(fontsize=7, loc="upper right")
    fig.suptitle("SmolLM2-135M-Instruct past its 8K window: Stage 1 vs theta alone", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "recall_vs_length.png", dpi=120, metadata={"Software": None})
    plt.close(fig)
