"""How much a Core ML multifunction ``.mlpackage`` of the 12 sub-networks shares, measured.

    python benchmarks/coreml_multifunction.py --export runs/quickstart/export --out runs/bench/coreml_mf

coremltools (>= 8, iOS 18+ / macOS 15+) puts several functions into one ``.mlpackage`` with
``save_multifunction`` and stores constants that are *identical* across functions once. This script builds
that package from the export's standalone ``model.int8.mlpackage`` files (one function per sub-network,
named like ``w0_5_d0_75``), checks that the saved spec has every function, and prints and writes its size
beside the full file and the sum of the twelve. Identical constants are the unsliced tensors (embeddings,
LayerNorms of kept layers, pooler, classifier) and whole layers that sub-networks of the same width share;
the width-sliced weights differ in shape and are stored once per width (see docs/bundle.md). Core ML
cannot run on Linux, so the package is spec-checked here, not executed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dynabert.arch import grid, subnet_name  # noqa: E402
from dynabert.cli_options import Parser  # noqa: E402
from dynabert.fileio import atomic_dir, path_bytes, write_json_atomic  # noqa: E402


def function_name(subnet: str) -> str:
    return subnet.replace(".", "_")  # MIL function names are identifiers


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="benchmarks/coreml_multifunction.py", description=__doc__.split("\n\n")[0],
               error_name="coreml_multifunction")
    p.add_argument("--export", required=True, type=Path, help="export folder with <subnet>/model.int8.mlpackage")
    p.add_argument("--out", type=Path, default=Path("runs/bench/coreml_mf"))
    p.add_argument("--package", default="model.int8.mlpackage", help="which standalone package to merge")
    args = p.parse_args(argv)
    from coremltools.models.utils import MultiFunctionDescriptor, load_spec, save_multifunction

    names = [subnet_name(w, d) for w, d in grid() if (args.export / subnet_name(w, d) / args.package).is_dir()]
    if subnet_name(1.0, 1.0) not in names:
        print(f"coreml_multifunction: error: no {subnet_name(1.0, 1.0)}/{args.package} under {args.export}",
              file=sys.stderr)
        return 2
    desc = MultiFunctionDescriptor()
    for name in names:
        desc.add_function(str(args.export / name / args.package), src_function_name="main",
                          target_function_name=function_name(name))
    desc.default_function_name = function_name(names[0])
    final = args.out / "multifunction"  # built in a temporary folder beside it, renamed when complete
    start = time.perf_counter()
    with atomic_dir(final) as tmp:
        package = tmp / args.package
        save_multifunction(desc, str(package))
        spec = load_spec(str(package))
        functions = sorted(f.name for f in spec.description.functions)
        if functions != sorted(function_name(n) for n in names):
            raise SystemExit(f"coreml_multifunction: the saved package has functions {functions}, expected "
                             f"{sorted(function_name(n) for n in names)}")
    seconds = time.perf_counter() - start
    package = final / args.package
    sizes = {name: path_bytes(args.export / name / args.package) for name in names}
    result = {"export": str(args.export), "package": args.package, "functions": functions,
              "multifunction_bytes": path_bytes(package), "full_bytes": sizes[names[0]],
              "sum_bytes": sum(sizes.values()), "seconds": round(seconds, 1)}
    result["ratio_to_full"] = round(result["multifunction_bytes"] / result["full_bytes"], 4)
    result["ratio_to_sum"] = round(result["multifunction_bytes"] / result["sum_bytes"], 4)
    write_json_atomic(args.out / "coreml_multifunction.json", result, allow_nan=False)
    print(f"{len(names)} functions in {package}: {result['multifunction_bytes'] / 1e6:.2f} MB; full "
          f"{args.package} {result['full_bytes'] / 1e6:.2f} MB (ratio {result['ratio_to_full']}), all "
          f"{len(names)} {result['sum_bytes'] / 1e6:.2f} MB (ratio {result['ratio_to_sum']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
