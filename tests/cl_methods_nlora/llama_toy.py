"""A toy continual stream on a tiny LLaMA (byte tokenizer, word -> label tasks) for N-LoRA tests.
(The kill-and-resume run of a tiny LLaMA is tests/apps_nlora's, through the app.)"""

from __future__ import annotations

import random

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from cl_data import CausalLMEncoder, byte_level_tokenizer
from cl_methods import ContinualTrainer, GenerationEvaluator, TrainerConfig, TrainTask, build_method

TOKENIZER = byte_level_tokenizer()
TOKENIZER.padding_side = "left"
ENCODER = CausalLMEncoder(TOKENIZER, max_source_length=32, max_target_length=8)
WORDS = {
    "colors": (["red", "blue", "green"], ["warm", "cool", "cool"]),
    "animals": (["cat", "dog", "cow"], ["pet", "pet", "farm"]),
}


class Example:
    def __init__(self, source: str, target: str) -> None:
        self.source, self.target = source, target


def tiny_llama(seed: int = 0, gqa: bool = False, hidden: int = 32) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(TOKENIZER),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2 if gqa else 4,
        max_position_embeddings=128,
        bos_token_id=TOKENIZER.bos_token_id,
        eos_token_id=TOKENIZER.eos_token_id,
        pad_token_id=TOKENIZER.pad_token_id,
    )
    return LlamaForCausalLM(cfg)


def make_batch(rows: list[Example]) -> tuple[dict[str, torch.Tensor], list[str]]:
    batch = ENCODER.generation_batch(rows)
    return batch.model_inputs(), batch.gold


def toy_tasks(n_train: int = 8, seed: int = 0) -> list[TrainTask]:
    rng = random.Random(seed)
    tasks = []
    for name, (words, labels) in WORDS.items():
        rows = []
        for _ in range(n_train):
            k = rng.randrange(len(words))
            rows.append(ENCODER.encode(f"{name}: {words[k]}\nAnswer:", labels[k]))
        test = [Example(f"{name}: {w}\nAnswer:", lab) for w, lab in zip(words, labels)]
        tasks.append(TrainTask(name=name, train=rows, collate=ENCODER.collate, eval=test))
    return tasks


def evaluator(max_new_tokens: int = 4) -> GenerationEvaluator:
    return GenerationEvaluator(
        tokenizer=TOKENIZER,
        make_batch=make_batch,
        match=lambda p, g: p.strip() == g.strip(),
        max_new_tokens=max_new_tokens,
        batch_size=8,
        examples_attr="eval",
        progress=False,
    )


def run(output_dir: str, method: str = "nlora", resume: bool = False, **over) -> tuple:
    """Fit the toy stream; returns (result, trainer)."""
    opts = {} if method == "seqft" else {"dropout": 0.1}
    opts.update(over.pop("method_opts", {}))
    cfg = TrainerConfig(
        output_dir=output_dir,
        epochs=over.pop("epochs", 2),
        lr=5e-3,
        batch_size=2,
        grad_accum=over.pop("grad_accum", 1),
        checkpoint_every=over.pop("checkpoint_every", 0),
        mixed_precision=over.pop("mixed_precision", "no"),
        progress=False,
        log_with=(),
        seed=7,
    )
    model = tiny_llama(gqa=over.pop("gqa", False))
    if over:
        raise TypeError(f"unknown options {sorted(over)}")
    trainer = ContinualTrainer(model, build_method(method, opts), cfg, evaluate=evaluator())
    return trainer.fit(toy_tasks(), resume=resume), trainer
