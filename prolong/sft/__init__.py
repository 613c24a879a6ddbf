"""Supervised fine-tuning data (paper section 5): short chat instruction data with instruction masks (UltraChat at
paper scale, tiny task-format instructions at tiny scale), packed whole into fixed-length sequences, optionally mixed
with synthetic long-document QA (the Table 8 / 23 ablation). The SFT stage trains through prolong.train's loop with
a `data.sft` section (params/*/stages/sft.yaml), on the same mixer as pretraining (prolong.data.mixing.MixtureStream)
with an SFT reader (prolong.sft.packing.ConversationReader).

    convs, report = load_conversations("ultrachat.jsonl", fmt="ultrachat", strict=False)
    enc = encode_conversation(tokenizer, convs[0].messages)        # input_ids, loss_mask (assistant tokens)
    seqs, plan = pack_conversations([enc, ...], seq_len=65536, pad_id=tokenizer.pad_token_id)
    stream = sft_stream_factory(cfg, tokenizer, seq_len=65536, seed=0)(dp_rank=0, dp_size=8)
"""

from prolong.sft.config import SFTDataConfig, SFTSource
from prolong.sft.formats import Conversation, LoadReport, SFTRecordError, load_conversations, normalize_record
from prolong.sft.packing import ConversationReader, PackPlan, PackStats, pack_conversations, plan_packing
from prolong.sft.stream import load_source, sft_stream, sft_stream_factory
from prolong.sft.template import EncodedConversation, EncodedSet, TemplateError, encode_conversation

__all__ = ["SFTDataConfig", "SFTSource", "Conversation", "LoadReport", "SFTRecordError", "load_conversations",
           "normalize_record", "ConversationReader", "PackPlan", "PackStats", "pack_conversations", "plan_packing",
           "EncodedSet", "load_source", "sft_stream", "sft_stream_factory", "EncodedConversation", "TemplateError",
           "encode_conversation"]
