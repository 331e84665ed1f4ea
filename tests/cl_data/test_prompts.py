"""Prompts byte for byte, against hand-written expected strings."""

from __future__ import annotations

import json

import pytest

from cl_data import (
    INSTRUCTIONS,
    DataError,
    Example,
    Task,
    alpaca_prompt,
    benchmark_prompt,
    instruct_source,
    load_task,
)


def test_tc_prompt_by_hand() -> None:
    labels = ["World", "Sports", "Business", "Science or Technology"]
    sentence = "Title: Chips ahead\nText: A new chip.\n"
    expected = (
        "Task:TC\nDataset:agnews\n"
        "What is the topic of the following paragraph? Choose one from the option.\n"
        "Option: World, Sports, Business, Science or Technology \n"
        "Title: Chips ahead\nText: A new chip.\n\nAnswer:"
    )
    assert benchmark_prompt("TC", "agnews", labels, sentence) == expected


def test_nli_prompt_by_hand() -> None:
    sentence = "sentence 1: It rains.\nsentence 2: The street is wet."
    expected = (
        "Task:NLI\nDataset:CB\n"
        'What is the logical relationship between the "sentence 1" and the "sentence 2"? '
        "Choose one from the option.\n"
        "Option: entailment, contradiction, neutral \n"
        "sentence 1: It rains.\nsentence 2: The street is wet.\nAnswer:"
    )
    prompt = benchmark_prompt("NLI", "CB", ["entailment", "contradiction", "neutral"], sentence)
    assert prompt == expected


def test_copa_prompt_has_no_instruction_and_no_options() -> None:
    sentence = 'Which sentence is the cause of "I fell."? Choose one between A and B.\nA: x\nB: y'
    expected = (
        'Task:COPA\nDataset:COPA\nWhich sentence is the cause of "I fell."? '
        "Choose one between A and B.\nA: x\nB: y\nAnswer:"
    )
    assert benchmark_prompt("COPA", "COPA", ["A", "B"], sentence) == expected


def test_task_source_uses_its_name_type_and_labels() -> None:
    ex = Example("sentence 1: a\nsentence 2: b", "entailment")
    task = Task("RTE", "NLI", ("contradiction", "entailment"), (ex,), (), ())
    assert task.source(ex) == (
        "Task:NLI\nDataset:RTE\n" + INSTRUCTIONS["NLI"] + "Option: contradiction, entailment \n"
        "sentence 1: a\nsentence 2: b\nAnswer:"
    )
    (pair,) = task.prompted("train")
    assert (pair.source, pair.target, pair.task) == (task.source(ex), "entailment", "RTE")


def test_unknown_task_type_is_a_data_error() -> None:
    with pytest.raises(DataError, match="unknown task type 'XYZ'"):
        benchmark_prompt("XYZ", "foo", ["a"], "s")


def test_alpaca_benchmark_task_is_refused() -> None:
    ex = Example("s", "a")
    task = Task("x", "TC", ("a",), (ex,), (), ())
    with pytest.raises(ValueError, match="Alpaca"):
        task.source(ex, "alpaca")
    with pytest.raises(ValueError, match="unknown template"):
        task.source(ex, "chatml")  # type: ignore[arg-type]


def test_instructions_equal_the_shared_config(configs_dir) -> None:
    config = json.loads((configs_dir / "instruction_config.json").read_text())
    shared = {kind: entries[0]["instruction"] for kind, entries in config.items()}
    assert all(len(entries) == 1 for entries in config.values())
    assert shared == INSTRUCTIONS


def test_real_copa_and_agnews_prompts(benchmark_dir) -> None:
    copa = load_task("COPA", benchmark_dir)
    first = copa.train[0]
    assert copa.source(first) == "Task:COPA\nDataset:COPA\n" + first.sentence + "\nAnswer:"
    assert copa.source(first).startswith(
        'Task:COPA\nDataset:COPA\nWhich sentence is the cause of "The host cancelled the party."'
    )
    agnews = load_task("agnews", benchmark_dir)
    assert agnews.source(agnews.train[0]).startswith(
        "Task:TC\nDataset:agnews\nWhat is the topic of the following paragraph? Choose one from "
        "the option.\nOption: World, Sports, Business, Science or Technology \nTitle: Intel Seen "
        "Readying New Wi-Fi Chips (Reuters)\nText: Reuters - Intel Corp."
    )
    assert agnews.source(agnews.train[0]).endswith("congestion on wireless networks.\n\nAnswer:")


def test_instruct_source_and_alpaca_by_hand() -> None:
    instruction = "What is the topic? Choose one from the option. Option: World, Sports.\n"
    text = "Title: x\nText: y\nAnswer:"
    assert instruct_source(instruction, text) == instruction + text
    assert alpaca_prompt(instruction, text) == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nWhat is the topic? Choose one from the option. Option: World, "
        "Sports.\n\n\n### Input:\nTitle: x\nText: y\nAnswer:\n\n### Response:\n"
    )
    assert alpaca_prompt(instruction, "") == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nWhat is the topic? Choose one from the "
        "option. Option: World, Sports.\n\n\n### Response:\n"
    )


def test_alpaca_keeps_braces_in_the_text() -> None:
    assert "{input}" in alpaca_prompt("use {input} literally\n", "x")
