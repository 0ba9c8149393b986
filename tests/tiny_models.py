"""Tiny random model weights for tests, saved and then loaded through the product's own paths."""
from __future__ import annotations

from pathlib import Path

WAV2VEC2_DIM = 16


def save_tiny_wav2vec2(directory: Path) -> Path:
    """A random wav2vec2 with the base model's conv encoder (stride 320, receptive field 400)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=WAV2VEC2_DIM, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )
    torch.manual_seed(0)
    Wav2Vec2Model(config).save_pretrained(directory)
    return directory
