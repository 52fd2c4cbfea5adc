"""What a shared-weight bundle is made of: the full network's tensors once, and where each entry reads them.

After rewiring, every kept slice of a DynaBERT sub-network is a *prefix* of its full tensor along one axis
(heads and FFN neurons are sorted by importance, :mod:`dynabert.slicing`), and depth keeps whole layers
(:func:`dynabert.arch.subnet_spec`). So each full tensor is stored once, in the orientation in which its
sliced axis is the leading one, and a sub-network reads the first ``rows`` rows of it: one contiguous byte
range. Which axis is sliced is not restated here: it is read off the exported ``hf/`` checkpoints
themselves (the axis along which a sub-model's tensor is shorter than the full one), and every sub-model
tensor is then checked to *equal* the prefix it will read, bit for bit. Anything else (a tampered or
foreign sub-model, a checkpoint that was not rewired-then-sliced) is refused with one line.

Each entry's graph is the same plain (unfused) fp32 graph that export traces for the standalone files
(:mod:`export.onnx_export`), so an entry computes exactly what the standalone sub-model computes; only its
weight initializers are moved out of the graph (see :mod:`export.bundle` for the fp32 bundle and
:mod:`export.bundle_int8` for the quantized one).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dynabert.arch import spec_for_config, subnet_name
from dynabert.data import TaskSpec, task_of
from dynabert.fileio import PathEscapeError, resolve_inside, sha256_path

from .bundle_index import BundleError

#: Graph initializers that match no checkpoint tensor stay inside the graph (position ids, shape constants,
#: sqrt(head_size)); more than this many bytes of them means the graph holds weights the bundle would copy
#: into every entry, which defeats the point: refused.
MAX_INLINE_BYTES = 64 * 1024

_LAYER = re.compile(r"^(?P<head>(?:.*\.)?encoder\.layer\.)(?P<index>\d+)\.(?P<rest>.+)$")


@dataclass(frozen=True)
class Stored:
    """One tensor of the full network, as stored in the weights file."""

    key: str  # its name in the full network's state dict (w1_d1/hf)
    array: np.ndarray  # fp32, in stored orientation (C-contiguous)
    transposed: bool  # stored = the checkpoint's tensor transposed (its sliced axis was axis 1)


@dataclass(frozen=True)
class Ref:
    """Where one graph initializer of an entry lives: the first ``rows`` rows of a stored tensor."""

    key: str
    rows: int
    transpose: bool  # the graph wants the prefix transposed (one Transpose node, folded by ORT at load)


@dataclass
class EntryPlan:
    name: str
    width_mult: float
    depth_mult: float
    folder: Path  # the sub-model folder in the export (holds hf/, model.onnx, model.int8.onnx)
    params: int
    macs: int
    graph: object  # onnx.ModelProto: the plain graph, its matched weight initializers removed
    refs: dict[str, Ref] = field(default_factory=dict)  # removed initializer name -> where it lives
    inline_bytes: int = 0


@dataclass
class ExportInfo:
    """What the bundle needs from the export's ``manifest.json``."""

    root: Path
    task: str
    label_names: list[str] | None
    max_length: int
    tokenizer_dir: Path
    pad_token_id: int
    data: str | None
    subnets: list[dict]  # name, dir (resolved Path), width_mult, depth_mult
    artifacts: dict[tuple[str, str], dict]  # (subnet, format) -> {"path": Path, "sha256": str}
    #: how the verification labels are scored (dynabert.data.TaskSpec): the entries' metric gate
    task_spec: TaskSpec | None = None


@dataclass
class Plan:
    info: ExportInfo
    names: list[str]  # graph inputs
    stored: dict[str, Stored]  # full tensors referenced by some entry, in the full state dict's order
    entries: list[EntryPlan]  # largest first


# ---------------------------------------------------------------------------------------------- the export


def read_export(root: str | Path) -> ExportInfo:
    """The fields of ``root/manifest.json`` the bundle uses, through the manifest's one typed reader
    (:func:`dynabert.files.manifest.read_manifest`); one-line :class:`BundleError` otherwise."""
    from dynabert.files.fields import StageFileError
    from dynabert.files.manifest import read_manifest

    root = Path(root).expanduser().resolve()
    if not (root / "manifest.json").is_file():
        raise BundleError(f"{root / 'manifest.json'}: no such file; --export must be a folder written by "
                          "python -m export.all")
    try:
        manifest = read_manifest(root)
    except StageFileError as exc:
        raise BundleError(str(exc)) from None
    subnets = []
    for i, raw in enumerate(manifest.subnets):
        w, d = float(raw["width_mult"]), float(raw["depth_mult"])
        if raw["name"] != subnet_name(w, d):
            raise BundleError(f"{manifest.path}: subnets[{i}].name {raw['name']!r} does not match its multipliers "
                              f"({subnet_name(w, d)})")
        try:
            folder = resolve_inside(root, raw["dir"], f"{manifest.path}: subnets[{i}].dir")
        except PathEscapeError as exc:
            raise BundleError(str(exc)) from None
        subnets.append({"name": raw["name"], "dir": folder, "width_mult": w, "depth_mult": d})
    artifacts = {(a.subnet, a.format): {"path": a.path, "sha256": a.sha256, "status": a.status}
                 for a in manifest.artifacts}
    source = manifest.data_source
    if source is not None:
        data = source.data_dir if source.kind == "glue" else source.files["dev"]
    else:
        data = str(manifest.data_dir) if manifest.data_dir is not None else None
    return ExportInfo(
        root=root, task=manifest.task, label_names=manifest.label_names, max_length=manifest.max_length,
        tokenizer_dir=manifest.tokenizer_dir, pad_token_id=manifest.pad_token_id, data=data,
        subnets=subnets, artifacts=artifacts,
        task_spec=task_of(manifest.task, is_regression=manifest.is_regression, num_labels=manifest.num_labels,
                          label_names=manifest.label_names))


def checked_artifact(info: ExportInfo, subnet: str, fmt: str) -> Path | None:
    """The path of ``subnet``'s ``fmt`` artifact if the export has it and its checksum matches, else None."""
    record = info.artifacts.get((subnet, fmt))
    if record is None or not record["path"].exists():
        return None
    if sha256_path(record["path"]) != record["sha256"]:
        raise BundleError(f"{record['path']}: SHA-256 differs from {info.root / 'manifest.json'} "
                          "(the file changed after export); re-run python -m export.all")
    return record["path"]


# ---------------------------------------------------------------------------------------------- tensors


def _state(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()
            if not k.endswith(("position_ids", "token_type_ids"))}  # buffers, not weights


def _full_key(key: str, layers: tuple[int, ...]) -> str:
    match = _LAYER.match(key)
    if match is None:
        return key
    return f"{match['head']}{layers[int(match['index'])]}.{match['rest']}"


def _sliced_axis(sub: np.ndarray, full: np.ndarray, where: str) -> int | None:
    if sub.ndim != full.ndim or sub.dtype != full.dtype:
        raise BundleError(f"{where}: shape {list(sub.shape)} {sub.dtype} cannot be a slice of the full "
                          f"network's {list(full.shape)} {full.dtype}")
    shorter = [axis for axis in range(sub.ndim) if sub.shape[axis] != full.shape[axis]]
    if not shorter:
        return None
    if len(shorter) > 1 or sub.shape[shorter[0]] > full.shape[shorter[0]] or shorter[0] > 1:
        raise BundleError(f"{where}: shape {list(sub.shape)} is not a one-axis prefix of the full network's "
                          f"{list(full.shape)}")
    return shorter[0]


def _stored_view(array: np.ndarray, transposed: bool) -> np.ndarray:
    return np.ascontiguousarray(array.T) if transposed else array


# ---------------------------------------------------------------------------------------------- graphs


def _digest(array: np.ndarray) -> str:
    head = str((array.dtype.str, array.shape)).encode()
    return hashlib.sha1(head + np.ascontiguousarray(array).tobytes()).hexdigest()


def _match_initializers(graph, state: dict[str, np.ndarray], where: str):
    """Pair each weight initializer of ``graph`` with the checkpoint tensor it holds: (init, key, transposed)."""
    from onnx import numpy_helper

    by_value: dict[str, list[tuple[str, bool]]] = {}
    for key, array in state.items():
        by_value.setdefault(_digest(array), []).append((key, False))
        if array.ndim == 2:
            by_value.setdefault(_digest(array.T), []).append((key, True))
    matched, inline = [], []
    for init in graph.graph.initializer:
        array = numpy_helper.to_array(init)
        candidates = by_value.get(_digest(array)) if array.dtype == np.float32 and array.size > 1 else None
        if not candidates:
            inline.append(init)
            continue
        # Equal tensors (a tiny random model's LayerNorm ones) are interchangeable; the exporter's own name,
        # where it kept one, makes the choice deterministic and readable.
        named = [c for c in candidates if init.name.endswith("." + c[0]) or init.name == c[0]]
        key, transposed = (named or candidates)[0]
        matched.append((init, key, transposed))
    inline_bytes = sum(numpy_helper.to_array(i).nbytes for i in inline)
    if inline_bytes > MAX_INLINE_BYTES:
        big = max(inline, key=lambda i: numpy_helper.to_array(i).nbytes)
        raise BundleError(f"{where}: the traced graph holds {inline_bytes} bytes of weights that are no tensor of "
                          f"its hf/ checkpoint (largest: {big.name!r} {list(big.dims)}); cannot share them")
    return matched, inline_bytes


def _plain_graph(hf_dir: Path, names: list[str], max_length: int, scratch: Path):
    """The sub-model's plain fp32 graph, traced exactly as export traces the standalone files."""
    import onnx

    from .onnx_export import export_onnx, wrap
    from .wrapper import load_eager

    model = load_eager(hf_dir)
    path = scratch / "plain.onnx"
    export_onnx(wrap(model, names), names, path, example_len=min(16, max_length))
    graph = onnx.load(str(path))
    path.unlink()
    return model, graph


def input_names(info: ExportInfo) -> tuple[list[str], object]:
    """The graphs' input names and the export's tokenizer."""
    from transformers import AutoConfig, AutoTokenizer

    from .inputs import model_input_names

    full = info.root / subnet_name(1.0, 1.0) / "hf"
    model_type = AutoConfig.from_pretrained(full).model_type if full.is_dir() else "bert"
    tokenizer = AutoTokenizer.from_pretrained(info.tokenizer_dir)
    return model_input_names(tokenizer, model_type), tokenizer


def plan_bundle(info: ExportInfo, progress: bool = True,
                on_model: Callable[[str, object], None] | None = None) -> Plan:
    """Check that every sub-model of the export is a prefix slice of w1_d1 and trace each entry's graph.

    ``on_model(name, model)`` is called with each sub-model's PyTorch module while it is loaded (the
    verification references are computed there, so no model is loaded twice).
    """
    from tqdm.auto import tqdm
    from transformers import AutoConfig

    from dynabert.stats import model_stats

    by_name = {s["name"]: s for s in info.subnets}
    full_name = subnet_name(1.0, 1.0)
    if full_name not in by_name:
        raise BundleError(f"{info.root}: the export has no {full_name} (the full network every entry reads from); "
                          f"it has {', '.join(by_name) or 'no sub-models'}")
    hf_dirs = {}
    for s in info.subnets:
        hf = checked_artifact(info, s["name"], "hf") or s["dir"] / "hf"
        if not (hf / "model.safetensors").is_file():
            raise BundleError(f"{hf}: no model.safetensors; the bundle is built from the export's hf/ folders")
        hf_dirs[s["name"]] = hf
    full_config = AutoConfig.from_pretrained(hf_dirs[full_name])
    names, _ = input_names(info)
    # Largest first, as tables and exports order them: by parameters, then FLOPs.
    order = sorted(info.subnets, key=lambda s: (-s["width_mult"], -s["depth_mult"]))

    entries: list[EntryPlan] = []
    states: dict[str, dict[str, np.ndarray]] = {}
    matches: dict[str, list] = {}
    full_state: dict[str, np.ndarray] | None = None
    with tempfile.TemporaryDirectory(prefix="bundle-trace-") as scratch:
        bar = tqdm(order, desc="bundle: trace", unit="graph", disable=not progress)
        for s in bar:
            bar.set_postfix_str(s["name"])
            model, graph = _plain_graph(hf_dirs[s["name"]], names, info.max_length, Path(scratch))
            if on_model is not None:
                on_model(s["name"], model)
            state = _state(model)
            if s["name"] == full_name:
                full_state = state
            stats = model_stats(model.config, info.max_length)
            matched, inline_bytes = _match_initializers(graph, state, f"{s['dir'].name}/hf")
            states[s["name"]] = state
            matches[s["name"]] = matched
            entries.append(EntryPlan(s["name"], s["width_mult"], s["depth_mult"], s["dir"], stats.params_total,
                                     stats.flops // 2, graph, inline_bytes=inline_bytes))
            del model
    assert full_state is not None

    # Which axis of each full tensor the sub-models cut (read off the checkpoints, checked for consistency).
    layer_maps = {e.name: spec_for_config(full_config, e.width_mult, e.depth_mult).layers for e in entries}
    axis_of: dict[str, int | None] = {}
    for e in entries:
        for key, sub in states[e.name].items():
            full_key = _full_key(key, layer_maps[e.name])
            where = f"{e.folder.name}/hf: {key}"
            if full_key not in full_state:
                raise BundleError(f"{where}: maps to {full_key}, which {full_name}/hf does not have")
            axis = _sliced_axis(sub, full_state[full_key], where)
            if axis is not None:
                if axis_of.get(full_key) not in (None, axis):
                    raise BundleError(f"{where}: cut along axis {axis}, other sub-models cut {full_key} along "
                                      f"axis {axis_of[full_key]}; it cannot be one prefix for all")
                axis_of[full_key] = axis
            else:
                axis_of.setdefault(full_key, None)
    stored_all = {key: Stored(key, _stored_view(array, axis_of.get(key) == 1), axis_of.get(key) == 1)
                  for key, array in full_state.items()}

    # The prefix check: every sub-model tensor is exactly the leading rows of the stored full tensor.
    for e in entries:
        for init, key, graph_transposed in matches[e.name]:
            full_key = _full_key(key, layer_maps[e.name])
            stored = stored_all[full_key]
            sub = _stored_view(states[e.name][key], stored.transposed)
            rows = sub.shape[0] if sub.ndim else 1
            prefix = stored.array[:rows]
            if prefix.shape != sub.shape or not np.array_equal(prefix, sub):
                diff = (float(np.abs(prefix.astype(np.float64) - sub).max()) if prefix.shape == sub.shape
                        else float("nan"))
                raise BundleError(
                    f"{e.folder.name}/hf: {key} is not the first {rows} rows of {full_name}'s {full_key} "
                    f"(max |diff| {diff:.3g}); this sub-model was not cut from this {full_name} by rewiring + "
                    "slicing (re-run python -m export.all)")
            e.refs[init.name] = Ref(full_key, rows, graph_transposed != stored.transposed)
        # Only the graph's structure remains; the weights come from the plan's stored tensors.
        kept = [i for i in e.graph.graph.initializer if i.name not in e.refs]
        del e.graph.graph.initializer[:]
        e.graph.graph.initializer.extend(kept)
    used = {ref.key for e in entries for ref in e.refs.values()}
    stored = {key: s for key, s in stored_all.items() if key in used}
    return Plan(info, names, stored, entries)

