"""Tiny random models for the TAALM tests (spec §11: hidden 16, 2 layers, vocab 64, dropout 0)."""

from __future__ import annotations

import warnings

import pytest
import torch

VOCAB = 64


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and the test machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_llama(seed: int = 0, hidden: int = 16, layers: int = 2, vocab: int = VOCAB):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        attn_implementation="eager",
        use_cache=False,
    )
    return LlamaForCausalLM(cfg)


def _tiny_gpt2(seed: int = 0, hidden: int = 16, layers: int = 2, vocab: int = VOCAB):
    """GPT-2 computes in the model's dtype throughout (HF Llama forces float32 in its RMSNorm,
    softmax and rotary embedding), so float64 finite differences are exact to ~1e-7 on it."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=vocab,
        n_embd=hidden,
        n_layer=layers,
        n_head=2,
        n_positions=128,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
        use_cache=False,
    )
    return GPT2LMHeadModel(cfg)


def _random_sample(
    generator: torch.Generator, doc_len: int = 20, probe_len: int = 10, obj: int = 3
):
    from cl_methods.taalm import MetaSample

    doc = torch.randint(3, VOCAB, (doc_len,), generator=generator)
    doc[0] = 1
    probe = torch.randint(3, VOCAB, (probe_len,), generator=generator)
    probe[0] = 1
    mask = torch.zeros(probe_len - 1)
    mask[-obj:] = 1
    return MetaSample(doc, probe, mask)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


@pytest.fixture(scope="session")
def tiny_llama():
    """Factory: ``tiny_llama(seed, hidden=16, layers=2, vocab=64)``."""
    return _tiny_llama


@pytest.fixture(scope="session")
def tiny_gpt2():
    """Factory: ``tiny_gpt2(seed, hidden=16, layers=2, vocab=64)``."""
    return _tiny_gpt2


@pytest.fixture(scope="session")
def random_sample():
    """Factory: ``random_sample(generator, doc_len=20, probe_len=10, obj=3)`` -> MetaSample."""
    return _random_sample
