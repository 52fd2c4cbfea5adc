"""ExecuTorch ``.pte`` with the XNNPACK delegate: fp32, and int8 (dynamic, per-channel) linear layers.

Batch is fixed at 1 and the sequence length is dynamic (1 to ``max_length``): a second dynamic axis
multiplies the symbolic-shape work of the lowering (already the slowest export here) and an app
classifies one text at a time. The int8 variant quantizes the linear layers with XNNPACK's own quantizer
(dynamic int8 activations, per-channel int8 weights); the embedding table stays fp32 because XNNPACK
does not delegate embedding lookups and a quantized lookup would need the quantized kernel library in
the app's runtime.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from dynabert.fileio import atomic_file

from .wrapper import ExportWrapper


def _quiet_logs() -> None:
    # torch.export and the XNNPACK partitioner log each unsupported node at WARNING level.
    for name in ("torch.export", "torch._export", "executorch", "torch.fx.experimental.symbolic_shapes"):
        logging.getLogger(name).setLevel(logging.ERROR)


def export_pte(hf_model, names: list[str], max_length: int, final: Path, int8: bool) -> dict:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    _quiet_logs()
    module = ExportWrapper(hf_model, with_token_types="token_type_ids" in names).eval()
    example_len = min(16, max_length)
    example = tuple(torch.full((1, example_len), 1000 if n == "input_ids" else 1, dtype=torch.long) for n in names)
    seq = torch.export.Dim("sequence", min=1, max=max_length)
    dynamic = {name: {1: seq} for name in names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, example, dynamic_shapes=dynamic)
        if int8:
            program = _quantize(program, example, dynamic)
        # No IR verifier between passes (as ExecuTorch's own XNNPACK example does): it costs ~10% of the
        # slowest export here, and the parity gate runs the lowered program anyway.
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                              compile_config=EdgeCompileConfig(_check_ir_validity=False)
                                              ).to_executorch()
    with atomic_file(final) as tmp:
        tmp.write_bytes(lowered.buffer)
    details = {"delegate": "XNNPACK", "batch": 1, "sequence": [1, max_length],
               "weights_in_graph": weight_count(program)}
    if int8:
        details.update(weights="int8 per-channel (linear layers)", activations="dynamic int8",
                       embeddings="fp32")
    return details


def _quantize(program, example, dynamic):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    prepared = prepare_pt2e(program.module(), quantizer)
    prepared(*example)  # dynamic quantization needs no calibration data; one pass initializes observers
    converted = convert_pt2e(prepared)
    return torch.export.export(converted, example, dynamic_shapes=dynamic)


def weight_count(program) -> int:
    """Elements of the weights and constants the graph of an ``ExportedProgram`` uses (what lowering embeds).

    A ``.pte`` has no public reader for XNNPACK's packed weights, so the count is taken from the graph
    that is lowered, and the file's size is checked against it. Unused entries (the fp32 originals that
    quantization replaced) are not counted: lowering drops them.
    """
    signature = program.graph_signature
    sources = {**signature.inputs_to_parameters, **signature.inputs_to_buffers,
               **signature.inputs_to_lifted_tensor_constants}
    tables = {**program.state_dict, **program.constants}
    total = 0
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in sources or not node.users:
            continue
        tensor = tables.get(sources[node.name])
        if isinstance(tensor, torch.Tensor) and tensor.numel() > 1 and tensor.dtype not in (torch.int64, torch.int32):
            total += tensor.numel()
    return total
