"""Turn results into a printed table and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


def figures(tree: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every figure (a dict with a median) or unavailable/failed record, with its dotted path."""
    if isinstance(tree, list):
        for i, item in enumerate(tree):
            label = f"{item['events']:,}ev" if isinstance(item, dict) and "events" in item else i
            yield from figures(item, f"{path}[{label}]")
        return
    if not isinstance(tree, dict):
        return
    if "median" in tree or tree.get("status") in ("unavailable", "failed"):
        yield path, tree
        return
    for key, value in tree.items():
        if key in ("samples", "profile", "machine"):
            continue
        yield from figures(value, f"{path}.{key}" if path else key)


def _num(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def table(results: dict[str, Any]) -> str:
    rows = [("figure", "median", "min .. max", "unit", "ratio (to baseline)")]
    for path, fig in figures(results.get("sections", {})):
        if "median" in fig:
            ratio = f"{fig['ratio']:.2f} x {fig['baseline']}" if "ratio" in fig else ""
            rows.append((path, _num(fig["median"]), f"{_num(fig['min'])} .. {_num(fig['max'])}",
                         fig.get("unit", ""), ratio))
        else:
            rows.append((path, fig["status"], "", "", str(fig.get("reason", ""))[:90]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if j == 0 or j == 3 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r[:4], widths, strict=True)))
                     + "  " + r[4])
        if i == 0:
            lines.append("-" * (sum(widths) + 30))
    m = results.get("machine", {})
    lines.append("")
    lines.append(f"machine: {m.get('nproc')} cores, {m.get('memory_gb')} GB, "
                 f"{str(m.get('postgres', '')).split(' on ')[0]}; profile "
                 f"{results.get('profile', {}).get('name')}; {results.get('elapsed_s')} s")
    return "\n".join(lines)


def plot(results: dict[str, Any], out: Path) -> list[str]:
    """``scaling.png``: per-step cost vs stored history; ``overview.png``: throughput bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    scaling = results["sections"].get("scaling", {})
    curves = {k: v for k, v in scaling.get("curves", {}).items() if v.get("points")}
    if curves:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for name, curve in curves.items():
            pts = curve["points"]
            xs = [p["events"] for p in pts]
            for ax, key in zip(axes, ("throughput", "latency_ms"), strict=True):
                ys = [p[key]["median"] for p in pts if key in p]
                if len(ys) != len(xs):
                    continue
                lo = [p[key]["median"] - p[key]["min"] for p in pts]
                hi = [p[key]["max"] - p[key]["median"] for p in pts]
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3,
                            label=f"{name} ({pts[0][key]['unit']})")
        axes[0].set_title("throughput vs stored events")
        axes[1].set_title("per-operation latency (p50) vs stored events")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("events already stored")
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / "scaling.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))

    bars = [(p, f) for p, f in figures(results.get("sections", {}))
            if "median" in f and f.get("unit", "").endswith("/s")]
    if bars:
        fig, ax = plt.subplots(figsize=(10, 0.28 * len(bars) + 1.2))
        names = [p for p, _ in bars]
        med = [f["median"] for _, f in bars]
        err = [[f["median"] - f["min"] for _, f in bars], [f["max"] - f["median"] for _, f in bars]]
        ax.barh(names, med, xerr=err, capsize=2)
        ax.set_xscale("log")
        ax.set_xlabel("per second (median, min..max), log scale")
        ax.tick_params(axis="y", labelsize=6)
        ax.invert_yaxis()
        fig.tight_layout()
        path = out / "overview.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written
