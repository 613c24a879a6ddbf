"""A KV cache allocated once, for the prompt plus the new tokens, in the model's dtype.

transformers' DynamicCache concatenates every chunk and every decoded token onto the cache, copying all of it each
time (a 16K prompt decoded for 16 tokens copied the cache ~25 times per layer, 6% of the tiny model's generation
time) and holding old and new copies at once. Here each layer writes into one preallocated (B, Hkv, capacity, hs)
buffer and hands attention a view of its first n positions; past `capacity` it grows by doubling.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """One decoder layer's keys and values: views of the first `n` positions of buffers of `capacity` positions."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity, self.n = capacity, 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        B, H, _, hs = key_states.shape  # (B, Hkv, q, hs)
        self.device = key_states.device
        self._keys = key_states.new_empty((B, H, self.capacity, hs))
        self._values = value_states.new_empty((B, value_states.shape[1], self.capacity, value_states.shape[3]))
        self.keys, self.values = self._keys[:, :, :0], self._values[:, :, :0]
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.n + key_states.shape[-2]
        if end > self.capacity:  # more tokens than announced: grow by doubling (one copy)
            self.capacity = max(end, 2 * self.capacity)
            grown_k = self._keys.new_empty((*self._keys.shape[:2], self.capacity, self._keys.shape[3]))
            grown_v = self._values.new_empty((*self._values.shape[:2], self.capacity, self._values.shape[3]))
            grown_k[:, :, :self.n] = self._keys[:, :, :self.n]
            grown_v[:, :, :self.n] = self._values[:, :, :self.n]
            self._keys, self._values = grown_k, grown_v
        self._keys[:, :, self.n:end] = key_states
        self._values[:, :, self.n:end] = value_states
        self.n = end
        self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.n


def preallocated_cache(model: Any, capacity: int) -> Cache:
    """A cache for `model` (one layer per decoder layer) holding `capacity` positions without reallocation."""
    return Cache(layers=[PreallocatedLayer(capacity) for _ in range(model.config.num_hidden_layers)])
