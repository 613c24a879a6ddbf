"""RoPE frequencies kept in fp32 whatever the model's dtype.

transformers keeps `inv_freq` as a buffer, so casting the model (`.to(torch.bfloat16)`, FSDP's bf16 mixed
precision, which casts buffers too) rounds it to bf16: 8 bits of mantissa, a relative error up to 2**-9. The phase of
position p is p * inv_freq, so at theta 1.28e8 and position 524,287 that is up to hundreds of radians of error on the
high frequencies (tests/model/test_rope_fp32.py measures it). `keep_rope_fp32(model)` gives every rotary module an
fp32 copy of its frequencies computed from the config (not from the buffer, which may already be rounded) and a
forward pre-hook that puts it back whenever the buffer is not that copy, so the phases are always computed in fp32
(the forward itself multiplies in fp32; only the resulting cos/sin are cast to the activations' dtype, as in
transformers and in ProLong's released code).
"""

from __future__ import annotations

import torch
from torch import nn

_REF = "_prolong_inv_freq_fp32"


def _reference(module: nn.Module) -> torch.Tensor:
    """The module's inverse frequencies recomputed in fp32 from its config (default and scaled rope types)."""
    config = module.config
    if getattr(module, "rope_type", "default") == "default" and hasattr(module, "compute_default_rope_parameters"):
        inv_freq, _ = module.compute_default_rope_parameters(config)
    else:
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

        inv_freq, _ = ROPE_INIT_FUNCTIONS[module.rope_type](config, torch.device("cpu"))
    return inv_freq.to(torch.float32)


def _restore(module: nn.Module, args) -> None:
    ref = module.__dict__[_REF]
    buf = module.inv_freq
    if buf.dtype != torch.float32 or buf.device != ref.device:
        if ref.device != buf.device:
            ref = ref.to(buf.device)
            module.__dict__[_REF] = ref
        module.inv_freq = ref.clone()
        if hasattr(module, "original_inv_freq"):
            module.original_inv_freq = ref.clone()


def keep_rope_fp32(model: nn.Module) -> int:
    """Install the fp32 frequencies and their hook on every rotary module of `model` (idempotent); returns how many."""
    n = 0
    for module in model.modules():
        if not (hasattr(module, "inv_freq") and hasattr(module, "config")) or _REF in module.__dict__:
            continue
        ref = _reference(module)
        if ref.shape != module.inv_freq.shape:
            raise ValueError(f"{type(module).__name__}: recomputed inv_freq {tuple(ref.shape)} does not match the "
                             f"buffer {tuple(module.inv_freq.shape)}")
        module.__dict__[_REF] = ref            # a plain attribute: no cast (model.to, FSDP) ever reaches it
        module.inv_freq = ref.clone().to(module.inv_freq.device)
        module.register_forward_pre_hook(_restore)
        n += 1
    return n
