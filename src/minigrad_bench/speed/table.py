"""The speed report: one Markdown table of minigrad / torch ratios, then the other figures."""

from __future__ import annotations

from minigrad_bench.report import low_high, markdown_table

COLUMNS = ("benchmark", "batch", "minigrad ms", "torch ms", "minigrad img/s", "torch img/s",
           "minigrad / torch speed")


def format_table(results: dict) -> str:
    """The rows of ``suite.run`` (or of ``processes.combine``, with ranges) as Markdown."""
    lines = [markdown_table(COLUMNS, (
        [r["name"], r["batch"], f"{r['minigrad_ms']:.1f}", f"{r['torch_ms']:.1f}",
         f"{r['minigrad_images_per_s']:,.0f}", f"{r['torch_images_per_s']:,.0f}",
         f"{r['speedup_vs_torch']:.2f}x{_spread(r, 'speedup_vs_torch', '{:.2f}x')}"]
        for r in results["rows"]))]
    train = results["rows"][0]
    convs = [r for r in results["rows"] if "scratch_mib" in r]
    scratch = ", ".join(f"{r['scratch_mib']:.1f} MiB ({r['name'].split('(')[-1][:-1]})"
                        for r in convs)
    lines += ["", "GEMM floor of the seed-net step: "
              f"{train['gemm_floor_images_per_s']:,.0f} img/s"
              f"{_spread(train, 'gemm_floor_images_per_s', '{:,.0f}')}; minigrad reaches "
              f"{100 * train['fraction_of_floor']:.0f}% of it"
              f"{_spread(train, 'fraction_of_floor', '{:.0%}')}.",
              f"VGG conv scratch memory: {scratch} (limit "
              f"{convs[0]['scratch_limit_mib']:.0f} MiB; a whole-batch im2col needs "
              f"{convs[0]['whole_batch_im2col_mib']:.0f} MiB)."]
    if "epoch" in results:
        e = results["epoch"]
        lines.append(f"Reference-recipe epoch through the Trainer ({e['n_train']:,} train with "
                     f"rotation+crop, {e['n_val']:,} val): {e['seconds']:.2f} s "
                     f"(augmentation {e['augment_seconds']:.2f} s of it).")
    cold = results["cold_start"]
    lines.append(f"Cold start (numba cache present) to first training step: "
                 f"{cold['process_seconds']:.2f} s for the whole process.")
    lines += ["", markdown_table(("seed-net layer", "forward ms", "backward ms"), (
        [r["layer"], f"{r['forward_ms']:.2f}", f"{r['backward_ms']:.2f}"]
        for r in results["per_layer"]))]
    env = results["environment"]
    processes = env.get("processes", 1)
    lines += ["", f"{env['date']}, {env['cpu_count']} cores, {env['blas']}, "
              f"torch {env['torch']} with {env['torch_threads']} threads, numpy {env['numpy']}."
              + (f" Medians of {processes} processes (ranges in brackets)." if processes > 1
                 else "")]
    return "\n".join(lines)


def _spread(row: dict, key: str, template: str) -> str:
    """The range over processes of ``row[key]``, when the row combines several."""
    return low_high(row.get(f"{key}_range"), template)
