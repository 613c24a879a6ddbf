"""The model side of the recipe: document-masked attention, the block-wise loss, model building and FLOPs."""

from prolong.model.attention import (ATTN_IMPLEMENTATION, cu_seqlens_from_doc_lens, document_attention,
                                     position_ids_from_doc_lens)
from prolong.model.build import CausalLMWithLoss, ModelConfig, VocabMismatchError, build_model, check_vocab
from prolong.model.loss import IGNORE_INDEX, block_cross_entropy

__all__ = [
    "ATTN_IMPLEMENTATION", "CausalLMWithLoss", "IGNORE_INDEX", "ModelConfig", "VocabMismatchError",
    "block_cross_entropy", "build_model", "check_vocab", "cu_seqlens_from_doc_lens", "document_attention",
    "position_ids_from_doc_lens",
]
