"""AdapterCL (spec §2.10): per-task bottleneck adapters after each FFN, whole-sequence LM loss,
lowest-NLL adapter selection in CIL."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cl_methods import ContinualTrainer, RunInfo, TrainerConfig, TrainTask, build_method
from cl_methods.classic.bottleneck_adapters import (
    AdaptedFFN,
    BottleneckAdapter,
    attach_task_adapters,
    set_active_task_adapter,
    task_adapter_layers,
)
from cl_methods.method import TaskContext
from cl_methods.methods.adaptercl import AdapterView, lm_loss_over_sequence
from cl_methods.methods.peft_task import NLLSelectView

PAD = 0


def periodic(lo: int, n: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        start = int(torch.randint(0, 6, (1,), generator=g))
        length = int(torch.randint(5, 9, (1,), generator=g))
        out.append({"ids": [lo + (start + k) % 6 for k in range(length)]})
    return out


def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["ids"]) for r in rows)
    ids = torch.tensor([[PAD] * (width - len(r["ids"])) + r["ids"] for r in rows])
    mask = torch.tensor([[0] * (width - len(r["ids"])) + [1] * len(r["ids"]) for r in rows])
    labels = torch.full_like(ids, -100)
    labels[:, -1] = ids[:, -1]  # an answer-only label: AdapterCL must ignore it
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_adapter_formula_and_zero_init():
    torch.manual_seed(0)
    adapter = BottleneckAdapter(32, reduction=16)
    assert adapter.down.out_features == 2 and adapter.up.in_features == 2
    h = torch.randn(3, 5, 32)
    assert torch.equal(adapter(h), h)  # W_up = 0: a fresh adapter is the identity
    torch.nn.init.normal_(adapter.up.weight)
    torch.nn.init.normal_(adapter.up.bias)
    want = h + (torch.relu(h @ adapter.down.weight.T + adapter.down.bias)) @ adapter.up.weight.T
    want = want + adapter.up.bias
    assert torch.allclose(adapter(h), want, atol=1e-6)


def test_adapters_follow_every_ffn_and_apply_to_its_output(tiny):
    llama = tiny.llama()
    ids = torch.tensor([[3, 4, 5, 6]])
    base = llama(input_ids=ids).logits
    layers = attach_task_adapters(llama, num_tasks=2, reduction=4)
    assert len(layers) == 2 and all(isinstance(m.ffn, torch.nn.Module) for m in layers)
    assert torch.allclose(llama(input_ids=ids).logits, base)  # none active / zero-init = base
    block = llama.model.layers[0].mlp
    assert isinstance(block, AdaptedFFN)
    torch.nn.init.normal_(block.adapters[1].up.weight)
    set_active_task_adapter(llama, 1)
    x = torch.randn(1, 4, 16)
    assert torch.allclose(block(x), block.adapters[1](block.ffn(x)))
    set_active_task_adapter(llama, 0)
    assert torch.allclose(block(x), block.ffn(x))  # adapter 0 is still the identity
    with pytest.raises(ValueError, match="no module named"):
        attach_task_adapters(tiny.llama(), 1, targets=("ffn_nope",))


def test_loss_is_the_lm_loss_over_the_whole_sequence_with_pads_masked(tiny):
    llama = tiny.llama()
    batch = collate([{"ids": [3, 4, 5]}, {"ids": [6, 7, 8, 9, 10]}])
    loss, _ = lm_loss_over_sequence(llama, batch)
    logits = llama(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    terms = []
    for b in range(2):
        for i in range(1, batch["input_ids"].shape[1]):
            if batch["attention_mask"][b, i] and batch["attention_mask"][b, i - 1]:
                terms.append(F.cross_entropy(logits[b, i - 1], batch["input_ids"][b, i]))
    # every token predicted from an attended one counts (prompt included; the batch's
    # answer-only labels are ignored); row 0's first token would be predicted from a pad
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-6)
    assert len(terms) == 6
    alone, _ = lm_loss_over_sequence(llama, collate([{"ids": [3, 4, 5]}]))
    assert torch.allclose(alone, torch.stack(terms[:2]).mean(), atol=1e-5)


def test_only_the_current_adapter_trains_and_old_ones_stay_bit_identical(tiny, tmp_path):
    llama = tiny.llama()
    body = {k: v.clone() for k, v in llama.state_dict().items()}
    method = build_method("adaptercl", {"reduction_factor": 4})
    method.bind_run(RunInfo(num_tasks=3, task_names=("t0", "t1", "t2"), scenario="TIL"))
    snaps = []

    def evaluate(view, task, acc):
        assert isinstance(view, AdapterView) and view.task == int(task.name[1])
        if task.name == "t0":
            state = view.model.state_dict()
            snaps.append({k: v.clone() for k, v in state.items() if "adapters.0" in k})
        return 0.0

    tasks = [
        TrainTask(name=f"t{i}", train=periodic(lo, 12, i), collate=collate)
        for i, lo in enumerate((2, 12, 22))
    ]
    trainer, _ = tiny.run(llama, method, tasks, tmp_path, evaluate=evaluate)
    model = trainer.model
    assert len(snaps) == 3 and any(v.abs().sum() > 0 for k, v in snaps[0].items() if ".up." in k)
    for later in snaps[1:]:
        assert all(torch.equal(later[k], snaps[0][k]) for k in snaps[0])
    for k, v in body.items():  # the backbone is frozen (names moved under .ffn)
        key = k.replace(".mlp.", ".mlp.ffn.")
        assert torch.equal(model.state_dict()[key], v), k
    assert [n for n, p in model.named_parameters() if p.requires_grad] == []
    files = sorted(p.name for p in (tmp_path / "tasks").glob("*/*"))
    assert files.count("bottleneck_adapter.safetensors") == 3
    # only adapter 2 received gradients in the last task
    method.on_task_start(TaskContext(index=2, name="t2", num_tasks=3), model)
    lm_loss_over_sequence(model, collate(periodic(22, 4, 9)))[0].backward()
    for layer in task_adapter_layers(model):
        assert all(p.grad is None for t in (0, 1) for p in layer.adapters[t].parameters())
        assert layer.adapters[2].down.weight.grad is not None


def test_cil_picks_the_adapter_with_the_lowest_loss_per_sample(tiny, tmp_path):
    llama = tiny.llama()
    method = build_method("adaptercl", {"reduction_factor": 2})
    method.bind_run(RunInfo(num_tasks=2, task_names=("t0", "t1"), scenario="CIL"))
    tasks = [
        TrainTask(name=f"t{i}", train=periodic(lo, 24, i), collate=collate)
        for i, lo in enumerate((2, 20))
    ]
    cfg = TrainerConfig(
        output_dir=str(tmp_path), epochs=6, lr=3e-2, batch_size=4, seed=1, progress=False
    )
    trainer = ContinualTrainer(llama, method, cfg)
    trainer.fit(tasks)
    model = trainer.model
    view = method.eval_model(model, "t0")
    assert isinstance(view, NLLSelectView)
    rows = periodic(2, 10, 50) + periodic(20, 10, 51)
    batch = collate(rows)
    nll = view.prompt_nll(batch["input_ids"], batch["attention_mask"])
    assert nll.shape == (2, 20)
    choice = nll.argmin(0)
    want = torch.tensor([0] * 10 + [1] * 10)
    assert (choice == want).float().mean() > 0.5  # beats chance on the 2-task toy
    # the NLL of each adapter is that model's own mean loss on the row
    for s in range(2):
        set_active_task_adapter(model, s)
        out = model(input_ids=batch["input_ids"][:1], attention_mask=batch["attention_mask"][:1])
        m = batch["attention_mask"][0]
        keep = (m[1:] * m[:-1]).bool()
        ce = F.cross_entropy(out.logits[0, :-1][keep], batch["input_ids"][0, 1:][keep])
        assert torch.allclose(nll[s, 0], ce, atol=1e-5)
    gen = view.generate(
        input_ids=batch["input_ids"][:4], attention_mask=batch["attention_mask"][:4],
        max_new_tokens=2, do_sample=False, pad_token_id=PAD,
    )  # fmt: skip
    assert gen.shape[0] == 4
    assert all(layer.active == 1 for layer in task_adapter_layers(model))  # restored
