"""Mutation check: plant small, realistic bugs one at a time and see whether the fast tests catch them.

Each mutant is a one-line change to the production code (the bugs of issue #18 and their neighbours).
The repository's tracked files are copied to a temporary folder; each mutant is applied there alone, the
tests named for it run against the copy (``PYTHONPATH`` points at it, so an editable install elsewhere
does not interfere), and the file is restored. A mutant is *killed* when its tests fail, *survived* when
they pass, *timeout* when they run past ``--timeout`` (a hang, not a catch). The unmutated copy runs
every selected test first: a test that already fails would kill every mutant and prove nothing.

    python benchmarks/mutation_check.py                      # all mutants, a table and the score
    python benchmarks/mutation_check.py --only floor-heads,t2-dropped --out runs/bench/mutation.json
    python benchmarks/mutation_check.py --list

Run it before a release (about 12 minutes on 2 busy CPU cores; not part of CI). The mutants are curated by hand
rather than generated (mutmut, cosmic-ray): those tools spend hours on mutants of logging and messages,
while these are the bugs that have happened or nearly happened here. When a mutant no longer applies
(the code it changes moved), the check says so and fails: update its ``old`` text.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, -k expressions
    what: str


MUTANTS: tuple[Mutant, ...] = (
    # ---- the ten of issue #18
    Mutant("floor-heads", "dynabert/arch.py",
           "heads = max(1, _round_half_up(num_heads * w))", "heads = max(1, math.floor(num_heads * w))",
           ("tests/test_arch.py",), "heads kept = floor(H*w) instead of round-half-up"),
    Mutant("neurons-ascending", "dynabert/rewire.py",
           "neuron_order = torch.argsort(importance.neurons[i], descending=True, stable=True)",
           "neuron_order = torch.argsort(importance.neurons[i], descending=False, stable=True)",
           ("tests/test_model.py", "-k", "rewir"), "FFN neurons sorted least important first"),
    Mutant("no-embedding-term", "train/losses.py",
           "    loss = mse(student.embedding, teacher.embedding)\n",
           "    loss = student.embedding.new_zeros((), dtype=torch.float32)\n",
           ("tests/test_train_units.py", "-k", "loss"), "embedding term dropped from the hidden-state loss"),
    Mutant("t2-dropped", "train/losses.py", ".sum(-1).mean() * (t * t)", ".sum(-1).mean()",
           ("tests/test_train_units.py", "-k", "loss"), "T^2 factor dropped from the soft cross-entropy"),
    Mutant("batch1-agreement", "export/verify.py",
           "agreement = float(min((out.argmax(axis=1) == ref_arg).mean() for out in outputs))",
           "agreement = float((outputs[0].argmax(axis=1) == ref_arg).mean())",
           ("tests/test_export.py", "-k", "parity"), "argmax agreement from the batch-1 mode only"),
    Mutant("per-tensor-int8", "export/quantize.py",
           "quantize_dynamic(str(clean), str(tmp), per_channel=True",
           "quantize_dynamic(str(clean), str(tmp), per_channel=False",
           ("tests/test_export.py", "-k", "per_output_channel"), "per-tensor instead of per-channel INT8"),
    Mutant("last-dev-example", "device_bench/accuracy.py",
           "    for idx in batches_for(artifact, runner.runtime, dev):",
           "    for idx in batches_for(artifact, runner.runtime, dev)[:-1]:",
           ("tests/test_device_bench.py", "-k", "every_dev_example"), "the last batch / dev example never evaluated"),
    Mutant("slowest-wins", "device_bench/pick.py",
           "c.p50_ms if c.p50_ms is not None else float(\"inf\"), c.mb, c.artifact[\"id\"])",
           "-(c.p50_ms if c.p50_ms is not None else float(\"inf\")), c.mb, c.artifact[\"id\"])",
           ("tests/test_device_bench.py", "-k", "pick_constraint or ties"), "among equal metrics the slowest wins"),
    Mutant("rewired-by-stage", "dynabert/checkpoint.py",
           "if require_rewired and not meta.rewired:", "if require_rewired and meta.stage == \"teacher\":",
           ("tests/test_checkpoint.py",), "the rewired check keyed on the stage name"),
    Mutant("export-any-checkpoint", "export/all.py",
           "load_checkpoint(ckpt, require_rewired=True)", "load_checkpoint(ckpt)",
           ("tests/test_export.py", "-k", "bad_checkpoints"), "export accepts a non-rewired checkpoint"),
    # ---- neighbours: the same modules, other plausible slips
    Mutant("first-n-layers", "dynabert/arch.py",
           "layers = tuple(math.floor(i / d) for i in range(n_layers))", "layers = tuple(range(n_layers))",
           ("tests/test_arch.py",), "a shallower sub-network keeps the first n layers"),
    Mutant("ffn-not-shrunk", "dynabert/arch.py",
           "neurons = max(1, _round_half_up(Fraction(intermediate_size * heads, num_heads)))",
           "neurons = intermediate_size", ("tests/test_arch.py",), "the FFN keeps every neuron at any width"),
    Mutant("signed-head-importance", "dynabert/importance.py", "heads += head_mask.grad.abs()",
           "heads += head_mask.grad", ("tests/test_model.py", "-k", "importance"),
           "head importance without the absolute value"),
    Mutant("gradients-accumulate", "dynabert/importance.py", "        model.zero_grad(set_to_none=True)\n", "",
           ("tests/test_model.py", "-k", "importance"), "gradients accumulate across batches"),
    Mutant("value-not-rewired", "dynabert/rewire.py", "for linear in (sa.query, sa.key, sa.value):",
           "for linear in (sa.query, sa.key):", ("tests/test_model.py", "-k", "rewir"),
           "V's heads are not permuted with Q and K"),
    Mutant("attention-ignores-padding", "dynabert/adaptive.py",
           "F.scaled_dot_product_attention(q, key, v, attn_mask=additive_mask,",
           "F.scaled_dot_product_attention(q, key, v, attn_mask=None,",
           ("tests/test_model.py", "-k", "stock_forward or slices_equal"),
           "the adaptive forward attends to padded positions"),
    Mutant("slice-wrong-rows", "dynabert/slicing.py",
           "    if name.startswith(\"intermediate.dense.\"):\n        return tensor[:n]",
           "    if name.startswith(\"intermediate.dense.\"):\n        return tensor[-n:]",
           ("tests/test_model.py", "-k", "slices_equal"), "slicing keeps the last FFN neurons"),
    Mutant("padding-in-hidden-loss", "train/losses.py",
           "        if attention_mask is None:\n            return F.mse_loss",
           "        if True:\n            return F.mse_loss", ("tests/test_train_units.py", "-k", "loss"),
           "padded positions count in the hidden-state loss"),
    Mutant("no-last-layer-pair", "train/losses.py", "    if spec.layers[-1] != last:\n        pairs.append",
           "    if False:\n        pairs.append", ("tests/test_train_units.py", "-k", "pairs or loss"),
           "a shallow student's last layer is not matched to the teacher's last"),
    Mutant("loose-fp32-gate", "export/verify.py", "passed = finite and max_diff <= gate.atol and",
           "passed = finite and max_diff <= 10 * gate.atol and", ("tests/test_export.py", "-k", "parity"),
           "the fp32 gate 10x looser than documented"),
    Mutant("nan-passes-approx", "export/verify.py", "        passed = finite and agreement >= gate.min_agreement",
           "        passed = agreement >= gate.min_agreement", ("tests/test_export.py", "-k", "parity"),
           "non-finite outputs pass the reduced-precision gate"),
    Mutant("flops-no-scores", "dynabert/stats.py", " + 2 * 2 * s * s * a + ", " + 2 * s * s * a + ",
           ("tests/test_model.py", "-k", "flops"), "attention scores/context counted once, not twice"),
    Mutant("spread-inclusive", "device_bench/latency.py", "p90_ms / p50_ms > limit", "p90_ms / p50_ms >= limit",
           ("tests/test_device_bench.py", "-k", "spread_flag"), "the spread flag fires at exactly the limit"),
    Mutant("lowest-metric-wins", "device_bench/pick.py",
           "return (-(c.metric if c.metric is not None else float(\"-inf\")),",
           "return ((c.metric if c.metric is not None else float(\"-inf\")),",
           ("tests/test_device_bench.py", "-k", "pick_constraint or ties"), "the least accurate model is picked"),
)


def check_applies(mutant: Mutant, root: Path = REPO) -> str | None:
    """Why ``mutant`` cannot be applied to the code under ``root`` (None when it can)."""
    path = root / mutant.path
    if not path.is_file():
        return f"{mutant.path} does not exist"
    count = path.read_text(encoding="utf-8").count(mutant.old)
    if count != 1:
        return f"{mutant.path}: the text to change occurs {count} times (expected once); update the mutant"
    return None


def _copy_repo(dest: Path) -> Path:
    """The tracked (and untracked, not ignored) files of the checkout, plus ../shared beside the copy."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    copy = dest / "repo"
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / rel)
    if (REPO.parent / "shared").is_dir():  # tests read the real GLUE files at ../shared/data/glue
        (dest / "shared").symlink_to(REPO.parent / "shared")
    return copy


def _pytest(copy: Path, args: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    env = {**os.environ, "PYTHONPATH": str(copy)}
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args],
                              cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    seconds = time.perf_counter() - start
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    if proc.returncode == 5:  # no tests collected: the selection is stale
        return "no tests", seconds, tail[0]
    return ("passed" if proc.returncode == 0 else "failed"), seconds, tail[0]


def run(mutants: list[Mutant], timeout: float, progress: bool = True) -> dict:
    stale = {m.name: why for m in mutants if (why := check_applies(m))}
    if stale:
        raise SystemExit("mutation_check: error: " + "; ".join(f"{k}: {v}" for k, v in stale.items()))
    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as tmp:
        copy = _copy_repo(Path(tmp))
        selections = list(dict.fromkeys(m.tests for m in mutants))
        for args in tqdm(selections, desc="baseline", disable=not progress, leave=False):
            status, _, tail = _pytest(copy, args, timeout)
            if status != "passed":
                raise SystemExit(f"mutation_check: error: the unmutated code does not pass {' '.join(args)} "
                                 f"({status}: {tail}); fix that first")
        for m in tqdm(mutants, desc="mutants", disable=not progress):
            target = copy / m.path
            original = target.read_text(encoding="utf-8")
            target.write_text(original.replace(m.old, m.new), encoding="utf-8")
            try:
                status, seconds, tail = _pytest(copy, m.tests, timeout)
            finally:
                target.write_text(original, encoding="utf-8")
            verdict = {"failed": "killed", "passed": "survived"}.get(status, status)
            results.append({**asdict(m), "result": verdict, "seconds": round(seconds, 1), "pytest": tail})
    killed = sum(r["result"] == "killed" for r in results)
    return {"mutants": results, "killed": killed, "total": len(results),
            "score": round(killed / len(results), 4) if results else None,
            "wall_seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated mutant names (default: all; see --list)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per pytest run (default 300)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    chosen = list(MUTANTS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {m.name for m in MUTANTS})
        if unknown:
            print(f"mutation_check: error: unknown mutant(s) {', '.join(unknown)}; see --list", file=sys.stderr)
            return 2
        chosen = [m for m in MUTANTS if m.name in names]
    if args.list:
        for m in chosen:
            print(f"{m.name:<26} {m.path:<26} {m.what}")
        return 0
    report = run(chosen, args.timeout, progress=not args.no_progress)
    for r in report["mutants"]:
        print(f"{r['result']:<9} {r['seconds']:>6.1f}s  {r['name']:<26} {r['what']}")
    print(f"score: {report['killed']}/{report['total']} killed ({100 * report['score']:.0f}%), "
          f"wall time {report['wall_seconds']:.0f} s")
    if args.out:
        from dynabert.fileio import write_json_atomic

        write_json_atomic(args.out, report)
    return 0 if report["killed"] == report["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
