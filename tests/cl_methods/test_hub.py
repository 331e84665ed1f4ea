"""The fast hub reachability check used by every model loader."""

from __future__ import annotations

import socket
import time

import pytest

from cl_methods.hub import hub_offline_forced, hub_reachable, local_only


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def online_env(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return monkeypatch


def test_forced_offline_is_unreachable(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_offline_forced()
    assert not hub_reachable()


def test_closed_endpoint_is_unreachable_at_once(online_env):
    online_env.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    assert not hub_reachable(timeout=2.0)
    assert time.monotonic() - start < 2.5
    assert local_only("some-org/some-model")


def test_listening_endpoint_is_reachable(online_env, tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        online_env.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub_reachable(timeout=2.0)
        assert not local_only("some-org/some-model")
        assert local_only(str(tmp_path))  # a local folder never goes to the hub


def test_taalm_loader_fails_fast_with_an_actionable_message(online_env):
    from cl_methods.taalm.loading import ModelUnavailableError, load_tokenizer

    online_env.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="pass the local folder"):
        load_tokenizer("no-such-org/no-such-model")
    assert time.monotonic() - start < 10
