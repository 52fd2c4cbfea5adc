"""ExecuTorch ``.pte`` with the XNNPACK delegate: fp32, and int8 (dynamic, per-channel) linear layers.

Batch is fixed at 1 and the sequence length is dynamic (1 to ``max_length``): a second dynamic axis
multiplies the symbolic-shape work of the lowering (already the slowest export here) and an app
classifies one text at a time. The int8 variant quantizes the linear layers with XNNPACK's own quantizer
(dynamic int8 activations, per-channel int8 weights) and stores the embedding tables (word, position,
token type: most of a small sub-model's bytes) as int8 with one fp32 scale per row. XNNPACK does not
delegate embedding lookups, so the lookup is written with stock ATen ops only (an int8 ``embedding``,
a cast and a multiply by the row's scale, see :class:`Int8Embedding`): it runs on ExecuTorch's portable
kernels, with no quantized-kernel library in the app's runtime (``quantized_decomposed::embedding_byte``
would need one: ``Failed to load method`` without ``executorch.kernels.quantized``, checked here).
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from dynabert.fileio import atomic_file

from .wrapper import ExportWrapper


def _quiet_logs() -> None:
    # torch.export and the XNNPACK partitioner log each unsupported node at WARNING level.
    for name in ("torch.export", "torch._export", "executorch", "torch.fx.experimental.symbolic_shapes"):
        logging.getLogger(name).setLevel(logging.ERROR)


def export_pte(hf_model, names: list[str], max_length: int, final: Path, int8: bool,
               fp32_layers: tuple[int, ...] = ()) -> dict:
    """``hf_model`` as a ``.pte`` at ``final``; with ``int8`` its linear layers quantized, except those of the
    encoder layers ``fp32_layers`` (export.mixed_precision); returns the manifest's details."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    _quiet_logs()
    embeddings = None
    if int8:
        hf_model = copy.deepcopy(hf_model)  # the caller's model is shared with the chain's other formats
        embeddings = quantize_embeddings(hf_model)
    module = ExportWrapper(hf_model, with_token_types="token_type_ids" in names).eval()
    example_len = min(16, max_length)
    example = tuple(torch.full((1, example_len), 1000 if n == "input_ids" else 1, dtype=torch.long) for n in names)
    seq = torch.export.Dim("sequence", min=1, max=max_length)
    dynamic = {name: {1: seq} for name in names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, example, dynamic_shapes=dynamic)
        if int8:
            program = _quantize(program, example, dynamic, _layer_module_names(module, fp32_layers))
        # No IR verifier between passes (as ExecuTorch's own XNNPACK example does): it costs ~10% of the
        # slowest export here, and the parity gate runs the lowered program anyway.
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                              compile_config=EdgeCompileConfig(_check_ir_validity=False)
                                              ).to_executorch()
    with atomic_file(final) as tmp:
        tmp.write_bytes(lowered.buffer)
    counted = weight_count(program)
    if embeddings is not None:
        # The per-row scales are quantization metadata, not model weights (as ONNX's scales are not
        # counted apart either): without this the tiny test models' vocab-sized scales fail the count.
        counted -= sum(rows for rows, _ in embeddings["tables"].values())
    details = {"delegate": "XNNPACK", "batch": 1, "sequence": [1, max_length], "weights_in_graph": counted}
    if int8:
        details.update(weights="int8 per-channel (linear layers)", activations="dynamic int8",
                       embeddings=embeddings)
        if fp32_layers:
            details["fp32_layers"] = list(fp32_layers)
    return details


class Int8Embedding(nn.Module):
    """An embedding table stored as int8 with one fp32 scale per row (symmetric, round to nearest).

    The lookup gathers int8 rows and their scales with ``F.embedding`` and multiplies: stock ATen ops
    that ExecuTorch's portable kernels run, so the file needs no quantized-kernel library. One scale per
    row (not per table) because rows differ in range (rare tokens have small rows): the per-row error is
    at most half a step of that row's own scale.
    """

    def __init__(self, table: torch.Tensor):
        super().__init__()
        table = table.detach().float()
        scale = (table.abs().amax(dim=1, keepdim=True) / 127.0).clamp(min=torch.finfo(torch.float32).tiny)
        self.register_buffer("weight", torch.clamp(torch.round(table / scale), -127, 127).to(torch.int8))
        self.register_buffer("scales", scale)

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        rows = nn.functional.embedding(indices, self.weight).to(torch.float32)
        return rows * nn.functional.embedding(indices, self.scales)


def quantize_embeddings(hf_model) -> dict:
    """Replace every ``nn.Embedding`` of ``hf_model``'s embeddings block by :class:`Int8Embedding`, in place.

    Returns what the manifest records: the tables and the largest absolute rounding error.
    """
    block = hf_model.base_model.embeddings
    tables, worst = {}, 0.0
    for name, child in list(block.named_children()):
        if isinstance(child, nn.Embedding):
            quantized = Int8Embedding(child.weight)
            error = (quantized.weight.float() * quantized.scales - child.weight.detach()).abs().max().item()
            worst = max(worst, error)
            setattr(block, name, quantized)
            tables[name] = list(child.weight.shape)
    return {"dtype": "int8, one fp32 scale per row", "tables": tables, "max_abs_error": worst}


def _layer_module_names(module: nn.Module, layers: tuple[int, ...]) -> tuple[str, ...]:
    """The qualified names, inside ``module``, of the encoder layers ``layers`` (what torch.export records)."""
    from .mixed_precision import encoder_layers

    wanted = {id(encoder_layers(module.hf)[i]) for i in layers}
    return tuple(name for name, sub in module.named_modules() if id(sub) in wanted)


def _outside(prefixes: tuple[str, ...]):
    """A quantizer filter: True for graph nodes that no module named in ``prefixes`` (or below it) produced."""

    def keep(node) -> bool:
        stack = node.meta.get("nn_module_stack") or {}
        names = [name.split("@")[0] for name, _ in stack.values()]  # "name@2": the module's second call
        return not any(name == p or name.startswith(p + ".") for name in names for p in prefixes)

    return keep


def _quantize(program, example, dynamic, fp32_modules: tuple[str, ...] = ()):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    if fp32_modules:  # set_module_name(name, None) is not supported by this quantizer; a filter is
        quantizer.set_filter_function(_outside(fp32_modules))
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
