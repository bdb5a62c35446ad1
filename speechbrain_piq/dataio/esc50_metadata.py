"""Read and check ESC-50's ``meta/esc50.csv``, pick a subset and fix its labels.

ESC-50 numbers its 50 classes with ``target`` 0..49. The ESC-10 benchmark
keeps 10 of them; its labels are re-indexed 0..9 in the order of the original
targets, and the original is kept in ``esc50_target``.

A classifier's outputs follow its label encoder, not ``target``: upstream's
recipes number the classes in order of first appearance in the training
manifest (folds 1-3, in ``meta/esc50.csv`` row order), and the classifiers
they published follow that order, which :func:`classes_in_label_order`
gives.
"""

import pandas as pd
from speechbrain.dataio.encoder import CategoricalEncoder

ESC50_FOLDS = (1, 2, 3, 4, 5)
# The training folds of upstream's recipes, which numbered their classifiers'
# outputs by the classes' first appearance there.
UPSTREAM_TRAIN_FOLDS = (1, 2, 3)
# Classes of each subset: what the recipes' classifiers must output.
SUBSET_CLASSES = {"esc50": 50, "esc10": 10}
SUBSETS = tuple(SUBSET_CLASSES)
# The columns of the dataset's own metadata file.
ESC50_COLUMNS = (
    "filename",
    "fold",
    "target",
    "category",
    "esc10",
    "src_file",
    "take",
)
REQUIRED_COLUMNS = ("filename", "fold", "target", "category")
# Read as text: pandas would turn a class "1" into an int and "True" into a
# bool, which the label encoder then no longer finds.
TEXT_COLUMNS = ("filename", "category")


def check_folds(train_folds, valid_folds, test_folds):
    """Return the three fold selections as tuples, or raise ``ValueError``.

    Arguments
    ---------
    train_folds, valid_folds, test_folds : int or iterable of int
        ESC-50 folds (1..5) of each split; they must be non-empty and
        pairwise disjoint.

    Returns
    -------
    dict
        ``{"train": (...), "valid": (...), "test": (...)}``, sorted.

    Example
    -------
    >>> check_folds([1, 2, 3], 4, (5,))
    {'train': (1, 2, 3), 'valid': (4,), 'test': (5,)}
    >>> check_folds((1, 2), (2,), (5,))
    Traceback (most recent call last):
      ...
    ValueError: train_folds (1, 2) and valid_folds (2,) share fold(s) [2]; ...
    """
    splits = {}
    given = {"train": train_folds, "valid": valid_folds, "test": test_folds}
    for split, folds in given.items():
        if isinstance(folds, int):
            folds = (folds,)
        try:
            folds = tuple(sorted({int(fold) for fold in folds}))
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{split}_folds must be ESC-50 fold numbers (1..5), "
                f"got {folds!r}"
            ) from error
        if not folds:
            raise ValueError(f"{split}_folds is empty; give at least one fold")
        outside = [fold for fold in folds if fold not in ESC50_FOLDS]
        if outside:
            raise ValueError(
                f"{split}_folds {folds} has fold(s) {outside} outside "
                f"ESC-50's folds {ESC50_FOLDS}"
            )
        splits[split] = folds
    names = list(splits)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = sorted(set(splits[first]) & set(splits[second]))
            if shared:
                raise ValueError(
                    f"{first}_folds {splits[first]} and {second}_folds "
                    f"{splits[second]} share fold(s) {shared}; a clip must "
                    "be in one split only"
                )
    return splits


def check_subset(subset):
    """Raise ``ValueError`` unless ``subset`` is ``"esc50"`` or ``"esc10"``.

    Arguments
    ---------
    subset : str
        The requested subset.

    Example
    -------
    >>> check_subset("esc10")
    >>> check_subset("esc20")
    Traceback (most recent call last):
      ...
    ValueError: subset must be one of ('esc50', 'esc10'), got 'esc20'
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")


def subset_n_classes(subset):
    """Return the number of classes of ``subset``, or raise ``ValueError``.

    The hparams files compute ``out_n_neurons`` with it, so an unknown
    ``--subset`` is named when they load instead of failing as a bare
    ``KeyError``.

    Arguments
    ---------
    subset : str
        ``"esc50"`` or ``"esc10"``.

    Returns
    -------
    int
        50 or 10.

    Example
    -------
    >>> subset_n_classes("esc10")
    10
    >>> subset_n_classes("esc20")
    Traceback (most recent call last):
      ...
    ValueError: subset must be one of ('esc50', 'esc10'), got 'esc20'
    """
    check_subset(subset)
    return SUBSET_CLASSES[subset]


def read_esc50_metadata(metadata_file, subset="esc50"):
    r"""Read ``meta/esc50.csv``, keep ``subset`` and re-index its targets.

    Arguments
    ---------
    metadata_file : str
        Path of the ESC-50 metadata CSV.
    subset : str
        ``"esc50"`` (all rows) or ``"esc10"`` (rows whose ``esc10`` is True).

    Returns
    -------
    pandas.DataFrame
        The kept rows, with ``class_string`` (the category), ``target``
        (the file's; re-indexed 0..9 for ESC-10) and ``esc50_target`` (the
        file's) besides its other columns; row ``i`` of the index is the
        file's row ``i + 1`` after the header.

    Raises
    ------
    ValueError
        Naming the file and the problem when it is empty or not UTF-8 text,
        columns are missing, a file name or category is empty, values are
        not integers, folds lie outside 1..5, file names repeat, or targets
        and categories disagree.

    Example
    -------
    >>> path = getfixture("tmpdir") / "esc50.csv"
    >>> _ = path.write_text(
    ...     "filename,fold,target,category,esc10\n"
    ...     "1-1-A-0.wav,1,0,dog,True\n"
    ...     "1-2-A-7.wav,1,7,wind,False\n"
    ...     "1-3-A-9.wav,1,9,rain,True\n",
    ...     encoding="utf-8",
    ... )
    >>> meta = read_esc50_metadata(str(path), subset="esc10")
    >>> meta[["class_string", "target", "esc50_target"]].values.tolist()
    [['dog', 0, 0], ['rain', 1, 9]]
    """
    check_subset(subset)
    meta = _read_csv(metadata_file)
    required = REQUIRED_COLUMNS + (("esc10",) if subset == "esc10" else ())
    missing = [column for column in required if column not in meta.columns]
    if missing:
        raise ValueError(
            f"{metadata_file} lacks column(s) {missing}; ESC-50 metadata has "
            f"the columns {list(ESC50_COLUMNS)}"
        )
    for column in ("fold", "target"):
        numbers = pd.to_numeric(meta[column], errors="coerce")
        if numbers.isna().any() or (numbers % 1 != 0).any():
            bad = meta.loc[numbers.isna() | (numbers % 1 != 0), column]
            raise ValueError(
                f"{metadata_file}: column {column!r} must hold integers, "
                f"found {bad.iloc[0]!r}"
            )
        meta[column] = numbers.astype(int)
    _check_text_cells(meta, metadata_file)
    outside = sorted(set(meta["fold"].tolist()) - set(ESC50_FOLDS))
    if outside:
        raise ValueError(
            f"{metadata_file}: fold(s) {outside} lie outside ESC-50's folds "
            f"{ESC50_FOLDS}; set each row's fold to one of them"
        )
    repeated = meta["filename"][meta["filename"].duplicated()]
    if len(repeated):
        raise ValueError(
            f"{metadata_file} lists {repeated.iloc[0]!r} more than once"
        )
    _check_one_class_per_target(meta, metadata_file)
    if subset == "esc10":
        is_esc10 = meta["esc10"].astype(str).str.strip().str.lower()
        meta = meta[is_esc10.isin(("true", "1"))]
        if meta.empty:
            raise ValueError(
                f"{metadata_file} has no row with esc10 == True, so the "
                "ESC-10 subset is empty; use subset: esc50"
            )
    meta = meta.rename(columns={"category": "class_string"})
    meta["esc50_target"] = meta["target"]
    original_targets = sorted(meta["esc50_target"].unique())
    if subset == "esc10":
        reindex = {old: new for new, old in enumerate(original_targets)}
        meta["target"] = meta["esc50_target"].map(reindex)
    return meta


def _read_csv(metadata_file):
    """Read the metadata CSV; raise ``ValueError`` naming a file that is
    empty or not CSV text instead of pandas' or the codec's bare error."""
    try:
        return pd.read_csv(
            metadata_file, dtype={column: str for column in TEXT_COLUMNS}
        )
    except pd.errors.EmptyDataError as error:
        raise ValueError(
            f"{metadata_file} is empty; it must be ESC-50's metadata CSV "
            f"with the header {','.join(ESC50_COLUMNS)}: restore it, or "
            "delete the data folder to download ESC-50 again"
        ) from error
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ValueError(
            f"{metadata_file} is not a UTF-8 CSV file ({error}); it must be "
            f"ESC-50's metadata with the header {','.join(ESC50_COLUMNS)}"
        ) from error


def _check_text_cells(meta, metadata_file):
    """Raise ``ValueError`` naming the first row without a file name or
    category (pandas reads an empty cell, NA or None as missing)."""
    for column in TEXT_COLUMNS:
        missing = meta[column].isna() | (meta[column].str.strip() == "")
        if missing.any():
            index = missing.idxmax()
            raise ValueError(
                f"{metadata_file}: row {index + 1} after the header (fold "
                f"{meta['fold'][index]}, target {meta['target'][index]}) has "
                f"no {column}; give every row a {column} (an empty cell, NA, "
                "None, null or nan counts as missing)"
            )


def _check_one_class_per_target(meta, metadata_file):
    """Raise ``ValueError`` unless targets and categories match one to one."""
    pairs = meta[["target", "category"]].drop_duplicates()
    for column in ("target", "category"):
        clash = pairs[pairs[column].duplicated(keep=False)]
        if len(clash):
            raise ValueError(
                f"{metadata_file}: {column} {clash[column].tolist()[0]!r} "
                f"appears with several "
                f"{'categories' if column == 'target' else 'targets'}: "
                f"{clash.values.tolist()}"
            )


def classes_in_label_order(meta):
    """Return the class names in the order upstream's classifiers number
    them.

    Upstream's ESC-50 recipes fill their ``CategoricalEncoder`` from the
    training manifest, whose rows follow ``meta/esc50.csv``: class ``i`` is
    the ``i``-th class to appear in the rows of its training folds, 1-3 for
    the classifiers it published (on the hub). The same order here,
    whatever folds a run trains on, so those classifiers are labelled right;
    classes folds 1-3 lack follow, in order of appearance.

    Arguments
    ---------
    meta : pandas.DataFrame
        Rows with ``fold`` and ``class_string``, in metadata file order (see
        ``read_esc50_metadata``).

    Returns
    -------
    list of str
        ``classes[i]`` is the name of the classifier's output ``i``.

    Example
    -------
    >>> meta = pd.DataFrame(
    ...     {"fold": [4, 1, 3, 5], "class_string": ["cat", "rain", "dog", "owl"]}
    ... )
    >>> classes_in_label_order(meta)
    ['rain', 'dog', 'cat', 'owl']
    """
    in_upstream_train = meta["fold"].isin(UPSTREAM_TRAIN_FOLDS)
    rows_in_order = pd.concat(
        [meta[in_upstream_train], meta[~in_upstream_train]]
    )
    return list(dict.fromkeys(rows_in_order["class_string"]))


def label_encoder_for(classes):
    """Return a ``CategoricalEncoder`` mapping ``classes[i]`` to ``i``.

    Arguments
    ---------
    classes : list of str
        Class names, ``classes[i]`` for output ``i``.

    Returns
    -------
    speechbrain.dataio.encoder.CategoricalEncoder
        The encoder, with its expected length set to ``len(classes)``.

    Example
    -------
    >>> encoder = label_encoder_for(["dog", "rain"])
    >>> encoder.encode_label("rain"), len(encoder)
    (1, 2)
    """
    encoder = CategoricalEncoder()
    for target, class_string in enumerate(classes):
        encoder.insert_label(class_string, target)
    encoder.expect_len(len(classes))
    return encoder
