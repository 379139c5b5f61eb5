"""Front ends: what the recurrent layers read, from normalised features ``(batch, time, feat)``.

``conv`` is the convolutional front end of the CRNN keyword spotters: a few 2-D convolutions
over (time, frequency), each followed by batch norm and a ReLU. They stride in frequency
only, so every clip keeps its number of frames and a padding mask stays exact.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rnnaudio.config import ConvFrontendConfig, ModelConfig
from rnnaudio.models.pooling import time_mask


class NoFrontend(nn.Module):
    """The features themselves: ``output_size`` is ``n_features``."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.output_size = n_features

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        del lengths  # recurrent cells read frames in order; padding after a clip cannot leak in
        return features


class ConvFrontend(nn.Module):
    """``(batch, time, n_features)`` to ``(batch, time, channels[-1] * reduced_freq)``.

    Frames past a clip's length are zeroed before every convolution, which is exactly the
    zero padding an unpadded clip sees at its end: padding never changes a valid frame.
    """

    def __init__(self, n_features: int, cfg: ConvFrontendConfig) -> None:
        super().__init__()
        layers = []
        in_channels, freq = 1, n_features
        pad = cfg.kernel_size // 2
        for channels in cfg.channels:
            layers.append(nn.Sequential(
                # No bias: the batch norm right after would subtract it again.
                nn.Conv2d(in_channels, channels, cfg.kernel_size, stride=(1, cfg.freq_stride),
                          padding=pad, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
            ))
            in_channels = channels
            freq = (freq + 2 * pad - cfg.kernel_size) // cfg.freq_stride + 1
        self.layers = nn.ModuleList(layers)
        self.output_size = in_channels * freq

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        x = features.unsqueeze(1)  # (batch, 1, time, freq): time and frequency as an image
        mask = None
        if lengths is not None:
            mask = time_mask(lengths, features.size(1))[:, None, :, None].to(features.dtype)
        for layer in self.layers:
            x = layer(x if mask is None else x * mask)
        batch, channels, time, freq = x.shape
        return x.permute(0, 2, 1, 3).reshape(batch, time, channels * freq)


Frontend = NoFrontend | ConvFrontend

FRONTENDS: dict[str, Callable[[int, ModelConfig], Frontend]] = {
    "none": lambda n_features, cfg: NoFrontend(n_features),
    "conv": lambda n_features, cfg: ConvFrontend(n_features, cfg.conv),
}


def build_frontend(n_features: int, cfg: ModelConfig) -> Frontend:
    """The front end ``cfg.frontend`` names."""
    if cfg.frontend not in FRONTENDS:
        raise ValueError(f"model.frontend={cfg.frontend!r} is not one of: {', '.join(FRONTENDS)}")
    return FRONTENDS[cfg.frontend](n_features, cfg)
