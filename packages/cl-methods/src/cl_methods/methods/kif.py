"""Recurrent-KIF (spec recurrent-kif.md); the implementation lives in :mod:`cl_methods.kif`."""

from __future__ import annotations

from ..kif.method import RecurrentKIF

__all__ = ["RecurrentKIF"]
