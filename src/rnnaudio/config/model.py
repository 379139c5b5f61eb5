"""Config groups of the model stage: front end, recurrent encoder, attention, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rnnaudio.config.checks import ConfigError, check_choice, check_range


@dataclass
class ConvFrontendConfig:
    """2-D convolutions over (time, frequency) before the recurrent layers (``frontend=conv``).

    One layer per entry of ``channels``; each strides by ``freq_stride`` in frequency only, so
    the number of frames (and every padding mask) is unchanged.
    """

    channels: list[int] = field(default_factory=lambda: [16, 16])
    kernel_size: int = 3
    freq_stride: int = 2

    def __post_init__(self) -> None:
        if not self.channels:
            raise ConfigError("model.conv.channels=[] is empty; give one channel count per layer")
        for channels in self.channels:
            check_range("model.conv", "channels", channels, 1)
        check_range("model.conv", "kernel_size", self.kernel_size, 1)
        if self.kernel_size % 2 == 0:
            raise ConfigError(
                f"model.conv.kernel_size={self.kernel_size!r} is even; "
                "only an odd size keeps every frame"
            )
        check_range("model.conv", "freq_stride", self.freq_stride, 1)


@dataclass
class ModelConfig:
    """(Conv front end), recurrent encoder, (attention), pooling over time, linear head.

    ``hidden_size`` is a positive int, or ``"auto"``: the size whose whole model comes closest
    to ``param_budget`` parameters. ``attention``: ``none`` reads the states by ``pooling``;
    ``additive`` and ``dot`` are attention pooling and replace it; ``mhsa`` is a self-attention
    block over the states, followed by ``pooling``. ``attention_query`` picks the state that
    ``dot`` projects into its query; ``attention_heads`` applies to ``mhsa``. ``proj_size``
    (LSTM only, 0 = none) projects each state to that many units before it is fed back and
    read out, as in Sak et al. (2014) and the LSTM rows of Hello Edge.
    """

    CELLS: ClassVar[tuple[str, ...]] = ("rnn", "lstm", "gru")
    POOLINGS: ClassVar[tuple[str, ...]] = ("last", "mean")
    ATTENTIONS: ClassVar[tuple[str, ...]] = ("none", "additive", "dot", "mhsa")
    QUERIES: ClassVar[tuple[str, ...]] = ("last", "middle")
    FRONTENDS: ClassVar[tuple[str, ...]] = ("none", "conv")

    cell: str = "lstm"
    hidden_size: Any = 128  # int or "auto"; OmegaConf cannot type a union
    proj_size: int = 0
    param_budget: int | None = None
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.1
    pooling: str = "last"
    attention: str = "none"
    attention_query: str = "last"
    attention_heads: int = 4
    frontend: str = "none"
    conv: ConvFrontendConfig = field(default_factory=ConvFrontendConfig)

    def __post_init__(self) -> None:
        check_choice("model", "cell", self.cell, self.CELLS)
        self._check_hidden_size()
        check_range("model", "num_layers", self.num_layers, 1)
        check_range("model", "dropout", self.dropout, 0.0, 0.95)
        check_choice("model", "pooling", self.pooling, self.POOLINGS)
        check_choice("model", "attention", self.attention, self.ATTENTIONS)
        check_choice("model", "attention_query", self.attention_query, self.QUERIES)
        check_range("model", "attention_heads", self.attention_heads, 1)
        check_choice("model", "frontend", self.frontend, self.FRONTENDS)
        self._check_proj_size()
        if self.attention == "mhsa" and self.hidden_size != "auto":
            size = (self.proj_size or self.hidden_size) * (2 if self.bidirectional else 1)
            if size % self.attention_heads:
                raise ConfigError(
                    f"model.attention_heads={self.attention_heads} does not divide the encoder "
                    f"output size {size}; choose a model."
                    f"{'proj_size' if self.proj_size else 'hidden_size'} that it divides"
                )

    def _check_proj_size(self) -> None:
        check_range("model", "proj_size", self.proj_size, 0)
        if not self.proj_size:
            return
        if self.cell != "lstm":
            raise ConfigError(f"model.proj_size={self.proj_size} applies to model.cell=lstm "
                              f"only, not {self.cell}; give model.proj_size=0")
        if self.hidden_size == "auto" or self.proj_size >= self.hidden_size:
            raise ConfigError(f"model.proj_size={self.proj_size} must be below a fixed "
                              f"model.hidden_size (got {self.hidden_size})")

    def _check_hidden_size(self) -> None:
        if self.hidden_size == "auto":
            if self.param_budget is None:
                raise ConfigError("model.param_budget is required when model.hidden_size=auto")
            check_range("model", "param_budget", self.param_budget, 1)
            return
        if isinstance(self.hidden_size, bool) or not isinstance(self.hidden_size, int):
            raise ConfigError(
                f"model.hidden_size={self.hidden_size!r} is not a positive integer or 'auto'"
            )
        check_range("model", "hidden_size", self.hidden_size, 1)
        if self.param_budget is not None:
            raise ConfigError(
                f"model.param_budget={self.param_budget} needs model.hidden_size=auto "
                f"(got model.hidden_size={self.hidden_size})"
            )


@dataclass
class DiagnosticsConfig:
    """Measurements of a fit beyond its loss: gradient flow over time, attention weights.

    ``grad_flow`` measures ||dLoss/dx_t|| per frame on ``batch_size`` fixed validation clips
    after each count of completed training epochs in ``epochs``: 0 is the untrained model,
    -1 the end of the fit (early-stopped or not). ``attention_clips`` validation clips get
    their attention weights plotted when the model has attention (0 turns that off).
    """

    grad_flow: bool = False
    epochs: list[int] = field(default_factory=lambda: [0, -1])
    batch_size: int = 16
    attention_clips: int = 4

    def __post_init__(self) -> None:
        for epoch in self.epochs:
            check_range("diagnostics", "epochs", epoch, -1)
        check_range("diagnostics", "batch_size", self.batch_size, 1)
        check_range("diagnostics", "attention_clips", self.attention_clips, 0)
