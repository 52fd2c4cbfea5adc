"""Core ML ``.mlpackage`` (ML Program, fp16 compute) and its int8-weight variant, with coremltools.

Batch is fixed at 1 (an app classifies one text at a time) and the sequence length is flexible, 1 to
``max_length``, so short texts are not padded. Ids are int32, the integer type Core ML inputs take.
Conversion runs anywhere; prediction needs macOS, so on Linux :func:`validate_spec` checks what can be
checked without running the model: inputs, outputs, shapes, deployment target and op set.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from dynabert.fileio import atomic_dir

from .wrapper import ExportWrapper

#: iOS 16 / macOS 13: the first target whose ML Programs store int8 weights (constexpr_affine_dequantize).
DEPLOYMENT_TARGET = "iOS16"
#: coremltools' spec version and MIL opset name for that target.
SPEC_VERSION = 7
#: iOS 18 / macOS 15: the first target with 4-bit block-wise weights (constexpr_blockwise_shift_scale), which
#: the 4-bit-embedding package (coreml-int4emb) needs; the other packages keep the older target.
INT4_DEPLOYMENT_TARGET = "iOS18"
#: Rows of the embedding tables share one scale per this many values (as ONNX's GatherBlockQuantized files).
INT4_BLOCK = 32
OUTPUT_NAME = "logits"


@contextlib.contextmanager
def _quiet():
    """coremltools draws its own tqdm bars and warns about the untested torch version on every call."""
    logger = logging.getLogger("coremltools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def import_coremltools():
    with _quiet():
        import coremltools as ct
    return ct


def convert(hf_model, names: list[str], max_length: int, final: Path, target: str = DEPLOYMENT_TARGET) -> dict:
    """Trace the sub-model and convert it to an fp16 ML Program at ``final`` for the deployment ``target``."""
    ct = import_coremltools()
    module = ExportWrapper(hf_model, with_token_types="token_type_ids" in names, cast_ids=True).eval()
    example_len = min(16, max_length)
    example = tuple(torch.full((1, example_len), 1000 if n == "input_ids" else 1, dtype=torch.int32) for n in names)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about folded constants
        traced = torch.jit.trace(module, example)
    seq = ct.RangeDim(lower_bound=1, upper_bound=max_length, default=example_len)
    shape = ct.Shape(shape=(1, seq))
    with _quiet():
        model = ct.convert(
            traced,
            inputs=[ct.TensorType(name=name, shape=shape, dtype=np.int32) for name in names],
            # fp32 logits (one cast at the end): what an app reads most easily, and what the manifest says.
            outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16,
            minimum_deployment_target=getattr(ct.target, target),
        )
    with atomic_dir(final) as tmp:
        # save() wants a path ending in .mlpackage; the temporary directory is its parent.
        package = tmp / final.name
        model.save(str(package))
        _flatten(package, tmp)
    return {"compute_precision": "fp16", "deployment_target": target, "batch": 1, "sequence": [1, max_length]}


def _flatten(package: Path, into: Path) -> None:
    # atomic_dir renames ``into`` itself onto the final name, so the package's contents must sit in it.
    for child in package.iterdir():
        child.rename(into / child.name)
    package.rmdir()


def quantize_weights(source: Path, final: Path, embeddings_int4_dim: int | None = None) -> dict:
    """Int8 per-channel symmetric weights (decompressed to fp16 at load) of the package ``source``; with
    ``embeddings_int4_dim`` (the embedding width) the tables read by ``gather`` (word and position embeddings)
    in 4-bit blocks of :data:`INT4_BLOCK` instead, or one block per row where the width is not a multiple of
    it (``source`` must then target iOS 18: :data:`INT4_DEPLOYMENT_TARGET`)."""
    ct = import_coremltools()
    from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

    # weight_threshold: every weight matrix, including the embedding tables, but not LayerNorm vectors.
    int8 = OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                   weight_threshold=2048)
    by_type = {}
    embeddings_int4 = embeddings_int4_dim is not None
    if embeddings_int4:
        # coremltools leaves a table whose width the block does not divide in fp16, silently (checked below).
        block = INT4_BLOCK if embeddings_int4_dim % INT4_BLOCK == 0 else embeddings_int4_dim
        by_type["gather"] = OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4", granularity="per_block",
                                                    block_size=block, weight_threshold=2048)
    with _quiet():
        model = ct.models.MLModel(str(source), skip_model_load=True)
        quantized = linear_quantize_weights(model, OptimizationConfig(global_config=int8, op_type_configs=by_type))
    if embeddings_int4 and "INT4" not in gathered_table_dtypes(quantized.get_spec()):
        raise RuntimeError("coremltools left the embedding tables unquantized (expected 4-bit block-wise weights)")
    with atomic_dir(final) as tmp:
        package = tmp / final.name
        quantized.save(str(package))
        _flatten(package, tmp)
    details = {"weights": "int8 linear_symmetric per-channel", "compute_precision": "fp16",
               "deployment_target": INT4_DEPLOYMENT_TARGET if embeddings_int4 else DEPLOYMENT_TARGET}
    if embeddings_int4:
        details["embeddings"] = f"int4 linear_symmetric, blocks of {block} (word and position tables)"
    return details


def gathered_table_dtypes(spec) -> set[str]:
    """Storage types of the tables the program's ``gather`` ops read through a ``constexpr_*`` decompression."""
    import coremltools as ct

    found = set()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            constexpr = {op.outputs[0].name: op for op in block.operations if op.type.startswith("constexpr_")}
            for op in block.operations:
                if op.type != "gather":
                    continue
                source = constexpr.get(op.inputs["x"].arguments[0].name)
                if source is None:
                    continue
                # iOS 18's constexpr_blockwise_shift_scale takes an input "data"; iOS 16's
                # constexpr_affine_dequantize holds an attribute "quantized_data".
                if "data" in source.inputs and source.inputs["data"].arguments[0].WhichOneof("binding") == "value":
                    value = source.inputs["data"].arguments[0].value
                elif "quantized_data" in source.attributes:
                    value = source.attributes["quantized_data"]
                else:
                    continue
                found.add(ct.proto.MIL_pb2.DataType.Name(value.type.tensorType.dataType))
    return found


def validate_spec(path: Path, names: list[str], max_length: int, num_labels: int,
                  target_name: str = DEPLOYMENT_TARGET) -> dict:
    """What can be checked of an ``.mlpackage`` without Core ML's runtime; ``passed`` and the problems.
    ``target_name``: the deployment target the package was made for (its ops must be in that op set)."""
    ct = import_coremltools()
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    spec = ct.utils.load_spec(str(path))
    problems: list[str] = []
    if spec.WhichOneof("Type") != "mlProgram":
        problems.append(f"model type is {spec.WhichOneof('Type')}, not an ML Program")
    if spec.specificationVersion < SPEC_VERSION:
        problems.append(f"spec version {spec.specificationVersion} < {SPEC_VERSION} ({DEPLOYMENT_TARGET})")
    if spec.specificationVersion > _spec_version(ct, target_name):
        problems.append(f"spec version {spec.specificationVersion} is newer than {target_name}")

    inputs = []
    got_names = [i.name for i in spec.description.input]
    if got_names != names:
        problems.append(f"inputs are {got_names}, expected {names}")
    for desc in spec.description.input:
        array = desc.type.multiArrayType
        dtype = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType)
        ranges = [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges]
        inputs.append({"name": desc.name, "dtype": dtype, "shape_range": ranges})
        if dtype != "INT32":
            problems.append(f"input {desc.name} is {dtype}, expected INT32")
        if ranges != [(1, 1), (1, max_length)]:
            problems.append(f"input {desc.name} shape range {ranges}, expected [(1, 1), (1, {max_length})]")

    outputs = []
    for desc in spec.description.output:
        array = desc.type.multiArrayType
        dtype = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType)
        outputs.append({"name": desc.name, "dtype": dtype, "shape": list(array.shape)})
    if [o["name"] for o in outputs] != [OUTPUT_NAME]:
        problems.append(f"outputs are {[o['name'] for o in outputs]}, expected ['{OUTPUT_NAME}']")
    elif outputs[0]["dtype"] != "FLOAT32" or outputs[0]["shape"] not in ([1, num_labels], []):
        problems.append(f"output {outputs[0]}, expected FLOAT32 of shape [1, {num_labels}]")

    ops: Counter = Counter()
    opsets = set()
    for function in spec.mlProgram.functions.values():
        opsets.add(function.opset)
        for block in function.block_specializations.values():
            ops.update(op.type for op in block.operations)
    target = getattr(ct.target, target_name)
    unknown = sorted(op for op in ops if not any(
        version <= target for version in SSAOpRegistry.core_ops.get(op, {})))
    if unknown:
        problems.append(f"ops not in the {target_name} op set: {unknown}")
    # The classifier's output width is the last linear's bias length; a wrong head would show here.
    head = _output_width(spec)
    if head is not None and head != num_labels:
        problems.append(f"classifier has {head} outputs, expected {num_labels}")
    return {"passed": not problems, "problems": problems, "spec_version": spec.specificationVersion,
            "opsets": sorted(opsets), "inputs": inputs, "outputs": outputs, "ops": dict(sorted(ops.items()))}


def _spec_version(ct, target_name: str) -> int:
    """The model spec version a deployment target writes (iOS16 -> 7, iOS17 -> 8, iOS18 -> 9)."""
    return getattr(ct.target, target_name).value


def _output_width(spec) -> int | None:
    widths = []
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if op.type == "linear" and op.outputs:
                    dims = op.outputs[0].type.tensorType.dimensions
                    if dims and dims[-1].WhichOneof("dimension") == "constant":
                        widths.append(dims[-1].constant.size)
    return widths[-1] if widths else None
