"""The table: one row per model, mean ± sample std over seeds."""

from __future__ import annotations

from minigrad.train import History
from minigrad_bench.accuracy import results


def _run(seed: int, val_acc: list[float], test_acc: float) -> dict:
    history = History("val_acc", "max")
    for epoch, value in enumerate(val_acc, 1):
        history.append({"train_loss": 1.0 / epoch, "val_loss": 2.0 / epoch, "val_acc": value,
                        "epoch_time": 2.0})
    history.best_epoch = history.compute_best_epoch()
    return results.run_result("net", "minigrad", seed, 1234, history,
                              {"acc": test_acc, "loss": 0.5}, 75.0, {"epochs": 3}, "cpu")


def test_table_aggregates_seeds_as_mean_plus_minus_sample_std():
    runs = [_run(0, [0.5, 0.9, 0.8], 0.90), _run(1, [0.5, 0.6, 0.7], 0.80)]
    (row,) = results.summary_rows(runs)
    assert row["best epoch"] == "2.5 ± 0.7"
    assert row["best val acc"] == "80.00% ± 14.14%"
    assert row["test acc"] == "85.00% ± 7.07%"
    assert row["train loss"] == "0.4167 ± 0.1179"
    assert row["total time"] == "1m15.0s ± 0.0s"
    table = results.format_table([row]).splitlines()
    assert table[0].startswith("| model | params | best epoch |")
    assert table[2] == ("| net | 1,234 | 2.5 ± 0.7 | 80.00% ± 14.14% | 85.00% ± 7.07% | "
                        "0.4167 ± 0.1179 | 0.8333 ± 0.2357 | 2.00 ± 0.00 | 1m15.0s ± 0.0s |")


def test_a_single_seed_shows_plain_values():
    (row,) = results.summary_rows([_run(0, [0.5, 0.9, 0.8], 0.9)])
    assert (row["best epoch"], row["best val acc"], row["s/epoch"]) == ("2", "90.00%", "2.00")
