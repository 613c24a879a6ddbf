"""What runs inside the forward: document-masked attention (attention.py), its sequence-parallel wrapper with the
all-to-all (ulysses.py), the block-wise loss (loss.py) and model building (build.py). Nothing here imports
prolong.train or prolong.data; how the model is parallelised is prolong.train.parallelize."""

from prolong.model.attention import (ATTN_IMPLEMENTATION, cu_seqlens_from_doc_lens, document_attention,
                                     position_ids_from_doc_lens)
from prolong.model.build import CausalLMWithLoss, ModelConfig, VocabMismatchError, build_model, check_vocab
from prolong.model.loss import IGNORE_INDEX, block_cross_entropy

__all__ = [
    "ATTN_IMPLEMENTATION", "CausalLMWithLoss", "IGNORE_INDEX", "ModelConfig", "VocabMismatchError",
    "block_cross_entropy", "build_model", "check_vocab", "cu_seqlens_from_doc_lens", "document_attention",
    "position_ids_from_doc_lens",
]
