"""How many CL_Benchmark rows get other token ids under `truncation="released"` than under "cut".

The O-LoRA / N-LoRA apps encode with `truncation="released"` (cl_data.truncation: the releases'
collator decodes the kept ids and tokenises the text again); "cut" cuts the ids. This script
encodes every train and test row of the 15 tasks both ways, with the apps' paper lengths (source
512, target 50), and counts the rows whose ids differ.

    python results/truncation/measure_truncation.py                # T5-style vocabulary, trained
    python results/truncation/measure_truncation.py --tokenizer /path/to/t5-large   # a local copy

`--tokenizer unigram` (default; no download) trains a T5-style sentencepiece-like vocabulary with
`tokenizers` on the benchmark's training prompts and answers: Unigram model, 32,000 pieces, NFKC and
whitespace collapsing, Metaspace ("▁") pre-tokenisation, no byte fallback (unknown characters
become <unk>), `</s>` appended; the decoder-only rows use the same vocabulary with `<s>` prepended,
as LLaMA's tokenizer does. The `tokenizers` Unigram trainer is not bit-reproducible (piece scores
differ in the 4th decimal and the piece order changes from run to run), so the trained vocabulary
is saved beside the results (`truncation_unigram_tokenizer.json.gz`, SHA-256 recorded) and
`--tokenizer that-file` measures with it again. `--tokenizer byt5` uses ByT5 (bytes). A folder
path loads that tokenizer (`local_files_only`), e.g. a local copy of t5-large.

Counted per task and split (full files, as the apps' paper presets load them):
- encoder-decoder: `over` rows whose source exceeds 512 ids (only they can change), `changed`
  rows whose encoder ids differ (labels are encoded alike in both modes);
- decoder-only: `over` rows cut at all (train: BOS + prompt + answer + EOS over 512 ids;
  test: BOS + prompt over 512), `changed` rows whose ids or loss positions differ from "cut"
  (every row: "released" starts with two BOS tokens, as the release did); on test
  `changed_beyond_bos` the rows that still differ with one of the two BOS tokens removed; on train
  `answer_cut` rows whose answer end (EOS) the second tokenisation cut, `no_loss` rows with no
  loss token left, `mask_off_answer` uncut rows whose loss positions (computed, as released, from
  the answer tokenised alone) are not the tokens after the prompt in the joint tokenisation.

Writes truncation_changes_<tokenizer>.json and .md beside this file (or into --out-dir).
"""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import gzip
import hashlib
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from cl_data import (
    DATASETS,
    IGNORE_INDEX,
    CausalLMEncoder,
    DataWarning,
    Seq2SeqEncoder,
    default_benchmark_dir,
    load_task,
)

HERE = Path(__file__).resolve().parent
SPECIALS = ["<pad>", "</s>", "<unk>", "<s>"]


def training_texts(tasks) -> list[str]:
    texts = []
    for task in tasks:
        for ex in task.prompted("train"):
            texts += [ex.source, ex.target]
    return texts


def train_unigram(texts: list[str], vocab_size: int) -> tuple[str, float]:
    """A T5-style Unigram vocabulary (the `tokenizers` JSON) and the seconds it took."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )

    core = Tokenizer(models.Unigram())
    core.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    )
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>", show_progress=False
    )
    started = time.time()
    core.train_from_iterator(texts, trainer)
    return core.to_str(), time.time() - started


def unigram_tokenizers(vocabulary: str):
    """(encoder-decoder tokenizer, decoder-only tokenizer) of one Unigram vocabulary."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    def wrap(template: str, **special: str) -> Any:
        tok = Tokenizer.from_str(vocabulary)
        ids = [(t, tok.token_to_id(t)) for t in ("<s>", "</s>") if t in template]
        tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=ids)
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", **special
        )

    return wrap("$A </s>", eos_token="</s>"), wrap("<s> $A", eos_token="</s>", bos_token="<s>")


def load_tokenizers(args, tasks):
    """(encoder-decoder tokenizer, decoder-only tokenizer or None, description)."""
    if args.tokenizer == "unigram" or args.tokenizer.endswith((".json", ".json.gz")):
        info: dict[str, Any] = {
            "kind": "unigram",
            "description": "T5-style Unigram vocabulary trained on the training prompts and "
            f"answers of the {len(tasks)} tasks measured (NFKC, whitespace collapsed, Metaspace, "
            "no byte fallback)",
        }
        if args.tokenizer == "unigram":
            vocabulary, seconds = train_unigram(training_texts(tasks), args.vocab_size)
            saved = args.out_dir / "truncation_unigram_tokenizer.json.gz"
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(gzip.compress(vocabulary.encode(), mtime=0))
            info.update(training_seconds=round(seconds, 1), file=saved.name)
        else:
            raw = Path(args.tokenizer).read_bytes()
            vocabulary = (gzip.decompress(raw) if args.tokenizer.endswith(".gz") else raw).decode()
            info["file"] = Path(args.tokenizer).name
        seq2seq, causal = unigram_tokenizers(vocabulary)
        info.update(vocab_size=len(seq2seq), sha256=hashlib.sha256(vocabulary.encode()).hexdigest())
        return seq2seq, causal, info
    if args.tokenizer == "byt5":
        from transformers import ByT5Tokenizer

        tok = ByT5Tokenizer()
        return tok, None, {"kind": "byt5", "description": "ByT5 (one id per UTF-8 byte)"}
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True)
    info = {"kind": "local", "description": f"{type(tok).__name__} from {args.tokenizer}"}
    return tok, tok if tok.bos_token else None, info


def count_seq2seq(tok, rows, max_source: int, max_target: int) -> dict[str, int]:
    cut = Seq2SeqEncoder(tok, max_source_length=max_source, max_target_length=max_target)
    released = Seq2SeqEncoder(
        tok, max_source_length=max_source, max_target_length=max_target, truncation="released"
    )
    out = {"rows": len(rows), "over": 0, "changed": 0}
    for ex in rows:
        out["over"] += len(tok(ex.source)["input_ids"]) > max_source
        out["changed"] += released.source_ids(ex.source) != cut.source_ids(ex.source)
    return out


def _without_one_bos(ids: list[int], bos: int) -> list[int]:
    return ids[1:] if len(ids) > 1 and ids[0] == ids[1] == bos else ids


def count_causal(tok, rows, split: str, max_source: int, max_target: int) -> dict[str, int]:
    lengths = {"max_source_length": max_source, "max_target_length": max_target}
    cut = CausalLMEncoder(tok, **lengths)
    released = CausalLMEncoder(tok, **lengths, truncation="released")
    bos, eos = tok.bos_token_id, tok.eos_token_id
    out = {"rows": len(rows), "over": 0, "changed": 0}
    if split == "train":
        out.update(answer_cut=0, no_loss=0, mask_off_answer=0)
    else:
        out.update(changed_beyond_bos=0)
    for ex in rows:
        prompt = tok(tok.bos_token + ex.source)["input_ids"]
        if split != "train":
            out["over"] += len(prompt) > max_source
            a, b = released.prompt_ids(ex.source), cut.prompt_ids(ex.source)
            out["changed"] += a != b
            out["changed_beyond_bos"] += _without_one_bos(a, bos) != b
            continue
        whole = tok(tok.bos_token + ex.source + ex.target + tok.eos_token)["input_ids"]
        over = len(whole) > max_source
        r, c = released.encode(ex.source, ex.target), cut.encode(ex.source, ex.target)
        positions = [i for i, v in enumerate(r["labels"]) if v != IGNORE_INDEX]
        out["over"] += over
        out["changed"] += r["input_ids"] != c["input_ids"] or r["labels"] != c["labels"]
        out["answer_cut"] += r["input_ids"][-1] != eos
        out["no_loss"] += not positions
        if not over:  # the tokens after the prompt, tokenised with the answer, vs the mask
            answer = list(range(len(prompt), len(r["input_ids"])))
            off = r["input_ids"][: len(prompt)] != prompt or positions != answer
            out["mask_off_answer"] += off
    return out


def pct(part: int, whole: int) -> str:
    if not whole:
        return "-"
    share = 100 * part / whole
    return "<0.1%" if 0 < share < 0.05 else f"{share:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    tok, lim = report["tokenizer"], report["lengths"]
    lines = [
        '# Rows whose token ids change: truncation "released" vs "cut"',
        "",
        f"Tokenizer: {tok['description']}"
        + (f"; {tok['vocab_size']} pieces, sha256 {tok['sha256'][:16]}" if "sha256" in tok else "")
        + f". Lengths: source {lim['max_source_length']}, target {lim['max_target_length']}. "
        f"Data: {report['data_dir']} (full train and test files). Written by "
        "`results/truncation/measure_truncation.py`.",
        "",
        "## Encoder-decoder (T5 path): rows over the source limit / rows whose ids change",
        "",
        "| task | train rows | train over | train changed | test rows | test over | test changed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, splits in report["seq2seq"].items():
        cells = [name]
        for split in ("train", "test"):
            c = splits[split]
            cells += [
                str(c["rows"]),
                f"{c['over']} ({pct(c['over'], c['rows'])})",
                f"{c['changed']} ({pct(c['changed'], c['rows'])})",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if report.get("causal"):
        lines += [
            "",
            "## Decoder-only (LLaMA path)",
            "",
            'Every row\'s ids change: "released" starts with two BOS tokens and tokenises prompt '
            "and answer as one string, as the release did. Over = rows cut at all (train: BOS + "
            "prompt + answer + EOS over the source limit; test: BOS + prompt). Answer cut = the "
            "second tokenisation cut the answer's end; no loss = no answer token left in the loss; "
            "mask off answer = uncut rows whose loss positions (from the answer tokenised alone) "
            "are not the tokens after the prompt in the joint tokenisation. Test beyond BOS = "
            "still different with one BOS removed (over-limit prompts keep their beginning).",
            "",
            "| task | train rows | train over | answer cut | no loss | mask off answer | "
            "test rows | test over | test beyond BOS |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, splits in report["causal"].items():
            tr, te = splits["train"], splits["test"]
            cells = [name, str(tr["rows"])]
            for key in ("over", "answer_cut", "no_loss", "mask_off_answer"):
                cells.append(f"{tr[key]} ({pct(tr[key], tr['rows'])})")
            cells.append(str(te["rows"]))
            for key in ("over", "changed_beyond_bos"):
                cells.append(f"{te[key]} ({pct(te[key], te['rows'])})")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="default: $CL_SHARED_DATA/...")
    ap.add_argument(
        "--tokenizer",
        default="unigram",
        help="unigram (train one), a saved vocabulary (.json[.gz]), byt5, or a local folder",
    )
    ap.add_argument("--vocab-size", type=int, default=32000, help="unigram: pieces (T5: 32,000)")
    ap.add_argument("--max-source-length", type=int, default=512)
    ap.add_argument("--max-target-length", type=int, default=50)
    ap.add_argument("--tasks", default=",".join(DATASETS), help="comma-separated")
    ap.add_argument("--causal", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out-dir", type=Path, default=HERE)
    args = ap.parse_args(argv)
    data_dir = args.data_dir or default_benchmark_dir()
    started = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # MNLI's '-' rows are kept, as the apps do
        tasks = [load_task(name, data_dir) for name in args.tasks.split(",")]
    seq2seq_tok, causal_tok, info = load_tokenizers(args, tasks)
    src, tgt = args.max_source_length, args.max_target_length
    report: dict[str, Any] = {
        "tokenizer": info,
        "lengths": {"max_source_length": src, "max_target_length": tgt},
        "data_dir": str(data_dir),
        "seq2seq": {},
        "causal": {},
    }
    for task in tqdm(tasks, desc="tasks", unit="task"):
        rows = {split: task.prompted(split) for split in ("train", "test")}
        report["seq2seq"][task.name] = {
            split: count_seq2seq(seq2seq_tok, r, src, tgt) for split, r in rows.items()
        }
        if args.causal and causal_tok is not None:
            report["causal"][task.name] = {
                split: count_causal(causal_tok, r, split, src, tgt) for split, r in rows.items()
            }
    import tokenizers
    import transformers

    report["versions"] = {
        "python": platform.python_version(),
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    report["seconds"] = round(time.time() - started, 1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"truncation_changes_{info['kind']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"written {stem}.json and .md ({report['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
