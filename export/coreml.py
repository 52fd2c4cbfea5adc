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


def convert(hf_model, names: list[str], max_length: int, final: Path) -> dict:
    """Trace the sub-model and convert it to an fp16 ML Program at ``final``."""
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
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
        )
    with atomic_dir(final) as tmp:
        # save() wants a path ending in .mlpackage; the temporary directory is its parent.
        package = tmp / final.name
        model.save(str(package))
        _flatten(package, tmp)
    return {"compute_precision": "fp16", "deployment_target": DEPLOYMENT_TARGET, "batch": 1,
            "sequence": [1, max_length]}


def _flatten(package: Path, into: Path) -> None:
    # atomic_dir renames ``into`` itself onto the final name, so the package's contents must sit in it.
    for child in package.iterdir():
        child.rename(into / child.name)
    package.rmdir()


def quantize_weights(source: Path, final: Path) -> dict:
    """Int8 per-channel symmetric weights (decompressed to fp16 at load) of the package ``source``."""
    ct = import_coremltools()
    from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

    with _quiet():
        model = ct.models.MLModel(str(source), skip_model_load=True)
        # weight_threshold: every weight matrix, including the embedding table, but not LayerNorm vectors.
        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=2048))
        quantized = linear_quantize_weights(model, config)
    with atomic_dir(final) as tmp:
        package = tmp / final.name
        quantized.save(str(package))
        _flatten(package, tmp)
    return {"weights": "int8 linear_symmetric per-channel", "compute_precision": "fp16",
            "deployment_target": DEPLOYMENT_TARGET}


def validate_spec(path: Path, names: list[str], max_length: int, num_labels: int) -> dict:
    """What can be checked of an ``.mlpackage`` without Core ML's runtime; ``passed`` and the problems."""
    ct = import_coremltools()
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    spec = ct.utils.load_spec(str(path))
    problems: list[str] = []
    if spec.WhichOneof("Type") != "mlProgram":
        problems.append(f"model type is {spec.WhichOneof('Type')}, not an ML Program")
    if spec.specificationVersion < SPEC_VERSION:
        problems.append(f"spec version {spec.specificationVersion} < {SPEC_VERSION} ({DEPLOYMENT_TARGET})")

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
    target = getattr(ct.target, DEPLOYMENT_TARGET)
    unknown = sorted(op for op in ops if not any(
        version <= target for version in SSAOpRegistry.core_ops.get(op, {})))
    if unknown:
        problems.append(f"ops not in the {DEPLOYMENT_TARGET} op set: {unknown}")
    # The classifier's output width is the last linear's bias length; a wrong head would show here.
    head = _output_width(spec)
    if head is not None and head != num_labels:
        problems.append(f"classifier has {head} outputs, expected {num_labels}")
    return {"passed": not problems, "problems": problems, "spec_version": spec.specificationVersion,
            "opsets": sorted(opsets), "inputs": inputs, "outputs": outputs, "ops": dict(sorted(ops.items()))}


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
