"""``python -m export.bundle --export EXPORT``: one weights file that serves every sub-network.

The standalone export cuts twelve files that share nothing (the MiniLM's twelve INT8 files add up to ~9x
the largest). A bundle stores the full network once and gives each sub-network a small graph that reads
its part of it, so a device can ship all twelve and switch between them at run time::

    <export>/bundle/        (fp32)  and  <export>/bundle.int8/  (INT8)
      bundle.json           the index (:mod:`export.bundle_index`): entries largest first, checksums
      weights.bin           every tensor of w1_d1 once, each sliced one with its cut axis leading
      w1_d1.onnx ...        one graph per sub-network, weights as ONNX external data ranges of weights.bin

Each graph loads with a stock ``onnxruntime.InferenceSession(path)`` (ORT Java: ``createSession(path)``)
and has the inputs and output of the standalone ``model.onnx``. Why a prefix is enough, and how it is
checked, is in :mod:`export.bundle_plan`; the INT8 variant in :mod:`export.bundle_int8`.

Every entry is verified like every exported file: fp32 entries against the standalone ``model.onnx`` (max
|logit diff| <= 1e-5, same argmax) and the PyTorch sub-network (the fp32 gate); INT8 entries against the
PyTorch sub-network (the INT8 gate: argmax agreement >= 0.98 on up to 500 dev inputs), with their agreement
with the standalone ``model.int8.onnx`` reported. A bundle is built in a temporary folder beside its final
place and renamed into place only once it is complete and verified: a killed build leaves nothing a later
run or the app would trust.

Exit codes: 0 built and verified, 1 an entry failed verification (nothing installed unless
``--allow-failures``), 2 a usage problem (bad export folder, tampered sub-model, no data), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dynabert.cli_options import Parser, int_in, non_empty
from dynabert.fileio import atomic_dir, path_bytes, remove_stale_temps, sha256_path

from . import verify as V
from .bundle_index import FOLDER, PRECISIONS, WEIGHTS_FILE, BundleEntry, BundleError, BundleIndex, write_index
from .bundle_plan import ExportInfo, Plan, checked_artifact, input_names, plan_bundle, read_export
from .bundle_weights import WeightsWriter, save_graph
from .formats import ExportError

if TYPE_CHECKING:
    from dynabert.data import TaskSpec

#: fp32 entries must reproduce the standalone fp32 file this closely: they run the same graph on the same
#: values, only read from another file (the standalone may be the fused graph: a few 1e-7 apart).
STANDALONE_ATOL = 1e-5
DEFAULT_N_VERIFY = 64
DEFAULT_N_VERIFY_INT8 = 500
#: Which standalone file an entry of each precision is compared with.
STANDALONE_FORMAT = {"fp32": "onnx", "int8": "onnx-int8"}


# ---------------------------------------------------------------------------------------------- fp32


def write_fp32(plan: Plan, folder: Path) -> dict[str, str]:
    """Write ``weights.bin`` (the full network in fp32) and one graph per entry; entry name -> graph file."""
    import onnx
    from onnx import helper

    writer = WeightsWriter(folder / WEIGHTS_FILE)
    try:
        for key, stored in plan.stored.items():
            writer.add(key, stored.array)
    finally:
        writer.close()
    graphs = {}
    for entry in plan.entries:
        model = onnx.ModelProto()
        model.CopyFrom(entry.graph)
        transposes = []
        for name, ref in entry.refs.items():
            if ref.transpose:
                # MatMul wants [in, out]; q/k/v and FFN-in are stored [out, in] so that their cut rows are one
                # range. ORT folds this constant Transpose when it creates the session.
                model.graph.initializer.append(writer.ref(ref.key, f"{name}.stored", ref.rows))
                transposes.append(helper.make_node("Transpose", [f"{name}.stored"], [name], name=f"{name}.transpose"))
            else:
                model.graph.initializer.append(writer.ref(ref.key, name, ref.rows))
        nodes = transposes + list(model.graph.node)
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        graphs[entry.name] = f"{entry.name}.onnx"
        save_graph(model, folder / graphs[entry.name])
    return graphs


def reads_bytes(graph_path: Path) -> int:
    """Bytes of the weights file that a graph references (each distinct range once)."""
    import onnx

    model = onnx.load(str(graph_path), load_external_data=False)
    ranges = set()
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in tensor.external_data}
            ranges.add((int(info.get("offset", 0)), int(info["length"])))
    return sum(length for _, length in ranges)


# ---------------------------------------------------------------------------------------------- verification


#: PyTorch references are computed on padded batches of this many inputs (the inputs come sorted by
#: length, so neighbours pad little): one call per example made the references most of a MiniLM build's
#: time on a busy machine, and padding changes the logits by ~1e-7 (the mask is exact), far below the gates.
REFERENCE_BATCH = 16


class References:
    """The PyTorch sub-networks' logits on the verification inputs, computed while each model is loaded."""

    def __init__(self, names: list[str], fp32_inputs, int8_inputs, pad_token_id: int):
        self.names = names
        self.inputs = {"fp32": fp32_inputs, "int8": int8_inputs}
        self.pad_token_id = pad_token_id
        self.logits: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, name: str, model) -> None:
        import torch

        from .onnx_export import wrap

        wrapper = wrap(model, self.names)
        with torch.no_grad():
            for precision, inputs in self.inputs.items():
                if inputs is None:
                    continue
                logits = None
                for idx, batch in inputs.padded_batches(REFERENCE_BATCH, self.pad_token_id):
                    out = wrapper(*(torch.from_numpy(batch[n]) for n in self.names)).numpy()
                    if logits is None:
                        logits = np.zeros((len(inputs), out.shape[1]), dtype=out.dtype)
                    logits[idx] = out
                self.logits[(precision, name)] = logits


def verify_entry(path: Path, precision: str, inputs, reference: np.ndarray, standalone: Path | None,
                 pad_token_id: int, task: TaskSpec | None = None) -> dict:
    """The entry's gate against PyTorch (the standalone files' gate, the task metric included where ``task`` is
    given) and its comparison with the standalone file of its precision."""
    outputs, modes = V.run_file("onnxruntime", path, inputs, pad_token_id)
    gate = V.Gate("exact") if precision == "fp32" else V.Gate("approx")
    record: dict = {"parity": V.compare(outputs, reference, gate, modes, inputs.labels, task)}
    if standalone is not None:
        alone, _ = V.run_file("onnxruntime", standalone, inputs, pad_token_id)
        # fp32: the same graph on the same values must give the same logits; INT8: reported (the bundle's
        # input-sliced matrices use scales of the full input range, see export.bundle_int8). Mode by mode:
        # dynamic INT8 quantizes activations over the whole batch, so a padded batch differs from batch 1.
        vs_gate = V.Gate("exact", atol=STANDALONE_ATOL) if precision == "fp32" else V.Gate("approx")
        per_mode = [V.compare([out], ref, vs_gate, [mode])
                    for out, ref, mode in zip(outputs, alone, modes, strict=True)]
        worst = min(per_mode, key=lambda r: (r["passed"], r["argmax_agreement"] or 0.0, -r["max_abs_diff"]))
        record["vs_standalone"] = {"file": f"{standalone.parent.name}/{standalone.name}", **worst, "modes": modes,
                                   "max_abs_diff": max(r["max_abs_diff"] for r in per_mode),
                                   "passed": all(r["passed"] for r in per_mode)}
    else:
        record["vs_standalone"] = V.not_run(f"the export has no verified {STANDALONE_FORMAT[precision]} file")
    gates = [record["parity"]["passed"]]
    if precision == "fp32" and standalone is not None:
        gates.append(record["vs_standalone"]["passed"])
    record["passed"] = bool(all(gates))
    return record


def _data_source(info: ExportInfo, data_dir: str | None):
    from .inputs import DataSource, _is_glue, resolve_data

    if data_dir is not None:
        return resolve_data(data_dir, info.task, info.label_names, {}, None)
    if info.data is None:
        raise BundleError(f"{info.root / 'manifest.json'} records no verification data; pass --data-dir")
    if _is_glue(info.task):
        return DataSource(info.task, glue_dir=Path(info.data))
    return DataSource(info.task, files={"dev": Path(info.data)},
                      label_names=tuple(info.label_names) if info.label_names else None,
                      regression=info.label_names is None)


# ---------------------------------------------------------------------------------------------- build


def build_bundles(export_dir: str | Path, precisions: tuple[str, ...] = PRECISIONS, out: str | Path | None = None,
                  data_dir: str | None = None, n_verify: int = DEFAULT_N_VERIFY,
                  n_verify_int8: int = DEFAULT_N_VERIFY_INT8, progress: bool = True,
                  allow_failures: bool = False) -> dict[str, dict]:
    """Build, verify and install the bundles of an export folder; return a summary record per precision.

    ``out``: where the bundle folders go (default: the export folder). A bundle whose entries fail
    verification is not installed (:class:`BundleError`) unless ``allow_failures``; its records say why.
    """
    from tqdm.auto import tqdm

    from .inputs import load_inputs

    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        raise BundleError(f"--precision must name {' and/or '.join(PRECISIONS)}, "
                          f"got {', '.join(precisions) or 'nothing'}")
    info = read_export(export_dir)
    out = Path(out).expanduser().resolve() if out is not None else info.root
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, recursive=False, finals=[FOLDER[p] for p in PRECISIONS])
    names, tokenizer = input_names(info)
    source = _data_source(info, data_dir)
    try:
        fp32_inputs = load_inputs(source, tokenizer, names, n_verify, info.max_length) if "fp32" in precisions else None
        int8_inputs = (load_inputs(source, tokenizer, names, n_verify_int8, info.max_length)
                       if "int8" in precisions else None)
    except ExportError as exc:
        raise BundleError(str(exc)) from None
    references = References(names, fp32_inputs, int8_inputs, info.pad_token_id)
    t0 = time.perf_counter()
    plan = plan_bundle(info, progress=progress, on_model=references)
    summaries = {}
    for precision in precisions:
        final = out / FOLDER[precision]
        with atomic_dir(final) as tmp:
            if precision == "fp32":
                graphs = write_fp32(plan, tmp)
            else:
                from .bundle_int8 import write_int8

                graphs = write_int8(plan, tmp)
            entries = []
            bar = tqdm(plan.entries, desc=f"bundle: verify {precision}", unit="entry", disable=not progress)
            for entry in bar:
                bar.set_postfix_str(entry.name)
                path = tmp / graphs[entry.name]
                standalone = checked_artifact(info, entry.name, STANDALONE_FORMAT[precision])
                record = verify_entry(path, precision, references.inputs[precision],
                                      references.logits[(precision, entry.name)], standalone, info.pad_token_id,
                                      info.task_spec)
                record["reads_bytes"] = reads_bytes(path)
                record["weights"] = V.weights_record("onnx-initializers", V.onnx_weight_count(path), entry.params,
                                                     plan.entries[0].params, 0.02)
                record["passed"] = bool(record["passed"] and record["weights"]["passed"])
                entries.append(BundleEntry(entry.name, entry.width_mult, entry.depth_mult, graphs[entry.name],
                                           sha256_path(path), entry.params, entry.macs, record))
            weights = tmp / WEIGHTS_FILE
            index = BundleIndex(precision, WEIGHTS_FILE, weights.stat().st_size, sha256_path(weights), names,
                                info.max_length, entries)
            write_index(tmp, index)
            failed = [e.name for e in entries if not e.verification["passed"]]
            summary = _summary(info, index, tmp, final, failed)
            if failed and not allow_failures:
                raise BundleError(f"{final}: {len(failed)} entr{'y' if len(failed) == 1 else 'ies'} failed "
                                  f"verification ({', '.join(failed)}); nothing installed (--allow-failures "
                                  "installs it anyway)")
        summaries[precision] = summary
    summaries["seconds"] = round(time.perf_counter() - t0, 1)
    return summaries


def _summary(info: ExportInfo, index: BundleIndex, tmp: Path, final: Path, failed: list[str]) -> dict:
    """Sizes beside the standalone files of the same precision, and each entry's verification."""
    fmt = STANDALONE_FORMAT[index.precision]
    standalone = {e.name: info.artifacts.get((e.name, fmt), {}).get("path") for e in index.entries}
    sizes = {name: p.stat().st_size for name, p in standalone.items() if p is not None and p.is_file()}
    full = sizes.get(index.entries[0].name)
    bundle_bytes = path_bytes(tmp)
    return {
        "folder": str(final), "precision": index.precision, "bytes": bundle_bytes,
        "weights_bytes": index.weights_bytes, "graphs_bytes": bundle_bytes - index.weights_bytes,
        "standalone_full_bytes": full, "standalone_sum_bytes": sum(sizes.values()) if sizes else None,
        "ratio_to_full": round(bundle_bytes / full, 4) if full else None,
        "ratio_to_sum": round(bundle_bytes / sum(sizes.values()), 4) if sizes else None,
        "entries": {e.name: {"graph_bytes": (tmp / e.graph).stat().st_size,
                             "reads_bytes": e.verification["reads_bytes"],
                             "reads_share": round(e.verification["reads_bytes"] / index.weights_bytes, 4),
                             "parity": e.verification["parity"],
                             "vs_standalone": e.verification["vs_standalone"],
                             "passed": e.verification["passed"]} for e in index.entries},
        "failed": failed,
    }


# ---------------------------------------------------------------------------------------------- CLI


def _precisions(text: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    bad = [x for x in items if x not in PRECISIONS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(PRECISIONS)}, got {text!r}")
    return items


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    # The whole module docstring: the layout, what is verified and the exit codes are what a user asks.
    p = Parser(prog="python -m export.bundle", description=__doc__.replace("``", "`"),
               formatter_class=argparse.RawDescriptionHelpFormatter, error_name="export.bundle")
    p.add_argument("--export", required=True, type=non_empty,
                   help="an export folder written by python -m export.all (holds manifest.json and w1_d1/hf)")
    p.add_argument("--precision", type=_precisions, default=PRECISIONS,
                   help="comma-separated: fp32 (folder bundle/), int8 (folder bundle.int8/); default both")
    p.add_argument("--out", type=non_empty, help="folder that receives bundle/ and bundle.int8/ (default: --export)")
    p.add_argument("--data-dir", type=non_empty,
                   help="GLUE directory or the task's folder for the verification inputs (default: what the "
                        "export's manifest records)")
    p.add_argument("--n-verify", type=int_in(1), default=DEFAULT_N_VERIFY,
                   help="dev inputs each fp32 entry is checked on (default %(default)s)")
    p.add_argument("--n-verify-int8", type=int_in(1), default=DEFAULT_N_VERIFY_INT8,
                   help="dev inputs each INT8 entry is checked on: argmax agreement >= 0.98 with PyTorch "
                        "(default %(default)s, or the whole dev set if smaller)")
    p.add_argument("--allow-failures", action="store_true", help="install a bundle even if an entry fails")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.2f} MB"


def print_summary(summaries: dict[str, dict]) -> None:
    for precision in PRECISIONS:
        s = summaries.get(precision)
        if s is None:
            continue
        print(f"{s['folder']}: {_mb(s['bytes'])} ({_mb(s['weights_bytes'])} weights + {_mb(s['graphs_bytes'])} "
              f"graphs); standalone {precision}: full {_mb(s['standalone_full_bytes'])}, all "
              f"{len(s['entries'])} {_mb(s['standalone_sum_bytes'])}; bundle / full = {s['ratio_to_full']}, "
              f"bundle / all = {s['ratio_to_sum']}")
        print(f"  {'entry':<12} {'reads':>9} {'share':>6} {'vs PyTorch':>22} {'vs standalone':>24}  ok")
        for name, e in s["entries"].items():
            par, alone = e["parity"], e["vs_standalone"]
            vs = ("not run" if alone.get("status") == "not run"
                  else f"agree {alone['argmax_agreement']:.3f} max {alone['max_abs_diff']:.1e}")
            agree = par["argmax_agreement"]
            print(f"  {name:<12} {_mb(e['reads_bytes']):>9} {e['reads_share']:>6.1%} "
                  f"{'agree ' + format(agree, '.3f') if agree is not None else '':>12} max {par['max_abs_diff']:.1e} "
                  f"{vs:>24}  {'yes' if e['passed'] else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from .quiet import quiet_process

    quiet_process()  # the tracer's and converters' expected warnings would bury the summary
    try:
        summaries = build_bundles(args.export, args.precision, args.out, args.data_dir, args.n_verify,
                                  args.n_verify_int8, progress=not args.no_progress,
                                  allow_failures=args.allow_failures)
    except BundleError as exc:
        print(f"export.bundle: error: {exc}", file=sys.stderr)
        return 1 if "failed verification" in str(exc) else 2
    except ExportError as exc:
        print(f"export.bundle: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an output folder that cannot be written, a full disk
        where = exc.filename or args.out or args.export
        print(f"export.bundle: error: {exc.strerror or exc}: {where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("export.bundle: interrupted; nothing half-written was left (run the same command again)",
              file=sys.stderr)
        return 130
    print_summary(summaries)
    failed = [name for p in PRECISIONS for name in (summaries.get(p) or {}).get("failed", [])]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
