"""The width/depth arithmetic of DynaBERT: which heads, FFN neurons and layers a sub-network keeps.

This is the single definition of that fact. Training, slicing, export and the benchmarks all call
:func:`subnet_spec`; nothing else in the project may recompute it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

#: The paper's grid: 4 widths x 3 depths = 12 sub-networks, largest first.
WIDTH_MULTS: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25)
DEPTH_MULTS: tuple[float, ...] = (1.0, 0.75, 0.5)


def _round_half_up(x: Fraction) -> int:
    # Python's round() is banker's rounding (round(4.5) == 4); the paper keeps 5 of 6 layers at d=0.75.
    return math.floor(x + Fraction(1, 2))


def _as_fraction(mult: float, name: str) -> Fraction:
    if isinstance(mult, bool) or not isinstance(mult, (int, float, Fraction)):
        raise TypeError(f"{name} must be a number in (0, 1], got {mult!r}")
    if not 0.0 < float(mult) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {mult}")
    # limit_denominator turns 0.75 (a binary float) into exactly 3/4, so floor(i / d) is exact.
    return Fraction(mult).limit_denominator(10_000)


def subnet_name(width_mult: float, depth_mult: float) -> str:
    """Folder-friendly name of a sub-network, e.g. ``w0.25_d0.5`` (what checkpoints, exports and tables use)."""
    return f"w{width_mult:g}_d{depth_mult:g}"


@dataclass(frozen=True)
class SubnetSpec:
    """What one (width, depth) sub-network keeps, in rewired order (most important first)."""

    width_mult: float
    depth_mult: float
    num_heads: int  # attention heads kept in every kept layer: heads 0..num_heads-1
    head_size: int
    intermediate_size: int  # FFN neurons kept in every kept layer: neurons 0..intermediate_size-1
    layers: tuple[int, ...]  # indices of the kept layers of the full model, in order

    @property
    def name(self) -> str:
        return subnet_name(self.width_mult, self.depth_mult)

    @property
    def all_head_size(self) -> int:
        return self.num_heads * self.head_size


def subnet_spec(
    *,
    num_heads: int,
    head_size: int,
    intermediate_size: int,
    num_layers: int,
    width_mult: float,
    depth_mult: float,
) -> SubnetSpec:
    """Return the heads, FFN neurons and layers kept by the sub-network ``(width_mult, depth_mult)``.

    - heads kept = round(H * w), at least 1 (12 heads -> 12 / 9 / 6 / 3);
    - FFN neurons kept = d_ff * heads_kept / H (the FFN shrinks in step with the heads, as in the paper);
    - layers: n = round-half-up(L * d), kept = [floor(i / d) for i in range(n)]; for 12 layers this drops
      layers 3, 7, 11 at d=0.75 and keeps every other layer at d=0.5 (the paper's rule).
    """
    w = _as_fraction(width_mult, "width_mult")
    d = _as_fraction(depth_mult, "depth_mult")
    for value, name in ((num_heads, "num_heads"), (head_size, "head_size"),
                        (intermediate_size, "intermediate_size"), (num_layers, "num_layers")):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    heads = max(1, _round_half_up(num_heads * w))
    neurons = max(1, _round_half_up(Fraction(intermediate_size * heads, num_heads)))
    n_layers = max(1, _round_half_up(num_layers * d))
    layers = tuple(math.floor(i / d) for i in range(n_layers))
    return SubnetSpec(float(width_mult), float(depth_mult), heads, head_size, neurons, layers)


def spec_for_config(config, width_mult: float, depth_mult: float) -> SubnetSpec:
    """:func:`subnet_spec` for a full-size Hugging Face BERT/RoBERTa config."""
    if getattr(config, "pruned_heads", None):
        raise ValueError("sub-networks are defined on the full model; this config already has pruned heads")
    return subnet_spec(
        num_heads=config.num_attention_heads,
        head_size=config.hidden_size // config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        num_layers=config.num_hidden_layers,
        width_mult=width_mult,
        depth_mult=depth_mult,
    )


def grid(widths=WIDTH_MULTS, depths=DEPTH_MULTS) -> list[tuple[float, float]]:
    """All (width, depth) pairs, width-major, largest first: the order of tables and exports."""
    return [(w, d) for w in widths for d in depths]
