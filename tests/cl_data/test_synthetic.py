"""The embedded synthetic benchmark: deterministic, order-1 shaped, learnable, file-free."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from cl_data import DataError, Seq2SeqEncoder, synthetic_stream, synthetic_task
from cl_data.synthetic import STAND_INS, SYNTHETIC_TASKS


def digest(stream) -> str:
    rows = [(t.name, s, e.sentence, e.label) for t in stream for s in ("train", "dev", "test")
            for e in t.split(s)]  # fmt: skip
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def test_deterministic_from_the_seed() -> None:
    assert synthetic_stream(seed=0) == synthetic_stream(seed=0)
    assert digest(synthetic_stream(seed=0)) != digest(synthetic_stream(seed=1))


def test_same_data_in_another_process() -> None:
    code = (
        "import hashlib, json; from cl_data import synthetic_stream; s = synthetic_stream(seed=3);"
        "rows = [(t.name, sp, e.sentence, e.label) for t in s for sp in ('train', 'dev', 'test')"
        " for e in t.split(sp)]; print(hashlib.sha256(json.dumps(rows).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == digest(synthetic_stream(seed=3))


def test_shaped_like_order_1() -> None:
    stream = synthetic_stream()
    assert stream.order == 1 and len(stream) == 4
    assert stream.names == tuple(STAND_INS[n] for n in ("dbpedia", "amazon", "yahoo", "agnews"))
    label_sets = [set(task.labels) for task in stream]
    for task in stream:
        assert task.task_type == "TC" and task.format == "benchmark"
        assert 3 <= len(task.labels) <= 5
        assert (len(task.train), len(task.dev), len(task.test)) == (160, 40, 40)
        counts = task.label_counts("train").values()
        assert max(counts) - min(counts) <= 1  # balanced
        sentences = [e.sentence for s in ("train", "dev", "test") for e in task.split(s)]
        assert len(set(sentences)) == len(sentences)  # no test sentence seen in training
        assert all(len(s.split()) <= 10 for s in sentences)
    assert sum(len(s) for s in label_sets) == len(set().union(*label_sets))  # own label sets


def test_other_orders_permute_the_same_tasks() -> None:
    assert synthetic_stream(2).names == ("synth_entities", "synth_reviews", "synth_news",
                                         "synth_questions")  # fmt: skip
    assert synthetic_stream(3).names[0] == "synth_questions"
    assert synthetic_stream(3)["synth_news"] == synthetic_stream(1)["synth_news"]
    with pytest.raises(DataError, match="synthetic benchmark has orders"):
        synthetic_stream(4)
    with pytest.raises(DataError, match="unknown synthetic task"):
        synthetic_task("synth_music")
    with pytest.raises(ValueError, match="n_train"):
        synthetic_task("synth_news", n_train=-1)


def test_keywords_reveal_the_label() -> None:
    for task in synthetic_stream(seed=5):
        table = SYNTHETIC_TASKS[task.name]
        for example in task.test + task.train:
            words = example.sentence.lower().rstrip(".").split()
            hits = {label: sum(w in kws for w in words) for label, kws in table.items()}
            assert hits[example.label] >= 5
            assert sum(hits.values()) == hits[example.label]


def test_sizes_are_configurable() -> None:
    stream = synthetic_stream(seed=0, n_train=20, n_dev=0, n_test=7)
    assert [(len(t.train), len(t.dev), len(t.test)) for t in stream] == [(20, 0, 7)] * 4


def test_needs_no_data_files(monkeypatch, tmp_path, t5_tokenizer) -> None:
    monkeypatch.setenv("CL_SHARED_DATA", str(tmp_path / "absent"))
    stream = synthetic_stream().subsample(max_train_samples=40, max_test_samples=10, seed=0)
    task = stream[0]
    source = task.prompted("test")[0].source
    assert source.startswith(
        "Task:TC\nDataset:synth_entities\nWhat is the topic of the following paragraph? "
        "Choose one from the option.\nOption: Company, Artist, Animal, Plant, Building \n"
    )
    assert source.endswith(".\nAnswer:")
    encoder = Seq2SeqEncoder(t5_tokenizer)
    features = encoder.encode_all(task.prompted("train"))
    assert len(features) == 40
    assert max(len(f["input_ids"]) for f in features) < 512


@pytest.mark.slow
def test_tiny_t5_learns_a_synthetic_task(t5_tokenizer) -> None:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    tok = t5_tokenizer
    config = T5Config(
        vocab_size=len(tok), d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4,
        dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip
    model = T5ForConditionalGeneration(config)
    encoder = Seq2SeqEncoder(tok, pad_to_multiple_of=8)
    task = synthetic_task("synth_reviews", seed=0)
    features = encoder.encode_all(task.prompted("train"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        order = torch.randperm(len(features), generator=generator).tolist()
        for start in range(0, len(order), 16):
            batch = encoder.collate([features[i] for i in order[start : start + 16]])
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.eval()
    correct = 0
    for batch in encoder.generation_batches(task.prompted("test"), batch_size=40):
        with torch.no_grad():
            out = model.generate(**batch.model_inputs(), max_new_tokens=12, do_sample=False)
        correct += sum(p == g for p, g in zip(encoder.decode(out, batch), batch.gold))
    assert correct / len(task.test) >= 0.7  # chance is 1/3
