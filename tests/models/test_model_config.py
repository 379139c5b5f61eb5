"""ModelConfig validation: one line naming the field, the value and what is valid."""

import pytest

from rnnaudio.config import ConfigError, ConvFrontendConfig, ModelConfig


@pytest.mark.parametrize(("fields", "message"), [
    ({"hidden_size": "auto"}, "model.param_budget is required when model.hidden_size=auto"),
    ({"hidden_size": "auto", "param_budget": 0},
     "model.param_budget=0 is out of range; valid values are >= 1"),
    ({"hidden_size": "big"}, "model.hidden_size='big' is not a positive integer or 'auto'"),
    ({"hidden_size": 12.5}, "model.hidden_size=12.5 is not a positive integer or 'auto'"),
    ({"hidden_size": 0}, "model.hidden_size=0 is out of range; valid values are >= 1"),
    ({"hidden_size": 64, "param_budget": 1000},
     "model.param_budget=1000 needs model.hidden_size=auto (got model.hidden_size=64)"),
    ({"attention": "luong"}, "model.attention='luong' is not one of: none, additive, dot, mhsa"),
    ({"attention_query": "first"}, "model.attention_query='first' is not one of: last, middle"),
    ({"frontend": "sincnet"}, "model.frontend='sincnet' is not one of: none, conv"),
    ({"attention": "mhsa", "hidden_size": 30, "attention_heads": 4},
     "model.attention_heads=4 does not divide the encoder output size 30"),
    ({"cell": "lstm", "hidden_size": 32, "proj_size": 12, "attention": "mhsa",
      "attention_heads": 8}, "model.attention_heads=8 does not divide the encoder output size 12; "
     "choose a model.proj_size that it divides"),
    ({"cell": "gru", "proj_size": 16},
     "model.proj_size=16 applies to model.cell=lstm only, not gru; give model.proj_size=0"),
    ({"cell": "lstm", "hidden_size": 32, "proj_size": 32},
     "model.proj_size=32 must be below a fixed model.hidden_size (got 32)"),
    ({"cell": "lstm", "hidden_size": "auto", "param_budget": 9000, "proj_size": 8},
     "model.proj_size=8 must be below a fixed model.hidden_size (got auto)"),
    ({"proj_size": -1}, "model.proj_size=-1 is out of range; valid values are >= 0"),
])
def test_bad_model_values_are_one_line_errors(fields, message):
    with pytest.raises(ConfigError) as error:
        ModelConfig(**fields)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("fields", "message"), [
    ({"channels": []}, "model.conv.channels=[] is empty"),
    ({"channels": [8, 0]}, "model.conv.channels=0 is out of range"),
    ({"kernel_size": 4}, "model.conv.kernel_size=4 is even"),
    ({"freq_stride": 0}, "model.conv.freq_stride=0 is out of range"),
])
def test_bad_conv_values_are_one_line_errors(fields, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ConvFrontendConfig(**fields)


def test_a_bidirectional_mhsa_counts_both_directions():
    ModelConfig(attention="mhsa", hidden_size=30, attention_heads=4, bidirectional=True)
