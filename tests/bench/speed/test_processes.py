from minigrad_bench.speed.processes import combine


def run(ratio, floor, seconds):
    return {"environment": {"date": "d"},
            "rows": [{"name": "step", "batch": 512, "minigrad_ms": 10.0 / ratio,
                      "speedup_vs_torch": ratio, "fraction_of_floor": floor,
                      "gemm_floor_images_per_s": 100.0}],
            "per_layer": [{"layer": "0: Conv2d", "forward_ms": seconds, "backward_ms": 2.0}],
            "cold_start": {"name": "cold", "process_seconds": seconds},
            "epoch": {"seconds": seconds, "n_train": 48000}}


def test_combine_takes_medians_and_keeps_the_ranges_of_the_target_ratios():
    combined = combine([run(1.0, 0.40, 3.0), run(1.5, 0.50, 1.0), run(1.2, 0.45, 2.0)])
    row = combined["rows"][0]
    assert row["name"] == "step" and row["batch"] == 512
    assert row["speedup_vs_torch"] == 1.2 and row["speedup_vs_torch_range"] == [1.0, 1.5]
    assert row["fraction_of_floor"] == 0.45 and row["fraction_of_floor_range"] == [0.4, 0.5]
    assert combined["per_layer"][0]["forward_ms"] == 2.0
    assert combined["epoch"]["seconds"] == 2.0 and combined["epoch"]["seconds_range"] == [1, 3]
    assert combined["epoch"]["n_train"] == 48000
    assert combined["environment"]["processes"] == 3
