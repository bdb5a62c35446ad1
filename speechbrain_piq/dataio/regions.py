"""Time-frequency boxes of a dataset that knows where its events are.

A dataset may give each clip the box of its target event (and of a
distractor) in time and frequency, for the localisation metrics; the demo
dataset does. When it has the event columns, every clip needs an event box
with its onset before its offset and its low frequency below its high one;
the distractor's box is optional (all four cells empty), but must then be
whole and upright too. :func:`region_problems` finds the rows that break
this, so preparation skips them by name instead of the test stage failing
on them after all the training.
"""

import math

import pandas as pd

# Each box becomes a float32 [4] item in this column order (seconds, Hz).
REGION_COLUMNS = {
    "event_region": (
        "event_onset",
        "event_offset",
        "event_low_hz",
        "event_high_hz",
    ),
    "distractor_region": (
        "distractor_onset",
        "distractor_offset",
        "distractor_low_hz",
        "distractor_high_hz",
    ),
}
# Boxes a clip may lack (all four cells empty).
OPTIONAL_REGIONS = ("distractor_region",)


def region_problems(table):
    """What is wrong with each row's boxes, for the rows with a problem.

    Only the boxes whose four columns the table has are checked.

    Arguments
    ---------
    table : pandas.DataFrame
        Metadata or manifest rows.

    Returns
    -------
    dict
        ``{row index: reason}``, e.g. ``"its event box is inverted
        (event_onset 2 >= event_offset 1)"``.

    Example
    -------
    >>> table = pd.DataFrame({
    ...     "event_onset": [0.5, None, 2.0],
    ...     "event_offset": [1.5, 1.0, 1.0],
    ...     "event_low_hz": [100.0, 100.0, 100.0],
    ...     "event_high_hz": [900.0, 900.0, 900.0],
    ... })
    >>> for index, reason in region_problems(table).items():
    ...     print(index, reason)
    1 its event box is missing event_onset
    2 its event box is inverted (event_onset 2 >= event_offset 1)
    """
    problems = {}
    for key, columns in REGION_COLUMNS.items():
        if not all(column in table.columns for column in columns):
            continue
        values = table[list(columns)].apply(pd.to_numeric, errors="coerce")
        for index, box in zip(table.index, values.itertuples(index=False)):
            reason = _box_problem(key, columns, box)
            if reason is not None and index not in problems:
                problems[index] = reason
    return problems


def _box_problem(key, columns, box):
    """Why one row's box is unusable, or None."""
    name = key.split("_")[0]
    missing = [
        column
        for column, value in zip(columns, box)
        if not math.isfinite(value)
    ]
    if len(missing) == len(columns) and key in OPTIONAL_REGIONS:
        return None
    if missing:
        return f"its {name} box is missing {', '.join(missing)}"
    onset, offset, low, high = box
    for (start, end), (start_name, end_name) in (
        ((onset, offset), columns[:2]),
        ((low, high), columns[2:]),
    ):
        if start >= end:
            return (
                f"its {name} box is inverted ({start_name} {start:g} >= "
                f"{end_name} {end:g})"
            )
    return None
