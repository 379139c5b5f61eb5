"""Figures of one fit: confusion matrix, learning curves, gradient flow, attention weights."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures go to files; no display is assumed anywhere

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure


def confusion_figure(confusion: torch.Tensor, classes: list[str], title: str) -> Figure:
    """Counts ``(true, predicted)`` as a heat map with the count in every cell."""
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(confusion.numpy(), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = confusion.max().item() / 2
    for (row, col), count in _cells(confusion):
        ax.text(col, row, count, ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    fig.tight_layout()
    return fig


def _cells(confusion: torch.Tensor) -> list[tuple[tuple[int, int], int]]:
    rows, cols = confusion.shape
    return [((r, c), int(confusion[r, c])) for r in range(rows) for c in range(cols)]


def learning_curves_figure(epochs: list[dict[str, float]], title: str) -> Figure:
    """Training and validation loss, and validation accuracy when the task has one, against
    the epoch. The loss is the task's: cross-entropy, or NLL per time step."""
    has_acc = any("val_acc" in row for row in epochs)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(9 if has_acc else 5, 3.5),
                             squeeze=False)
    loss_ax = axes[0, 0]
    x = [row["epoch"] for row in epochs]
    for name in ("train_loss", "val_loss"):
        loss_ax.plot(x, [row.get(name, float("nan")) for row in epochs], marker="o", label=name)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    if has_acc:
        acc_ax = axes[0, 1]
        acc_ax.plot(x, [row.get("val_acc", float("nan")) for row in epochs], marker="o",
                    color="tab:green", label="val_acc")
        acc_ax.set_xlabel("epoch")
        acc_ax.set_ylabel("accuracy")
    for ax in axes.flat:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def grad_flow_figure(norms: dict[str, torch.Tensor], title: str) -> Figure:
    """||dLoss/dx_t|| against the frame t, one curve per measured point, on a log scale."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, series in norms.items():
        ax.semilogy(range(len(series)), series.numpy(), label=label)
    ax.set_xlabel("frame t")
    ax.set_ylabel("||dLoss/dx_t||")
    ax.set_title(f"{title}: gradient flow through time")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def attention_figure(
    features: torch.Tensor, weights: torch.Tensor, names: list[str], title: str
) -> Figure:
    """One panel per clip: its features ``(time, feat)`` as an image, its attention weights
    ``(time,)`` as a line over them. ``features`` is ``(clips, time, feat)``, ``weights``
    ``(clips, time)``, ``names`` one caption per clip."""
    clips = len(names)
    fig, axes = plt.subplots(clips, 1, figsize=(8, 2.0 * clips), squeeze=False, sharex=True)
    for ax, clip_features, clip_weights, name in zip(
        axes[:, 0], features, weights, names, strict=True
    ):
        ax.imshow(clip_features.T.numpy(), aspect="auto", origin="lower", cmap="Greys")
        ax.set_ylabel("feature")
        ax.set_title(name, fontsize=9)
        line_ax = ax.twinx()
        line_ax.plot(clip_weights.numpy(), color="tab:red")
        line_ax.set_ylim(bottom=0.0)
        line_ax.set_ylabel("attention", color="tab:red")
    axes[-1, 0].set_xlabel("frame t")
    fig.suptitle(f"{title}: attention over time")
    fig.tight_layout()
    return fig
