"""The ``speechbrain-piq`` command: interpret audio files, export a run.

::

    speechbrain-piq interpret clip.wav clips/ "more/*.flac" --source DIR_OR_REPO
    speechbrain-piq interpret ... --out out/
    speechbrain-piq export RUN_DIR OUT_DIR [--push OWNER/NAME]
    speechbrain-piq evaluate RUN_OR_EXPORT DATA [--methods piq,energy,ig]

Bad input ends the command with exit status 1 and one line on stderr
saying what is wrong and how to fix it, never a traceback.
"""

import argparse
import os
import sys

from speechbrain_piq.evaluation.command import (
    add_evaluate_parser,
    evaluate_command,
)
from speechbrain_piq.inference.audio_files import audio_files
from speechbrain_piq.inference.predictions import (
    PREDICTIONS_FILE,
    PredictionsTable,
)

PROGRAM = "speechbrain-piq"
# Torch device types an interpreter can run on.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def build_parser():
    """The argument parser of the ``speechbrain-piq`` command.

    Returns
    -------
    argparse.ArgumentParser

    Example
    -------
    >>> args = build_parser().parse_args(
    ...     ["interpret", "a.wav", "b.wav", "--source", "me/piq"]
    ... )
    >>> args.clips, args.source, args.out
    (['a.wav', 'b.wav'], 'me/piq', 'interpretations')
    """
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description=(
            "Explain an audio classifier's predictions with a trained PIQ "
            "interpreter (Posthoc Interpretation via Quantization), or "
            "publish one."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    interpret = commands.add_parser(
        "interpret",
        help="classify audio files and write their interpretations",
        description=(
            "Classify each clip and write OUT/<clip name>/interpretation.wav "
            "(the part of the sound that explains the prediction) and "
            "interpretation.png (spectrogram, mask, interpretation), and add "
            f"a row per clip to OUT/{PREDICTIONS_FILE} (a clip interpreted "
            "again replaces its row). Any sample rate and channel count."
        ),
    )
    interpret.add_argument(
        "clips",
        nargs="+",
        help="audio files, folders (every audio file under them) or quoted "
        "glob patterns such as 'clips/**/*.wav'",
    )
    interpret.add_argument(
        "--source",
        required=True,
        help="interpreter: a HuggingFace repo id (owner/name) or a folder "
        "written by 'speechbrain-piq export'",
    )
    interpret.add_argument(
        "--out", default="interpretations", help="output folder"
    )
    interpret.add_argument(
        "--savedir",
        default=None,
        help="where to keep the interpreter's files (default: the hub "
        "cache, or the source folder itself)",
    )
    interpret.add_argument(
        "--device",
        default=None,
        help="torch device, e.g. cpu or cuda:0 (default: cuda if available)",
    )
    interpret.add_argument(
        "--keep-going",
        action="store_true",
        help="skip unreadable clips (one line each) instead of stopping",
    )

    export = commands.add_parser(
        "export",
        help="turn a finished train_piq.py run into a hub-ready folder",
        description=(
            "Copy the best interpreter checkpoint, the classifier, the label "
            "encoder and an inference hyperparams.yaml into OUT_DIR, with a "
            "model card listing the run's test metrics; optionally upload it "
            "to the HuggingFace hub (uses your saved token or HF_TOKEN)."
        ),
    )
    export.add_argument("run_dir", help="output folder of train_piq.py")
    export.add_argument("out_dir", help="folder to write")
    export.add_argument(
        "--push",
        metavar="REPO_ID",
        default=None,
        help="upload the folder to this HuggingFace model repo (owner/name)",
    )
    export.add_argument(
        "--private", action="store_true", help="create the repo as private"
    )
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="write into OUT_DIR even if it is not empty",
    )
    add_evaluate_parser(commands)
    return parser


def main(argv=None):
    """Runs the command; returns its exit status.

    Arguments
    ---------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on bad input (with one line on stderr).

    Example
    -------
    >>> main(["interpret", "missing.wav", "--source", "me/piq"])
    1
    """
    args = build_parser().parse_args(argv)
    run = {
        "interpret": interpret_command,
        "export": export_command,
        "evaluate": evaluate_command,
    }[args.command]
    try:
        return run(args)
    # RuntimeError: torch's failures (e.g. out of memory) and a failed
    # upload; the message says what went wrong, a traceback would not help.
    except (OSError, ValueError, RuntimeError) as error:
        _complain(f"error: {_one_line(error)}")
        return 1
    except KeyboardInterrupt:
        _complain("interrupted")
        return 130


def interpret_command(args):
    """``speechbrain-piq interpret``: see :func:`build_parser`.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed arguments.

    Returns
    -------
    int
        Exit status.
    """
    clips = audio_files(args.clips, keep_missing=args.keep_going)
    table = PredictionsTable(args.out)
    # Imported here, not at the top: torch and SpeechBrain take seconds to
    # import, and --help or a mistyped path should answer at once.
    from tqdm import tqdm

    from speechbrain_piq.inference import PIQAudioInterpreter

    run_opts = {"device": check_device(args.device)} if args.device else None
    interpreter = PIQAudioInterpreter.from_hparams(
        args.source, savedir=args.savedir, run_opts=run_opts
    )
    os.makedirs(args.out, exist_ok=True)
    folders = output_folders(clips, args.out, table.output_folders())
    skipped = 0
    # A bar only for several clips, and only on a terminal (tqdm's
    # disable=None), so that logs and a single clip's error stay clean.
    progress = tqdm(
        list(zip(clips, folders)),
        desc="interpreting",
        unit="clip",
        disable=True if len(clips) == 1 else None,
    )
    try:
        for clip, folder in progress:
            try:
                result = interpreter.interpret_file(clip)
            except (OSError, ValueError) as error:
                if not args.keep_going:
                    raise
                skipped += 1
                tqdm.write(
                    f"{PROGRAM}: skipped: {_one_line(error)}", file=sys.stderr
                )
                continue
            result.save(folder)
            table.add(clip, result.label, result.probability, folder)
            tqdm.write(f"{clip}: {result.label} (p={result.probability:.2f})")
    finally:
        # What was interpreted before a failure or ^C is kept.
        table.save()
    if skipped:
        _complain(
            f"error: {skipped} of {len(clips)} clips could not be "
            "interpreted (see above)"
        )
        return 1
    return 0


def export_command(args):
    """``speechbrain-piq export``: see :func:`build_parser`.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed arguments.

    Returns
    -------
    int
        Exit status.
    """
    from speechbrain_piq.inference.export import export_run, push_to_hub

    out_dir = export_run(
        args.run_dir, args.out_dir, repo_id=args.push, overwrite=args.overwrite
    )
    print(f"exported {args.run_dir} to {out_dir}")
    if args.push:
        commit = push_to_hub(out_dir, args.push, private=args.private)
        print(f"uploaded to {args.push}: {commit.commit_url}")
    return 0


def check_device(device):
    """Returns ``device`` if the interpreter can run on it here.

    Arguments
    ---------
    device : str
        A torch device name, e.g. ``cpu``, ``cuda`` or ``cuda:1``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If it is no device name, not a CPU, CUDA or MPS device, or not
        available on this machine.

    Example
    -------
    >>> check_device("cpu")
    'cpu'
    >>> check_device("foo")
    Traceback (most recent call last):
    ...
    ValueError: --device foo: not a torch device; give cpu, cuda, cuda:N or mps
    """
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"--device {device}: not a torch device; give cpu, cuda, cuda:N "
            "or mps"
        ) from error
    if parsed.type not in DEVICE_TYPES:
        raise ValueError(
            f"--device {device}: {PROGRAM} runs on {', '.join(DEVICE_TYPES)}"
            " devices only; give cpu, cuda, cuda:N or mps"
        )
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"--device {device}: this machine has no usable CUDA GPU; "
                "use --device cpu"
            )
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f"--device {device}: this machine has {count} CUDA GPU(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"--device {device}: no Apple MPS device is available here; use "
            "--device cpu"
        )
    return device


def output_folders(clips, out, earlier=None):
    """One output folder per clip, named after it, never shared, and
    never named like the predictions file beside them.

    Arguments
    ---------
    clips : list of str
        Audio file paths.
    out : str
        Parent folder.
    earlier : dict, optional
        ``{file: folder}`` of an earlier run into ``out``: those files get
        their folder again, other files another one.

    Returns
    -------
    list of str

    Example
    -------
    >>> output_folders(["a/dog.wav", "b/dog.wav", "cat.flac"], "out")
    ['out/dog', 'out/dog_2', 'out/cat']
    >>> output_folders(["predictions.csv.wav"], "out")
    ['out/predictions.csv_2']
    >>> output_folders(["b/dog.wav", "a/dog.wav"], "out", {"a/dog.wav": "out/dog"})
    ['out/dog_2', 'out/dog']
    """
    earlier = earlier or {}
    taken = {PREDICTIONS_FILE}
    taken.update(os.path.basename(folder) for folder in earlier.values())
    folders = []
    for clip in clips:
        if clip in earlier:
            folders.append(earlier[clip])
            continue
        stem = os.path.splitext(os.path.basename(clip))[0]
        name, count = stem, 1
        while name in taken:
            count += 1
            name = f"{stem}_{count}"
        taken.add(name)
        folders.append(os.path.join(out, name))
    return folders


def _one_line(error):
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def _complain(message):
    """Writes ``speechbrain-piq: message`` to stderr."""
    print(f"{PROGRAM}: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
