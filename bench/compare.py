"""SynthAV model comparison over ≥ 3 seeds for each variant: a thin wrapper over
``tacfn-lite compare`` (one run per variant), plus the DESIGN §5 hypotheses computed from it.

    python bench/compare.py                          # full size, 3 seeds, all variants (slow)
    python bench/compare.py --variants synchrony --seeds 5
    python bench/compare.py --smoke                  # quick size, 1 seed, 1 epoch: checks wiring
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from common import base_parser, write_result

from tacfn_lite.config import VARIANTS


def hypotheses(variant: str, result: dict) -> dict:
    """DESIGN §5 checks (None when a needed model was not run). Points are accuracy × 100."""
    m, c = result["models"], result.get("ceilings") or {}
    acc = {k: 100 * v["test_accuracy_mean"] for k, v in m.items()}
    out = {}
    if variant == "complementary" and "tacfn" in acc and "fusion" in c:
        out["tacfn_within_2_of_fusion_ceiling"] = acc["tacfn"] >= 100 * c["fusion"] - 2
    if variant == "synchrony" and "tacfn" in acc:
        rivals = [acc[k] for k in ("late", "concat") if k in acc]
        out["tacfn_5_above_late_and_concat"] = (acc["tacfn"] - max(rivals) >= 5) if rivals else None
        if "mult" in acc:
            out["tacfn_within_2_of_mult"] = abs(acc["tacfn"] - acc["mult"]) <= 2
            out["tacfn_fusion_flops_le_half_mult"] = (
                m["tacfn"]["fusion_flops"] <= 0.5 * m["mult"]["fusion_flops"])
    return out


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variants")
    p.add_argument("--size", default="full", choices=("quick", "full"))
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (≥ 3 for the README)")
    p.add_argument("--epochs", type=int, help="override the tiny preset's epochs")
    p.add_argument("--models", help="comma-separated subset (default: all)")
    p.add_argument("--runs-dir", default="runs/bench_compare", help="checkpoints of each run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to tacfn-lite compare, e.g. --set data.cache_dir=/tmp/c")
    args = p.parse_args()
    if args.smoke:
        args.size, args.seeds, args.epochs = "quick", 1, 1
    suffix = ".smoke" if args.smoke else ""
    variants, per_variant, failures = args.variants.split(","), {}, {}
    for variant in variants:
        json_path = Path(args.results_dir) / f"compare_{variant}{suffix}.json"
        cmd = [sys.executable, "-m", "tacfn_lite.cli", "compare", "--variant", variant,
               "--size", args.size, "--seeds", str(args.seeds), "--json", str(json_path),
               "--out", str(Path(args.runs_dir) / variant)]
        cmd += ["--epochs", str(args.epochs)] if args.epochs else []
        cmd += ["--models", args.models] if args.models else []
        for item in args.set:
            cmd += ["--set", item]
        out = subprocess.run(cmd, text=True, capture_output=True, check=False)
        print(out.stdout, file=sys.stderr)  # the table, for the reader; stdout stays one JSON
        if out.returncode != 0:
            failures[variant] = out.stderr.strip().splitlines()[-3:]
            continue
        result = json.loads(json_path.read_text())
        per_variant[variant] = {
            "json": str(json_path), "ceilings": result.get("ceilings"),
            "data_hash": result.get("data_hash"),
            "models": {k: {key: v[key] for key in ("test_accuracy_mean", "test_accuracy_std",
                                                   "test_macro_f1_mean", "params", "fusion_flops",
                                                   "seconds_per_epoch")}
                       for k, v in result["models"].items()},
            "hypotheses": hypotheses(variant, result),
        }
    write_result("compare", {"smoke": args.smoke, "size": args.size, "seeds": args.seeds,
                             "epochs": args.epochs, "variants": per_variant,
                             "failures": failures}, args.results_dir)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
