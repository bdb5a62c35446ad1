"""Command-line overrides for an upstream PIQ hparams file.

HyperPyYAML refuses to override an entry a file lacks, and upstream's files
lack this recipe's own options (``clip_seconds``, ``subset``...).
:func:`split_overrides` hands those to
:func:`speechbrain_piq.upstream_hparams.from_upstream_hparams` instead.
"""

import io

import ruamel.yaml
from hyperpyyaml import load_hyperpyyaml

from speechbrain_piq.upstream_hparams import (
    RECIPE_OPTIONS,
    RENAMED,
    is_upstream_layout,
)


def split_overrides(hparams_file, overrides):
    r"""Separates, for an upstream file, the command-line overrides of its
    own entries from this recipe's options it does not define.

    The options in ``RECIPE_OPTIONS`` (``--clip_seconds 1.0``...) that the
    file does not define are returned apart.

    Arguments
    ---------
    hparams_file : str
        The hparams file given to the recipe.
    overrides : str
        The overrides as YAML (``speechbrain.parse_arguments``).

    Returns
    -------
    file_overrides : str
        YAML of the overrides of entries the file defines (all of them for
        a file of this recipe's layout).
    recipe_options : dict
        This recipe's options given for an upstream file.

    Raises
    ------
    ValueError
        For an override an upstream file defines not, that is not in
        ``RECIPE_OPTIONS``.

    Example
    -------
    >>> path = getfixture("tmp_path") / "piq.yaml"
    >>> _ = path.write_text("pretrained_esc50: null\nbatch_size: 16\n")
    >>> split_overrides(str(path), "batch_size: 2\nclip_seconds: 1.0")
    ('batch_size: 2\n', {'clip_seconds': 1.0})
    >>> split_overrides(str(path), "train_folds: [1]")
    Traceback (most recent call last):
    ...
    ValueError: .../piq.yaml has no train_folds: it is upstream's layout, give train_fold_nums instead.
    """
    yaml = ruamel.yaml.YAML()
    with open(hparams_file, encoding="utf-8") as fin:
        entries = yaml.load(fin) or {}
    given = yaml.load(overrides or "") or {}
    if not is_upstream_layout(entries) or set(given) <= set(entries):
        return overrides, {}
    upstream_names = {ours: theirs for theirs, ours in RENAMED.items()}
    extras = ruamel.yaml.comments.CommentedMap()
    for key in [key for key in given if key not in entries]:
        if key in upstream_names:
            raise ValueError(
                f"{hparams_file} has no {key}: it is upstream's layout, "
                f"give {upstream_names[key]} instead."
            )
        if key not in RECIPE_OPTIONS:
            raise ValueError(
                f"{hparams_file} has no {key} (upstream's layout); besides "
                f"its own entries, give only {', '.join(RECIPE_OPTIONS)}."
            )
        extras[key] = given.pop(key)
    return _dump(yaml, given), load_hyperpyyaml(_dump(yaml, extras))


def _dump(yaml, mapping):
    """YAML text of a ruamel mapping ("" when empty)."""
    if not mapping:
        return ""
    text = io.StringIO()
    yaml.dump(mapping, text)
    return text.getvalue()
