"""The adaptive model, importance + rewiring, physical slicing and the parameter/FLOP report."""

import pytest
import torch
from conftest import random_batch, tiny_hf_model
from transformers import AutoModelForSequenceClassification

from dynabert.adaptive import AdaptiveModel
from dynabert.arch import grid
from dynabert.importance import compute_importance
from dynabert.rewire import rewire
from dynabert.slicing import slice_subnetwork
from dynabert.stats import model_stats

MODEL_TYPES = ["bert", "roberta"]


def forward(model, batch, **kw):
    with torch.no_grad():
        return model(batch["input_ids"], batch["attention_mask"], **kw)


def rewired_tiny(model_type):
    model = AdaptiveModel(tiny_hf_model(model_type))
    batches = [random_batch(seed=s) for s in range(3)]
    rewire(model, compute_importance(model, batches, progress=False))
    return model


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_full_subnetwork_equals_the_stock_forward(model_type):
    hf = tiny_hf_model(model_type)
    batch = random_batch()
    ref = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    out = forward(AdaptiveModel(hf), batch)
    assert torch.allclose(out.logits, ref, atol=1e-5)
    assert len(out.hidden_states) == 4 and out.embedding.shape == (4, 12, 48)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_rewiring_keeps_full_model_logits(model_type):
    model = AdaptiveModel(tiny_hf_model(model_type))
    batch = random_batch(seed=7)
    before = forward(model, batch).logits
    imp = compute_importance(model, [random_batch(seed=s) for s in range(3)], progress=False)
    orders = rewire(model, imp)
    assert (forward(model, batch).logits - before).abs().max() <= 1e-5
    # the permutation is real (not the identity) and sorts heads by importance
    assert any(order != sorted(order) for order in orders["heads"] + orders["neurons"])
    for kind in ("heads", "neurons"):
        for layer, order in enumerate(orders[kind]):
            scores = getattr(imp, kind)[layer][order]
            assert torch.all(scores[:-1] >= scores[1:]), (kind, layer)


def test_rewired_weights_put_the_most_important_first():
    """Scored again after rewiring, every layer's heads and FFN neurons come out most important first.

    This reads the weights, not the orders ``rewire`` reports: a permutation applied backwards (least
    important first) to either the heads or the neurons fails here.
    """
    model = AdaptiveModel(tiny_hf_model())
    batches = [random_batch(seed=s) for s in range(3)]
    before = compute_importance(model, batches, progress=False)
    rewire(model, before)
    after = compute_importance(model, batches, progress=False)
    for kind in ("heads", "neurons"):
        scores = getattr(after, kind)
        # the same scores, moved: each layer's are the old ones sorted, up to float rounding
        want = torch.sort(getattr(before, kind), dim=1, descending=True).values
        assert torch.allclose(scores, want, rtol=1e-3, atol=1e-3 * want.median().item()), kind
        assert not torch.allclose(getattr(before, kind), want), f"{kind}: the fixture was already sorted"


def _reference_importance(hf, batches):
    """Head and neuron importance through the stock Hugging Face forward (its own ``head_mask``)."""
    cfg = hf.config
    mask = torch.ones(cfg.num_hidden_layers, cfg.num_attention_heads, requires_grad=True)
    heads = torch.zeros(cfg.num_hidden_layers, cfg.num_attention_heads)
    neurons = torch.zeros(cfg.num_hidden_layers, cfg.intermediate_size)
    layers = hf.base_model.encoder.layer
    for b in batches:
        out = hf(input_ids=b["input_ids"], attention_mask=b["attention_mask"], token_type_ids=b.get("token_type_ids"),
                 head_mask=mask, labels=b["labels"])
        out.loss.backward()
        heads += mask.grad.abs()
        for i, layer in enumerate(layers):
            fin, fout = layer.intermediate.dense, layer.output.dense
            taylor_in = (fin.weight * fin.weight.grad).sum(1) + fin.bias * fin.bias.grad
            neurons[i] += taylor_in.abs() + (fout.weight * fout.weight.grad).sum(0).abs()
        hf.zero_grad(set_to_none=True)
        mask.grad = None
    return heads.detach(), neurons.detach()


def test_importance_zeroes_gradients_between_batches():
    model = AdaptiveModel(tiny_hf_model())
    b1, b2 = random_batch(seed=1), random_batch(seed=2)
    one = compute_importance(model, [b1], progress=False)
    two = compute_importance(model, [b2], progress=False)
    both = compute_importance(model, [b1, b2], progress=False)
    # Relative tolerances: the scores are small (median neuron score ~2e-5), so an absolute 1e-5 would let
    # a batch's gradient be counted twice.
    for kind in ("heads", "neurons"):
        got, want = getattr(both, kind), getattr(one, kind) + getattr(two, kind)
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * want.median().item()), kind
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_importance_equals_a_reference_through_the_stock_forward(model_type):
    hf = tiny_hf_model(model_type, seed=3)
    hf.config._attn_implementation = "eager"  # the head_mask path
    batches = [random_batch(seed=s) for s in range(2)]
    imp = compute_importance(AdaptiveModel(hf), batches, progress=False)
    heads, neurons = _reference_importance(hf, batches)
    assert torch.allclose(imp.heads, heads, rtol=1e-4, atol=1e-4 * heads.median().item())
    assert torch.allclose(imp.neurons, neurons, rtol=1e-4, atol=1e-4 * neurons.median().item())


def test_subnetworks_compute_with_fewer_weights_and_differ():
    model = rewired_tiny("bert")
    batch = random_batch()
    outs = {wd: forward(model, batch, width_mult=wd[0], depth_mult=wd[1]) for wd in grid()}
    assert len(outs[(1.0, 0.5)].hidden_states) == 2 and len(outs[(1.0, 0.75)].hidden_states) == 3
    logits = [o.logits for o in outs.values()]
    assert all(not torch.allclose(a, b) for i, a in enumerate(logits) for b in logits[i + 1:])


def test_subnetwork_uses_only_the_kept_prefix():
    """Perturbing a dropped head's or neuron's weights must not change a narrow sub-network."""
    model = rewired_tiny("bert")
    batch = random_batch()
    before = forward(model, batch, width_mult=0.5, depth_mult=0.5).logits
    layer = model.base.encoder.layer[0]
    with torch.no_grad():
        layer.attention.self.query.weight[24:] += 5.0  # heads 2, 3 (head size 12) are dropped at w=0.5
        layer.intermediate.dense.weight[32:] += 5.0
        model.base.encoder.layer[1].output.dense.weight += 5.0  # layer 1 is dropped at d=0.5
    assert torch.equal(forward(model, batch, width_mult=0.5, depth_mult=0.5).logits, before)
    assert not torch.equal(forward(model, batch).logits, before)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_slices_equal_subnetworks_and_reload_with_stock_transformers(model_type, tmp_path):
    model = rewired_tiny(model_type).eval()
    batch = random_batch()
    for w, d in grid():
        sliced = slice_subnetwork(model, w, d)
        spec = model.spec(w, d)
        assert sliced.config.num_hidden_layers == len(spec.layers)
        assert sliced.config.intermediate_size == spec.intermediate_size
        sliced.save_pretrained(tmp_path / spec.name)
        reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / spec.name).eval()
        assert type(reloaded).__name__ == type(model.hf).__name__
        want = forward(model, batch, width_mult=w, depth_mult=d).logits
        got = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        assert (got - want).abs().max() <= 1e-4, spec.name
        # no hidden full-size weights: every parameter is accounted for by the analytic count
        n_params = sum(p.numel() for p in reloaded.parameters())
        assert n_params == model_stats(reloaded.config).params_total


def test_stats_split_matches_the_modules():
    hf = tiny_hf_model()
    stats = model_stats(hf.config, seq_len=16)

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert stats.params_embeddings == count(hf.bert.embeddings)
    assert stats.params_encoder == count(hf.bert.encoder)
    assert stats.params_head == count(hf.bert.pooler) + count(hf.classifier)


def test_flops_by_hand_for_one_layer():
    hf = tiny_hf_model()
    cfg = hf.config
    cfg.num_hidden_layers = 1
    h, ff, s, c = 48, 64, 10, 3
    per_layer = 2 * s * h * 3 * h + 2 * 2 * s * s * h + 2 * s * h * h + 2 * 2 * s * h * ff
    assert model_stats(cfg, seq_len=s).flops == per_layer + 2 * h * h + 2 * h * c


def test_flops_shrink_with_the_subnetwork():
    model = rewired_tiny("bert")
    full = model_stats(slice_subnetwork(model, 1.0, 1.0).config).flops
    half = model_stats(slice_subnetwork(model, 0.5, 0.5).config).flops
    assert half < 0.3 * full


@pytest.mark.minilm
def test_minilm_rewire_slice_and_reload(minilm, tmp_path):
    hf, tokenizer = minilm
    model = AdaptiveModel(hf).eval()
    texts = ["a charming and often affecting journey .", "unflinchingly bleak and desperate",
             "the acting , costumes , music , cinematography and sound are all astounding ."]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    enc = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
           "token_type_ids": enc["token_type_ids"]}
    before = forward(model, enc).logits
    imp = compute_importance(model, [{**enc, "labels": torch.tensor([1, 0, 1])}], progress=False)
    rewire(model, imp)
    assert (forward(model, enc).logits - before).abs().max() <= 1e-5
    assert model.spec(1.0, 0.75).layers == (0, 1, 2, 4, 5) and model.spec(1.0, 0.5).layers == (0, 2, 4)
    for w, d in grid():
        sliced = slice_subnetwork(model, w, d)
        name = model.spec(w, d).name
        sliced.save_pretrained(tmp_path / name)
        reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / name).eval()
        with torch.no_grad():
            got = reloaded(**enc).logits
        want = forward(model, enc, width_mult=w, depth_mult=d).logits
        assert (got - want).abs().max() <= 1e-4, name
    stats = model_stats(reloaded.config, seq_len=128)  # (0.25, 0.5)
    assert stats.params_embeddings == 30522 * 384 + 512 * 384 + 2 * 384 + 2 * 384
    assert stats.params_encoder == 3 * (3 * (384 * 96 + 96) + 96 * 384 + 384 + 2 * 384
                                        + 384 * 384 + 384 + 384 * 384 + 384 + 2 * 384)


@pytest.mark.minilm
@pytest.mark.glue
def test_minilm_importance_over_sst2_dev_loader(minilm, glue_dir):
    from dynabert.data import make_dataloader, read_glue_split

    hf, tokenizer = minilm
    model = AdaptiveModel(hf).eval()
    dev = read_glue_split(glue_dir, "sst2", "dev")[:48]
    loader = make_dataloader(dev, tokenizer, batch_size=16, max_length=64, shuffle=False)
    batch = next(iter(loader))
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    before = forward(model, inputs).logits
    imp = compute_importance(model, loader, progress=False)
    assert imp.heads.shape == (6, 12) and imp.neurons.shape == (6, 1536)
    attn = hf.config._attn_implementation
    hf.config._attn_implementation = "eager"  # the head_mask path of the stock forward
    try:
        heads, neurons = _reference_importance(hf, loader)
    finally:
        hf.config._attn_implementation = attn
    assert torch.allclose(imp.heads, heads, rtol=1e-3, atol=1e-3 * heads.median().item())
    assert torch.allclose(imp.neurons, neurons, rtol=1e-3, atol=1e-3 * neurons.median().item())
    rewire(model, imp)
    assert (forward(model, inputs).logits - before).abs().max() <= 1e-5
    sliced = slice_subnetwork(model, 0.25, 0.5)
    with torch.no_grad():
        got = sliced(**inputs).logits
    assert (got - forward(model, inputs, width_mult=0.25, depth_mult=0.5).logits).abs().max() <= 1e-4
