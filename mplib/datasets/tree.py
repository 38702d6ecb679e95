"""Concept trees: the hierarchy behind the synthetic data, and a vectorised sampler.

A tree follows the ``tree.json`` format of ``mpsae/MP-SAE`` and
``noanabeshima/matryoshka-saes``: each node has an ``active_prob``, may be a read-out feature
(``is_read_out``) and may have ``mutually_exclusive_children``. Read-out nodes get feature
indices in depth-first order (a node before its children), exactly as the authors' code.

* Under a parent with mutually exclusive children, exactly one child is chosen whenever the
  parent is active, with the children's ``active_prob`` as choice probabilities (a non-read-out
  child acts as "no child").
* Otherwise each child of an active parent fires independently with its ``active_prob``.

The authors sample one example at a time, recursively in Python; :meth:`Tree.sample_active`
draws the same distribution with one vectorised operation per node.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["Node", "Tree", "make_tree"]


@dataclasses.dataclass(frozen=True)
class Node:
    """One node of a concept tree (see the module docstring for the sampling rules)."""

    active_prob: float
    """Bernoulli probability, or choice probability under an exclusive parent."""
    read_out: bool = True
    """Whether the node is a feature (a column of the codes)."""
    exclusive_children: bool = False
    """Whether exactly one child is chosen when this node is active."""
    children: tuple[Node, ...] = ()
    """Child nodes, in index order."""

    def __post_init__(self) -> None:
        p = self.active_prob
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ValueError(f"active_prob must be a number in [0, 1], got {p!r}")
        if self.exclusive_children:
            if len(self.children) < 2:
                raise ValueError("a node with exclusive_children needs at least two children")
            total = sum(c.active_prob for c in self.children)
            if abs(total - 1.0) > 1e-9:
                raise ValueError(
                    f"the active_prob of exclusive children must sum to 1, got {total:.6g}"
                )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Node:
        """Build a node (recursively) from the ``tree.json`` format."""
        if "active_prob" not in d:
            raise ValueError("every node of a tree needs an 'active_prob'")
        return cls(
            active_prob=float(d["active_prob"]),
            read_out=bool(d.get("is_read_out", True)),
            exclusive_children=bool(d.get("mutually_exclusive_children", False)),
            children=tuple(cls.from_dict(c) for c in d.get("children", [])),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``tree.json`` form of this node and its subtree."""
        out: dict[str, Any] = {
            "active_prob": self.active_prob,
            "is_read_out": self.read_out,
            "mutually_exclusive_children": self.exclusive_children,
        }
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out


@dataclasses.dataclass(frozen=True)
class _Flat:
    """The tree flattened in depth-first order (internal)."""

    nodes: tuple[Node, ...]
    parent_node: tuple[int, ...]  # index into nodes, -1 for the root
    feature: tuple[int, ...]  # feature index or -1


class Tree:
    """A concept tree with feature indices, levels, parents and sibling groups.

    Parameters
    ----------
    root : Node or mapping
        The root node (or its ``tree.json`` dictionary). The root itself is normally not a
        read-out feature and has ``active_prob`` 1.

    Attributes
    ----------
    n_features : int
        Number of read-out nodes.
    parents : ndarray of shape (n_features,)
        Feature index of each feature's nearest read-out ancestor, -1 for top-level features.
    levels : ndarray of shape (n_features,)
        Depth among read-out nodes: 0 for top-level features, 1 for their children, ...
    groups : list of ndarray
        Sibling groups: the read-out children of each node (the top level is one group).
    """

    def __init__(self, root: Node | Mapping[str, Any]):
        self.root = root if isinstance(root, Node) else Node.from_dict(root)
        nodes: list[Node] = []
        parent_node: list[int] = []
        feature: list[int] = []

        def visit(node: Node, parent: int) -> None:
            idx = len(nodes)
            nodes.append(node)
            parent_node.append(parent)
            feature.append(sum(f >= 0 for f in feature) if node.read_out else -1)
            for child in node.children:
                visit(child, idx)

        visit(self.root, -1)
        self._flat = _Flat(tuple(nodes), tuple(parent_node), tuple(feature))
        self.n_features = sum(f >= 0 for f in feature)
        if self.n_features == 0:
            raise ValueError("a tree needs at least one read-out node")

        parents = np.full(self.n_features, -1)
        levels = np.zeros(self.n_features, dtype=int)
        for i, f in enumerate(feature):
            if f < 0:
                continue
            anc = parent_node[i]
            while anc >= 0 and feature[anc] < 0:
                anc = parent_node[anc]
            if anc >= 0:
                parents[f] = feature[anc]
                levels[f] = levels[feature[anc]] + 1
        self.parents, self.levels = parents, levels
        groups = []
        for i in range(len(nodes)):
            kids = [feature[j] for j, p in enumerate(parent_node) if p == i and feature[j] >= 0]
            if kids:
                groups.append(np.array(kids))
        self.groups = groups

    # -- description ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the ``tree.json`` dictionary of the tree."""
        return self.root.to_dict()

    @property
    def children(self) -> list[np.ndarray]:
        """Feature indices of the read-out children of each feature."""
        return [np.flatnonzero(self.parents == f) for f in range(self.n_features)]

    def marginal_probs(self) -> np.ndarray:
        """Return the probability that each feature is active (exact, from the tree)."""
        flat = self._flat
        p_node = np.zeros(len(flat.nodes))
        for i, node in enumerate(flat.nodes):
            par = flat.parent_node[i]
            p_node[i] = node.active_prob if par < 0 else p_node[par] * node.active_prob
        out = np.zeros(self.n_features)
        for i, f in enumerate(flat.feature):
            if f >= 0:
                out[f] = p_node[i]
        return out

    def expected_l0(self) -> float:
        """Return the expected number of active features per sample."""
        return float(self.marginal_probs().sum())

    def __repr__(self) -> str:
        return f"Tree(n_features={self.n_features}, levels={int(self.levels.max()) + 1})"

    # -- sampling ---------------------------------------------------------------------------
    @functools.cached_property
    def _plan(self) -> list[tuple[int, int, int, Any]]:
        """Per node: (node, parent node, uniform column or -1, exclusive cum. probs or None)."""
        flat = self._flat
        plan, col = [], 0
        for i, node in enumerate(flat.nodes):
            par = flat.parent_node[i]
            independent = par < 0 or not flat.nodes[par].exclusive_children
            use = -1
            if independent and not (par < 0 and node.active_prob >= 1):
                use, col = col, col + 1
            cum = None
            if node.exclusive_children:
                probs = torch.tensor([c.active_prob for c in node.children], dtype=torch.float64)
                cum = (torch.cumsum(probs, 0)[:-1], col)
                col += 1
            plan.append((i, par, use, cum))
        self._n_draws = col
        return plan

    @property
    def n_draws(self) -> int:
        """Uniform draws per sample that :meth:`sample_active_from` consumes."""
        _ = self._plan
        return self._n_draws

    @functools.cached_property
    def max_active(self) -> int:
        """Largest number of features that can fire together in one sample."""

        def most(node: Node) -> int:
            kids = [most(c) for c in node.children]
            inside = (max(kids) if node.exclusive_children else sum(kids)) if kids else 0
            return int(node.read_out) + inside

        return most(self.root)

    def outcomes(self, limit: int = 4096) -> tuple[np.ndarray, np.ndarray] | None:
        """Every set of features that can fire together, with its probability (exact).

        A tree whose nodes mostly have exclusive children has few such sets (the MP-SAE tree:
        20), and drawing one of them per sample is the cheapest exact sampler
        (:class:`~mplib.datasets.ToyStream` uses it). Independent siblings multiply the count.

        Parameters
        ----------
        limit : int, default=4096
            Give up (return None) past this many sets.

        Returns
        -------
        probs : ndarray of shape (n_outcomes,)
            Probabilities (positive, summing to 1).
        features : ndarray of shape (n_outcomes, max_active), int
            Active features of each outcome in increasing order, padded with ``n_features``.
        None
            When there are more than ``limit`` outcomes.
        """
        flat = self._flat
        kids: list[list[int]] = [[] for _ in flat.nodes]
        for j, par in enumerate(flat.parent_node):
            if par >= 0:
                kids[par].append(j)

        def given_active(i: int) -> list[tuple[float, tuple[int, ...]]] | None:
            own = (flat.feature[i],) if flat.feature[i] >= 0 else ()
            out = [(1.0, own)]
            if flat.nodes[i].exclusive_children:
                choice = []
                for j in kids[i]:
                    sub = given_active(j) if flat.nodes[j].active_prob > 0 else []
                    if sub is None:
                        return None
                    choice += [(flat.nodes[j].active_prob * q, f) for q, f in sub]
                out = [(q, own + f) for q, f in choice]
            else:
                for j in kids[i]:
                    pj = flat.nodes[j].active_prob
                    sub = given_active(j) if pj > 0 else []
                    if sub is None:
                        return None
                    opts = ([(1.0 - pj, ())] if pj < 1 else []) + [(pj * q, f) for q, f in sub]
                    out = [(p * q, f + g) for p, f in out for q, g in opts]
                    if len(out) > limit:
                        return None
            return out if len(out) <= limit else None

        p_root = self.root.active_prob
        found = given_active(0)
        if found is None:
            return None
        found = ([(1.0 - p_root, ())] if p_root < 1 else []) + [(p_root * q, f) for q, f in found]
        found = [(q, f) for q, f in found if q > 0]
        if len(found) > limit:
            return None
        probs = np.array([q for q, _ in found])
        table = np.full((len(found), max(1, self.max_active)), self.n_features, dtype=np.int64)
        for row, (_, f) in enumerate(found):
            table[row, : len(f)] = sorted(f)
        return probs / probs.sum(), table

    def sample_active_from(self, uniforms: torch.Tensor) -> torch.Tensor:
        """Which features are active, given uniform draws (vectorised over leading dims).

        Parameters
        ----------
        uniforms : Tensor of shape (..., n, n_draws)
            Independent U(0, 1) draws, one column per independent node or exclusive choice.

        Returns
        -------
        Tensor of shape (..., n, n_features), dtype bool
        """
        if uniforms.shape[-1] != self.n_draws:
            raise ValueError(
                f"uniforms must have {self.n_draws} columns, got shape {tuple(uniforms.shape)}"
            )
        flat = self._flat
        shape = uniforms.shape[:-1]
        active: dict[int, torch.Tensor] = {}
        cols = []
        for i, par, use, cum in self._plan:
            node = flat.nodes[i]
            if use >= 0:
                fire = uniforms[..., use] < node.active_prob
                active[i] = fire if par < 0 else active[par] & fire
            elif par < 0:
                active[i] = torch.ones(shape, dtype=torch.bool, device=uniforms.device)
            # (children of an exclusive node were set when their parent was visited)
            if cum is not None:
                probs, c = cum
                choice = torch.searchsorted(
                    probs.to(uniforms.device, uniforms.dtype), uniforms[..., c].contiguous(),
                    right=True,
                )
                kids = [j for j, p in enumerate(flat.parent_node) if p == i]
                for slot, j in enumerate(kids):
                    active[j] = active[i] & (choice == slot)
            if flat.feature[i] >= 0:
                cols.append(active[i])
        return torch.stack(cols, -1)

    def sample_active(
        self, n: int, generator: torch.Generator, device: Any = "cpu"
    ) -> torch.Tensor:
        """Draw which features are active, vectorised over samples.

        Parameters
        ----------
        n : int
            Number of samples.
        generator : torch.Generator
            Source of randomness (one call: ``torch.rand(n, n_draws)``, float64).
        device : str or torch.device, default="cpu"

        Returns
        -------
        Tensor of shape (n, n_features), dtype bool
        """
        u = torch.rand(n, self.n_draws, generator=generator, dtype=torch.float64, device=device)
        return self.sample_active_from(u)


def make_tree(
    branching: Sequence[int],
    *,
    active_prob: float | Sequence[float] = 0.2,
    exclusive: bool | Sequence[bool] = False,
) -> Tree:
    """Build a regular concept tree of any depth, for teaching and tests.

    Parameters
    ----------
    branching : sequence of int
        ``branching[l]`` read-out children per node of depth ``l`` (the root has depth 0), so
        ``(4, 3)`` gives 4 top-level features with 3 children each.
    active_prob : float or sequence of float, default=0.2
        Probability of each child at depth ``l + 1`` (one value, or one per level). Under an
        exclusive parent it is the choice probability of each child, and the remainder
        ``1 - branching[l] * active_prob`` goes to a non-read-out "no child" slot.
    exclusive : bool or sequence of bool, default=False
        Whether the children of a depth-``l`` node are mutually exclusive (one value, or one
        per level).

    Returns
    -------
    Tree

    Examples
    --------
    >>> tree = make_tree((3, 2), active_prob=(0.3, 0.25), exclusive=(True, False))
    >>> tree.n_features, round(tree.expected_l0(), 3)
    (9, 1.35)
    """
    branching = list(branching)
    depth = len(branching)
    if depth == 0 or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in branching):
        raise ValueError(
            f"branching must be a non-empty sequence of positive ints, got {branching}"
        )
    probs = [active_prob] * depth if isinstance(active_prob, int | float) else list(active_prob)
    excl = [exclusive] * depth if isinstance(exclusive, bool) else list(exclusive)
    if len(probs) != depth:
        raise ValueError(f"active_prob needs {depth} values (one per level), got {len(probs)}")
    if len(excl) != depth:
        raise ValueError(f"exclusive needs {depth} values (one per level), got {len(excl)}")

    def build(level: int, prob: float) -> Node:
        if level == depth:
            return Node(prob)
        kids = [build(level + 1, probs[level]) for _ in range(branching[level])]
        if excl[level]:
            rest = 1.0 - branching[level] * probs[level]
            if rest < -1e-12:
                raise ValueError(
                    f"active_prob[{level}] * branching[{level}] exceeds 1 for exclusive children"
                )
            if rest > 1e-12:
                kids.append(Node(rest, read_out=False))
            elif len(kids) < 2:
                kids.append(Node(0.0, read_out=False))
        return Node(prob, read_out=level > 0, exclusive_children=excl[level], children=tuple(kids))

    return Tree(build(0, 1.0))
