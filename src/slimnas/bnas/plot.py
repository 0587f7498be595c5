"""A PNG of each cell of a genotype: the DAG on a fixed layout, arrows labelled by op."""

from __future__ import annotations

from pathlib import Path

from slimnas.bnas.genotype import CELLS, Genotype
from slimnas.io import atomic_write_bytes

TITLES = {
    "bcnn": {"normal": "convolution cell (genotype 'normal')",
             "reduce": "enhancement cell (genotype 'reduce')"},
    "darts": {"normal": "normal cell", "reduce": "reduction cell"},
}


def plot_genotype(genotype: Genotype, out_dir: str | Path, net: str = "bcnn") -> list[Path]:
    """Write `<out_dir>/normal.png` and `<out_dir>/reduce.png`; returns their paths."""
    out_dir = Path(out_dir)
    return [plot_cell(genotype, which, out_dir / f"{which}.png", TITLES[net][which])
            for which in CELLS]


def plot_cell(genotype: Genotype, which: str, file: Path, title: str) -> Path:
    import io

    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    gene, concat = genotype.cell(which)
    nodes = len(gene) // 2
    # inputs on the left, intermediate nodes on a rising diagonal, output on the right
    pos = {0: (0.0, 0.0), 1: (0.0, 3.0)}
    for i in range(nodes):
        pos[i + 2] = (2.6 * (i + 1), 0.6 if i % 2 else 2.4)
    out = nodes + 2
    pos[out] = (2.6 * (nodes + 1), 1.5)
    labels = {0: "c_{k-2}", 1: "c_{k-1}", out: "c_{k}"} | {i + 2: str(i) for i in range(nodes)}
    fig = Figure(figsize=(2.0 + 1.9 * nodes, 4.0))
    ax = fig.subplots()
    ax.set_aspect("equal")  # arc3 curves are drawn in display space: keep data space alike
    arrow = dict(arrowstyle="-|>", color="0.3", lw=1.0, shrinkA=14, shrinkB=14)
    for k, (op, j) in enumerate(gene):
        target = k // 2 + 2
        rad = 0.25 if k % 2 else -0.25
        (x0, y0), (x1, y1) = pos[j], pos[target]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=arrow | {"connectionstyle": f"arc3,rad={rad}"})
        # the label sits on the middle of the curved arrow (a quadratic Bezier)
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        dx, dy = x1 - x0, y1 - y0
        ax.text(mx + rad * dy * 0.5, my - rad * dx * 0.5, op, fontsize=7, ha="center",
                va="center", color="tab:blue",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    for node in concat:
        ax.annotate("", xy=pos[out], xytext=pos[node],
                    arrowprops=arrow | {"color": "0.65", "linestyle": "--"})
    for n, (x, y) in pos.items():
        colour = "palegreen" if n < 2 else ("khaki" if n == out else "lightblue")
        ax.text(x, y, labels[n], ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="circle,pad=0.4" if 2 <= n < out else "round,pad=0.4",
                          fc=colour, ec="0.3"))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(file, buf.getvalue())
    return file
