"""One line, not a traceback, for what a user gets wrong starting a recipe.

The recipe scripts (``train_piq.py``, ``recipes/ESC50/train_classifier.py``)
run their ``main`` through :func:`run_script`. A missing or unreadable
file or folder, an output folder that cannot be written, a hparams file or
override that is not valid YAML, or an output folder another run holds
then ends the script with exit status 1 and one line on stderr naming the
path, as the ``speechbrain-piq`` command does. Every other failure keeps
its traceback: it is a bug to report, not a mistake to fix.
"""

import os
import sys

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from speechbrain import parse_arguments

from speechbrain_piq.run_lock import RunFolderBusy


def run_script(main, argv):
    """Runs ``main(argv)``; a user's mistake exits with one line.

    Arguments
    ---------
    main : callable
        The script's ``main``, taking its command-line arguments.
    argv : list of str
        The arguments (``sys.argv[1:]``), the hparams file first.

    Example
    -------
    >>> def main(argv):
    ...     open(argv[0])
    >>> run_script(main, ["missing.yaml"])
    Traceback (most recent call last):
    ...
    SystemExit: 1
    """
    program = os.path.basename(sys.argv[0]) or "python"
    try:
        main(argv)
    except (OSError, YAMLError, RunFolderBusy) as error:
        print(f"{program}: error: {describe(error, argv)}", file=sys.stderr)
        sys.exit(1)


def describe(error, argv):
    """The one-line message for a start-up ``error`` of a recipe run with
    arguments ``argv``.

    Arguments
    ---------
    error : OSError or ruamel.yaml.error.YAMLError or RunFolderBusy
    argv : list of str

    Returns
    -------
    str

    Example
    -------
    >>> describe(PermissionError(13, "Permission denied", "/data/run"), [])
    '/data/run: Permission denied'
    >>> describe(RunFolderBusy("runs/a is in use"), [])
    'runs/a is in use'
    """
    if isinstance(error, OSError) and error.filename is not None:
        paths = [error.filename, error.filename2]
        named = " -> ".join(str(path) for path in paths if path is not None)
        return f"{named}: {error.strerror or _one_line(error)}"
    if isinstance(error, YAMLError):
        return _describe_yaml(error, argv)
    return _one_line(error)


def _describe_yaml(error, argv):
    """Names the hparams file, or the overrides, that are not YAML."""
    hparams_file, _, overrides = parse_arguments(argv)
    if not isinstance(error, MarkedYAMLError) or error.problem_mark is None:
        return f"{hparams_file}: not valid YAML ({_one_line(error)})"
    mark = error.problem_mark
    text = (getattr(mark, "buffer", None) or "").rstrip("\0")
    where = hparams_file
    if overrides and text == overrides:
        where = "the command-line overrides"
    problem = " ".join(
        part for part in (error.context, error.problem) if part is not None
    )
    return (
        f"{where}: not valid YAML ({problem}, line {mark.line + 1}, column "
        f"{mark.column + 1}); fix it and run again"
    )


def _one_line(error):
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__
