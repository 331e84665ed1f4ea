from dataclasses import dataclass
from typing import Literal

import pytest

from cl_methods import Method, MethodConfig


@dataclass
class _Cfg(MethodConfig):
    lam: float = 0.5
    rank: int = 8
    flag: bool = False
    norm: Literal["l1", "l2sq"] = "l1"
    names: tuple[str, ...] = ("q", "v")
    maybe: float | None = None


def test_build_method_applies_typed_overrides_and_refuses_unknown_keys():
    from cl_methods import build_method, get_method_class, register_method

    @register_method("_cfg_test")
    class _M(Method):
        config_class = _Cfg

    assert get_method_class("_cfg_test") is _M
    method = build_method("_cfg_test", {"lam": 2.0, "names": ("q", "k")})
    assert method.config == _Cfg(lam=2.0, names=("q", "k"))
    with pytest.raises(ValueError, match="unknown option"):
        build_method("_cfg_test", {"lamda": 1.0})


def test_method_rejects_wrong_config_type():
    class _M(Method):
        config_class = _Cfg

    with pytest.raises(TypeError, match="expects a _Cfg"):
        _M(MethodConfig())
