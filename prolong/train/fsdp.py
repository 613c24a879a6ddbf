"""FSDP exactly as the paper-scale accelerate configs ask for it, built with torch's FSDP directly.

accelerate refuses FSDP on a CPU, so the configs in params/paper/accelerate/ would never run before a GPU job does.
`fsdp_settings(config)` reads an accelerate config's `fsdp_config` (and `mixed_precision`) into torch FSDP keyword
arguments - sharding strategy, one FSDP unit per decoder layer (transformer auto-wrap on the named class), backward
prefetch, use_orig_params, bf16 mixed precision - and `wrap_fsdp` applies them, so tests/train/test_fsdp.py runs the
same wrapping on 2 gloo processes and checks it against one process. On GPUs accelerate's `prepare` does the wrapping
from the same file (prolong.train.parallelize).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
import yaml

from prolong.config import ConfigError

_STRATEGIES = ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "_HYBRID_SHARD_ZERO2")


def fsdp_settings(config: str | Path, mixed_precision: bool | None = None,
                  model: torch.nn.Module | None = None) -> dict[str, Any]:
    """torch FSDP kwargs from an accelerate config file; `mixed_precision` None: as the file says; `model`: where the
    layer classes to wrap are looked up by name (without it the auto-wrap policy wraps nothing)."""
    from torch.distributed.fsdp import BackwardPrefetch, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

    obj = yaml.safe_load(Path(config).read_text()) or {}
    if obj.get("distributed_type") != "FSDP" or "fsdp_config" not in obj:
        raise ConfigError(f"{config}: not an FSDP accelerate config (distributed_type: FSDP with fsdp_config)")
    fc = obj["fsdp_config"]
    strategy = str(fc.get("fsdp_sharding_strategy", "FULL_SHARD"))
    if strategy not in _STRATEGIES:
        raise ConfigError(f"{config}: fsdp_config.fsdp_sharding_strategy {strategy!r} (one of {', '.join(_STRATEGIES)})")
    if fc.get("fsdp_auto_wrap_policy") != "TRANSFORMER_BASED_WRAP":
        raise ConfigError(f"{config}: fsdp_config.fsdp_auto_wrap_policy must be TRANSFORMER_BASED_WRAP (one FSDP unit "
                          "per decoder layer)")
    names = {n.strip() for n in str(fc.get("fsdp_transformer_layer_cls_to_wrap", "")).split(",") if n.strip()}
    classes = set()
    if model is not None:               # the classes are found by name in the model (as accelerate does)
        classes = {type(m) for m in model.modules() if type(m).__name__ in names}
        missing = names - {c.__name__ for c in classes}
        if missing:
            raise ConfigError(f"{config}: fsdp_config.fsdp_transformer_layer_cls_to_wrap: the model has no "
                              f"{sorted(missing)[0]!r} module")
    prefetch = fc.get("fsdp_backward_prefetch", "BACKWARD_PRE")
    bf16 = obj.get("mixed_precision") == "bf16" if mixed_precision is None else mixed_precision
    return dict(
        sharding_strategy=ShardingStrategy[strategy],
        auto_wrap_policy=functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=classes),
        backward_prefetch=BackwardPrefetch[prefetch] if prefetch not in (None, "NO_PREFETCH") else None,
        forward_prefetch=bool(fc.get("fsdp_forward_prefetch", False)),
        use_orig_params=bool(fc.get("fsdp_use_orig_params", True)),
        sync_module_states=bool(fc.get("fsdp_sync_module_states", False)),
        # bf16 compute and communication; buffers (RoPE inv_freq) are cast too, prolong.model.rope restores them
        mixed_precision=MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16,
                                       buffer_dtype=torch.bfloat16) if bf16 else None,
    )


def wrap_fsdp(net: torch.nn.Module, config: str | Path, mixed_precision: bool | None = None,
              device: torch.device | None = None) -> torch.nn.Module:
    """`net` wrapped in torch FSDP with the settings of an accelerate config (every rank calls it)."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    kw = fsdp_settings(config, mixed_precision, net)
    kw["device_id"] = device if device is not None else torch.device("cpu")   # CPU: torch needs it said explicitly
    if kw["device_id"].type == "cpu":
        kw["sync_module_states"] = False     # a GPU-only broadcast; on CPU every rank builds the same seeded model
    return FSDP(net, **kw)
