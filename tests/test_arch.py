import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynabert.arch import DEPTH_MULTS, WIDTH_MULTS, grid, subnet_spec


def spec(L=12, H=12, ff=3072, w=1.0, d=1.0):
    return subnet_spec(num_heads=H, head_size=64, intermediate_size=ff, num_layers=L, width_mult=w, depth_mult=d)


def test_heads_and_neurons_for_the_paper_widths():
    assert [spec(w=w).num_heads for w in WIDTH_MULTS] == [12, 9, 6, 3]
    assert [spec(w=w, ff=1536).intermediate_size for w in WIDTH_MULTS] == [1536, 1152, 768, 384]


def test_heads_round_half_up_when_h_times_w_is_not_whole():
    # The paper's widths give whole head counts for 12 heads; these do not, so the rounding rule shows:
    # round-half-up, not floor (5.4 -> 5 but 4.5 -> 5 and 3.6 -> 4) and not banker's rounding (4.5 -> 4).
    assert spec(H=6, w=0.75).num_heads == 5  # 4.5
    assert spec(H=12, w=0.3).num_heads == 4  # 3.6
    assert spec(H=12, w=0.45).num_heads == 5  # 5.4
    assert spec(H=2, w=0.25).num_heads == 1  # 0.5, and never 0
    # the FFN follows the kept heads: 3072 * 5 / 6 neurons for 5 of 6 heads
    assert spec(H=6, w=0.75, ff=3072).intermediate_size == 2560


def test_layers_of_a_12_layer_bert_follow_the_paper():
    assert spec(d=1.0).layers == tuple(range(12))
    kept = spec(d=0.75).layers
    assert len(kept) == 9 and set(range(12)) - set(kept) == {3, 7, 11}
    assert spec(d=0.5).layers == (0, 2, 4, 6, 8, 10)


def test_layers_of_the_6_layer_minilm():
    assert spec(L=6, d=0.75).layers == (0, 1, 2, 4, 5)
    assert spec(L=6, d=0.5).layers == (0, 2, 4)


def test_grid_is_twelve_pairs_largest_first():
    pairs = grid()
    assert len(pairs) == 12 and pairs[0] == (1.0, 1.0) and pairs[-1] == (0.25, 0.5)
    assert set(pairs) == {(w, d) for w in WIDTH_MULTS for d in DEPTH_MULTS}


def test_name_is_folder_friendly():
    assert spec(w=0.25, d=0.5).name == "w0.25_d0.5"


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, float("nan"), "0.5", True])
def test_rejects_multipliers_outside_0_1(bad):
    with pytest.raises((ValueError, TypeError)):
        spec(w=bad)
    with pytest.raises((ValueError, TypeError)):
        spec(d=bad)


@given(L=st.integers(1, 48), H=st.integers(1, 32), w=st.floats(0.01, 1.0), d=st.floats(0.01, 1.0))
def test_any_multiplier_gives_a_valid_subnetwork(L, H, w, d):
    s = subnet_spec(num_heads=H, head_size=8, intermediate_size=4 * H, num_layers=L, width_mult=w, depth_mult=d)
    assert 1 <= s.num_heads <= H and 1 <= s.intermediate_size <= 4 * H
    assert 1 <= len(s.layers) <= L
    assert list(s.layers) == sorted(set(s.layers)) and s.layers[0] == 0 and s.layers[-1] < L
