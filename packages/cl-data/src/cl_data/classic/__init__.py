"""Datasets and formats of the classic continual-learning codebase (spec classic-methods.md).

from cl_data.classic import build_concept1k, build_topic3, label_idx_til

data, config = build_concept1k()              # 10 tasks, IIL (Concept-1K)
data, config = build_topic3()                 # 5 tasks x 5 classes (CIL/TIL)
data, config = build_clinc150()               # 15 tasks x 10 intents (shared copy)
data, config = build_banking77()              # 7 tasks x 11 intents, dev = test
data, config = build_fewrel("path/to/fewrel") # 8 x 10 relations (files not shared; see relation)
data, config = build_labelled_dataset("tacred", "path/to/tacred", train_per_class=50)
rows = split_rows(data[0]["train"])           # [{"input", "target", "label_idx_cil", ...}]
til = label_idx_til(rows[0]["label_idx_cil"], 0, config)
source = build_prompt("default", rows[0]["input"]); answer = answer_text(rows[0]["target"])
write_continual_dataset(data, config, "out/topic3")   # continual_{data,config}.json
"""

from cl_data.classic.banking77 import build_banking77, read_banking77_categories, read_banking77_csv
from cl_data.classic.clinc150 import (
    build_clinc150,
    clinc150_class_order,
    intent_name,
    read_clinc150,
)
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
from cl_data.classic.datasets import LABELLED_DATASETS, build_labelled_dataset
from cl_data.classic.labelled import LabelledSplit, assemble_class_tasks
from cl_data.classic.prompts import (
    DATASET_MAX_LENGTH,
    DATASET_PROMPT,
    PROMPT_TUNING_INIT,
    PROMPTS,
    answer_text,
    build_prompt,
    entities_from_markers,
    has_entity_markers,
    normalise_answer,
    remove_entity_markers,
)
from cl_data.classic.relation import (
    build_fewrel,
    build_relation_dataset,
    build_tacred,
    read_relation_splits,
    tacred_semantic_label,
)
from cl_data.classic.topic3 import build_topic3, normalise_class_name, title_body

__all__ = [
    "DATASET_MAX_LENGTH",
    "DATASET_PROMPT",
    "LABELLED_DATASETS",
    "PROMPTS",
    "PROMPT_TUNING_INIT",
    "ConceptRecord",
    "ContinualConfig",
    "ContinualData",
    "LabelledSplit",
    "answer_text",
    "assemble_class_tasks",
    "build_banking77",
    "build_clinc150",
    "build_concept1k",
    "build_fewrel",
    "build_labelled_dataset",
    "build_prompt",
    "build_relation_dataset",
    "build_tacred",
    "build_topic3",
    "check_continual_data",
    "clinc150_class_order",
    "concept_task_sizes",
    "default_concept1k_file",
    "entities_from_markers",
    "has_entity_markers",
    "intent_name",
    "label_idx_cil",
    "label_idx_til",
    "normalise_answer",
    "normalise_class_name",
    "read_banking77_categories",
    "read_banking77_csv",
    "read_clinc150",
    "read_concept1k_records",
    "read_continual_config",
    "read_continual_data",
    "read_continual_dataset",
    "read_relation_splits",
    "remove_entity_markers",
    "rows_to_table",
    "split_rows",
    "tacred_semantic_label",
    "title_body",
    "write_continual_config",
    "write_continual_data",
    "write_continual_dataset",
]
