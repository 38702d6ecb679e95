"""Hungarian alignment of learned latents to a ground-truth dictionary.

Two ways to score a (latent, feature) pair, then one optimal assignment
(``scipy.optimize.linear_sum_assignment``) per run:

``"activations"`` (the authors' code, used for every toy figure)
    On a matching batch, the learned inference activations ``Z`` (n, n_latents) and the
    ground-truth activations ``Z*`` (n, n_features; binary × feature norm) are each divided
    column-wise by their largest magnitude over the batch (clamped at 1e-10);
    ``S = Zᵀ Z*`` (a dot product over samples), cost ``= max(S) − S``.
``"cosine"``
    ``S = |D̂ F̂ᵀ|`` between unit atoms and unit features; sign-invariant, so each matched atom
    is flipped to point towards its feature.

Learned atoms are then permuted so that atom ``i`` matches feature ``i`` and scaled to unit norm.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.optimize
import torch

from mplib.metrics._validation import as_tensor, same_device, to_output, unit_rows

__all__ = ["AlignmentResult", "align_dictionary", "hungarian_alignment"]

_METHODS = ("activations", "cosine")


@dataclasses.dataclass(frozen=True)
class AlignmentResult:
    """Latents matched to ground-truth features, one assignment per run.

    Shapes use ``...`` for the broadcast leading ("runs") dimensions of the inputs.
    """

    permutation: np.ndarray
    """(..., n_features) int: the latent matched to feature ``i``; index codes with it,
    ``codes[..., permutation]``, to put latent ``i`` next to feature ``i``."""
    order: np.ndarray
    """(..., n_latents) int: ``permutation`` followed by the unmatched latents in index order
    (the same as ``permutation`` when there are as many latents as features)."""
    signs: np.ndarray
    """(..., n_features): +1, or -1 where method ``"cosine"`` flipped the matched atom."""
    atoms: np.ndarray
    """(..., n_features, n_features_in): matched atoms, permuted, signed and unit-norm."""
    cosine: np.ndarray
    """(..., n_features): cosine between atom ``i`` and feature ``i``."""
    alignment: np.ndarray
    """(..., n_features, n_features): ``A_ij = ⟨f_i, d̂_j⟩`` (unit vectors; the ``FD̂ᵀ`` panel)."""
    gram: np.ndarray
    """(..., n_features, n_features): ``Ĝ_ij = ⟨d̂_i, d̂_j⟩`` of the aligned atoms (``D̂D̂ᵀ``)."""
    similarity: np.ndarray
    """(..., n_latents, n_features): the similarity ``S`` the assignment maximised."""
    method: str
    """``"activations"`` or ``"cosine"``."""

    def aligned_codes(self, codes: Any) -> np.ndarray:
        """Reorder codes so that column ``i`` is the latent matched to feature ``i``.

        Parameters
        ----------
        codes : array_like or Tensor of shape (..., n_samples, n_latents)
            Codes of the aligned model(s), e.g. on the reference batch; leading dimensions
            broadcast against the runs. Signs are applied (``"cosine"`` alignment).

        Returns
        -------
        ndarray of shape (..., n_samples, n_features)
        """
        z = as_tensor(codes, "codes", min_ndim=2)
        if z.shape[-1] != self.order.shape[-1]:
            raise ValueError(
                f"codes must have {self.order.shape[-1]} latents (columns), got shape "
                f"{tuple(z.shape)}"
            )
        perm = torch.from_numpy(self.permutation).to(z.device)
        signs = torch.from_numpy(self.signs).to(device=z.device, dtype=z.dtype)
        try:
            lead = torch.broadcast_shapes(z.shape[:-2], perm.shape[:-1])
        except RuntimeError:
            raise ValueError(
                f"codes {tuple(z.shape)} do not fit the runs {self.permutation.shape[:-1]}"
            ) from None
        idx = perm[..., None, :].expand(lead + (z.shape[-2], perm.shape[-1]))
        out = torch.gather(z.expand(lead + z.shape[-2:]), -1, idx)
        return to_output(out * signs[..., None, :])


def _column_max_scaled(a: torch.Tensor) -> torch.Tensor:
    # The authors divide by the column max; for their non-negative activations this is the
    # largest magnitude, which also keeps signed codes (signed MP) from blowing up.
    return a / a.abs().amax(dim=-2, keepdim=True).clamp_min(1e-10)


def hungarian_alignment(
    dictionary: Any,
    features: Any,
    *,
    codes: Any = None,
    true_codes: Any = None,
    method: str | None = None,
) -> AlignmentResult:
    """Match each ground-truth feature to one learned latent by an optimal assignment.

    Parameters
    ----------
    dictionary : array_like or Tensor of shape (..., n_latents, n_features_in)
        Learned atoms as rows (any norm).
    features : array_like or Tensor of shape (..., n_features, n_features_in)
        Ground-truth directions as rows (any norm); ``n_features <= n_latents``. Leading
        dimensions broadcast against the dictionary's (one truth for many runs, or one each).
    codes : array_like or Tensor of shape (..., n_samples, n_latents), optional
        Learned inference activations on the matching batch (method ``"activations"``).
    true_codes : array_like or Tensor of shape (..., n_samples, n_features), optional
        Ground-truth activations on the same batch: binary activity × feature norm (the
        toy's binary matching batch, ``ToySpec.codes(n, gen, binary=True, norms=...)``).
    method : {"activations", "cosine"}, default=None
        None means ``"activations"`` when ``codes`` is given, else ``"cosine"``. See the
        module docstring.

    Returns
    -------
    AlignmentResult

    Raises
    ------
    ValueError
        On inconsistent shapes, non-finite inputs, fewer latents than features, or codes
        missing (or given) for the method.

    Notes
    -----
    The activation-based similarity follows ``get_latent_perm`` of ``mpsae/MP-SAE``
    (``train_saes_on_toy.ipynb``). H. W. Kuhn, "The Hungarian method for the assignment
    problem", Naval Res. Logist. Q. 2, 1955.

    Examples
    --------
    >>> F = np.eye(3)
    >>> res = hungarian_alignment(-2.0 * F[[2, 0, 1]], F)
    >>> res.permutation, res.signs, res.cosine
    (array([1, 2, 0]), array([-1., -1., -1.]), array([1., 1., 1.]))
    """
    if method is None:
        method = "activations" if codes is not None else "cosine"
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    D = as_tensor(dictionary, "dictionary", min_ndim=2)
    F = same_device(as_tensor(features, "features", min_ndim=2), D)
    p, d = D.shape[-2:]
    f = F.shape[-2]
    if F.shape[-1] != d:
        raise ValueError(
            f"features must have {d} columns like the dictionary, got shape {tuple(F.shape)}"
        )
    if f > p:
        raise ValueError(
            f"dictionary must have at least as many atoms as features ({f}), got {p} atoms"
        )
    Du, Fu = unit_rows(D), unit_rows(F)
    leads = [D.shape[:-2], F.shape[:-2]]
    if method == "activations":
        if codes is None or true_codes is None:
            raise ValueError("method='activations' needs both codes and true_codes")
        Z = same_device(as_tensor(codes, "codes", min_ndim=2), D)
        T = same_device(as_tensor(true_codes, "true_codes", min_ndim=2), D)
        if Z.shape[-1] != p or T.shape[-1] != f or Z.shape[-2] != T.shape[-2]:
            raise ValueError(
                f"codes must have shape (..., n_samples, {p}) and true_codes "
                f"(..., n_samples, {f}) with the same n_samples, got {tuple(Z.shape)} and "
                f"{tuple(T.shape)}"
            )
        leads += [Z.shape[:-2], T.shape[:-2]]
    elif codes is not None or true_codes is not None:
        raise ValueError("codes and true_codes are used only by method='activations'")
    try:
        lead = torch.broadcast_shapes(*leads)
    except RuntimeError:
        raise ValueError(
            f"the leading dimensions of dictionary {tuple(D.shape)}, features "
            f"{tuple(F.shape)} and the codes do not broadcast"
        ) from None
    if method == "activations":
        S = _column_max_scaled(Z).transpose(-1, -2) @ _column_max_scaled(T)
    else:
        S = (Du @ Fu.transpose(-1, -2)).abs()
    S = S.expand(lead + (p, f))
    Sb = S.reshape(-1, p, f).cpu().numpy()
    perm = np.empty((Sb.shape[0], f), dtype=np.int64)
    order = np.empty((Sb.shape[0], p), dtype=np.int64)
    for b, s in enumerate(Sb):
        cost = s.max() - s
        _, cols = scipy.optimize.linear_sum_assignment(cost.T)  # rows = features, in order
        perm[b] = cols
        rest = np.setdiff1d(np.arange(p), cols)
        order[b] = np.concatenate([cols, rest])
    perm_t = torch.from_numpy(perm.reshape(lead + (f,))).to(D.device)
    atoms = _gather(Du.expand(lead + (p, d)), perm_t)
    Fe = Fu.expand(lead + (f, d))
    cosine = (atoms * Fe).sum(dim=-1)
    if method == "cosine":
        signs = torch.where(cosine < 0, -1.0, 1.0).to(D.dtype)
    else:
        signs = torch.ones_like(cosine)
    atoms, cosine = atoms * signs[..., None], cosine * signs
    return AlignmentResult(
        permutation=perm.reshape(lead + (f,)),
        order=order.reshape(lead + (p,)),
        signs=to_output(signs),
        atoms=to_output(atoms),
        cosine=to_output(cosine),
        alignment=to_output(Fe @ atoms.transpose(-1, -2)),
        gram=to_output(atoms @ atoms.transpose(-1, -2)),
        similarity=to_output(S),
        method=method,
    )


def _gather(D: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(D, -2, index[..., None].expand(index.shape + (D.shape[-1],)))


def align_dictionary(dictionary: Any, permutation: Any, *, signs: Any = None) -> np.ndarray:
    """Permute atoms (``dictionary[..., permutation, :]``), scale them to unit norm, apply signs.

    Parameters
    ----------
    dictionary : array_like or Tensor of shape (..., n_latents, n_features_in)
        Atoms as rows.
    permutation : array_like of int, shape (..., n_aligned)
        Atom to place at each position (``AlignmentResult.permutation`` or ``.order``).
    signs : array_like of shape (..., n_aligned), optional
        Multipliers (±1) applied after the permutation.

    Returns
    -------
    ndarray of shape (..., n_aligned, n_features_in)

    Examples
    --------
    >>> align_dictionary(np.array([[2.0, 0.0], [0.0, 3.0]]), [1, 0])
    array([[0., 1.],
           [1., 0.]])
    """
    D = unit_rows(as_tensor(dictionary, "dictionary", min_ndim=2))
    idx = torch.as_tensor(np.asarray(permutation))
    if idx.dtype not in (torch.int64, torch.int32) or idx.ndim < 1:
        raise TypeError(f"permutation must be an integer array, got dtype {idx.dtype}")
    p = D.shape[-2]
    if ((idx < 0) | (idx >= p)).any():
        raise ValueError(f"permutation must hold atom indices in [0, {p}), got {idx.tolist()}")
    try:
        lead = torch.broadcast_shapes(D.shape[:-2], idx.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"permutation {tuple(idx.shape)} does not fit dictionary {tuple(D.shape)}"
        ) from None
    idx = idx.to(device=D.device, dtype=torch.int64).expand(lead + idx.shape[-1:])
    atoms = _gather(D.expand(lead + D.shape[-2:]), idx)
    if signs is not None:
        s = same_device(as_tensor(signs, "signs"), atoms)
        if s.shape[-1] != idx.shape[-1]:
            raise ValueError(f"signs must have shape (..., {idx.shape[-1]}), got {tuple(s.shape)}")
        atoms = atoms * s[..., None]
    return to_output(atoms)
