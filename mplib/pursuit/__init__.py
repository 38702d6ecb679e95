"""Pursuit solvers: MP, OMP, gradient pursuit and ACGP (batched torch; numpy references)."""

from mplib.pursuit._mp import MPTrace, dense_codes, mp_loop

__all__ = ["MPTrace", "dense_codes", "mp_loop"]
