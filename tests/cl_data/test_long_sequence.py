"""The long-sequence instruction format (Recurrent-KIF) on hand-written and real files."""

from __future__ import annotations

from collections import Counter

import pytest

from cl_data import (
    IGNORE_INDEX,
    PROMPT_INPUT,
    CausalLMEncoder,
    DataError,
    Seq2SeqEncoder,
    load_instruct_stream,
    load_instruct_task,
)

INSTRUCTION = (
    "What is the topic of the following paragraph? Choose one from the option. "
    "Option: World, Sports, Business, Science or Technology.\n"
)


def record(i: int, output: str, task: str = "agnews") -> dict[str, str]:
    return {
        "id": f"{task}_{i}",
        "instruction": INSTRUCTION,
        "input": f"Title: t{i}\nText: body {i}\nAnswer:",
        "output": output,
    }


@pytest.fixture
def long_dir(mini):
    root = mini.root.parent / "long_sequence_instruct"
    for task in ("agnews", "amazon", "dbpedia", "yahoo"):
        data = [record(i, label, task) for i, label in enumerate(["Sports", "World", "Sports"])]
        mini.write(root / "train" / f"{task}.json", data)
        mini.write(root / "dev" / f"{task}.json", data[:2])
        if task not in ("dbpedia", "yahoo"):
            mini.write(root / "test" / f"{task}.json", data[1:])
    return root


def test_load_records(long_dir) -> None:
    task = load_instruct_task("AGNews", long_dir)
    assert (task.name, task.task_type, task.format) == ("agnews", "TC", "instruct")
    assert task.labels == ("Sports", "World")  # first appearance in train
    assert [len(task.train), len(task.dev), len(task.test)] == [3, 2, 2]
    first = task.train[0]
    assert (first.id, first.instruction, first.label) == ("agnews_0", INSTRUCTION, "Sports")
    assert first.sentence == "Title: t0\nText: body 0\nAnswer:"
    assert task.files["test"] == str(long_dir / "test" / "agnews.json")


def test_t5_source_and_alpaca_prompt(long_dir) -> None:
    task = load_instruct_task("agnews", long_dir)
    pair = task.prompted("train")[1]
    assert pair.source == INSTRUCTION + "Title: t1\nText: body 1\nAnswer:"
    assert pair.target == "World"
    alpaca = task.prompted("train", template="alpaca")[1].source
    assert alpaca == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n" + INSTRUCTION + "\n\n### Input:\nTitle: t1\nText: body 1\nAnswer:"
        "\n\n### Response:\n"
    )


def test_missing_test_file_needs_an_explicit_one(long_dir) -> None:
    with pytest.raises(DataError, match="no dbpedia or yahoo test file") as info:
        load_instruct_task("dbpedia", long_dir)
    assert info.value.path == str(long_dir / "test" / "dbpedia.json")
    chosen = long_dir / "dev" / "dbpedia.json"
    task = load_instruct_task("dbpedia", long_dir, test_file=chosen)
    assert task.files["test"] == str(chosen) and len(task.test) == 2


def test_bad_inputs(long_dir, mini) -> None:
    with pytest.raises(DataError, match="unknown long-sequence task 'news'"):
        load_instruct_task("news", long_dir)
    with pytest.raises(DataError, match="long-sequence directory not found"):
        load_instruct_task("agnews", long_dir / "nope")
    (long_dir / "dev" / "amazon.json").unlink()
    with pytest.raises(DataError, match="file not found") as info:
        load_instruct_task("amazon", long_dir)
    assert info.value.path == str(long_dir / "dev" / "amazon.json")
    bad = [record(0, "World"), {"id": "x", "instruction": "i", "input": "t"}]
    mini.write(long_dir / "train" / "agnews.json", bad)
    with pytest.raises(DataError, match="row has no 'output' field") as info:
        load_instruct_task("agnews", long_dir)
    assert info.value.row == 1
    missing = long_dir / "test" / "nothing.json"
    with pytest.raises(DataError, match="file not found") as info:
        load_instruct_task("yahoo", long_dir, test_file=missing)
    assert info.value.path == str(missing)


def test_stream_orders_and_kif_numbering(long_dir) -> None:
    files = {"dbpedia": long_dir / "dev" / "dbpedia.json", "YAHOO": long_dir / "dev" / "yahoo.json"}
    stream = load_instruct_stream(4, long_dir, kif_numbering=True, test_files=files)
    assert stream.names == ("dbpedia", "amazon", "yahoo", "agnews")
    assert stream.order == 1
    assert "Recurrent-KIF id 4" in stream.name
    assert load_instruct_stream(1, long_dir, test_files=files).names == stream.names
    with pytest.raises(DataError, match="test file of 'dbpedia' not found"):
        load_instruct_stream(1, long_dir)
    with pytest.raises(DataError, match="outside the order"):
        load_instruct_stream(1, long_dir, test_files={**files, "cb": "x.json"})
    custom = load_instruct_stream(["agnews", "amazon"], long_dir)
    assert custom.names == ("agnews", "amazon") and custom.order is None


# recurrent-kif.md section 7.
TRAIN = {"cb": 250, "copa": 400}
DEV = {"cb": 56, "copa": 100, "rte": 277}
TEST = {
    "agnews": 2000, "amazon": 2500, "boolqa": 1000, "cb": 56, "copa": 100, "imdb": 1000,
    "mnli": 1500, "multirc": 1000, "qqp": 1000, "rte": 277, "sst-2": 872, "wic": 638, "yelp": 2500,
    "dbpedia": 7000, "yahoo": 500,  # rebuilt in the shared data (PROVENANCE.md)
}  # fmt: skip


def test_real_long_sequence_sizes(long_sequence_dir) -> None:
    for name in TEST:
        task = load_instruct_task(name, long_sequence_dir)
        assert len(task.train) == TRAIN.get(name, 1000), name
        assert len(task.dev) == DEV.get(name, 500), name
        assert len(task.test) == TEST[name], name
        assert all(ex.sentence.endswith("\nAnswer:") for ex in task.train)
    # The rebuilt yahoo test file is a copy of its dev file; dbpedia's has 500 rows per class.
    yahoo = load_instruct_task("yahoo", long_sequence_dir)
    assert [ex.sentence for ex in yahoo.test] == [ex.sentence for ex in yahoo.dev]
    dbpedia = load_instruct_task("dbpedia", long_sequence_dir)
    assert set(Counter(ex.label for ex in dbpedia.test).values()) == {500}


def test_real_encodings(long_sequence_dir, t5_tokenizer, causal_tokenizer) -> None:
    task = load_instruct_task("cb", long_sequence_dir)
    example = task.train[0]
    pair = task.prompted("train")[0]
    assert pair.source == example.instruction + example.sentence
    t5 = Seq2SeqEncoder(t5_tokenizer, max_source_length=1024, max_target_length=128)
    ids = t5.encode(pair.source, pair.target)["input_ids"]
    assert ids == t5_tokenizer(pair.source, max_length=1024, truncation=True)["input_ids"]

    alpaca = task.prompted("train", template="alpaca")
    assert alpaca[0].source == PROMPT_INPUT.format(
        instruction=example.instruction, input=example.sentence
    )
    llama = CausalLMEncoder(
        causal_tokenizer, max_source_length=512, max_target_length=16, max_length=512,
        pad_to_multiple_of=8, train_padding_side="left",
    )  # fmt: skip
    features = llama.encode_all(alpaca[:4])
    for f, p in zip(features, alpaca[:4]):
        prompt = llama.prompt_ids(p.source)
        assert f["labels"].count(IGNORE_INDEX) == len(prompt)
        assert f["input_ids"][-1] == causal_tokenizer.eos_token_id
    batch = llama.collate(features)
    assert batch["input_ids"].shape[1] % 8 == 0
    assert (batch["attention_mask"][:, -1] == 1).all()  # left padding
