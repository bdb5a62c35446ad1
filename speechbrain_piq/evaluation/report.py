"""The evaluation's table: per-method means, as Markdown, CSV and JSON."""

import csv
import json
import math
import os

# Columns of the Markdown table (CSV and JSON carry every metric), with
# the direction that is better.
TABLE_COLUMNS = (
    ("mask_mean", "area"),
    ("fid_in", "Fid-In ↑"),
    ("faithfulness", "FF ↑"),
    ("ff_calibrated", "FF cal. ↑"),
    ("ad_calibrated", "AD cal. ↓"),
    ("sps", "SPS ↑"),
    ("insertion_auc", "Ins. AUC ↑"),
    ("deletion_auc", "Del. AUC ↓"),
    ("loc_precision", "loc prec. ↑"),
    ("loc_recall", "loc rec. ↑"),
    ("loc_iou", "loc IoU ↑"),
    ("distractor_mass", "distr. mass ↓"),
)
FILE_STEM = "evaluation"


def summarize(per_clip):
    """Mean of each metric over the clips that define it.

    Arguments
    ---------
    per_clip : dict
        ``{method: {metric: [values, one per clip]}}``; NaN where a clip
        does not define the metric (e.g. no distractor).

    Returns
    -------
    dict
        ``{method: {metric: mean or None}}`` (None: no clip defines it).

    Example
    -------
    >>> summarize({"ones": {"fid_in": [1.0, 0.0], "distractor_mass": [
    ...     float("nan"), 0.5]}})
    {'ones': {'fid_in': 0.5, 'distractor_mass': 0.5}}
    """
    summary = {}
    for method, metrics in per_clip.items():
        summary[method] = {}
        for metric, values in metrics.items():
            defined = [value for value in values if not math.isnan(value)]
            summary[method][metric] = (
                sum(defined) / len(defined) if defined else None
            )
    return summary


def markdown_table(summary):
    """The summary as a Markdown table, omitting metrics no method has.

    Arguments
    ---------
    summary : dict
        From :func:`summarize`.

    Returns
    -------
    str

    Example
    -------
    >>> print(markdown_table({"ones": {"mask_mean": 1.0, "fid_in": 1.0}}))
    | method | area | Fid-In ↑ |
    |---|---|---|
    | ones | 1.000 | 1.000 |
    """
    columns = [
        (key, title)
        for key, title in TABLE_COLUMNS
        if any(metrics.get(key) is not None for metrics in summary.values())
    ]
    lines = [
        "| method | " + " | ".join(title for _, title in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for method, metrics in summary.items():
        cells = [_number(metrics.get(key)) for key, _ in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value):
    """Three decimals, or a dash for an undefined metric."""
    return "-" if value is None else f"{value:.3f}"


def write_report(out_folder, summary, per_clip, clip_ids, info):
    """Writes ``evaluation.md``, ``evaluation.csv``, ``evaluation.json``
    and the per-clip scores ``evaluation_per_clip.csv``.

    Arguments
    ---------
    out_folder : str
        Created if missing.
    summary : dict
        From :func:`summarize`.
    per_clip : dict
        ``{method: {metric: [values]}}``.
    clip_ids : list of str
        The clips, in the per-clip lists' order.
    info : dict
        What was evaluated (source, data, clips, settings, notes); goes in
        the JSON and under the Markdown table.

    Returns
    -------
    dict
        ``{"markdown", "csv", "json", "per_clip"}`` paths.
    """
    os.makedirs(out_folder, exist_ok=True)
    paths = {
        kind: os.path.join(out_folder, f"{FILE_STEM}.{kind[:4]}")
        for kind in ("markdown", "csv", "json")
    }
    paths["markdown"] = os.path.join(out_folder, f"{FILE_STEM}.md")
    paths["per_clip"] = os.path.join(out_folder, f"{FILE_STEM}_per_clip.csv")
    notes = "".join(f"\n- {note}" for note in info.get("notes", []))
    with open(paths["markdown"], "w", encoding="utf-8") as out:
        out.write(markdown_table(summary) + "\n\n" + _describe(info) + notes)
        out.write("\n")
    metrics = sorted({key for values in summary.values() for key in values})
    with open(paths["csv"], "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["method", *metrics])
        for method, values in summary.items():
            writer.writerow([method, *(values.get(key) for key in metrics)])
    with open(paths["json"], "w", encoding="utf-8") as out:
        json.dump({"summary": summary, **info}, out, indent=2)
    with open(paths["per_clip"], "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["method", "clip", *metrics])
        for method, values in per_clip.items():
            for index, clip_id in enumerate(clip_ids):
                writer.writerow(
                    [method, clip_id]
                    + [_cell(values.get(key), index) for key in metrics]
                )
    return paths


def _cell(values, index):
    """One clip's value of a metric, empty when undefined."""
    if values is None or math.isnan(values[index]):
        return ""
    return values[index]


def _describe(info):
    """One line saying what the table is about."""
    return (
        f"{info['clips']} clips of {info['data']}; interpreter {info['source']};"
        f" classifier accuracy {info['accuracy']:.3f}; logit_scale "
        f"{info['logit_scale']:g}; deletion/insertion in {info['steps']} steps."
    )
