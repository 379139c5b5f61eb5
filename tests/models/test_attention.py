import pytest
import torch

from rnnaudio.config import ModelConfig
from rnnaudio.models.attention import (
    AdditiveAttention,
    DotAttention,
    SelfAttentionBlock,
    build_readout,
    masked_softmax,
    weighted_sum,
)


def test_masked_softmax_gives_padding_zero_weight_and_sums_to_one():
    weights = masked_softmax(torch.randn(2, 5), torch.tensor([5, 2]))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert torch.all(weights[1, 2:] == 0)


def test_weighted_sum_is_the_convex_combination_of_states():
    states = torch.randn(2, 4, 3)
    weights = torch.tensor([[1.0, 0, 0, 0], [0.25, 0.25, 0.5, 0]])
    pooled = weighted_sum(weights, states)
    torch.testing.assert_close(pooled[0], states[0, 0])
    torch.testing.assert_close(pooled[1], 0.25 * states[1, 0] + 0.25 * states[1, 1]
                               + 0.5 * states[1, 2])


def test_additive_attention_scores_each_state_on_its_own():
    """e_t depends on h_t alone: permuting the frames permutes the weights."""
    torch.manual_seed(0)
    attention = AdditiveAttention(6)
    states, lengths = torch.randn(1, 7, 6), torch.tensor([7])
    order = torch.randperm(7)
    _, weights = attention(states, lengths)
    _, permuted = attention(states[:, order], lengths)
    torch.testing.assert_close(permuted, weights[:, order])


@pytest.mark.parametrize(("query", "frame"), [("last", 4), ("middle", 2)])
def test_dot_attention_projects_the_chosen_state_into_its_query(query, frame):
    torch.manual_seed(0)
    attention = DotAttention(3, query, bidirectional=False)
    states, lengths = torch.randn(1, 8, 3), torch.tensor([5])
    pooled, weights = attention(states, lengths)
    q = attention.query(states[0, frame])
    expected = torch.softmax(states[0, :5] @ q / 3**0.5, dim=0)
    torch.testing.assert_close(weights[0, :5], expected)
    torch.testing.assert_close(pooled[0], expected @ states[0, :5])


def test_self_attention_block_keeps_the_state_size_and_gives_pooled_weights():
    block = SelfAttentionBlock(8, heads=2, dropout=0.0, pooling="mean", bidirectional=False)
    pooled, weights = block(torch.randn(3, 6, 8), torch.tensor([6, 4, 1]), need_weights=True)
    assert pooled.shape == (3, 8) and weights.shape == (3, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert torch.all(weights[2, 1:] == 0)


def test_heads_must_divide_the_state_size():
    with pytest.raises(ValueError, match=r"model.attention_heads=3 does not divide"):
        SelfAttentionBlock(8, heads=3, dropout=0.0, pooling="last", bidirectional=False)


def test_unknown_attention_names_the_choices():
    cfg = ModelConfig(hidden_size=4)
    cfg.attention = "luong"  # past validation, as a hand-edited config could be
    with pytest.raises(ValueError, match=r"model.attention='luong' is not one of: none, additive"):
        build_readout(4, cfg)
