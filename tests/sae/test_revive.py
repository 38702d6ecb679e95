"""The revive term of the linear SAEs: its closed form, its gradient, and its switch."""

from __future__ import annotations

import pytest
import torch

from mplib.sae import BaseSAE, BatchTopKSAE, JumpReLUSAE, ReLUSAE, TopKSAE

LINEAR = {
    "relu": lambda **kw: ReLUSAE(8, 40, l1_coef=0.1, **kw),
    "topk": lambda **kw: TopKSAE(8, 40, k=2, **kw),
    "batchtopk": lambda **kw: BatchTopKSAE(8, 40, target_l0=2, **kw),
    "jumprelu": lambda **kw: JumpReLUSAE(8, 40, **kw),
}


def _x():
    return torch.randn(16, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("name", LINEAR)
def test_revive_term_is_the_mean_pre_activation_of_dead_units(name):
    x = _x()
    on = LINEAR[name](revive_coef=0.5, seed=3, dtype=torch.float64)
    off = LINEAR[name](revive_coef=0.0, seed=3, dtype=torch.float64)
    with torch.no_grad():  # ten units that cannot fire on this batch
        for m in (on, off):
            m.b_enc[:, :10] -= 100.0
    out_on, out_off = on.training_step(x, 0, 10), off.training_step(x, 0, 10)
    pre = on.pre_activation(x[None])[0]  # (B, N), the direct formula
    dead = ~(out_on.codes != 0).any(0)
    assert 0 < int(dead.sum()) < 40  # both kinds of unit are present
    expected = -0.5 * pre[:, dead].mean()
    torch.testing.assert_close(out_on.loss - out_off.loss, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(out_on.aux_loss - out_off.aux_loss, expected, atol=1e-12, rtol=0)
    # the gradient raises dead units' encoder biases and leaves the live ones alone
    on.zero_grad()
    on.revive_term(x[None], out_on.codes[None].detach()).sum().backward()
    g = on.b_enc.grad[0]
    assert (g[dead] < 0).all() and (g[~dead] == 0).all()


@pytest.mark.parametrize("name", LINEAR)
def test_revive_config_round_trip_and_validation(name):
    model = LINEAR[name](revive_coef=1e-5)
    assert model.config()["revive_coef"] == 1e-5
    assert BaseSAE.from_config(model.config()).hyper["revive_coef"] == 1e-5
    with pytest.raises(ValueError, match="revive_coef"):
        LINEAR[name](revive_coef=-1.0)
