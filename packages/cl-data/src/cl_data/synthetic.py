"""An embedded synthetic benchmark shaped like order 1: four topic-classification tasks.

Each task has its own label set (3-5 labels) and stands in for one order-1 dataset. An example is
a short sentence of 5-7 keywords of its label (drawn with repetition from its six) mixed with up to
two filler words. The prompt header is long and constant, so the signal must be dense for a tiny
randomly initialised byte-level T5 to pick it up within about a hundred steps. Everything is
generated from a seed; no data file is needed. Orders 1-3 permute the four tasks like the real
orders; prompts use task type "TC", like the real topic tasks.
"""

from __future__ import annotations

import random

from cl_data.errors import DataError
from cl_data.orders import ORDERS, order_tasks
from cl_data.task import Example, Task, TaskStream

# task -> label -> keywords that signal the label.
SYNTHETIC_TASKS: dict[str, dict[str, tuple[str, ...]]] = {
    "synth_entities": {
        "Company": ("shares", "profit", "firm", "merger", "startup", "headquarters"),
        "Artist": ("painter", "canvas", "gallery", "sculpture", "portrait", "exhibition"),
        "Animal": ("fur", "paws", "herd", "predator", "tail", "burrow"),
        "Plant": ("leaves", "roots", "petals", "seeds", "blossom", "stem"),
        "Building": ("tower", "storeys", "architect", "facade", "lobby", "concrete"),
    },
    "synth_reviews": {
        "negative": ("broken", "awful", "refund", "terrible", "useless", "disappointed"),
        "neutral": ("average", "okay", "decent", "ordinary", "acceptable", "adequate"),
        "positive": ("excellent", "love", "perfect", "wonderful", "superb", "delighted"),
    },
    "synth_questions": {
        "Health": ("doctor", "fever", "medicine", "diet", "symptoms", "vitamins"),
        "Education": ("homework", "teacher", "exam", "school", "degree", "lecture"),
        "Computers": ("laptop", "software", "keyboard", "printer", "wifi", "browser"),
        "Family": ("parents", "wedding", "sister", "toddler", "cousin", "grandmother"),
    },
    "synth_news": {
        "World": ("election", "minister", "embassy", "treaty", "border", "parliament"),
        "Sports": ("goal", "league", "coach", "tournament", "striker", "championship"),
        "Business": ("stocks", "earnings", "investors", "market", "revenue", "bank"),
        "Science": ("telescope", "physics", "researchers", "genome", "laboratory", "spacecraft"),
    },
}

# The order-1 dataset each synthetic task stands in for.
STAND_INS: dict[str, str] = {
    "dbpedia": "synth_entities",
    "amazon": "synth_reviews",
    "yahoo": "synth_questions",
    "agnews": "synth_news",
}

FILLER: tuple[str, ...] = (
    "the", "a", "this", "that", "some", "new", "old", "many", "few", "people", "week", "today",
    "report", "city", "time", "said", "about", "after", "before", "with", "from", "local",
    "small", "large", "day", "year", "story", "group", "again", "still", "very", "just", "also",
    "there", "often", "really", "thing", "around", "during", "other",
)  # fmt: skip

SYNTHETIC_ORDERS: tuple[int, ...] = (1, 2, 3)


def _sentence(rng: random.Random, keywords: tuple[str, ...]) -> str:
    words = rng.choices(FILLER, k=rng.randint(0, 2))
    for keyword in rng.choices(keywords, k=rng.randint(5, 7)):
        words.insert(rng.randint(0, len(words)), keyword)
    return " ".join(words).capitalize() + "."


def _split(
    rng: random.Random, table: dict[str, tuple[str, ...]], n: int, seen: set[str], prefix: str
) -> tuple[Example, ...]:
    labels = list(table)
    targets = [labels[i % len(labels)] for i in range(n)]
    rng.shuffle(targets)
    examples = []
    for index, label in enumerate(targets):
        sentence = _sentence(rng, table[label])
        while sentence in seen:
            sentence = _sentence(rng, table[label])
        seen.add(sentence)
        examples.append(Example(sentence, label, f"{prefix}-{index}"))
    return tuple(examples)


def synthetic_task(
    name: str, seed: int = 0, *, n_train: int = 160, n_dev: int = 40, n_test: int = 40
) -> Task:
    """One synthetic task (a key of SYNTHETIC_TASKS); classes are balanced in every split and no
    sentence repeats within a task."""
    if name not in SYNTHETIC_TASKS:
        raise DataError(f"unknown synthetic task {name!r}; known: {', '.join(SYNTHETIC_TASKS)}")
    for arg, value in (("n_train", n_train), ("n_dev", n_dev), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{arg} must be a non-negative integer, got {value!r}")
    table = SYNTHETIC_TASKS[name]
    seen: set[str] = set()
    splits = {}
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        rng = random.Random(f"cl-data-synthetic/{seed}/{name}/{split}")
        splits[split] = _split(rng, table, n, seen, f"{name}-{split}")
    return Task(
        name=name,
        task_type="TC",
        labels=tuple(table),
        train=splits["train"],
        dev=splits["dev"],
        test=splits["test"],
        format="benchmark",
    )


def synthetic_stream(
    order: int = 1, seed: int = 0, *, n_train: int = 160, n_dev: int = 40, n_test: int = 40
) -> TaskStream:
    """The synthetic tasks in the task order of O-LoRA order 1, 2 or 3 (via STAND_INS)."""
    if order not in SYNTHETIC_ORDERS or isinstance(order, bool):
        raise DataError(
            f"the synthetic benchmark has orders {SYNTHETIC_ORDERS} (shaped like the 4-task "
            f"orders), not {order!r}; orders {sorted(set(ORDERS) - set(SYNTHETIC_ORDERS))} need "
            "the real benchmark"
        )
    names = [STAND_INS[dataset] for dataset in order_tasks(order)]
    tasks = tuple(
        synthetic_task(name, seed, n_train=n_train, n_dev=n_dev, n_test=n_test) for name in names
    )
    return TaskStream(tasks=tasks, name=f"synthetic order {order} (seed {seed})", order=order)
