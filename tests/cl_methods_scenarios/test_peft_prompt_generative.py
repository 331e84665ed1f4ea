"""Per-task prompt tuning on a plain causal LM (spec §2.3): `peft` with peft_type=prompt_tuning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from cl_methods import ContinualTrainer, GenerationEvaluator, TrainTask, build_method
from cl_methods.classic import ClassifierModel, PromptTunedLM
from cl_methods.method import TaskContext
from cl_methods.methods.peft_task import NLLSelectView

PAD = 0


def periodic_rows(lo: int, n: int, seed: int) -> list[dict]:
    """Sequences cycling through the 8 tokens ``lo..lo+7`` from a random start, lengths 5-8."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        start = int(torch.randint(0, 8, (1,), generator=g))
        length = int(torch.randint(5, 9, (1,), generator=g))
        rows.append({"ids": [lo + (start + k) % 8 for k in range(length)]})
    return rows


def lm_collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Left-padded LM batch; labels -100 on padding."""
    width = max(len(r["ids"]) for r in rows)
    ids = torch.tensor([[PAD] * (width - len(r["ids"])) + r["ids"] for r in rows])
    mask = torch.tensor([[0] * (width - len(r["ids"])) + [1] * len(r["ids"]) for r in rows])
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def lm_tasks(los=(2, 20), n=16) -> list[TrainTask]:
    return [
        TrainTask(name=f"t{i}", train=periodic_rows(lo, n, seed=i), collate=lm_collate)
        for i, lo in enumerate(los)
    ]


def prompt_method(**kw):
    return build_method("peft", {"peft_type": "prompt_tuning", "num_virtual_tokens": 3, **kw})


def start_tasks(method, model, count: int) -> None:
    for t in range(count):
        method.on_task_start(TaskContext(index=t, name=f"t{t}", num_tasks=count), model)


def test_only_the_current_prompt_trains_and_old_prompts_stay_bit_identical(tiny, tmp_path):
    method = prompt_method(prompt_init_ids=[5, 6], il_mode="TIL", num_tasks=2)
    llama = tiny.llama()
    body = {k: v.clone() for k, v in llama.state_dict().items()}
    table = llama.get_input_embeddings().weight.detach().clone()
    snapshots = []

    def evaluate(m, task, acc):
        if task.name == "t0":
            snapshots.append([p.detach().clone() for p in m.prompts])
        return 0.0

    trainer, _ = tiny.run(llama, method, lm_tasks(), tmp_path, evaluate=evaluate)
    model = trainer.model
    assert isinstance(model, PromptTunedLM) and model.lm is llama
    init = table[[5, 6, 5]]  # the init text's ids, cycled to 3 virtual tokens
    after0, after1 = snapshots
    assert not torch.equal(after0[0], init) and torch.equal(after0[1], init)
    assert torch.equal(after1[0], after0[0])  # task 0's prompt bit-identical after task 1
    assert torch.equal(model.prompts[0], after0[0]) and not torch.equal(model.prompts[1], init)
    for k, v in llama.state_dict().items():
        assert torch.equal(v, body[k]), k  # the backbone is frozen
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["prompts.1"]
    model.active_prompt = 1
    batch = lm_collate(periodic_rows(20, 4, seed=9))
    model(**batch).loss.backward()
    assert model.prompts[1].grad is not None and model.prompts[1].grad.abs().sum() > 0
    assert model.prompts[0].grad is None
    assert all(p.grad is None for p in llama.parameters())


def test_loss_masks_virtual_tokens_and_logits_align_with_the_inputs(tiny):
    model = PromptTunedLM(tiny.llama()).eval()
    model.add_task_prompts(num_tasks=2, num_tokens=3)
    model.active_prompt = 1
    n = 3
    ids = torch.tensor([[4, 9, 7, 3, 11, 5]])
    labels = ids.clone()
    labels[0, :3] = -100
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
    embeds = torch.cat([model.prompts[1][None], model.lm.get_input_embeddings()(ids)], 1)
    full = model.lm(inputs_embeds=embeds).logits
    assert out.logits.shape == (1, 6, full.shape[-1])
    assert torch.allclose(out.logits, full[:, n:], atol=1e-6)
    # token i is predicted at layout position n + i - 1; only labelled real tokens count
    want = torch.stack([F.cross_entropy(full[0, n + i - 1], ids[0, i]) for i in (3, 4, 5)]).mean()
    assert torch.allclose(out.loss, want, atol=1e-6)
    inputs = model.with_prompt(ids, torch.ones_like(ids), labels)
    assert inputs["labels"][0, :n].eq(-100).all() and inputs["attention_mask"].all()

    # a left-padded batch: every row's logits and the token-weighted loss match the rows alone
    rows = [[4, 9, 7, 3], [8, 2, 6, 5, 7, 7, 3]]
    batch = lm_collate([{"ids": r} for r in rows])
    batch["labels"][:, -2] = -100
    joint = model(**batch)
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # a left-padding collator's
    with_positions = model(**batch, position_ids=positions)
    assert torch.allclose(with_positions.logits, joint.logits, atol=1e-6)
    assert torch.allclose(with_positions.loss, joint.loss, atol=1e-6)
    losses, counts = [], []
    for k, r in enumerate(rows):
        one = torch.tensor([r])
        lab = batch["labels"][k, -len(r) :][None]
        alone = model(input_ids=one, attention_mask=torch.ones_like(one), labels=lab)
        assert torch.allclose(joint.logits[k, -len(r) :], alone.logits[0], atol=1e-5)
        losses.append(alone.loss)
        counts.append(int((lab != -100).sum()))  # the first token is predicted from the prompt
    weighted = sum(lo * c for lo, c in zip(losses, counts, strict=True)) / sum(counts)
    assert torch.allclose(joint.loss, weighted, atol=1e-5)


def test_til_evaluates_task_j_with_prompt_j_only(tiny):
    method = prompt_method(il_mode="TIL", num_tasks=2)
    model = method.prepare(tiny.llama())
    start_tasks(method, model, 2)
    model.eval()
    batch = lm_collate(periodic_rows(2, 3, seed=5))
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}

    def logits(task_name):
        view = method.eval_model(model, task_name)
        return view(**inputs).logits.detach().clone()

    before0, before1 = logits("t0"), logits("t1")
    assert not torch.allclose(before0, before1)  # random inits differ per task
    with torch.no_grad():
        model.prompts[1].add_(torch.randn_like(model.prompts[1]))
    assert torch.equal(logits("t0"), before0)  # task 0 never reads prompt 1
    assert not torch.allclose(logits("t1"), before1)
    with torch.no_grad():
        model.prompts[0].add_(torch.randn_like(model.prompts[0]))
    assert not torch.allclose(logits("t0"), before0)


def expressive_llama() -> LlamaForCausalLM:
    """The tiny LLaMA with larger random weights (std 0.2): at std 0.02 its next-token
    distribution stays near uniform whatever the prompt, so per-task prompts barely separate."""
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=PAD,
        eos_token_id=1,
        bos_token_id=None,
        initializer_range=0.2,
    )
    return LlamaForCausalLM(cfg)


def fit_prompt(model: PromptTunedLM, task: int, rows: list[dict], steps: int = 40) -> None:
    """Hand-made per-task prompts: tune prompt ``task`` alone on its task's sequences."""
    model.requires_grad_(False)
    prompt = model.prompts[task]
    prompt.requires_grad_(True)
    model.active_prompt = task
    opt = torch.optim.Adam([prompt], lr=0.1)
    batch = lm_collate(rows)
    for _ in range(steps):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()
    prompt.requires_grad_(False)


def test_generative_cil_picks_the_prompt_with_the_lowest_nll(tiny):
    method = prompt_method(num_tasks=2)
    model = method.prepare(expressive_llama())
    start_tasks(method, model, 2)
    fit_prompt(model, 0, periodic_rows(2, 16, seed=0))
    fit_prompt(model, 1, periodic_rows(20, 16, seed=1))
    model.eval()
    view = method.eval_model(model, "t0")
    assert isinstance(view, NLLSelectView) and view.model is model
    test = [periodic_rows(2, 6, seed=11), periodic_rows(20, 6, seed=12)]
    batch = lm_collate(test[0][:3] + test[1][:3] + test[0][3:] + test[1][3:])
    want = torch.tensor([0, 0, 0, 1, 1, 1] * 2)
    nll = view.prompt_nll(batch["input_ids"], batch["attention_mask"])
    assert torch.equal(nll.argmin(0), want)

    # the NLL of row 0 under prompt 1, by hand: [P_1, x], token i predicted at n + i - 1
    x = torch.tensor(test[0][0]["ids"])
    emb = torch.cat([model.prompts[1], model.lm.get_input_embeddings()(x)])[None]
    full = model.lm(inputs_embeds=emb).logits[0]
    by_hand = F.cross_entropy(full[3 : 3 + len(x) - 1], x[1:])
    assert torch.allclose(nll[1, 0], by_hand, atol=1e-5)

    # each row is decoded by its chosen prompt; batched = row by row with that prompt
    kw = {"max_new_tokens": 3, "do_sample": False, "pad_token_id": PAD}
    out = view.generate(batch["input_ids"], batch["attention_mask"], **kw)
    assert model.active_prompt == 1  # the newest prompt is active again after selection
    width = batch["input_ids"].shape[1]
    for k in range(len(want)):
        one = batch["input_ids"][k][batch["attention_mask"][k].bool()][None]
        model.active_prompt = int(want[k])
        alone = model.generate(one, torch.ones_like(one), **kw)
        got = out[k, width:]
        assert torch.equal(got[: alone.shape[1] - one.shape[1]], alone[0, one.shape[1] :]), k

    latest = prompt_method(num_tasks=2, cil_adapter_select="latest")
    lm = latest.prepare(tiny.llama())
    start_tasks(latest, lm, 2)
    lm.active_prompt = 0
    assert latest.eval_model(lm, "t0") is lm and lm.active_prompt == 1


class DigitTokenizer:
    pad_token_id = PAD
    eos_token_id = 1

    def batch_decode(self, rows, skip_special_tokens=True):
        return [" ".join(str(int(t)) for t in r if int(t) != PAD) for r in rows]


def test_left_padded_generation_equals_per_example_generation():
    model = PromptTunedLM(expressive_llama()).eval()
    model.add_task_prompts(num_tasks=1, num_tokens=4)
    model.active_prompt = 0
    rows = [{"ids": [7, 3, 9]}, {"ids": [12, 4, 5, 6, 8, 2]}, {"ids": [30, 31, 32, 33, 34]}]
    batch = lm_collate(rows)
    kw = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": PAD}
    joint = model.generate(batch["input_ids"], batch["attention_mask"], **kw)
    assert torch.equal(joint[:, : batch["input_ids"].shape[1]], batch["input_ids"])
    singles = []
    for r in rows:
        one = torch.tensor([r["ids"]])
        alone = model.generate(one, torch.ones_like(one), **kw)[0, len(r["ids"]) :]
        singles.append(alone)
        assert torch.equal(joint[len(singles) - 1, batch["input_ids"].shape[1] :], alone)

    class Acc:
        device = torch.device("cpu")
        process_index, num_processes, is_local_main_process = 0, 1, True

        def autocast(self):
            return torch.autocast("cpu", enabled=False)

    ev = GenerationEvaluator(
        DigitTokenizer(),
        lambda ex: ({k: v for k, v in lm_collate(ex).items() if k != "labels"}, ["?"] * len(ex)),
        match=lambda p, g: p == g,
        max_new_tokens=4,
        batch_size=3,
        progress=False,
    )
    preds = [p for p, _ in ev.predict(model, rows, Acc())]  # only the continuation is decoded
    assert preds == [" ".join(str(int(t)) for t in s if int(t) != PAD) for s in singles]


def test_peft_type_alias_and_resume_restores_every_prompt(tiny, tmp_path):
    assert build_method("peft", {"peft_type": "prompt_tuning"}).config.adapter == "prompt_tuning"
    assert build_method("peft", {"peft_type": "lora"}).config.adapter == "lora"
    with pytest.raises(ValueError, match="disagree"):
        build_method("peft", {"adapter": "prompt_tuning", "peft_type": "lora"})

    first, _ = tiny.run(tiny.llama(), prompt_method(num_tasks=2), lm_tasks(), tmp_path)
    trained = [p.detach().clone() for p in first.model.prompts]
    fresh = tiny.llama()
    again = ContinualTrainer(
        fresh, prompt_method(num_tasks=2), first.config, evaluate=lambda m, t, a: 0.0
    )
    again.fit(lm_tasks(los=(5, 25)), resume=True)  # other data: retraining would differ
    assert isinstance(again.model, PromptTunedLM) and again.model.lm is fresh
    for got, want in zip(again.model.prompts, trained, strict=True):
        assert torch.equal(got, want)


def test_heads_model_prompts_also_follow_the_left_padding(tiny, space):
    """A generative heads model places its prompt after the left padding too: a padded row's
    features equal the row's features alone (positions no longer depend on the pad count)."""
    model = ClassifierModel(expressive_llama(), space, generative=True).eval()
    model.add_task_prompts(3)
    model.active_prompt = 1
    rows = [[4, 9, 7], [8, 2, 6, 5, 7, 7]]
    batch = lm_collate([{"ids": r} for r in rows])
    joint = model.features(batch["input_ids"], batch["attention_mask"])
    for k, r in enumerate(rows):
        alone = model.features(torch.tensor([r]), torch.ones(1, len(r), dtype=torch.long))
        assert torch.allclose(joint[k], alone[0], atol=1e-5), k
