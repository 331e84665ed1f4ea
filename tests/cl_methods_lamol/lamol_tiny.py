"""Tiny models and tokenizers for the LAMOL-family tests: a random 2-layer LLaMA on ByT5 bytes,
and a random GPT-2 with a small byte-level BPE tokenizer that can be saved as a local folder."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    ByT5Tokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
    LlamaConfig,
    LlamaForCausalLM,
)

from cl_methods import RunInfo, TaskContext, build_method

WORDS = "red blue green black white brown a big small the sky is of colour"


def tiny_llama(seed: int = 0):
    torch.manual_seed(seed)
    tok = ByT5Tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
        bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    return LlamaForCausalLM(cfg), tok


def gpt2_tokenizer() -> GPT2TokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator([WORDS] * 20, trainer)
    return GPT2TokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )  # fmt: skip


def tiny_gpt2(seed: int = 0, tie: bool = True):
    torch.manual_seed(seed)
    tok = gpt2_tokenizer()
    cfg = GPT2Config(
        vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=256,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=tie,
    )  # fmt: skip
    return GPT2LMHeadModel(cfg), tok


def save_gpt2_folder(folder: Path) -> Path:
    model, tok = tiny_gpt2()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def rows(n: int, colour: str = "red", start: int = 0) -> list[dict]:
    return [
        {"input": f"the sky {i} is", "target": colour, "label_idx_cil": 0, "label_idx_til": 0}
        for i in range(start, start + n)
    ]


def bound(name: str, config: dict | None = None, num_tasks: int = 3, model_tok=None):
    """(method, model, tokenizer): a method bound to a 3-task run and prepared on a tiny model."""
    model, tok = model_tok or tiny_llama()
    method = build_method(name, {"max_length": 48, **(config or {})})
    method.bind_run(RunInfo(num_tasks, tuple(f"t{i}" for i in range(num_tasks)), tokenizer=tok))
    model = method.prepare(model)
    return method, model, tok


def context(method, index: int, data: list[dict], seed: int = 1) -> TaskContext:
    return TaskContext(
        index=index, name=f"t{index}", train_data=data, collate=method.collator(),
        epochs=1, batch_size=4, seed=seed, progress=False,
    )  # fmt: skip
