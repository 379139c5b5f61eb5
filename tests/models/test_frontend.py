import pytest
import torch

from rnnaudio.config import ConvFrontendConfig, ModelConfig
from rnnaudio.models.frontend import ConvFrontend, NoFrontend, build_frontend


@pytest.mark.parametrize(("channels", "kernel", "stride", "n_features", "reduced"), [
    ([16, 16], 3, 2, 40, 10),
    ([8], 5, 1, 13, 13),
    ([4, 4, 4], 3, 3, 40, 2),
])
def test_conv_front_end_keeps_every_frame_and_strides_in_frequency(
    channels, kernel, stride, n_features, reduced
):
    cfg = ConvFrontendConfig(channels=channels, kernel_size=kernel, freq_stride=stride)
    frontend = ConvFrontend(n_features, cfg)
    out = frontend(torch.randn(2, 17, n_features), None)
    assert out.shape == (2, 17, channels[-1] * reduced)
    assert frontend.output_size == out.size(-1)


def test_padding_never_reaches_a_valid_frame():
    torch.manual_seed(0)
    frontend = ConvFrontend(12, ConvFrontendConfig(channels=[4, 4], kernel_size=5)).eval()
    clip = torch.randn(1, 9, 12)
    padded = torch.cat([clip, torch.full((1, 6, 12), 50.0)], dim=1)
    out = frontend(padded, torch.tensor([9]))
    torch.testing.assert_close(out[:, :9], frontend(clip, None))


def test_no_front_end_passes_features_through():
    features = torch.randn(2, 5, 3)
    assert NoFrontend(3)(features, None) is features


def test_unknown_front_end_names_the_choices():
    cfg = ModelConfig(hidden_size=4)
    cfg.frontend = "sincnet"
    with pytest.raises(ValueError, match=r"model.frontend='sincnet' is not one of: none, conv"):
        build_frontend(4, cfg)
