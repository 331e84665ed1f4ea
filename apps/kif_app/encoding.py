"""The Recurrent-KIF LLaMA encoding (Alpaca recipe), on top of cl-data's causal-LM encoder.

Training text = prompt + output, tokenised with BOS, cut to ``cutoff_len`` tokens, EOS appended
when absent and the text is shorter than the cutoff. Labels are -100 on the first P positions,
P = the token count of the prompt alone (with BOS, without EOS). Batches are left-padded with
pad id 0 to a multiple of 8 (position ids counted from the first real token).
"""

from __future__ import annotations

from dataclasses import dataclass

from cl_data import IGNORE_INDEX, CausalLMEncoder


@dataclass
class AlpacaEncoder(CausalLMEncoder):
    cutoff_len: int = 512

    def encode(self, source: str, target: str) -> dict[str, list[int]]:
        tok = self.tokenizer
        ids = [*self._bos, *tok(source + target, add_special_tokens=False)["input_ids"]]
        ids = ids[: self.cutoff_len]
        if ids[-1] != self._eos and len(ids) < self.cutoff_len:
            ids.append(self._eos)
        prompt = [*self._bos, *tok(source, add_special_tokens=False)["input_ids"]]
        p = min(len(prompt), len(ids))
        return {
            "input_ids": ids,
            "attention_mask": [1] * len(ids),
            "labels": [IGNORE_INDEX] * p + ids[p:],
        }


def alpaca_encoder(tokenizer, cutoff_len: int = 512, max_new_tokens: int = 128) -> AlpacaEncoder:
    """The encoder of the LLaMA recipe; generation prompts are cut to ``cutoff_len``."""
    return AlpacaEncoder(
        tokenizer,
        max_source_length=cutoff_len,
        max_target_length=max_new_tokens,
        pad_to_multiple_of=8,
        train_padding_side="left",
        pad_token_id=0,
        cutoff_len=cutoff_len,
    )
