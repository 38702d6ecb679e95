"""``python -m mplib transplant``: the transplant from the command line (argument parsing only)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mplib.transplant.approx import METHODS
from mplib.transplant.config import MATCH_SCOPES, TransplantConfig
from mplib.transplant.vocab import RULES

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m mplib transplant``."""
    p = argparse.ArgumentParser(
        prog="python -m mplib transplant",
        description="Give a base causal LM the donor's tokenizer: shared tokens keep their rows, "
                    "new tokens are approximated in the donor's embedding space (OMP over the "
                    "shared tokens) and the coefficients transferred to the base's rows.")
    p.add_argument("--base", required=True, help="base causal LM folder (weights kept)")
    p.add_argument("--donor", required=True, help="donor folder (its tokenizer is transplanted)")
    p.add_argument("--out", required=True, help="output model folder (replaced if present)")
    p.add_argument("--method", default="omp", choices=METHODS)
    p.add_argument("--k", type=int, default=64, help="OMP steps per new token (default 64)")
    p.add_argument("--center", action="store_true",
                   help="centred OMP (our variant, for donors without an output head)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--rule", default="auto", choices=RULES, help="vocabulary normaliser")
    p.add_argument("--byte-match", default="no", choices=MATCH_SCOPES)
    p.add_argument("--prefix-match", default="no", choices=MATCH_SCOPES)
    p.add_argument("--no-strict", action="store_true",
                   help="allow k >= donor width (targets stop cleanly on dependent atoms)")
    p.add_argument("--role-map", default="",
                   help="donor roles renamed before matching, e.g. "
                        "cls_token=bos_token,sep_token=eos_token")
    p.add_argument("--seed", type=int, default=0)
    return p


def _role_map(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ValueError(f"--role-map entries must look like role=role, got {item!r}")
        a, b = item.split("=", 1)
        out[a.strip()] = b.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the transplant; print the report as JSON; return the exit status."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        cfg = TransplantConfig(method=args.method, k=args.k, center=args.center,
                               batch_size=args.batch_size, rule=args.rule,
                               byte_match=args.byte_match, prefix_match=args.prefix_match,
                               strict=not args.no_strict, seed=args.seed)
        role_map = _role_map(args.role_map)
        from mplib.transplant.io import transplant_folder

        done = transplant_folder(args.base, args.donor, args.out, cfg, role_map=role_map)
    except (ValueError, TypeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in done.report.items() if k != "config"}, indent=1,
                     default=str))
    print(f"wrote {done.out_dir}", file=sys.stderr)
    return 0
