"""Built-in methods, one file each. Importing this package registers them."""

from . import (  # CKL baselines and TAALM deployment: spec taalm.md
    ckl_finetune,
    ckl_oracle,
    ewc,
    inclora,
    kadapter,
    kif,
    mixreview,
    mtl,
    nlora,
    olora,
    recadam,
    replay,
    rho1,
    seqft,
    seqlora,
    taalm,
)

__all__ = [
    "ckl_finetune",
    "ckl_oracle",
    "ewc",
    "inclora",
    "kadapter",
    "kif",
    "mixreview",
    "mtl",
    "nlora",
    "olora",
    "recadam",
    "replay",
    "rho1",
    "seqft",
    "seqlora",
    "taalm",
]
