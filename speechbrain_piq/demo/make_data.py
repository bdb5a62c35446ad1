"""Writes the demo dataset from the command line.

Usage::

    python -m speechbrain_piq.demo.make_data DEST [--n-classes 5] [--seed 0]

``DEST`` then looks like ESC-50 (``audio/``, ``meta/esc50.csv``), so the
ESC-50 recipes take it as their ``data_folder``.
"""

import argparse
import logging
import sys

from speechbrain_piq.demo.dataset import make_demo_dataset
from speechbrain_piq.demo.events import DEMO_CATEGORIES


def parse_args(argv=None):
    """Parses the command line into ``make_demo_dataset``'s arguments.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``dest`` and the keyword arguments of ``make_demo_dataset``.

    Example
    -------
    >>> args = parse_args(["demo_data", "--n-classes", "3"])
    >>> args.dest, args.n_classes, args.folds
    ('demo_data', 3, [1, 2, 3, 4, 5])
    """
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_piq.demo.make_data",
        description=(
            "Write a small ESC-50-shaped dataset of synthetic sound events "
            "with their ground-truth time-frequency regions."
        ),
    )
    parser.add_argument("dest", help="folder to write (audio/, meta/)")
    parser.add_argument(
        "--n-classes",
        type=int,
        default=5,
        help=f"classes, taken in this order: {', '.join(DEMO_CATEGORIES)}",
    )
    parser.add_argument("--clips-per-class-per-fold", type=int, default=8)
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument(
        "--distractor-fraction",
        type=float,
        default=0.3,
        help="fraction of clips that also hold an event of another class",
    )
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    """Writes the demo dataset as the command line asks.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    pandas.DataFrame
        The metadata written to ``DEST/meta/esc50.csv``.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as dest:
    ...     meta = main([dest, "--n-classes", "2", "--folds", "1"])
    >>> len(meta)
    16
    """
    args = vars(parse_args(argv))
    return make_demo_dataset(args.pop("dest"), **args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        main()
    except (ValueError, FileExistsError) as error:
        sys.exit(f"error: {error}")
