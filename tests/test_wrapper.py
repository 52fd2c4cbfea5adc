"""The module every exporter traces: stock logits, with the last layer computing the first token only."""

import pytest
import torch
from conftest import random_batch, tiny_hf_model

from dynabert.adaptive import AdaptiveModel
from dynabert.slicing import slice_subnetwork
from export.onnx_export import wrap


def _logits(model, batch, names):
    with torch.no_grad():
        return wrap(model, names)(*(batch[n] for n in names))


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
@pytest.mark.parametrize("width,depth", [(1.0, 1.0), (0.5, 0.5), (0.25, 0.75)])
def test_wrapper_logits_equal_the_stock_forward_on_padded_sliced_models(model_type, width, depth):
    """Sliced sub-models (pruned heads, fewer layers) with ragged padding: the wrapper's logits are the stock
    ``AutoModelForSequenceClassification`` logits, though its last layer computes one row."""
    sliced = slice_subnetwork(AdaptiveModel(tiny_hf_model(model_type)), width, depth).eval()
    batch = random_batch(seed=3)
    batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if model_type == "bert" else [])
    with torch.no_grad():
        stock = sliced(**{n: batch[n] for n in names}).logits
    assert stock.abs().max() > 1e-2, "logits too small for the comparison to mean anything"
    assert torch.allclose(_logits(sliced, batch, names), stock, atol=1e-5)


def test_only_the_first_token_goes_through_the_last_layer():
    """Every layer but the last sees the whole sequence; the last one's attention output and feed-forward
    see one row per input (its keys and values still read every token)."""
    model = slice_subnetwork(AdaptiveModel(tiny_hf_model("bert")), 1.0, 1.0).eval()
    batch = random_batch(seq=12)
    shapes: dict[str, tuple] = {}
    layers = model.bert.encoder.layer

    def record(name):
        def hook(module, inputs, output):
            shapes[name] = tuple(inputs[0].shape)
        return hook

    hooks = [layers[0].intermediate.register_forward_hook(record("first")),
             layers[-1].intermediate.register_forward_hook(record("last")),
             layers[-1].attention.self.key.register_forward_hook(record("keys"))]
    _logits(model, batch, ["input_ids", "attention_mask"])
    for hook in hooks:
        hook.remove()
    assert shapes == {"first": (4, 12, 48), "last": (4, 1, 48), "keys": (4, 12, 48)}
