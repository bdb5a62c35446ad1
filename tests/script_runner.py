"""Runs the recipe scripts as a user does, in a subprocess."""

import os
import subprocess
import sys

from piq_recipe_factory import REPO

# What SpeechBrain logs on import where torchvision is not installed.
IMPORT_NOTICES = ("torchvision is not available - cannot save figures",)


def run_script(script, *args):
    """Runs ``python script args``; returns the ``CompletedProcess``."""
    return subprocess.run(
        [sys.executable, script, *map(str, args)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )


def error_lines(result):
    """Its stderr lines, less SpeechBrain's import-time notices."""
    return [
        line
        for line in result.stderr.splitlines()
        if line.strip() and line.strip() not in IMPORT_NOTICES
    ]
