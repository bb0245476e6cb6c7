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
    lines += [_floor_line(r) for r in results["rows"] if "floor_speedup_vs_torch" in r]
    lines += _memory_lines(results.get("memory", []))
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
    lines += ["", f"{env['date']}, {env.get('cpu', '?')} ({env['cpu_count']} cores; vector "
              f"ISA flags: {env.get('cpu_isa_flags', '?')}), {env['blas']}, torch "
              f"{env['torch']} with {env['torch_threads']} threads, numpy {env['numpy']}."
              + (f" Medians of {processes} processes (ranges in brackets)." if processes > 1
                 else ""), _isa_line(env)]
    return "\n".join(lines)


def _isa_line(env: dict) -> str:
    if env.get("isa") == "avx2":
        restricted = ", ".join(f"{k}={v}" for k, v in env.get("restricted", {}).items())
        return f"Both sides restricted to AVX2 in the measuring processes: {restricted}."
    return ("Measured with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the "
            "measuring processes' environment: each library runs the kernels it picks for "
            "this CPU.")


def _floor_line(row: dict) -> str:
    return (f"{row['name']}: its GEMMs alone {row['gemm_floor_ms']:.1f} ms, "
            f"{100 * row['fraction_of_floor']:.0f}% of minigrad's time"
            f"{_spread(row, 'fraction_of_floor', '{:.0%}')}; torch's time over them "
            f"{row['floor_speedup_vs_torch']:.2f}x"
            f"{_spread(row, 'floor_speedup_vs_torch', '{:.2f}x')} (the most minigrad could "
            "reach with those GEMMs).")


def _memory_lines(memory: list[dict]) -> list[str]:
    lines = []
    for row in memory:
        if "peak_ratio" in row:
            lines.append(
                f"{row['name']} ({row['batch']} images a step, each framework in a fresh "
                f"process): minigrad {row['minigrad_peak_mib']:,.0f} MiB, torch "
                f"{row['torch_peak_mib']:,.0f} MiB ({row['peak_ratio']:.2f}x"
                f"{_spread(row, 'peak_ratio', '{:.2f}x')}); growth over the loaded process: "
                f"minigrad {row['minigrad_step_mib']:,.0f} MiB, torch "
                f"{row['torch_step_mib']:,.0f} MiB ({row['step_ratio']:.2f}x).")
        else:
            lines.append(f"{row['name']} at batch {row['batch']}: at most "
                         f"{row['scratch_mib']:.1f} MiB ({row['layer']}; limit "
                         f"{row['scratch_limit_mib']:.0f} MiB).")
    return lines


def _spread(row: dict, key: str, template: str) -> str:
    """The range over processes of ``row[key]``, when the row combines several."""
    return low_high(row.get(f"{key}_range"), template)
