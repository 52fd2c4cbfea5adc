"""Do a sub-model's INT8 matrix products alone reach their FLOPs-ideal speed-up? (issue #16)

    python benchmarks/int8_projections.py --out runs/bench/int8_projections

``benchmarks/int8_profile.py`` shows where the narrow INT8 sub-models lose against their FLOPs share: the
LayerNorms and residual ``Add``s, which do not shrink with width, and the INT8 products themselves, whose time
follows their output size more than their multiply-adds on some CPUs. This script isolates the second part:
for each width of the grid (``dynabert.arch.subnet_spec``: heads and FFN neurons kept), a graph of
``--layers`` chained layers holding only a BERT layer's six projections, written as ONNX Runtime runs them in
the exported INT8 files after its session fusions:

- query, key, value: one ``DynamicQuantizeLinear`` of the layer input, then three ``MatMulIntegerToFloat``
  (hidden -> heads x head size), their outputs summed (two ``Add`` of the narrow width, so the three stay live);
- attention output, FFN in, FFN out: ``DynamicQuantizeMatMul`` (heads x head size -> hidden -> FFN -> hidden).

No LayerNorm, attention scores, softmax, GELU or residual: what is left is the products and their own
quantization. Four kinds of the same graph (same seeded weights):

- ``int8``: uint8 activations, int8 per-channel symmetric weights: what export ships (``export/quantize.py``);
- ``int8, uint8 weights``: the weights stored as uint8 with zero point 128, which ONNX Runtime's MLAS runs with
  its U8U8 kernels (on CPUs with AMX, the U8S8 products above run on AMX tiles, these do not);
- ``int8, MatMulNBits``: every projection one ``MatMulNBits`` (bits 8, blocks of 32 along K, accuracy level 4:
  ONNX Runtime quantizes the float input itself and multiplies in int8), the same weights and scales: ONNX
  Runtime's other INT8 product, the one its weight-only LLM quantization writes
  (``onnxruntime.quantization.matmul_nbits_quantizer``);
- ``fp32``: ``MatMul`` + ``Add`` with the dequantized weights (the reference the INT8 outputs are checked
  against: largest difference relative to the output's largest value).

Share = (full width's time / this width's time) / (full width's multiply-adds / this width's): 100 % when the
products' time shrinks exactly with their work. If the INT8 products alone stay below the issue's 75 % at width
0.25, no arrangement of the rest of the graph brings the whole INT8 sub-model there on that CPU and ONNX Runtime.

Each round visits every graph (rotated order), one untimed run then ``--runs`` timed; p50 of the calling
thread's CPU time (one intra-op thread, batch 1, seeded random inputs). Writes ``<out>/int8_projections.json``
and ``.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from layernorm_alternatives import time_rows  # noqa: E402  (same folder: one interleaved timing loop)

from dynabert.arch import WIDTH_MULTS, SubnetSpec, subnet_spec  # noqa: E402
from dynabert.cli_options import int_in  # noqa: E402
from dynabert.fileio import write_report  # noqa: E402
from export import session_settings as S  # noqa: E402

#: MatMulNBits' block along K (the inner dimension is padded with zeros to a whole number of blocks)
NBITS_BLOCK = 32
#: the MatMulNBits kind's name (one of KINDS)
NBITS_KIND = "int8, MatMulNBits"
#: kind -> what it is (the table's words)
KINDS: dict[str, str] = {
    "int8": "uint8 activations x int8 per-channel weights (what export ships)",
    "int8, uint8 weights": "uint8 activations x uint8 weights, zero point 128 (not AMX)",
    NBITS_KIND: f"MatMulNBits, 8 bits, blocks of {NBITS_BLOCK}, accuracy level 4 (ONNX Runtime quantizes the input)",
    "fp32": "MatMul + Add, the dequantized weights",
}
#: kinds whose products take the float layer input (no DynamicQuantizeLinear shared by query, key and value):
#: fp32, and MatMulNBits, which quantizes its input itself
FLOAT_INPUT_KINDS = ("fp32", NBITS_KIND)
#: the kind the others' outputs are checked against (every share is against the full width of the same kind)
REFERENCE_KIND = "fp32"


def layer_shapes(spec: SubnetSpec, hidden: int) -> dict[str, tuple[int, int]]:
    """``{projection: (K, N)}`` of one layer of the sub-model ``spec`` (BERT's six projections)."""
    attn = spec.all_head_size
    return {"query": (hidden, attn), "key": (hidden, attn), "value": (hidden, attn), "attention_output": (attn, hidden),
            "ffn_in": (hidden, spec.intermediate_size), "ffn_out": (spec.intermediate_size, hidden)}


def macs_per_layer(shapes: dict[str, tuple[int, int]], seq: int) -> int:
    return sum(seq * k * n for k, n in shapes.values())


def weights(shapes: dict[str, tuple[int, int]], layers: int, rng: np.random.Generator) -> list[dict]:
    """Per layer, per projection: int8 weights with their per-output-channel scales and an fp32 bias (seeded;
    Gaussian / sqrt(K), so the activations keep their scale from layer to layer)."""
    made = []
    for _ in range(layers):
        layer = {}
        for name, (k, n) in shapes.items():
            w = rng.normal(0.0, 1.0 / np.sqrt(k), (k, n)).astype(np.float32)
            scale = (np.abs(w).max(axis=0) / 127.0).astype(np.float32)
            q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
            layer[name] = {"q": q, "scale": scale, "bias": rng.normal(0.0, 0.02, n).astype(np.float32)}
        made.append(layer)
    return made


def _projection(kind: str, name: str, x: str, w: dict, prefix: str, quantized: tuple[str, str, str] | None):
    """(nodes, initializers, output name) of one projection of ``x``; ``quantized``: the (uint8, scale, zero point)
    outputs of a ``DynamicQuantizeLinear`` of ``x`` the query/key/value share."""
    from onnx import helper as h
    from onnx import numpy_helper as nh

    p = f"{prefix}{name}"
    out = f"{p}_out"
    bias = nh.from_array(w["bias"], f"{p}_b")
    if kind == "fp32":
        dense = (w["q"].astype(np.float32) * w["scale"]).astype(np.float32)
        return ([h.make_node("MatMul", [x, f"{p}_w"], [f"{p}_mm"]), h.make_node("Add", [f"{p}_mm", f"{p}_b"], [out])],
                [nh.from_array(dense, f"{p}_w"), bias], out)
    if kind == NBITS_KIND:
        return [_matmul_nbits(x, w, p, out)], _nbits_initializers(w, p), out
    if kind == "int8":
        q, zero = w["q"], np.zeros(w["q"].shape[1], np.int8)
    else:  # uint8 weights: the same values shifted by the zero point 128
        q, zero = (w["q"].astype(np.int16) + 128).astype(np.uint8), np.full(w["q"].shape[1], 128, np.uint8)
    inits = [nh.from_array(q, f"{p}_w"), nh.from_array(w["scale"], f"{p}_s"), nh.from_array(zero, f"{p}_z"), bias]
    if quantized is None:
        node = h.make_node("DynamicQuantizeMatMul", [x, f"{p}_w", f"{p}_s", f"{p}_z", f"{p}_b"], [out],
                           domain="com.microsoft")
    else:
        xq, xs, xz = quantized
        node = h.make_node("MatMulIntegerToFloat", [xq, f"{p}_w", xs, f"{p}_s", xz, f"{p}_z", f"{p}_b"], [out],
                           domain="com.microsoft")
    return [node], inits, out


def _nbits_initializers(w: dict, p: str) -> list:
    """MatMulNBits' packed weights ``[N, blocks, block]`` as uint8 (the int8 values + 128: 8-bit MatMulNBits has
    zero point 128 when none is given), the per-channel scale repeated for each block, the bias."""
    from onnx import numpy_helper as nh

    k, n = w["q"].shape
    blocks = -(-k // NBITS_BLOCK)
    padded = np.zeros((blocks * NBITS_BLOCK, n), np.int16)
    padded[:k] = w["q"]
    packed = (padded.T.reshape(n, blocks, NBITS_BLOCK) + 128).astype(np.uint8)
    scales = np.repeat(w["scale"][:, None], blocks, axis=1).reshape(-1)
    return [nh.from_array(packed, f"{p}_w"), nh.from_array(scales, f"{p}_s"), nh.from_array(w["bias"], f"{p}_b")]


def _matmul_nbits(x: str, w: dict, p: str, out: str):
    from onnx import helper as h

    k, n = w["q"].shape
    # inputs: A, B, scales, zero points (none), g_idx (none), bias
    return h.make_node("MatMulNBits", [x, f"{p}_w", f"{p}_s", "", "", f"{p}_b"], [out], domain="com.microsoft",
                       K=k, N=n, bits=8, block_size=NBITS_BLOCK, accuracy_level=4)


def graph_bytes(kind: str, layer_weights: list[dict], seq: int, hidden: int) -> bytes:
    """The serialized ONNX model: ``len(layer_weights)`` chained layers of projections of kind ``kind``."""
    from onnx import TensorProto
    from onnx import helper as h

    nodes, inits, x = [], [], "x"
    for i, layer in enumerate(layer_weights):
        prefix = f"l{i}_"
        quantized = None
        if kind not in FLOAT_INPUT_KINDS:
            quantized = (f"{prefix}xq", f"{prefix}xs", f"{prefix}xz")
            nodes.append(h.make_node("DynamicQuantizeLinear", [x], list(quantized)))
        qkv = []
        for name in ("query", "key", "value"):
            n, t, out = _projection(kind, name, x, layer[name], prefix, quantized)
            nodes, inits, qkv = nodes + n, inits + t, qkv + [out]
        nodes += [h.make_node("Add", qkv[:2], [f"{prefix}qk"]),
                  h.make_node("Add", [f"{prefix}qk", qkv[2]], [f"{prefix}a"])]
        x = f"{prefix}a"
        for name in ("attention_output", "ffn_in", "ffn_out"):
            n, t, x = _projection(kind, name, x, layer[name], prefix, None)
            nodes, inits = nodes + n, inits + t
    shape = [1, seq, hidden]
    graph = h.make_graph(nodes, kind, [h.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                         [h.make_tensor_value_info(x, TensorProto.FLOAT, shape)], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)],
                         ir_version=10)  # IR 10 (ONNX 1.16): what ONNX Runtime 1.20 and newer read
    return model.SerializeToString()


def build(args) -> tuple[dict, dict, dict]:
    """``(sessions {(width, kind): session}, shapes {width: per-layer shapes}, feeds)``: every graph opened as
    export opens its files (``export.session_settings.session``, its default settings, 1 thread)."""
    rng = np.random.default_rng(args.seed)
    shapes, made = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for width in WIDTH_MULTS:
            spec = subnet_spec(num_heads=args.heads, head_size=args.hidden // args.heads,
                               intermediate_size=args.ffn, num_layers=1, width_mult=width, depth_mult=1.0)
            shapes[width] = layer_shapes(spec, args.hidden)
            layer_weights = weights(shapes[width], args.layers, rng)
            for kind in KINDS:
                path = Path(scratch) / f"w{width:g}-{len(made)}.onnx"
                path.write_bytes(graph_bytes(kind, layer_weights, args.seq, args.hidden))
                made[(width, kind)] = S.session(path, S.DEFAULT)
    feeds = {"x": rng.normal(0.0, 1.0, (1, args.seq, args.hidden)).astype(np.float32)}
    return made, shapes, feeds


def run(args) -> dict:
    import onnxruntime as ort

    from device_bench.harness import environment

    if args.hidden % args.heads:
        raise SystemExit(f"int8_projections: --hidden {args.hidden} is not a multiple of --heads {args.heads}")
    made, shapes, feeds = build(args)
    outputs = {key: session.run(None, feeds)[0] for key, session in made.items()}
    ms = time_rows(made, feeds, args.rounds, args.runs)
    full = max(WIDTH_MULTS)
    rows = []
    for (width, kind), times in ms.items():
        p50 = statistics.median(times)
        full_p50 = statistics.median(ms[(full, kind)])
        macs, full_macs = macs_per_layer(shapes[width], args.seq), macs_per_layer(shapes[full], args.seq)
        reference = outputs[(width, REFERENCE_KIND)]
        rows.append({"width": width, "kind": kind, "shapes": {k: list(v) for k, v in shapes[width].items()},
                     "macs_per_layer": macs, "ms_per_layer": round(p50 / args.layers, 5),
                     "speedup": round(full_p50 / p50, 3), "ideal": round(full_macs / macs, 3),
                     "share": round((full_p50 / p50) / (full_macs / macs), 4),
                     "max_rel_diff_vs_fp32": float(np.abs(outputs[(width, kind)] - reference).max()
                                                   / np.abs(reference).max())})
    result = {"environment": environment(), "onnxruntime": ort.__version__, "seq": args.seq, "hidden": args.hidden,
              "heads": args.heads, "ffn": args.ffn, "layers": args.layers, "rounds": args.rounds, "runs": args.runs,
              "seed": args.seed, "kinds": KINDS, "rows": rows}
    text = markdown(result)
    print(text)
    print("wrote {} and {}".format(*write_report(args.out, "int8_projections", result, text)))
    return result


def markdown(result: dict) -> str:
    lines = [f"{result['environment']['cpu']}: ONNX Runtime {result['onnxruntime']} CPU, 1 thread, "
             f"seq {result['seq']}, "
             f"hidden {result['hidden']}, {result['heads']} heads, FFN {result['ffn']}, {result['layers']} chained "
             f"layers of projections per graph, {result['rounds']} interleaved rounds x {result['runs']} runs; "
             "ms = p50 CPU time per layer.", "",
             "| kind | width | ms per layer | x full width | FLOPs-ideal | share | max rel. diff vs fp32 |",
             "|---|---|---|---|---|---|---|"]
    for row in sorted(result["rows"], key=lambda r: (list(KINDS).index(r["kind"]), -r["width"])):
        lines.append(f"| {row['kind']} | {row['width']:g} | {row['ms_per_layer']:.4f} | {row['speedup']:.2f} | "
                     f"{row['ideal']:.2f} | {100 * row['share']:.1f} % | {row['max_rel_diff_vs_fp32']:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_cli(argv)


def run_cli(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, time the graphs, write the files; returns the result (what the JSON holds)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/int8_projections"))
    parser.add_argument("--seq", type=int_in(1), default=128, help="tokens")
    parser.add_argument("--hidden", type=int_in(1), default=384, help="hidden size (the embedded MiniLM's: 384)")
    parser.add_argument("--heads", type=int_in(1), default=12, help="attention heads of the full model")
    parser.add_argument("--ffn", type=int_in(1), default=1536, help="FFN neurons of the full model")
    parser.add_argument("--layers", type=int_in(1), default=6, help="chained layers of projections per graph")
    parser.add_argument("--rounds", type=int_in(1), default=40)
    parser.add_argument("--runs", type=int_in(1), default=5, help="timed runs per graph per round")
    parser.add_argument("--seed", type=int, default=0)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
