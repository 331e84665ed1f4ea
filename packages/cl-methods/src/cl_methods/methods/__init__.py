"""Built-in methods, one file each. Importing this package registers them."""

from . import inclora, mtl, olora, seqft, seqlora

__all__ = ["inclora", "mtl", "olora", "seqft", "seqlora"]
