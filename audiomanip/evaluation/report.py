"""The evaluation report as files: JSON (:func:`save_report`) and a bar chart of its figures
(:func:`plot_report`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np


def save_report(report: Mapping[str, Any], path: str | Path) -> None:
    """Write the report as JSON (atomically: a temp file renamed into place)."""
    from audiomanip.destination import write_atomic  # regular files only

    write_atomic(path, (json.dumps(report, indent=2, allow_nan=False) + "\n").encode("utf-8"), overwrite=True)


def plot_report(report: Mapping[str, Any], path: str | Path) -> None:
    """Draw the report's figures (matplotlib, Agg backend) into an image file: parameter MAE
    per split, direction accuracy per family and paraphrase margin, one bar per predictor."""
    from audiomanip.plot import pyplot

    plt = pyplot()

    suites = report.get("suites", {})
    panels = [s for s in ("param", "direction", "paraphrase", "crowd") if s in suites]
    if not panels:
        raise ValueError("the report holds no suite to plot")
    preds = list(report.get("predictors", []))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    width = 0.8 / max(1, len(preds))

    def bars(ax: Any, groups: list[str], value: Callable[[str, str], float | None], title: str, ylabel: str) -> None:
        x = np.arange(len(groups))
        for k, p in enumerate(preds):
            ys = [value(p, g) for g in groups]
            ax.bar(x + (k - (len(preds) - 1) / 2) * width, [np.nan if y is None else y for y in ys], width, label=p)
        ax.set_xticks(x)
        ax.set_xticklabels(groups, rotation=20, ha="right")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)

    for ax, s in zip(axes[0], panels):
        data = suites[s]
        if s == "param":
            splits = data["splits"]
            bars(ax, list(splits), lambda p, g, d=splits: d[g]["figures"][p]["mae"],
                 "parameter MAE (lower is better)", "MAE (normalised)")
        elif s == "direction":
            figs = data["figures"]
            fams = list(figs[preds[0]]["per_family"]) + ["overall"]
            bars(ax, fams, lambda p, g, f=figs: f[p]["accuracy"] if g == "overall" else f[p]["per_family"].get(g),
                 "direction accuracy (higher is better)", "accuracy")
            ax.set_ylim(0, 1)
        elif s == "paraphrase":
            figs = data["figures"]
            bars(ax, ["margin", "separation"], lambda p, g, f=figs: f[p][g], "paraphrase (higher is better)", "value")
        else:
            figs = data["figures"]
            bars(ax, ["eq_r", "reverb_rho", "compressor_direction"], lambda p, g, f=figs: f[g].get(p),
                 "crowd words (higher is better)", "r / rho / share")
            # the crowd references as horizontal marks over each group
            for ref, style in (("mean_curve", ":"), ("ceiling", "--")):
                label = ref.replace("_", " ")
                for j, key in enumerate(("eq_r", "reverb_rho", "compressor_direction")):
                    v = figs[key].get(ref)
                    if v is not None:
                        ax.hlines(v, j - 0.4, j + 0.4, colors="k", linestyles=style, label=label)
                        label = None
            ax.legend(fontsize=7)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"audiomanip eval: {report.get('model', {}).get('name', 'model')}")
    fig.tight_layout()
    from audiomanip.plot import save_figure

    save_figure(fig, path, overwrite=True)
