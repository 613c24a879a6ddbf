"""Model building: RoPE theta and context per stage, clear errors for a missing checkpoint or a vocabulary that does
not fit the embedding."""

import pytest
import torch

from prolong.config import ConfigError
from prolong.model import ModelConfig, VocabMismatchError, build_model, check_vocab

SMALL = dict(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2, vocab_size=50)


def test_rope_theta_and_context():
    model = build_model(ModelConfig(**SMALL, rope_theta=8e6, max_position_embeddings=4096))
    assert model.config.rope_parameters == {"rope_type": "default", "rope_theta": 8e6}
    assert model.config.max_position_embeddings == 4096
    assert model.config._attn_implementation == "prolong_doc"
    head_dim = 32 // 4
    expected = 1.0 / (8e6 ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))
    assert torch.allclose(model.model.rotary_emb.inv_freq, expected)
    assert model.config.num_key_value_heads == 2


def test_saved_model_reloads_with_new_theta(tmp_path):
    cfg = ModelConfig(**SMALL, rope_theta=1e4, max_position_embeddings=128)
    model = build_model(cfg)
    model.save_pretrained(tmp_path / "m")
    stage2 = build_model(ModelConfig(**SMALL, rope_theta=1e5, max_position_embeddings=512), init_path=tmp_path / "m")
    assert stage2.config.rope_parameters["rope_theta"] == 1e5
    assert stage2.config.max_position_embeddings == 512
    assert torch.equal(stage2.model.embed_tokens.weight, model.model.embed_tokens.weight)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory not found"):
        build_model(ModelConfig(pretrained=str(tmp_path / "Meta-Llama-3-8B-Instruct")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_model(ModelConfig(pretrained=str(tmp_path / "empty")))


def test_vocab_mismatch():
    model = build_model(ModelConfig(**SMALL))
    check_vocab(50, model)
    with pytest.raises(VocabMismatchError, match="51 tokens but the model's embedding has 50 rows"):
        check_vocab(51, model)


def test_config_validation():
    with pytest.raises(ConfigError, match="num_kv_heads"):
        ModelConfig(**{**SMALL, "num_kv_heads": 3})
    with pytest.raises(ConfigError, match="unknown key"):
        ModelConfig.from_dict({"hidden": 3})
    with pytest.raises(ConfigError):
        ModelConfig.from_dict({"attention": "dense"})
