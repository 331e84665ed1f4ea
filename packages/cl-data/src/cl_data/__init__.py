"""cl-data: continual-learning benchmarks, task streams, prompts and tokenised batches.

from cl_data import load_stream, synthetic_stream, Seq2SeqEncoder

stream = load_stream(1).subsample(max_train_samples=1000, max_test_samples=500)
encoder = Seq2SeqEncoder(tokenizer)
for task in stream:
    features = encoder.encode_all(task.prompted("train"))
    batch = encoder.collate(features[:8])
    gen_batches = encoder.generation_batches(task.prompted("test"), batch_size=32)
"""

from typing import TYPE_CHECKING, Any

from cl_data.benchmark import (
    DATASETS,
    UNLABELLED,
    canonical_dataset,
    default_benchmark_dir,
    load_stream,
    load_task,
)
from cl_data.errors import DataError, DataWarning
from cl_data.export import export_stream
from cl_data.long_sequence import (
    LONG_SEQUENCE_TASKS,
    default_long_sequence_dir,
    load_instruct_stream,
    load_instruct_task,
)
from cl_data.orders import (
    KIF_TO_OLORA,
    ORDERS,
    kif_order_tasks,
    kif_to_olora,
    olora_to_kif,
    order_tasks,
)
from cl_data.paths import shared_data_root
from cl_data.prompts import (
    INSTRUCTIONS,
    PROMPT_INPUT,
    PROMPT_NO_INPUT,
    TASK_TYPES,
    alpaca_prompt,
    benchmark_prompt,
    instruct_source,
)
from cl_data.sampling import subsample_task
from cl_data.synthetic import SYNTHETIC_TASKS, synthetic_stream, synthetic_task
from cl_data.task import SPLITS, Example, Prompted, Task, TaskStream

if TYPE_CHECKING:
    from cl_data.batching import IGNORE_INDEX, GenerationBatch
    from cl_data.byte_tokenizer import byte_level_tokenizer
    from cl_data.causal_lm import CausalLMEncoder
    from cl_data.seq2seq import Seq2SeqEncoder

__version__ = "0.1.0"

# Names that need torch or transformers, imported on first use so that `import cl_data` and the
# `cl-data` command stay light.
_LAZY = {
    "IGNORE_INDEX": "cl_data.batching",
    "GenerationBatch": "cl_data.batching",
    "byte_level_tokenizer": "cl_data.byte_tokenizer",
    "CausalLMEncoder": "cl_data.causal_lm",
    "Seq2SeqEncoder": "cl_data.seq2seq",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cl_data' has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "IGNORE_INDEX",
    "INSTRUCTIONS",
    "KIF_TO_OLORA",
    "LONG_SEQUENCE_TASKS",
    "ORDERS",
    "PROMPT_INPUT",
    "PROMPT_NO_INPUT",
    "SPLITS",
    "SYNTHETIC_TASKS",
    "TASK_TYPES",
    "UNLABELLED",
    "CausalLMEncoder",
    "DataError",
    "DataWarning",
    "Example",
    "GenerationBatch",
    "Prompted",
    "Seq2SeqEncoder",
    "Task",
    "TaskStream",
    "alpaca_prompt",
    "benchmark_prompt",
    "byte_level_tokenizer",
    "canonical_dataset",
    "default_benchmark_dir",
    "default_long_sequence_dir",
    "export_stream",
    "instruct_source",
    "kif_order_tasks",
    "kif_to_olora",
    "load_instruct_stream",
    "load_instruct_task",
    "load_stream",
    "load_task",
    "olora_to_kif",
    "order_tasks",
    "shared_data_root",
    "subsample_task",
    "synthetic_stream",
    "synthetic_task",
]
