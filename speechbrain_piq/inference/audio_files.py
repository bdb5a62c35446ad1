"""The audio files a command line names: files, folders and glob patterns."""

import glob
import os

# What soundfile (SpeechBrain's audio backend) reads.
AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".opus",
    ".mp3",
    ".aiff",
    ".aif",
    ".au",
)
GLOB_CHARACTERS = "*?["


def is_audio_file(path):
    """Whether ``path`` names a file with an audio extension.

    Arguments
    ---------
    path : str

    Returns
    -------
    bool

    Example
    -------
    >>> is_audio_file("a/Dog.WAV"), is_audio_file("notes.txt")
    (True, False)
    """
    return os.path.splitext(path)[1].lower() in AUDIO_EXTENSIONS


def audio_files(arguments, keep_missing=False):
    """The audio files that files, folders and glob patterns name, in
    order, each once.

    A file is taken whatever its extension (the reader says whether it is
    audio); a folder gives the audio files under it, sub-folders included,
    sorted; a glob pattern (``clips/*.wav``, ``data/**/*.flac``, quoted so
    that the shell leaves it alone) gives the audio files it matches,
    sorted.

    Arguments
    ---------
    arguments : list of str
        Files, folders and patterns.
    keep_missing : bool
        Keep an argument that names nothing, so that the caller reports it
        as a file it could not read, instead of raising.

    Returns
    -------
    list of str
        Absolute paths.

    Raises
    ------
    FileNotFoundError
        If an argument names no file, no folder with audio files, or no
        audio file matches it (unless ``keep_missing``).

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> for name in ("b.wav", "a.flac", "sub/c.wav", "notes.txt"):
    ...     (folder / name).parent.mkdir(exist_ok=True)
    ...     (folder / name).touch()
    >>> found = audio_files([str(folder), str(folder / "*.wav")])
    >>> [os.path.relpath(path, folder) for path in found]
    ['a.flac', 'b.wav', 'sub/c.wav']
    >>> audio_files([str(folder / "*.mp3")])
    Traceback (most recent call last):
    ...
    FileNotFoundError: .../*.mp3: no audio file (.wav, .flac, ...) matches it
    """
    found = {}
    for argument in arguments:
        for path in _expand(argument, keep_missing):
            found.setdefault(os.path.abspath(path), None)
    return list(found)


def _expand(argument, keep_missing):
    """The files one argument names."""
    if os.path.isfile(argument):
        return [argument]
    if os.path.isdir(argument):
        paths = sorted(
            os.path.join(folder, name)
            for folder, _, names in os.walk(argument)
            for name in names
            if is_audio_file(name)
        )
        problem = "no audio file (.wav, .flac, ...) in this folder"
    elif any(character in argument for character in GLOB_CHARACTERS):
        paths = sorted(
            path
            for path in glob.glob(argument, recursive=True)
            if os.path.isfile(path) and is_audio_file(path)
        )
        problem = "no audio file (.wav, .flac, ...) matches it"
    else:
        paths = []
        problem = "no such audio file"
    if paths:
        return paths
    if keep_missing and not os.path.isdir(argument):
        return [argument]
    raise FileNotFoundError(f"{argument}: {problem}")
