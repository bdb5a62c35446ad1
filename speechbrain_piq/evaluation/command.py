"""``speechbrain-piq evaluate``: the interpreter against the baselines.

::

    speechbrain-piq evaluate demo_output/piq demo_output/data --fold 5
    speechbrain-piq evaluate EXPORTED_DIR mixtures/mixtures.csv --methods piq,energy,ig
"""

import os

from speechbrain_piq.evaluation.methods import METHODS


def add_evaluate_parser(commands):
    """Adds the ``evaluate`` subcommand to the CLI's subparsers.

    Arguments
    ---------
    commands : argparse._SubParsersAction
        ``parser.add_subparsers()`` of the ``speechbrain-piq`` command.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_evaluate_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["evaluate", "run", "data", "--fold", "4"])
    >>> args.source, args.data, args.fold, args.methods
    ('run', 'data', 4, 'all')
    """
    evaluate = commands.add_parser(
        "evaluate",
        help="score the interpreter and baseline explanations on one table",
        description=(
            "Run the interpreter and the baselines ("
            + ", ".join(METHODS)
            + ") on the same clips with the same frozen classifier, and "
            "write OUT/evaluation.{md,csv,json}, per-clip scores and "
            "OUT/evaluation.png."
        ),
    )
    evaluate.add_argument(
        "source",
        help="interpreter: a train_piq.py output folder, a folder written "
        "by 'speechbrain-piq export', or a HuggingFace repo id",
    )
    evaluate.add_argument(
        "data",
        help="an ESC-50-layout folder (with --fold) or a manifest CSV "
        "(e.g. the mixtures.csv of speechbrain_piq.evaluation.mixtures)",
    )
    evaluate.add_argument(
        "--fold", type=int, default=5, help="fold of a data folder (5)"
    )
    evaluate.add_argument(
        "--subset", default="esc50", choices=("esc50", "esc10")
    )
    evaluate.add_argument(
        "--data-root",
        default=None,
        help="replaces $data_root in a manifest's wav paths",
    )
    evaluate.add_argument(
        "--methods",
        default="all",
        help="comma-separated methods, or all (default)",
    )
    evaluate.add_argument("--out", default="evaluation", help="output folder")
    evaluate.add_argument("--device", default="cpu", help="torch device")
    evaluate.add_argument("--batch-size", type=int, default=8)
    evaluate.add_argument(
        "--steps", type=int, default=20, help="deletion/insertion steps"
    )
    evaluate.add_argument("--seed", type=int, default=1234)
    evaluate.add_argument(
        "--figure-clips", type=int, default=4, help="rows of the figure"
    )


def evaluate_command(args):
    """Runs ``speechbrain-piq evaluate``.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed arguments.

    Returns
    -------
    int
        Exit status.
    """
    from speechbrain_piq.evaluation.data import (
        esc50_fold_clips,
        manifest_clips,
    )
    from speechbrain_piq.evaluation.methods import parse_methods
    from speechbrain_piq.evaluation.report import markdown_table
    from speechbrain_piq.evaluation.run import evaluate

    methods = parse_methods(args.methods)
    if not os.path.exists(args.source) and os.sep in args.source.strip("/"):
        raise FileNotFoundError(f"{args.source}: no such run or folder")
    if os.path.isdir(args.data):
        clips = esc50_fold_clips(args.data, args.fold, args.subset)
        description = f"fold {args.fold} of {args.data}"
    elif os.path.isfile(args.data):
        clips = manifest_clips(args.data, args.data_root)
        description = args.data
    else:
        raise FileNotFoundError(
            f"{args.data}: no such data folder or manifest file"
        )
    summary = evaluate(
        args.source,
        clips,
        args.out,
        methods=methods,
        device=args.device,
        batch_size=args.batch_size,
        steps=args.steps,
        seed=args.seed,
        figure_clips=args.figure_clips,
        data_description=description,
    )
    print(markdown_table(summary))
    print(f"written to {args.out}/")
    return 0
