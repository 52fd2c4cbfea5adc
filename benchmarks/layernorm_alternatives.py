"""Is there a faster way than ``Add`` + ``LayerNormalization`` in this ONNX Runtime build? (issue #16)

    python benchmarks/layernorm_alternatives.py --out runs/bench/layernorm_alternatives

The residual ``Add`` and the ``LayerNormalization`` after it are the largest part of an INT8 sub-model that
does not shrink with its width (``benchmarks/int8_profile.py``): two per layer, each on the full
``[seq, hidden]``. This script times every way stock ONNX can write that step on ONNX Runtime's CPU provider,
so the choice the export makes (``Add`` + ``LayerNormalization``, the ``SkipLayerNormFusion`` disabled:
``export/session_settings.py``) is a measured one, and so it can be measured again on another CPU or a newer
ONNX Runtime.

Each candidate is one graph of ``--steps`` chained steps ``y = norm(y + r)`` on ``[1, --seq, --hidden]`` fp32
(seeded random inputs, LayerNorm scale and bias), 1 intra-op thread, batch 1. Exact candidates compute the same
LayerNorm (checked: largest difference from the reference graph's output); the two lower bounds do not and
only say what a step could cost at best:

- ``add+layernorm``: the exported graph, ``SkipLayerNormFusion`` disabled (the reference);
- ``skiplayernorm``: the same graph in a default session, which fuses it into ``SkipLayerNormalization``;
- ``add+instancenorm``: ``InstanceNormalization`` over each token (the tensor read as N 1, C seq), then the
  LayerNorm scale (``Mul``) and bias (``Add``);
- ``add+meanvariance``: ``MeanVarianceNormalization`` over the hidden axis, then ``Mul``, ``Add``;
- ``add+groupnorm``: ``GroupNormalization`` (opset 21) with one group per token, then ``Mul``, ``Add``;
- ``add+reducemean+rms``: centring (``ReduceMean``, ``Sub``), ``RMSNormalization`` (opset 23) with the scale,
  then ``Add``: an RMS norm of a centred input is a LayerNorm;
- ``decomposed``: ``ReduceMean``, ``Sub``, ``Mul``, ``ReduceMean``, ``Add`` eps, ``Sqrt``, ``Div``, ``Mul``, ``Add``;
- lower bound ``add+rms (not centred)``: ``RMSNormalization`` without the centring (a LayerNorm only when the
  input's mean is already 0);
- lower bound ``add``: the residual ``Add`` alone.

Each round visits every candidate (in a rotated order) and times ``--runs`` runs after one untimed run; the
table gives the p50 per step of the calling thread's CPU time (with one thread ONNX Runtime computes on it).
A candidate this ONNX Runtime cannot load is listed with its one-line error. Writes
``<out>/layernorm_alternatives.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dynabert.cli_options import int_in  # noqa: E402
from dynabert.fileio import write_report  # noqa: E402
from export import session_settings as S  # noqa: E402

EPS = 1e-12  # BERT's LayerNorm epsilon
REFERENCE = "add+layernorm"
#: candidate -> (ONNX opset it needs, session settings, computes the LayerNorm exactly)
CANDIDATES: dict[str, tuple[int, dict, bool]] = {
    REFERENCE: (17, S.NO_SKIP_LAYER_NORM, True),
    "skiplayernorm": (17, S.DEFAULT, True),
    "add+instancenorm": (17, S.NO_SKIP_LAYER_NORM, True),
    "add+meanvariance": (17, S.NO_SKIP_LAYER_NORM, True),
    "add+groupnorm": (21, S.NO_SKIP_LAYER_NORM, True),
    "add+reducemean+rms": (23, S.NO_SKIP_LAYER_NORM, True),
    "decomposed": (18, S.NO_SKIP_LAYER_NORM, True),
    "add+rms (not centred)": (23, S.NO_SKIP_LAYER_NORM, False),
    "add": (17, S.NO_SKIP_LAYER_NORM, False),
}


def _step(kind: str, x: str, i: int, seq: int) -> list:
    """The nodes of one step ``norm(x + r)``; the step's output is named ``y{i}``."""
    from onnx import helper as h

    def t(name: str) -> str:
        return f"{name}{i}"

    s, y = t("s"), f"y{i}"
    nodes = [h.make_node("Add", [x, "r"], [s])]

    def affine(normed: str) -> list:  # the LayerNorm scale and bias, for norms that do not take them per hidden unit
        return [h.make_node("Mul", [normed, "gamma"], [t("scaled")]), h.make_node("Add", [t("scaled"), "beta"], [y])]

    if kind in (REFERENCE, "skiplayernorm"):
        nodes.append(h.make_node("LayerNormalization", [s, "gamma", "beta"], [y], axis=-1, epsilon=EPS))
    elif kind == "add+instancenorm":
        nodes += [h.make_node("InstanceNormalization", [s, "ones", "zeros"], [t("n")], epsilon=EPS), *affine(t("n"))]
    elif kind == "add+meanvariance":
        # MeanVarianceNormalization has no epsilon attribute (ONNX Runtime adds 1e-9 to the deviation).
        nodes += [h.make_node("MeanVarianceNormalization", [s], [t("n")], axes=[2]), *affine(t("n"))]
    elif kind == "add+groupnorm":
        nodes += [h.make_node("GroupNormalization", [s, "ones", "zeros"], [t("n")], epsilon=EPS, num_groups=seq),
                  *affine(t("n"))]
    elif kind == "add+reducemean+rms":
        nodes += [h.make_node("ReduceMean", [s, "last_axis"], [t("mean")], keepdims=1),
                  h.make_node("Sub", [s, t("mean")], [t("c")]),
                  h.make_node("RMSNormalization", [t("c"), "gamma"], [t("scaled")], axis=-1, epsilon=EPS),
                  h.make_node("Add", [t("scaled"), "beta"], [y])]
    elif kind == "decomposed":
        nodes += [h.make_node("ReduceMean", [s, "last_axis"], [t("mean")], keepdims=1),
                  h.make_node("Sub", [s, t("mean")], [t("c")]),
                  h.make_node("Mul", [t("c"), t("c")], [t("sq")]),
                  h.make_node("ReduceMean", [t("sq"), "last_axis"], [t("var")], keepdims=1),
                  h.make_node("Add", [t("var"), "eps"], [t("vareps")]),
                  h.make_node("Sqrt", [t("vareps")], [t("std")]),
                  h.make_node("Div", [t("c"), t("std")], [t("n")]), *affine(t("n"))]
    elif kind == "add+rms (not centred)":
        nodes += [h.make_node("RMSNormalization", [s, "gamma"], [y], axis=-1, epsilon=EPS)]
    elif kind == "add":
        nodes[0].output[0] = y
    else:
        raise ValueError(f"unknown candidate {kind!r}")
    return nodes


def graph_bytes(kind: str, seq: int, hidden: int, steps: int, gamma: np.ndarray, beta: np.ndarray) -> bytes:
    """The serialized ONNX model of ``steps`` chained steps of candidate ``kind``."""
    from onnx import TensorProto
    from onnx import helper as h
    from onnx import numpy_helper as nh

    opset = CANDIDATES[kind][0]
    nodes, x = [], "x"
    for i in range(steps):
        nodes += _step(kind, x, i, seq)
        x = f"y{i}"
    inits = [nh.from_array(gamma, "gamma"), nh.from_array(beta, "beta"),
             nh.from_array(np.ones(seq, np.float32), "ones"), nh.from_array(np.zeros(seq, np.float32), "zeros"),
             nh.from_array(np.array([-1], np.int64), "last_axis"), nh.from_array(np.array(EPS, np.float32), "eps")]
    used = {name for node in nodes for name in node.input}
    shape = [1, seq, hidden]
    graph = h.make_graph(nodes, kind, [h.make_tensor_value_info("x", TensorProto.FLOAT, shape),
                                       h.make_tensor_value_info("r", TensorProto.FLOAT, shape)],
                         [h.make_tensor_value_info(x, TensorProto.FLOAT, shape)],
                         [init for init in inits if init.name in used])
    # IR 10 (ONNX 1.16) is what ONNX Runtime 1.20 and newer read; opset 23 needs IR 11.
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], ir_version=11 if opset >= 23 else 10)
    return model.SerializeToString()


def sessions(seq: int, hidden: int, steps: int, seed: int) -> tuple[dict, dict, dict[str, str]]:
    """``(sessions, feeds, unsupported)``: one CPU session per candidate this ONNX Runtime loads (1 thread, opened as
    export opens its files: ``export.session_settings.session``), the seeded inputs, and ``{candidate: one-line
    error}`` for the others."""
    rng = np.random.default_rng(seed)
    gamma = rng.normal(1.0, 0.3, hidden).astype(np.float32)
    beta = rng.normal(0.0, 0.1, hidden).astype(np.float32)
    feeds = {"x": rng.normal(0.0, 1.0, (1, seq, hidden)).astype(np.float32),
             "r": rng.normal(0.2, 1.0, (1, seq, hidden)).astype(np.float32)}
    made, unsupported = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for index, (kind, (_, settings, _)) in enumerate(CANDIDATES.items()):
            path = Path(scratch) / f"{index}.onnx"
            path.write_bytes(graph_bytes(kind, seq, hidden, steps, gamma, beta))
            try:
                made[kind] = S.session(path, settings)
            except Exception as exc:  # noqa: BLE001 (an op or opset this build lacks: recorded, not fatal)
                unsupported[kind] = str(exc).strip().splitlines()[0][:300]
    return made, feeds, unsupported


def time_rows(made: dict, feeds: dict, rounds: int, runs: int) -> dict[str, list[float]]:
    """``{key: [CPU ms per run]}`` of ``made`` (``{key: session}``, all fed ``feeds``): each round visits every
    session in a rotated order, one untimed run then ``runs`` timed ones (``time.thread_time``: with one thread
    ONNX Runtime computes on the calling thread). ``int8_projections.py`` times its graphs with it too."""
    names = list(made)
    ms: dict[str, list[float]] = {name: [] for name in names}
    for r in tqdm(range(rounds), desc="rounds"):
        for name in names[r % len(names):] + names[:r % len(names)]:
            made[name].run(None, feeds)
            for _ in range(runs):
                start = time.thread_time()
                made[name].run(None, feeds)
                ms[name].append((time.thread_time() - start) * 1000.0)
    return ms


def run(args) -> dict:
    import onnxruntime as ort

    from device_bench.harness import environment

    made, feeds, unsupported = sessions(args.seq, args.hidden, args.steps, args.seed)
    if REFERENCE not in made:
        raise SystemExit(f"layernorm_alternatives: this ONNX Runtime cannot run the reference graph: "
                         f"{unsupported[REFERENCE]}")
    reference = made[REFERENCE].run(None, feeds)[0]
    ms = time_rows(made, feeds, args.rounds, args.runs)
    base = statistics.median(ms[REFERENCE])
    rows = []
    for kind, (opset, settings, exact) in CANDIDATES.items():
        row = {"candidate": kind, "opset": opset, "session": S.label(settings), "layernorm": exact}
        if kind in made:
            p50 = statistics.median(ms[kind])
            row.update(us_per_step=round(1000.0 * p50 / args.steps, 2), x_reference=round(p50 / base, 3),
                       max_abs_diff=float(np.abs(made[kind].run(None, feeds)[0] - reference).max()))
        else:
            row["unsupported"] = unsupported[kind]
        rows.append(row)
    result = {"environment": environment(), "onnxruntime": ort.__version__, "seq": args.seq, "hidden": args.hidden,
              "steps": args.steps, "rounds": args.rounds, "runs": args.runs, "seed": args.seed, "rows": rows}
    text = markdown(result)
    print(text)
    print("wrote {} and {}".format(*write_report(args.out, "layernorm_alternatives", result, text)))
    return result


def markdown(result: dict) -> str:
    lines = [f"{result['environment']['cpu']}: ONNX Runtime {result['onnxruntime']} CPU, 1 thread, "
             f"[1, {result['seq']}, {result['hidden']}] fp32, {result['steps']} chained steps per graph, "
             f"{result['rounds']} interleaved rounds x {result['runs']} runs; us = p50 CPU time per step.", "",
             "| candidate | computes the LayerNorm | opset | session | us per step | x add+layernorm | max abs diff |",
             "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        what = "yes" if row["layernorm"] else "no (lower bound)"
        if "unsupported" in row:
            lines.append(f"| {row['candidate']} | {what} | {row['opset']} | {row['session']} | "
                         f"not supported: {row['unsupported']} | | |")
            continue
        lines.append(f"| {row['candidate']} | {what} | {row['opset']} | {row['session']} | {row['us_per_step']:.2f} | "
                     f"{row['x_reference']:.2f} | {row['max_abs_diff']:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_cli(argv)


def run_cli(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, time the candidates, write the files; returns the result (what the JSON holds)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/layernorm_alternatives"))
    parser.add_argument("--seq", type=int_in(1), default=128, help="tokens (rows normalized)")
    parser.add_argument("--hidden", type=int_in(2), default=384, help="hidden size (the normalized axis); "
                                                                      "the embedded MiniLM's is 384")
    parser.add_argument("--steps", type=int_in(1), default=12, help="chained Add + norm steps per graph "
                                                                    "(a 6-layer BERT has 12)")
    parser.add_argument("--rounds", type=int_in(1), default=100)
    parser.add_argument("--runs", type=int_in(1), default=10, help="timed runs per candidate per round")
    parser.add_argument("--seed", type=int, default=0)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
