"""Numba kernels of Gram-space OMP on the CPU: one signal start to finish, in its caches.

Same scheme and semantics as the torch kernel of :mod:`mplib.pursuit._omp_gram` (Batch-OMP,
inverse Cholesky in Gram space); only the execution differs. A call runs a block of signals
one after the other with one working set: ``U`` (k × N, the inner products of every atom with
the orthonormalized selected atoms), ``α`` (N), the small factor ``L``. Per step, for the
selected atom j::

    w   = U[:k, j] ;  ρ² = G_jj − ‖w‖²         # stop the signal if ρ² <= eps·G_jj
    U_k = (G_j − Σ_i w_i U_i) / ρ               # k axpy passes, four rows per pass
    α  −= (α_j / ρ) U_k ;  next j = argmax |α|  # one fused pass + one vectorized search

The last step of a signal computes no ``U_k`` (nothing reads it). Coefficients come from
``L Lᵀ γ = α⁰_Λ`` at the end, as in scikit-learn. :mod:`mplib.pursuit._omp_gram_cpu` drives
these kernels over blocks of signals on several threads (they release the GIL).

Measured choices (2-core Zen 4, fp64; see ``benchmarks/bench_pursuit.py``): the axpy passes
run near the L2 bandwidth (~10 GFMA/s per core) and take most of the time; four rows per
pass (eight: no faster; blocking over atoms so the accumulated row stays in L1: slower).
The row of ``G`` is prefetched when j is known and read in the last pass (+5 %). The argmax
is vectorized by comparing the IEEE bit patterns of ``|α|`` as integers (monotone for
non-negative floats; integer max and min reductions vectorize without fast-math): one pass
for the maximum fused with the ``α`` update, one for the lowest index holding it; a scalar
argmax took 30 % of the run at 64×256/8. ``α`` is set to exact zeros on the support after
each update, so a selected atom is never selected again. Without fast-math (FMA contraction
measured no faster). Loops instead of slice assignments, no arrays in return values (a
signal that outgrows ``U`` runs again with twice the capacity) and one signature per dtype
keep the one-time compilation at a few seconds per dtype (cached on disk afterwards).
"""

from __future__ import annotations

import numpy as np

try:  # optional: without numba the torch kernel runs everywhere
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - exercised by the fallback test in a subprocess
    njit = None

__all__ = ["AVAILABLE", "block", "dense_block", "path_block", "residual_block"]

AVAILABLE = njit is not None

#: Initial step capacity of ``U`` per block (doubled on demand: tol runs).
_FIRST_CAPACITY = 64

if AVAILABLE:
    # nogil: Python threads run blocks side by side; cache: compiled once per install
    _JIT = {"nogil": True, "cache": True, "boundscheck": False, "fastmath": False,
            "error_model": "numpy"}

    @intrinsic
    def _bits(typingctx, x):
        """Reinterpret a float's bits as a signed integer of the same width."""
        width = {types.float64: 64, types.float32: 32}.get(x)
        if width is None:
            return None
        sig = (types.int64 if width == 64 else types.int32)(x)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(width))

        return sig, codegen

    @intrinsic
    def _prefetch(typingctx, arr, i):
        """Ask the CPU to bring the cache line of ``arr[i]`` into L2 (no wait, no fault)."""
        if not isinstance(arr, types.Array):
            return None

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = builder.module.declare_intrinsic(
                "llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            )
            # read, locality 2 (L2: the row is read once, after the U passes), data cache
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(2), i32(1)])
            return context.get_dummy_value()

        return types.void(arr, types.intp), codegen

    @njit(**_JIT)
    def _prefetch_row(row):
        step = max(1, 64 // row.itemsize)  # one request per 64-byte line
        for n in range(0, row.shape[0], step):
            _prefetch(row, n)

    @njit(**_JIT)
    def _first_equal(alpha, m):
        """Lowest n with ``bits(|α_n|) == m`` (select + min: vectorizes)."""
        n_atoms = alpha.shape[0]
        j = n_atoms
        for n in range(n_atoms):
            j = min(j, n if _bits(abs(alpha[n])) == m else n_atoms)
        return j

    @njit(**_JIT)
    def _argmax_abs(alpha):
        m = _bits(abs(alpha[0]))
        for n in range(alpha.shape[0]):
            m = max(m, _bits(abs(alpha[n])))
        j = _first_equal(alpha, m)
        return j, abs(alpha[j])

    @njit(**_JIT)
    def _first_passes(row, U, w, hi):
        """Set ``row = Σ_{i<hi} w_i U_i``, four rows of ``U`` per pass (``hi % 4 == 0``).

        Each loop writes one array and reads others: a loop reading and writing through two
        names of one array fails the vectorizer's alias check and runs scalar.
        """
        n_atoms = row.shape[0]
        if hi == 0:
            for n in range(n_atoms):
                row[n] = 0
            return
        w0, w1, w2, w3 = w[0], w[1], w[2], w[3]
        u0, u1, u2, u3 = U[0], U[1], U[2], U[3]
        for n in range(n_atoms):
            row[n] = (w0 * u0[n] + w1 * u1[n]) + (w2 * u2[n] + w3 * u3[n])
        for i in range(4, hi, 4):
            w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
            u0, u1, u2, u3 = U[i], U[i + 1], U[i + 2], U[i + 3]
            for n in range(n_atoms):
                row[n] += (w0 * u0[n] + w1 * u1[n]) + (w2 * u2[n] + w3 * u3[n])

    @njit(**_JIT)
    def _last_pass(row, gj, U, w, lo, c, inv, alpha, ak):
        """Finish ``U_k``, update ``α`` and return the bits of ``max |α|``, in one pass.

        ``row = (G_j − (row + Σ_{lo<=i<lo+c} w_i U_i))·inv`` (``c <= 4``), then
        ``α −= ak·row``. ``G_j`` is read last, so that its prefetch has the other passes'
        time to arrive (a row of ``G`` comes from L3 or memory: ~30 % of a step otherwise).
        One loop per ``c``: padding with zero rows instead cost 2-9 %.
        """
        n_atoms = row.shape[0]
        m = _bits(alpha.dtype.type(0))  # every |α_n| is >= 0: a valid start
        if c == 0:
            for n in range(n_atoms):
                r = (gj[n] - row[n]) * inv
                row[n] = r
                v = alpha[n] - ak * r
                alpha[n] = v
                m = max(m, _bits(abs(v)))
        elif c == 1:
            w0, u0 = w[lo], U[lo]
            for n in range(n_atoms):
                r = (gj[n] - (row[n] + w0 * u0[n])) * inv
                row[n] = r
                v = alpha[n] - ak * r
                alpha[n] = v
                m = max(m, _bits(abs(v)))
        elif c == 2:
            w0, w1, u0, u1 = w[lo], w[lo + 1], U[lo], U[lo + 1]
            for n in range(n_atoms):
                r = (gj[n] - (row[n] + (w0 * u0[n] + w1 * u1[n]))) * inv
                row[n] = r
                v = alpha[n] - ak * r
                alpha[n] = v
                m = max(m, _bits(abs(v)))
        elif c == 3:
            w0, w1, w2 = w[lo], w[lo + 1], w[lo + 2]
            u0, u1, u2 = U[lo], U[lo + 1], U[lo + 2]
            for n in range(n_atoms):
                r = (gj[n] - (row[n] + ((w0 * u0[n] + w1 * u1[n]) + w2 * u2[n]))) * inv
                row[n] = r
                v = alpha[n] - ak * r
                alpha[n] = v
                m = max(m, _bits(abs(v)))
        else:
            w0, w1, w2, w3 = w[lo], w[lo + 1], w[lo + 2], w[lo + 3]
            u0, u1, u2, u3 = U[lo], U[lo + 1], U[lo + 2], U[lo + 3]
            for n in range(n_atoms):
                s = (w0 * u0[n] + w1 * u1[n]) + (w2 * u2[n] + w3 * u3[n])
                r = (gj[n] - (row[n] + s)) * inv
                row[n] = r
                v = alpha[n] - ak * r
                alpha[n] = v
                m = max(m, _bits(abs(v)))
        return m

    @njit(**_JIT)
    def _signal(G, a0, budget, tol, use_tol, eps, U, L, alpha, idx):
        """Run one signal; return (steps, early stop), or (-1, False) if ``U`` is too small."""
        zero = G.dtype.type(0)
        one = G.dtype.type(1)
        for n in range(alpha.shape[0]):
            alpha[n] = a0[n]
        j, best = _argmax_abs(alpha)
        noise = best * np.sqrt(eps)  # |α_j| below this is numerical noise: exhausted
        energy = tol[1]
        k = 0
        while k < budget:
            if best <= noise:
                return k, True
            if k == U.shape[0]:
                return -1, False  # the caller grows U and L, and runs this signal again
            _prefetch_row(G[j])
            gjj = G[j, j]
            s = zero
            for i in range(k):
                wi = U[i, j]
                L[k, i] = wi
                s += wi * wi
            rho2 = gjj - s
            if rho2 <= eps * gjj:  # dependent (or duplicate, or zero) atom
                return k, True
            rho = np.sqrt(rho2)
            L[k, k] = rho
            idx[k] = j
            inv = one / rho
            ak = alpha[j] * inv
            energy -= ak * ak
            k += 1
            if k == budget or (use_tol and abs(energy) <= tol[0]):
                break
            # U_k = (G_j − Σ_{i<k} w_i U_i)/ρ: groups of four rows, the last one fused with
            # the update of α and its maximum
            row, w, prev = U[k - 1], L[k - 1], k - 1
            last = prev % 4 if prev % 4 else min(prev, 4)
            _first_passes(row, U, w, prev - last)
            m = _last_pass(row, G[j], U, w, prev - last, last, inv, alpha, ak)
            for i in range(k):  # exact zeros on the support: never selected again
                alpha[idx[i]] = zero
            j = _first_equal(alpha, m)
            if j == alpha.shape[0]:  # the maximum was on the support (nothing left): rescan
                j, best = _argmax_abs(alpha)
            else:
                best = abs(alpha[j])
        return k, False

    @njit(**_JIT)
    def _solve(L, rhs, k, a, gamma):
        """Solve ``a = L⁻¹ rhs`` and ``γ = L⁻ᵀ a`` on the first ``k`` steps; return ``‖a‖²``."""
        sq = L.dtype.type(0)
        for s in range(k):
            t = rhs[s]
            for i in range(s):
                t -= L[s, i] * a[i]
            a[s] = t / L[s, s]
            sq += a[s] * a[s]
        for s in range(k - 1, -1, -1):
            t = a[s]
            for i in range(s + 1, k):
                t -= L[i, s] * gamma[i]
            gamma[s] = t / L[s, s]
        return sq

    @njit(**_JIT)
    def block(G, A0, budget, tol_norms, use_tol, eps, idx, val, n_iter, energy, early):
        """Run OMP for every row of ``A0``, one after the other, sharing one working set.

        ``tol_norms`` (B, 2) holds ``tol`` and ``‖x‖²`` per signal; outputs are written in
        place: ``idx``/``val`` (B, S) slots, ``n_iter``, ``energy = ‖x‖² − ‖L⁻¹α⁰_Λ‖²`` and
        ``early`` (stopped for lack of a usable atom) per signal.
        """
        n_signals, n_atoms = A0.shape
        limit = 1
        for b in range(n_signals):
            limit = max(limit, budget[b])
        cap = min(limit, _FIRST_CAPACITY)
        U = np.empty((cap, n_atoms), G.dtype)
        L = np.empty((cap, cap), G.dtype)
        alpha = np.empty(n_atoms, G.dtype)
        rhs = np.empty(limit, G.dtype)
        a = np.empty(limit, G.dtype)
        for b in range(n_signals):
            k, stuck = _signal(G, A0[b], budget[b], tol_norms[b], use_tol, eps, U, L, alpha,
                               idx[b])
            while k < 0:  # tol runs past the capacity: double it, run the signal again
                cap = min(2 * cap, limit)
                U = np.empty((cap, n_atoms), G.dtype)
                L = np.empty((cap, cap), G.dtype)
                k, stuck = _signal(G, A0[b], budget[b], tol_norms[b], use_tol, eps, U, L,
                                   alpha, idx[b])
            n_iter[b] = k
            early[b] = stuck
            for s in range(k):
                rhs[s] = A0[b, idx[b, s]]
            energy[b] = tol_norms[b, 1] - _solve(L, rhs, k, a, val[b])

    @njit(**_JIT)
    def path_block(G, A0, idx, val, n_iter, path, lo):
        """Coefficients after each step into ``path[:, lo + b]`` (n_steps, B, N), b < len(A0).

        The factor of ``G_ΛΛ`` is rebuilt by Cholesky; steps from ``n_iter − 1`` on repeat the
        final coefficients ``val`` exactly.
        """
        n_steps = path.shape[0]
        n_signals = A0.shape[0]
        cap = max(1, idx.shape[1])
        L = np.zeros((cap, cap), G.dtype)
        rhs = np.empty(cap, G.dtype)
        a = np.empty(cap, G.dtype)
        gamma = np.empty(cap, G.dtype)
        for b in range(n_signals):
            k = n_iter[b]
            for s in range(k):
                js = idx[b, s]
                t = G[js, js]
                for i in range(s):
                    v = G[js, idx[b, i]]
                    for m in range(i):
                        v -= L[i, m] * L[s, m]
                    v /= L[i, i]
                    L[s, i] = v
                    t -= v * v
                L[s, s] = np.sqrt(t)
                rhs[s] = A0[b, js]
            for s in range(n_steps):
                out = path[s, lo + b]
                for n in range(out.shape[0]):
                    out[n] = 0
                if s + 1 >= k:
                    for i in range(k):
                        out[idx[b, i]] = val[b, i]
                else:
                    _solve(L, rhs, s + 1, a, gamma)
                    for i in range(s + 1):
                        out[idx[b, i]] = gamma[i]

    @njit(**_JIT)
    def dense_block(idx, val, row_scale, scale, out):
        """Scatter slots into dense rows: ``out[b, idx[b, s]] += (val[b, s]·row_scale[b])·scale``.

        Repeated atoms add up; the two products keep power-of-two scales exact.
        """
        for b in range(out.shape[0]):
            o = out[b]
            for n in range(o.shape[0]):
                o[n] = 0
            for s in range(idx.shape[1]):
                o[idx[b, s]] += (val[b, s] * row_scale[b]) * scale

    @njit(**_JIT)
    def residual_block(X, D, idx, val, atom_scale, row_scale, out, r2):
        """Residuals of a block from its slots, and their squared norms.

        Scales ``val`` by ``atom_scale[idx]`` in place, forms ``r = X − Σ_s val[:, s]·D[idx]``
        (four atoms per pass over ``r``), writes ``r2 = ‖r‖²`` and ``out = r·row_scale`` (a
        power of two: exact).
        """
        n_slots = idx.shape[1]
        for b in range(X.shape[0]):
            r, x, v, ix = out[b], X[b], val[b], idx[b]
            for s in range(n_slots):
                v[s] *= atom_scale[ix[s]]
            for f in range(r.shape[0]):
                r[f] = x[f]
            s = 0
            while s + 4 <= n_slots:
                c0, c1, c2, c3 = v[s], v[s + 1], v[s + 2], v[s + 3]
                d0, d1, d2, d3 = D[ix[s]], D[ix[s + 1]], D[ix[s + 2]], D[ix[s + 3]]
                for f in range(r.shape[0]):
                    r[f] -= (c0 * d0[f] + c1 * d1[f]) + (c2 * d2[f] + c3 * d3[f])
                s += 4
            while s < n_slots:
                c0, d0 = v[s], D[ix[s]]
                for f in range(r.shape[0]):
                    r[f] -= c0 * d0[f]
                s += 1
            sq = r2.dtype.type(0)
            rs = row_scale[b]
            for f in range(r.shape[0]):
                sq += r[f] * r[f]
                r[f] *= rs
            r2[b] = sq
