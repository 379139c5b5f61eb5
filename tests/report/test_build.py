"""The CV-loss-by-hidden-size figure of an experiment: one line per row, not per cell."""

import matplotlib.pyplot as plt
import pandas as pd

from rnnaudio.report.build import _hidden_size_frame
from rnnaudio.report.sweep import loss_by_hidden_size


def trial_runs() -> pd.DataFrame:
    """Trials of two rows that share a cell (gru, gru+attention), as MLflow lists them."""
    return pd.DataFrame({
        "params.model.cell": ["gru", "gru", "gru", "gru", "rnn"],
        "params.model.hidden_size": ["32", "64", "32", "64", "32"],
        "metrics.cv_val_loss_mean": [1.0, 0.8, 0.5, 0.4, 2.2],
        "metrics.cv_val_loss_std": [0.1, 0.1, 0.1, 0.1, 0.1],
        "tags.optuna.study": ["t-gru", "t-gru", "t-gru+attention", "t-gru+attention", "t-rnn"],
    })


def test_an_experiment_draws_one_line_per_row():
    frame = _hidden_size_frame(trial_runs(), "t-")
    assert sorted(frame["row"].unique()) == ["gru", "gru+attention", "rnn"]
    figure = loss_by_hidden_size(frame, line_key="row")
    legend = figure.axes[0].get_legend()
    assert legend.get_title().get_text() == "row"
    assert [t.get_text() for t in legend.get_texts()] == ["gru", "gru+attention", "rnn"]
    plt.close(figure)


def test_a_plain_report_draws_one_line_per_cell():
    figure = loss_by_hidden_size(_hidden_size_frame(trial_runs()))
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["gru", "rnn"]
    plt.close(figure)
