from dataclasses import dataclass
from typing import Literal

import pytest

from cl_methods import Method, MethodConfig, config_from_dict, parse_bool


@dataclass
class _Cfg(MethodConfig):
    lam: float = 0.5
    rank: int = 8
    flag: bool = False
    norm: Literal["l1", "l2sq"] = "l1"
    names: tuple[str, ...] = ("q", "v")
    maybe: float | None = None


def test_parse_bool_is_strict():
    assert parse_bool("False") is False
    assert parse_bool("yes") is True
    assert parse_bool(0) is False
    with pytest.raises(ValueError, match="not a boolean"):
        parse_bool("maybe")


def test_config_from_strings():
    cfg = config_from_dict(
        _Cfg, {"lam": "2", "rank": "4", "flag": "false", "norm": "l2sq", "names": "q,k,v"}
    )
    assert cfg == _Cfg(lam=2.0, rank=4, flag=False, norm="l2sq", names=("q", "k", "v"))
    assert config_from_dict(_Cfg, {"maybe": "none"}).maybe is None
    with pytest.raises(ValueError, match="unknown option"):
        config_from_dict(_Cfg, {"lamda": 1})
    with pytest.raises(ValueError, match="not one of"):
        config_from_dict(_Cfg, {"norm": "l3"})


def test_method_rejects_wrong_config_type():
    class _M(Method):
        config_class = _Cfg

    with pytest.raises(TypeError, match="expects a _Cfg"):
        _M(MethodConfig())
