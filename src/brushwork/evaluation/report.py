"""What ``brushwork evaluate`` writes: the tables (results.csv, summary.csv), the grid, trade-off and
time plots, sweep curves, and one self-contained report.html (images embedded as data URIs; it opens
from disk, no server).

The columns live here (``COLUMNS``, ``SUMMARY_COLUMNS``) with the metric definitions of
``brushwork.metrics.METRICS``; ``brushwork.evaluation.run`` fills the rows.
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import io
import math
import statistics
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window: must precede pyplot's import
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from PIL import Image  # noqa: E402

from brushwork.fileio import atomic_path, atomic_write_text, write_csv  # noqa: E402
from brushwork.metrics import METRICS  # noqa: E402

THUMB = 256  # longest side of the images drawn in the grid and strip
CELL_INCHES = 1.9
#: results.csv, in this order.
COLUMNS = ("content", "style", "method", "kind", "settings", "status", "reason", "width", "height",
           *METRICS, "frames", "image", "key")
#: summary.csv: per method, counts and the mean and median of every metric.
SUMMARY_COLUMNS = ("method", "kind", "ok", "failed",
                   *[f"{m}_{s}" for m in METRICS for s in ("mean", "median")])


def brushwork_version() -> str:
    """The installed brushwork's version, shown in the report and part of every cache key.

    Read from the package metadata: importing ``brushwork.__version__`` here would be an import
    cycle, since the ``brushwork`` package exports ``evaluate`` from this package.
    """
    try:
        return importlib.metadata.version("brushwork")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _number(value) -> float | None:
    """A cell as a number (floats, ints, numeric strings), or None when it is empty or NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


# --- tables --------------------------------------------------------------------------------------
def summarise(rows: list[dict]) -> list[dict]:
    """Per method: counts, and the mean and median of each metric over its successful results."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ok = [r for r in mine if r["status"] == "ok"]
        summary = {"method": method, "kind": mine[0]["kind"], "ok": len(ok), "failed": len(mine) - len(ok)}
        for metric in METRICS:
            values = [v for v in (_number(r.get(metric)) for r in ok) if v is not None]
            finite = [v for v in values if math.isfinite(v)]
            if values and len(finite) == len(values):
                summary[f"{metric}_mean"] = statistics.fmean(finite)
            elif values:
                summary[f"{metric}_mean"] = math.inf
            else:
                summary[f"{metric}_mean"] = math.nan
            summary[f"{metric}_median"] = statistics.median(values) if values else math.nan
        out.append(summary)
    return out


def _cell(value) -> str:
    """How a value is written to the CSV files: NaN as an empty cell, 6 significant digits."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return str(value)


def write_tables(out: Path, rows: list[dict], summary: list[dict],
                 extra: tuple[str, ...] | list[str] = ()) -> dict[str, Path]:
    """results.csv (one row per result; ``extra`` columns after the others, e.g. the per-region
    measures) and summary.csv (one row per method)."""
    files = {"results": out / "results.csv", "summary": out / "summary.csv"}
    tables = (("results", rows, (*COLUMNS, *extra)), ("summary", summary, SUMMARY_COLUMNS))
    for name, table, columns in tables:
        write_csv(files[name], [{k: _cell(row.get(k, "")) for k in columns} for row in table], columns,
                  line_end="\n")
    return files


# --- pictures --------------------------------------------------------------------------------------
def _save_figure(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _thumb(image: Image.Image, size: int = THUMB) -> Image.Image:
    image = image.convert("RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return image


def _wrap(text: str, width: int = 22) -> str:
    return "\n".join(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)) or text


def _result_image(out: Path, row: dict) -> Image.Image | None:
    if row.get("status") != "ok" or not row.get("image"):
        return None
    try:
        with Image.open(out / row["image"]) as image:
            return _thumb(image)
    except OSError:
        return None


def _show(ax, image: Image.Image | None, title: str | None = None, failed: str | None = None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if image is not None:
        ax.imshow(image)
    elif failed is not None:
        ax.set_facecolor("#dddddd")
        short = failed if len(failed) <= 90 else failed[:87] + "..."
        ax.text(0.5, 0.5, _wrap("failed: " + short, 26), ha="center", va="center", fontsize=6,
                transform=ax.transAxes, color="#a00000")
    if title:
        ax.set_title(title, fontsize=7)


# --- grid ----------------------------------------------------------------------------------------
def grid_columns(rows: list[dict], styles, methods) -> list[tuple[str, str]]:
    """(style, method) of each column: per painting, its methods (a fast model under the painting it
    was trained on); then the built-in-style methods whose painting was not given."""
    present = {(r["style"], r["method"]) for r in rows}
    order = [s.name for s in styles] + ["(own)"]
    return [(s, m.label) for s in order for m in methods if (s, m.label) in present]


def write_grid(out: Path, rows: list[dict], contents, styles, methods) -> Path:
    """rows = photos, columns = paintings × methods; a header row shows each column's painting."""
    columns = grid_columns(rows, styles, methods)
    by_cell = {(r["content"], r["style"], r["method"]): r for r in rows}
    style_images = {s.name: (_thumb(s.image) if not s.error else None) for s in styles}
    n_rows, n_cols = len(contents) + 1, len(columns) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(CELL_INCHES * n_cols, CELL_INCHES * n_rows * 0.9),
                             squeeze=False)
    _show(axes[0][0], None)
    for j, (style, method) in enumerate(columns, start=1):
        _show(axes[0][j], style_images.get(style),
              title=_wrap(f"{method}", 24) + "\n" + _wrap(f"style: {style}", 24),
              failed=None if style == "(own)" else "unreadable")
        if style == "(own)":
            axes[0][j].text(0.5, 0.5, "style built\ninto the model", ha="center", va="center", fontsize=7,
                            transform=axes[0][j].transAxes)
    for i, content in enumerate(contents, start=1):
        _show(axes[i][0], _thumb(content.image) if not content.error else None,
              failed=content.error)
        axes[i][0].set_ylabel(_wrap(content.name, 16), fontsize=7)
        for j, (style, method) in enumerate(columns, start=1):
            row = by_cell.get((content.name, style, method))
            if row is None:
                _show(axes[i][j], None)
                continue
            _show(axes[i][j], _result_image(out, row), failed=row.get("reason") or "no image")
    fig.suptitle("photos (rows) × paintings and methods (columns)", fontsize=9)
    fig.tight_layout()
    return _save_figure(fig, out / "grid.png")


# --- plots ----------------------------------------------------------------------------------------
def _colours(labels: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


#: Panels of tradeoff.png: (x metric, y metric, x label, y label, log x, log y, title).
TRADEOFF_PANELS = (
    ("content_loss", "style_loss", "content loss (reference VGG19 relu4_2; lower = more photo kept)",
     "style loss (reference Gram loss; lower = more painting)", True, True, "style loss vs content loss"),
    ("ssim", "style_ratio_all", "SSIM to the photo (higher = more photo kept)",
     "style ratio, relu1_1..relu5_1 (lower = more painting)", False, True, "style ratio vs SSIM"),
    ("style_ratio_low", "style_ratio_deep", "style ratio relu1_1 (palette; lower = more)",
     "style ratio relu3_1..relu5_1 (strokes; lower = more)", True, True, "strokes vs palette"),
)


TRADEOFF_CAPTION = ("style loss vs content loss (lower-left is better on both); all-layer style ratio vs "
                    "SSIM to the photo; deep (strokes) vs low (palette) style ratio; X: a method's median")


def _log_axis(axis) -> None:
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    axis.set_minor_formatter(NullFormatter())


def _tradeoff_panel(ax, rows: list[dict], labels: list[str], colours: dict, panel: tuple) -> bool:
    """One scatter of the trade-off figure: each dot a result, each X a method's median; False if empty."""
    x_metric, y_metric, x_label, y_label, log_x, log_y, title = panel
    any_point = False
    for label in labels:
        points = [(_number(r.get(x_metric)), _number(r.get(y_metric))) for r in rows
                  if r["method"] == label and r["status"] == "ok"]
        points = [(x, y) for x, y in points if x is not None and y is not None and math.isfinite(x)
                  and math.isfinite(y) and (x > 0 or not log_x) and (y > 0 or not log_y)]
        if not points:
            continue
        any_point = True
        xs, ys = zip(*points)
        ax.scatter(xs, ys, s=22, alpha=0.6, color=colours[label])
        ax.scatter([statistics.median(xs)], [statistics.median(ys)], s=140, marker="X", color=colours[label],
                   edgecolor="black", linewidth=0.6, label=_wrap(label, 40))
    if any_point:
        if log_x:
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
        if log_y:
            ax.set_yscale("log")
            _log_axis(ax.yaxis)
        if y_metric.startswith("style_ratio"):
            ax.axhline(1.0, color="#888888", linestyle="--", linewidth=0.8)  # the untouched photo
    else:
        ax.text(0.5, 0.5, f"no results with {x_metric} and {y_metric}", ha="center", fontsize=8,
                transform=ax.transAxes)
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return any_point


def write_tradeoff(out: Path, rows: list[dict], methods) -> Path:
    """Three scatters, each dot a result and each X a method's median: style loss vs content loss,
    the all-layer style ratio vs SSIM to the photo, and the deep (strokes) vs low (palette) ratio."""
    labels = [m.label for m in methods]
    colours = _colours(labels)
    fig, axes = plt.subplots(1, len(TRADEOFF_PANELS), figsize=(5.2 * len(TRADEOFF_PANELS), 4.6))
    drawn = [_tradeoff_panel(ax, rows, labels, colours, panel) for ax, panel in zip(axes, TRADEOFF_PANELS)]
    if any(drawn):
        handles, names = axes[drawn.index(True)].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=8,
                   bbox_to_anchor=(0.5, -0.01), frameon=False)
    fig.suptitle("trade-offs (dots: results, X: median per method; dashed: the untouched photo's ratio, 1)",
                 fontsize=10)
    rows_of_legend = math.ceil(len(labels) / 4)
    fig.tight_layout(rect=(0, 0.05 + 0.035 * rows_of_legend, 1, 1))
    return _save_figure(fig, out / "tradeoff.png")


def write_time(out: Path, summary: list[dict]) -> Path:
    """Median seconds and peak memory per method (bars); methods without a result are left out."""
    summary = [s for s in summary if s["ok"]]
    labels = [s["method"] for s in summary]
    seconds = [_number(s.get("seconds_median")) or 0.0 for s in summary]
    memory = [_number(s.get("peak_mem_mb_median")) or 0.0 for s in summary]
    colours = _colours(labels)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.9 + 0.45 * max(2, len(labels))))
    names = [_wrap(label, 34) for label in labels]
    left.barh(names, seconds, color=[colours[label] for label in labels])
    left.set_xlabel("median seconds per result (log)")
    if any(v > 0 for v in seconds):
        left.set_xscale("log")
    right.barh(names, memory, color=[colours[label] for label in labels])
    right.set_xlabel("median peak extra memory (MB)")
    right.set_yticks(range(len(names)), [""] * len(names))
    for ax, values, fmt in ((left, seconds, "{:.3g} s"), (right, memory, "{:.0f} MB")):
        for k, v in enumerate(values):
            ax.text(v, k, " " + fmt.format(v), va="center", fontsize=7)
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("cost per result on this machine", fontsize=9)
    fig.tight_layout()
    return _save_figure(fig, out / "time.png")


def write_flicker(out: Path, rows: list[dict]) -> dict[str, Path]:
    """Videos: warping error over time (input floor, per-frame, result) per video result, and the
    strips of consecutive frames (input / per-frame / result) each result saved; nothing without videos."""
    videos = [r for r in rows if r.get("status") == "ok" and isinstance(r.get("warp_errors"), dict)][:12]
    if not videos:
        return {}
    fig, axes = plt.subplots(len(videos), 1, figsize=(7, 1.9 * len(videos)), squeeze=False)
    for ax, row in zip(axes[:, 0], videos):
        series = row["warp_errors"]
        for name, style in (("input", ":"), ("per_frame", "--"), ("result", "-")):
            values = [math.nan if v is None else v for v in series.get(name, [])]
            ax.plot(range(1, len(values) + 1), values, style, marker=".", label=name.replace("_", "-"))
        ax.set_title(f"{row['method']} | {row['content']} x {row['style']}", fontsize=8)
        ax.set_ylabel("warping error", fontsize=7)
        ax.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("frame t (error of t against t-1; gaps: scene cuts)")
    fig.tight_layout()
    files = {"flicker": _save_figure(fig, out / "flicker.png")}
    strips = [(r, out / r["image"].replace(".png", "_strip.png")) for r in videos if r.get("image")]
    strips = [(r, p) for r, p in strips if p.is_file()]
    if strips:
        fig, axes = plt.subplots(len(strips), 1, figsize=(8, 2.6 * len(strips)), squeeze=False)
        for ax, (row, path) in zip(axes[:, 0], strips):
            with Image.open(path) as strip:
                ax.imshow(strip.convert("RGB"))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{row['method']} | {row['content']} x {row['style']}: input / per-frame / result",
                         fontsize=8)
        fig.tight_layout()
        files["video_strips"] = _save_figure(fig, out / "video_strips.png")
    return files


def sweep_values(config, methods) -> tuple[str, list[str]] | None:
    if not config.sweep:
        return None
    key = config.sweep.partition("=")[0].strip()
    return key, [m.label.rsplit(f"{key}=", 1)[-1] for m in methods if f"{key}=" in m.label]


def write_sweep(out: Path, config, rows: list[dict], methods, contents, styles) -> dict[str, Path]:
    """Metric curves over the swept values, and a labelled strip of one pair's images."""
    key, values = sweep_values(config, methods)
    labels = [m.label for m in methods if m.label.rsplit(f"{key}=", 1)[-1] in values]
    numeric = [_number(v) for v in values]
    use_numbers = all(v is not None for v in numeric)
    xs = numeric if use_numbers else list(range(len(values)))
    metrics = ("content_loss", "style_loss", "style_ratio_all", "ssim", "hist_distance", "seconds")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.1 * len(metrics), 3.0))
    for ax, metric in zip(axes, metrics):
        pairs = sorted({(r["content"], r["style"]) for r in rows if r["method"] in labels})
        for pair in pairs:
            ys = []
            for label in labels:
                hit = [r for r in rows if r["method"] == label and (r["content"], r["style"]) == pair
                       and r["status"] == "ok"]
                ys.append(_number(hit[0][metric]) if hit else None)
            ax.plot(xs, [y if y is not None else math.nan for y in ys], marker="o", alpha=0.7,
                    label=f"{pair[0]} × {pair[1]}")
        if use_numbers and min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # 3, 12, 40 gave overlapping 3x10^0 labels
        # Ticks at the swept values themselves: those are what the reader looks up.
        ax.set_xticks(xs, values, rotation=0 if use_numbers else 30)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(key, fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"sweep of {key} ({config.methods[0]})", fontsize=10)
    fig.tight_layout()
    files = {"sweep": _save_figure(fig, out / "sweep.png")}
    # strip: photo, painting, then one image per value, for the first photo × painting pair
    content = next((c for c in contents if not c.error), None)
    style = next((s for s in styles if not s.error), None)
    if content is not None:
        style_name = style.name if style else "(own)"
        strip = [("photo", _thumb(content.image), None)]
        if style is not None:
            strip.append(("painting", _thumb(style.image), None))
        for label, value in zip(labels, values):
            hit = [r for r in rows if r["method"] == label and r["content"] == content.name
                   and r["style"] in (style_name, "(own)")]
            row = hit[0] if hit else {}
            strip.append((f"{key}={value}", _result_image(out, row) if row else None,
                          row.get("reason") or "missing"))
        fig, axes = plt.subplots(1, len(strip), figsize=(CELL_INCHES * len(strip), CELL_INCHES * 0.95),
                                 squeeze=False)
        for ax, (title, image, failed) in zip(axes[0], strip):
            _show(ax, image, title=title, failed=failed)
        fig.tight_layout()
        files["sweep_strip"] = _save_figure(fig, out / "sweep_strip.png")
    return files


# --- html ------------------------------------------------------------------------------------------
def _data_uri(path: Path, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _thumb_uri(out: Path, row: dict) -> str:
    image = _result_image(out, row)
    if image is None:
        return ""
    image.thumbnail((96, 96))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value) -> str:
    number = _number(value)
    if number is None:
        return html.escape(str(value)) if value not in (None, "") else ""
    if math.isinf(number):
        return "inf"
    return f"{number:.4g}"


def _table(rows: list[dict], columns: list[str], extra=None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns) + ("<th>image</th>" if extra else "")
    body = []
    for row in rows:
        cells = "".join(f"<td>{_fmt(row.get(c, ''))}</td>" for c in columns)
        if extra:
            cells += f"<td>{extra(row)}</td>"
        css = ' class="failed"' if row.get("status") == "failed" else ""
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_html(out: Path, config, rows: list[dict], summary: list[dict], images: dict[str, Path]) -> Path:
    def figure(name: str, caption: str) -> str:
        if name not in images:
            return ""
        return (f'<figure><img src="{_data_uri(images[name])}" alt="{name}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def thumb(row: dict) -> str:
        uri = _thumb_uri(out, row)
        return f'<img class="thumb" src="{uri}" alt="">' if uri else ""

    ok = sum(r["status"] == "ok" for r in rows)
    settings = {k: v for k, v in vars(config).items() if v not in (None, (), "")}
    summary_columns = ["method", "kind", "ok", "failed"] + [f"{m}_median" for m in METRICS]
    result_columns = ["content", "style", "method", "status", "reason", *METRICS, "settings"]
    metric_list = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in METRICS.items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>brushwork evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; margin: 1em 0; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
th {{ background: #f0f0f0; }} td:first-child, th:first-child {{ text-align: left; }}
tr.failed td {{ background: #fde8e8; }}
img {{ max-width: 100%; }} img.thumb {{ max-width: 96px; }}
figure {{ margin: 1.5em 0; }} figcaption {{ font-size: 13px; color: #555; }}
code {{ background: #f4f4f4; padding: 0 3px; }}
</style></head><body>
<h1>brushwork evaluation</h1>
<p>{ok} of {len(rows)} results succeeded. brushwork {brushwork_version()}. Settings:
<code>{html.escape(str(settings))}</code></p>
<h2>Metrics</h2><ul>{metric_list}</ul>
<h2>Summary (medians per method)</h2>
{_table(summary, summary_columns)}
{figure("grid", "rows: photos; columns: paintings × methods (grey: failed, with the reason)")}
{figure("tradeoff", TRADEOFF_CAPTION)}
{figure("time", "median seconds and peak extra memory per result on this machine")}
{figure("sweep", "metric curves over the swept values")}
{figure("sweep_strip", "one photo × painting over the swept values")}
{figure("flicker", "videos: warping error of each frame against the previous (lower = steadier)")}
{figure("video_strips", "videos: consecutive frames of the input, painted one by one, and the result")}
<h2>All results</h2>
{_table(rows, result_columns, extra=thumb)}
</body></html>
"""
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def write_report(out: Path, config, rows: list[dict], summary: list[dict], contents, styles,
                 methods) -> dict[str, Path]:
    files = {
        "grid": write_grid(out, rows, contents, styles, methods),
        "tradeoff": write_tradeoff(out, rows, methods),
        "time": write_time(out, summary),
    }
    if config.sweep:
        files.update(write_sweep(out, config, rows, methods, contents, styles))
    files.update(write_flicker(out, rows))
    files["report"] = write_html(out, config, rows, summary, files)
    return files
