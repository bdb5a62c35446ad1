#!/usr/bin/env python3
"""Write the ESC-50 (or ESC-10) manifests, as the recipes do, from the shell.

    python recipes/ESC50/esc50_prepare.py DATA SAVE [--subset esc10]

``--help`` lists the fold and download options. The recipes call
``speechbrain_piq.dataio.esc50_prepare.prepare_esc50`` themselves (on the main
process); this script prepares ahead of time or checks a data folder.
"""

import argparse
import logging

from speechbrain_piq.dataio.esc50_prepare import prepare_esc50


def main():
    """Parse the command line and prepare the manifests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_folder", help="the ESC-50-master folder")
    parser.add_argument("save_folder", help="where the manifests go")
    parser.add_argument("--subset", choices=("esc50", "esc10"), default="esc50")
    parser.add_argument("--train-folds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--valid-folds", type=int, nargs="+", default=[4])
    parser.add_argument("--test-folds", type=int, nargs="+", default=[5])
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading when data_folder is empty",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    manifests = prepare_esc50(
        args.data_folder,
        args.save_folder,
        train_folds=args.train_folds,
        valid_folds=args.valid_folds,
        test_folds=args.test_folds,
        subset=args.subset,
        download=not args.no_download,
    )
    for split, path in manifests.items():
        print(f"{split}: {path}")


if __name__ == "__main__":
    main()
