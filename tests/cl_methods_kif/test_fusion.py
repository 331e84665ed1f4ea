"""Recurrent-KIF fusion table and formula."""

import torch

from cl_methods.kif import FusionTable, fuse


def test_fusion_by_hand():
    anchor = torch.zeros(2, 2)
    theta_k = torch.ones(2, 2)  # delta_in = 1
    theta = theta_k + 10  # delta_out = 10
    m_in = torch.tensor([[1, 1], [0, 0]], dtype=torch.bool)
    m_out = torch.tensor([[1, 0], [1, 0]], dtype=torch.bool)
    out = fuse(anchor, theta_k, theta, m_in, m_out)
    assert torch.allclose(out, torch.tensor([[6.4, 1.0], [10.0, 5.5]]))


def test_coefficient_table():
    m_in = torch.tensor([True, True, False, False])
    m_out = torch.tensor([True, False, True, False])
    c_in, c_out = FusionTable().coefficients(m_in, m_out)
    assert torch.allclose(c_in, torch.tensor([0.4, 1.0, 0.0, 0.5]))
    assert torch.allclose(c_out, torch.tensor([0.6, 0.0, 1.0, 0.5]))


def test_only_inner_keeps_theta_k_and_only_outer_adds_delta_out_to_the_anchor():
    anchor, theta_k, theta = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 5)
    ones, zeros = torch.ones(3, 5, dtype=torch.bool), torch.zeros(3, 5, dtype=torch.bool)
    assert torch.allclose(fuse(anchor, theta_k, theta, ones, zeros), theta_k)
    only_outer = fuse(anchor, theta_k, theta, zeros, ones)
    assert torch.allclose(only_outer, anchor + (theta - theta_k))
