"""Parameter counts (embeddings / encoder / head) and FLOPs of a model, from its config alone.

Works on full-size and sliced configs (``pruned_heads`` may differ per layer), so training, export and
the benchmark table all report the same numbers from the same function.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from transformers import PretrainedConfig


@dataclass(frozen=True)
class ModelStats:
    params_embeddings: int
    params_encoder: int
    params_head: int
    flops: int  # matmul FLOPs (2 per multiply-add) of one sequence of length ``seq_len``, batch 1
    seq_len: int

    @property
    def params_total(self) -> int:
        return self.params_embeddings + self.params_encoder + self.params_head

    def as_dict(self) -> dict:
        return {**asdict(self), "params_total": self.params_total}


def _heads_per_layer(config: PretrainedConfig) -> list[int]:
    pruned = {int(k): v for k, v in (config.pruned_heads or {}).items()}
    return [config.num_attention_heads - len(set(pruned.get(i, ()))) for i in range(config.num_hidden_layers)]


def model_stats(config: PretrainedConfig, seq_len: int = 128) -> ModelStats:
    """Count parameters and FLOPs of a BERT/RoBERTa sequence classifier described by ``config``.

    FLOPs count the matrix multiplications only (projections, attention scores and context, FFN, pooler
    and classifier); LayerNorm, softmax, activations and embedding lookups are a few percent and are
    left out, as is usual for transformer FLOP counts.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    h, ff, s = config.hidden_size, config.intermediate_size, seq_len
    head_size = h // config.num_attention_heads
    labels = config.num_labels

    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * h + 2 * h
    encoder = 0
    flops = 0
    for heads in _heads_per_layer(config):
        a = heads * head_size
        encoder += 3 * (h * a + a) + (a * h + h) + 2 * h  # Q, K, V, attention output, LayerNorm
        encoder += (h * ff + ff) + (ff * h + h) + 2 * h  # FFN in, FFN out, LayerNorm
        flops += 2 * s * h * 3 * a + 2 * 2 * s * s * a + 2 * s * a * h + 2 * 2 * s * h * ff
    head = (h * h + h) + (h * labels + labels)  # BERT pooler / RoBERTa dense, then the classifier
    flops += 2 * h * h + 2 * h * labels
    return ModelStats(embeddings, encoder, head, flops, seq_len)


def params_record(stats: ModelStats) -> dict[str, int]:
    """The ``params`` record every stage file carries (manifest subnets and artifacts, device_bench results)."""
    return {"embeddings": stats.params_embeddings, "encoder": stats.params_encoder, "head": stats.params_head,
            "total": stats.params_total}


def size_facts(config: PretrainedConfig, seq_lens: tuple[int, ...] = (128,)) -> dict:
    """``{"params": params_record, "flops": {seq_len: FLOPs}}`` of the model ``config`` describes: the one
    computation of a sub-model's size that export (manifest) and device_bench (table) both report."""
    return {"params": params_record(model_stats(config, 128)),
            "flops": {seq: model_stats(config, seq).flops for seq in sorted(set(seq_lens))}}
