"""Size and CPU speed of every fusion / synthesis preset: parameters, FLOPs and latency per 256x256 pair.

For each preset (default widths, as ``gan_models.build(name)`` gives them):

* parameters of the inference networks (the generators) and of the whole system (generators + critics);
* FLOPs of one inference on a 256x256 pair, counted by ``torch.utils.flop_counter.FlopCounterMode``
  (a multiply-add counts 2; convolutions and matmuls only, as the counter does);
* CPU latency in ms per pair for batch 1 and batch 16, with 1 and 2 torch threads: the median over
  ``--repeats`` timed calls after one warm-up, ``torch.no_grad``, eval mode, divided by the batch size.

Writes ``reports/bench/fusion_models.json`` and ``reports/bench/fusion_models.md`` (a markdown table) and, with
``--docs PATH``, replaces the table between the ``<!-- bench:fusion_models -->`` markers of that file.
Latencies depend on the machine and its load; the JSON records the CPU model, torch version and load average.

    python -m benchmarks.fusion_models                      # all presets (several minutes on 2 cores)
    python -m benchmarks.fusion_models --presets ddcgan fusiongan --repeats 5
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

import gan_models
from gan_models.presets import preset_names, resolve_preset

MARK_BEGIN, MARK_END = "<!-- bench:fusion_models -->", "<!-- /bench:fusion_models -->"
SIZE = 256


def _inputs(system: Any, n: int) -> tuple[Callable[[], Any], dict[str, torch.Tensor]]:
    """The inference call of a system on ``n`` random 256x256 inputs."""
    g = torch.Generator().manual_seed(0)

    def img() -> torch.Tensor:
        return torch.rand(n, 1, SIZE, SIZE, generator=g)

    if hasattr(system, "fuse"):
        a, b = img(), img()
        return (lambda: system.fuse(a, b)), {"a": a}
    if hasattr(system, "inputs"):                                 # multi-input synthesis
        xs = {k: img() for k in system.inputs}
        return (lambda: system.synthesize(**xs)), xs
    a = img()                                                      # cycle translation A -> B
    return (lambda: system.synthesize(a)), {"a": a}


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def measure(name: str, repeats: int, batches: tuple[int, ...], threads: tuple[int, ...]) -> dict[str, Any]:
    system = gan_models.build(name).eval()
    row: dict[str, Any] = {
        "preset": name, "system": resolve_preset(name)["system"],
        "params_g": count_params(system.generators), "params_total": count_params(system),
    }
    call, _ = _inputs(system, 1)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        call()
    row["gflops"] = fc.get_total_flops() / 1e9
    for t in threads:
        torch.set_num_threads(t)
        for n in batches:
            call, _ = _inputs(system, n)
            with torch.no_grad():
                call()                                             # warm-up
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - t0)
            row[f"ms_b{n}_t{t}"] = 1000.0 * statistics.median(times) / n
    return row


def markdown(rows: list[dict[str, Any]], batches: tuple[int, ...], threads: tuple[int, ...]) -> str:
    cols = [f"ms_b{n}_t{t}" for t in threads for n in batches]
    head = ["preset", "system", "G params", "all params", "GFLOPs / pair"] + \
           [f"ms/pair b{n} {t}thr" for t in threads for n in batches]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["preset"], r["system"], f"{r['params_g']:,}", f"{r['params_total']:,}", f"{r['gflops']:.2f}"]
        cells += [f"{r[c]:.1f}" for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def replace_between_markers(path: Path, table: str) -> None:
    text = path.read_text()
    if MARK_BEGIN not in text or MARK_END not in text:
        raise ValueError(f"{path}: no {MARK_BEGIN} ... {MARK_END} markers to put the table between")
    head, rest = text.split(MARK_BEGIN, 1)
    _, tail = rest.split(MARK_END, 1)
    path.write_text(f"{head}{MARK_BEGIN}\n{table}{MARK_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="*", default=None, help="preset names (default: every fusion/synthesis one)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batches", type=int, nargs="*", default=[1, 16])
    p.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    p.add_argument("--out", default="reports/bench")
    p.add_argument("--docs", default=None, help="also put the table between the markers of this markdown file")
    args = p.parse_args(argv)
    names = args.presets or [n for n in preset_names() if resolve_preset(n).get("kind") in ("fusion", "synthesis")]
    batches, threads = tuple(args.batches), tuple(args.threads)
    rows = []
    for name in tqdm(names, desc="fusion presets", unit="preset"):
        rows.append(measure(name, args.repeats, batches, threads))
        r = rows[-1]
        tqdm.write(f"{name:12s} G {r['params_g']:>9,} params  {r['gflops']:7.2f} GFLOPs  "
                   + "  ".join(f"{k}={v:.1f}" for k, v in r.items() if k.startswith("ms_")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, batches, threads)
    info = machine()
    (out / "fusion_models.json").write_text(json.dumps({"machine": info, "size": SIZE, "rows": rows}, indent=2))
    note = (f"Inference on {SIZE}x{SIZE} pairs, default widths; {info['cpu']}, {info['cores']} cores, torch "
            f"{info['torch']}, load average {info['loadavg']} (latencies depend on the machine and its load).\n\n")
    (out / "fusion_models.md").write_text("# Fusion model benchmark\n\n" + note + table)
    if args.docs:
        replace_between_markers(Path(args.docs), note + table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
