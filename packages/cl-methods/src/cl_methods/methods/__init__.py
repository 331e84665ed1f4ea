"""Built-in methods, one file each. Importing this package registers them."""

from . import (  # noqa: F401  (CKL baselines and TAALM deployment, spec taalm.md)
    ckl_finetune,
    ckl_oracle,
    kadapter,
    mixreview,
    recadam,
    rho1,
    taalm,
)
