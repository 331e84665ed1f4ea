"""Datasets and formats of the classic continual-learning codebase (spec classic-methods.md).

from cl_data.classic import build_concept1k, build_topic3, label_idx_til

data, config = build_concept1k()              # 10 tasks, IIL (Concept-1K)
data, config = build_topic3()                 # 5 tasks x 5 classes (CIL/TIL)
rows = split_rows(data[0]["train"])           # [{"input", "target", "label_idx_cil", ...}]
til = label_idx_til(rows[0]["label_idx_cil"], 0, config)
source = build_prompt("default", rows[0]["input"]); answer = answer_text(rows[0]["target"])
write_continual_dataset(data, config, "out/topic3")   # continual_{data,config}.json
"""

from cl_data.classic.concept1k import (
    ConceptRecord,
    build_concept1k,
    concept_task_sizes,
    default_concept1k_file,
    read_concept1k_records,
)
from cl_data.classic.continual import (
    ContinualConfig,
    ContinualData,
    check_continual_data,
    label_idx_cil,
    label_idx_til,
    read_continual_config,
    read_continual_data,
    read_continual_dataset,
    rows_to_table,
    split_rows,
    write_continual_config,
    write_continual_data,
    write_continual_dataset,
)
from cl_data.classic.prompts import (
    DATASET_MAX_LENGTH,
    DATASET_PROMPT,
    PROMPT_TUNING_INIT,
    PROMPTS,
    answer_text,
    build_prompt,
    normalise_answer,
    remove_entity_markers,
)
from cl_data.classic.topic3 import build_topic3, normalise_class_name, title_body

__all__ = [
    "DATASET_MAX_LENGTH",
    "DATASET_PROMPT",
    "PROMPTS",
    "PROMPT_TUNING_INIT",
    "ConceptRecord",
    "ContinualConfig",
    "ContinualData",
    "answer_text",
    "build_concept1k",
    "build_prompt",
    "build_topic3",
    "check_continual_data",
    "concept_task_sizes",
    "default_concept1k_file",
    "label_idx_cil",
    "label_idx_til",
    "normalise_answer",
    "normalise_class_name",
    "read_concept1k_records",
    "read_continual_config",
    "read_continual_data",
    "read_continual_dataset",
    "remove_entity_markers",
    "rows_to_table",
    "split_rows",
    "title_body",
    "write_continual_config",
    "write_continual_data",
    "write_continual_dataset",
]
