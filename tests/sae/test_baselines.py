"""The baselines' own mechanics against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.sae import (
    BatchTopKSAE,
    JumpReLUSAE,
    MatryoshkaSAE,
    ReLUSAE,
    TopKSAE,
    TrainConfig,
    prefix_length_probs,
    train,
)
from mplib.sae._sparsity import adaptive_l1

from .sae_helpers import toy_stream

F64 = torch.float64


def test_prefix_law_is_the_toys():
    """``sample_prefixes`` of ``mpsae/MP-SAE``: pdf from differences of 1 - (l/L)^0.5."""
    n = 20
    lengths = np.arange(n)
    cdf = 1 - (lengths / n) ** 0.5
    pdf = np.concatenate([[0.0], cdf[1:] - cdf[:-1]])
    np.testing.assert_allclose(prefix_length_probs(n).numpy(), pdf / pdf.sum(), rtol=1e-12)
    p3 = prefix_length_probs(10, min_length=3).numpy()
    assert (p3[:3] == 0).all() and p3.sum() == pytest.approx(1.0)


def test_prefix_sampler_matches_sampling_without_replacement():
    """Gumbel-top-k draws the law of numpy's ``choice(replace=False, p)`` (the toy's)."""
    n, draws = 20, 6000
    model = MatryoshkaSAE(20, n, n_models=1, seed=0)
    masks = torch.stack([model._prefix_mask()[0] for _ in range(draws)])  # (draws, P, N)
    ours = masks.sum(-1)[:, :4].numpy()  # the 4 random prefix lengths, sorted
    rng = np.random.default_rng(0)
    p = prefix_length_probs(n).numpy()
    theirs = np.sort([rng.choice(n, 4, replace=False, p=p) for _ in range(draws)], 1)
    for col in range(4):
        h1 = np.bincount(ours[:, col], minlength=n) / draws
        h2 = np.bincount(theirs[:, col], minlength=n) / draws
        assert 0.5 * np.abs(h1 - h2).sum() < 0.05, col
    assert (np.diff(ours, axis=1) > 0).all()  # distinct lengths
    assert (masks[:, -1].all(-1)).all()  # the full length is always there


def _controller_oracle(l0s, n_steps, start=0.1, target=1.36, eps=3e-4, warm=0.2):
    """The toy's AdaptiveSparsityController, one call per step, from its definition."""
    scale, step, warmup, out = start, 0, int(n_steps * warm), []
    for l0 in l0s:
        if step > warmup:
            scale *= (1 - eps) if l0 < target else (1 + eps)
        step += 1
        out.append(scale * min(step / warmup, 1))
    return out


def test_adaptive_l1_is_the_toys_controller():
    rng = np.random.default_rng(0)
    l0s = rng.uniform(0.5, 2.5, 600)
    coef = torch.tensor([0.1], dtype=F64)
    got = []
    for step, l0 in enumerate(l0s):
        coef, eff = adaptive_l1(coef, torch.tensor([l0]), torch.tensor([1.36], dtype=F64), step,
                                600, 3e-4, 0.2)
        got.append(float(eff))
    np.testing.assert_allclose(got, _controller_oracle(l0s, 600), rtol=1e-12)


def test_running_norm_and_input_scale():
    model = MatryoshkaSAE(20, 20, n_prefixes=1, permute_latents=False, dtype=F64)
    stream = toy_stream([0], dtype=F64)
    batches = [next(stream)[0] for _ in range(3)]
    model.train()
    a = 0.0
    for step, x in enumerate(batches):
        model.training_step(x, step, 100)
        a = 0.99 * a + 0.01 * float(x.norm(dim=-1).mean())
    assert float(model.running_norm) == pytest.approx(a, rel=1e-12)
    # codes and reconstructions are reported in input scale
    x = batches[0]
    scale = np.sqrt(20) / a
    xn = x * scale
    acts = torch.relu(xn @ model.W_enc[0] + model.b_enc[0])
    x_hat = (acts @ model.W_dec[0] + model.b_dec[0]) / scale
    torch.testing.assert_close(model(x).x_hat, x_hat)


@pytest.mark.parametrize("permutation", ["consistent", "as_released"])
def test_latent_resorting_keeps_the_function(permutation):
    model = MatryoshkaSAE(20, 20, n_models=2, permutation=permutation, dtype=F64)
    stream = toy_stream([0, 1], dtype=F64)
    c = TrainConfig(n_steps=30, warmup_steps=5, progress=False)
    train(model, stream, c)
    model.train()
    x = next(stream)
    opt = torch.optim.Adam(model.parameters())
    model.training_step(x, 30, 100).loss.sum().backward()
    opt.step()
    before = model(x)
    state_before = opt.state[model.W_dec]["exp_avg"].clone()
    perm = model.perm.clone()
    assert not (perm == torch.arange(20)).all()  # the order did change
    model.post_step(opt)
    after = model(x)
    torch.testing.assert_close(after.x_hat, before.x_hat)
    torch.testing.assert_close(after.codes, before.codes.gather(-1, perm[:, None].expand(-1, 64,
                                                                                          -1)))
    moved = opt.state[model.W_dec]["exp_avg"]
    if permutation == "consistent":
        torch.testing.assert_close(moved, state_before.gather(1, perm[..., None].expand(-1, -1,
                                                                                        20)))
    else:
        torch.testing.assert_close(moved, state_before)


def test_matryoshka_sorts_latents_by_contribution():
    model = MatryoshkaSAE(20, 20, n_models=2)
    train(model, toy_stream([0, 1], batch_size=100),
          TrainConfig(n_steps=400, warmup_steps=20, progress=False))
    sq = model.sq_mean
    assert (sq[:, :-1] >= sq[:, 1:] - 1e-6).float().mean() > 0.9  # nearly sorted, decreasing


def test_batchtopk_keeps_int_l0_batch_plus_one():
    model = BatchTopKSAE(20, 20, n_models=2, target_l0=[1.36, 2.0], initial_steps=3,
                         dtype=F64)
    model.train()
    stream = toy_stream([0, 1], batch_size=200, dtype=F64)
    thr = None
    for step in range(5):
        out = model.training_step(next(stream), step, 10)
        nnz = (out.codes != 0).sum((1, 2)).tolist()
        assert nnz == ([601, 601] if step < 3 else [273, 401])  # int(L0·200) + 1
        smallest = out.codes.masked_fill(out.codes == 0, np.inf).amin((1, 2))
        thr = smallest if thr is None else 0.9 * thr + 0.1 * smallest
        torch.testing.assert_close(model.threshold, thr)
    model.eval()
    x = next(stream)
    pre = x @ model.W_enc + model.b_enc[:, None]
    torch.testing.assert_close(model.encode(x), pre * (pre >= thr[:, None, None]))


def test_jumprelu_straight_through_gradients():
    """d/dθ of the output and of L0 are the rectangle-kernel pseudo-derivatives."""
    model = JumpReLUSAE(4, 3, bandwidth=0.5, threshold_init=0.3, sparsity_coef=1.0, dtype=F64)
    x = torch.tensor([[0.5, 0.0, 0.0, 0.0], [0.0, 0.35, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]],
                     dtype=F64)
    with torch.no_grad():
        model.W_enc.copy_(torch.eye(4, 3, dtype=F64)[None])
        model.W_dec.copy_(torch.eye(3, 4, dtype=F64)[None])
    out = model(x)
    pre = x[:, :3]
    theta = torch.full((3,), 0.3, dtype=F64)
    k = ((pre - theta).abs() < 0.25).to(F64) / 0.5
    # loss = mean_b ||x - z||² + mean_b Σ_j H(pre - θ); z_j = pre_j H(pre_j - θ_j)
    z = pre * (pre > theta)
    g_z = -2 * (torch.cat([x[:, :3] - z], 1)) / 3  # d recon / d z, batch mean
    g_theta = (g_z * (-theta * k)).sum(0) + (-k).sum(0) / 3
    out.loss.backward()
    torch.testing.assert_close(model.log_threshold.grad[0], g_theta * theta)


def test_topk_auxk_only_with_dead_latents():
    model = TopKSAE(20, 20, k=2, aux_k=5, dead_steps=3, n_models=1, dtype=F64)
    model.train()
    x = next(toy_stream([0], dtype=F64))
    out = model.training_step(x, 0, 10)
    assert float(out.aux_loss.detach()) == 0.0  # nothing dead yet
    with torch.no_grad():
        model.since_fired.fill_(5)
    out = model.training_step(x, 1, 10)
    assert float(out.aux_loss.detach()) > 0
    out.loss.sum().backward()
    fired = (out.codes[0] != 0).any(0)
    assert model.W_dec.grad[0, ~fired].abs().sum() > 0  # dead latents learn from the error


def test_relu_adaptive_coefficient_moves_towards_target():
    model = ReLUSAE(20, 20, n_models=2, l1_coef=1e-3, target_l0=[1.0, 50.0], l1_warmup=0.0)
    train(model, toy_stream([0, 1]), TrainConfig(n_steps=50, warmup_steps=5, progress=False))
    assert float(model.l1[0]) > 1e-3 > float(model.l1[1])


def test_matryoshka_prefix_errors_equal_direct_reconstructions():
    """The Gram-form prefix errors equal ||x - b - Σ_{j<e} a_j w_j||² for every prefix."""
    model = MatryoshkaSAE(20, 20, n_models=2, dtype=F64, seed=3)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.W_dec.normal_(generator=g)
        model.b_dec.normal_(generator=g)
    xn = torch.randn(2, 30, 20, dtype=F64, generator=g)
    acts = torch.rand(2, 30, 20, dtype=F64, generator=g)
    mask = model._prefix_mask()
    got = model._prefix_errors(xn, acts, mask)
    for m in range(2):
        for p in range(mask.shape[1]):
            keep = mask[m, p].to(F64)
            pred = (acts[m] * keep) @ model.W_dec[m] + model.b_dec[m]
            direct = ((xn[m] - pred) ** 2).sum(-1).mean()
            torch.testing.assert_close(got[m, p], direct, rtol=1e-10, atol=1e-10)


def test_matryoshka_batch_statistics_gradients():
    """Issue #5: the two-product backward of (actsᵀacts, actsᵀx, Σ_b acts) is the gradient."""
    from mplib.sae.matryoshka import _act_stats

    g = torch.Generator().manual_seed(4)
    acts = torch.rand(2, 9, 5, dtype=F64, generator=g, requires_grad=True)
    x = torch.randn(2, 9, 3, dtype=F64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(_act_stats, (acts, x))
    assert torch.autograd.gradcheck(lambda a, b: _act_stats(a, b)[0], (acts, x))
    assert torch.autograd.gradcheck(lambda a, b: _act_stats(a, b)[1:], (acts, x))


@pytest.mark.parametrize("n_prefixes", [1, 5])
def test_matryoshka_training_loss_and_gradients_equal_the_direct_form(n_prefixes):
    """The statistics form of the training step against direct reconstructions.

    Loss = mean over prefixes of ||s·x - b - Σ_{j<e} a_j w_j||² (batch mean) + coef × the mean
    prefix L1 of a_j ||w_j||, with the scale s, prefixes and coefficient the step used.
    """
    model = MatryoshkaSAE(20, 20, n_models=2, n_prefixes=n_prefixes, dtype=F64, seed=5)
    model.train()
    stream = toy_stream([0, 1], dtype=F64)
    for step in range(3):  # a running norm, an adapted coefficient and a prefix draw
        model.training_step(next(stream), step, 50)
    x = next(stream)
    state = {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    extra = model.get_extra_state()
    out = model.training_step(x, 3, 50)
    out.loss.sum().backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    # replay the same step directly: same state, same random prefixes
    direct = MatryoshkaSAE(20, 20, n_models=2, n_prefixes=n_prefixes, dtype=F64, seed=5)
    direct.load_state_dict({**state, "_extra_state": extra})
    direct.train()
    with torch.no_grad():
        mom = direct.hyper["norm_momentum"]
        direct.running_norm.mul_(mom).add_((1 - mom) * x.norm(dim=-1).mean(-1))
        mask = direct._prefix_mask().to(F64)
    s = direct._scale()
    xn = x * s
    acts = torch.relu(xn @ direct.W_enc + direct.b_enc[:, None])
    loss = 0
    for p in range(mask.shape[1]):
        pred = (acts * mask[:, p, None]) @ direct.W_dec + direct.b_dec[:, None]
        loss = loss + ((xn - pred) ** 2).sum(-1).mean(-1) / mask.shape[1]
    normed = acts * direct.W_dec.norm(dim=-1)[:, None]
    l1 = (normed.mean(1)[:, None] * mask).sum(-1).mean(-1)
    coef = out.aux_loss.detach() / l1.detach()
    torch.testing.assert_close(out.recon_loss, loss.detach(), rtol=1e-9, atol=1e-12)
    (loss + coef * l1).sum().backward()
    for n, p in direct.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=1e-8, atol=1e-10)
