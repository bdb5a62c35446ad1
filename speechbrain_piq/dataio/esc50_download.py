"""Find the ESC-50 dataset in a folder, or download and unpack it there."""

import os
import shutil
import zipfile

from speechbrain.utils.data_utils import download_file
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

ESC50_URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
METADATA_FILE = os.path.join("meta", "esc50.csv")
AUDIO_FOLDER = "audio"


def esc50_paths(data_folder):
    """Return the metadata file and audio folder of an ESC-50 folder.

    Arguments
    ---------
    data_folder : str
        An ``ESC-50-master`` folder.

    Returns
    -------
    metadata_file : str
        ``data_folder/meta/esc50.csv``.
    audio_folder : str
        ``data_folder/audio``.

    Example
    -------
    >>> esc50_paths("ESC-50-master")
    ('ESC-50-master/meta/esc50.csv', 'ESC-50-master/audio')
    """
    return (
        os.path.join(data_folder, METADATA_FILE),
        os.path.join(data_folder, AUDIO_FOLDER),
    )


def check_esc50_folder(data_folder):
    """Raise a clear error unless ``data_folder`` holds ESC-50.

    Arguments
    ---------
    data_folder : str
        Folder that should contain ``meta/esc50.csv`` and ``audio/``.

    Raises
    ------
    FileNotFoundError
        Naming the missing path and what the folder must contain.

    Example
    -------
    >>> check_esc50_folder(str(getfixture("tmpdir")))
    Traceback (most recent call last):
      ...
    FileNotFoundError: ESC-50 metadata file not found: ...
    """
    metadata_file, audio_folder = esc50_paths(data_folder)
    layout = (
        "data_folder must be an ESC-50-master folder containing "
        "meta/esc50.csv and audio/*.wav (unzip "
        f"{ESC50_URL} and point data_folder at ESC-50-master)"
    )
    if not os.path.isfile(metadata_file):
        raise FileNotFoundError(
            f"ESC-50 metadata file not found: {metadata_file}. {layout}."
        )
    if not os.path.isdir(audio_folder):
        raise FileNotFoundError(
            f"ESC-50 audio folder not found: {audio_folder}. {layout}."
        )


def is_empty_folder(data_folder):
    """Return True when ``data_folder`` is missing or has nothing in it.

    Arguments
    ---------
    data_folder : str
        Any path.

    Returns
    -------
    bool
        Whether downloading into ``data_folder`` can overwrite nothing.

    Example
    -------
    >>> is_empty_folder(str(getfixture("tmpdir") / "nowhere"))
    True
    """
    return not os.path.isdir(data_folder) or not os.listdir(data_folder)


def download_esc50(data_folder, url=ESC50_URL):
    """Download the ESC-50 archive and unpack it into ``data_folder``.

    Afterwards ``data_folder`` itself is the ``ESC-50-master`` folder
    (``data_folder/audio``, ``data_folder/meta``); the archive is deleted.
    Uses ``speechbrain.utils.data_utils.download_file`` (progress bar, DDP
    barriers); call it on the main process only (``run_on_main``).

    Arguments
    ---------
    data_folder : str
        Folder to fill; it must be missing or empty.
    url : str
        Where the archive is: an http(s) URL, or a local path to the zip
        (for machines without internet, or tests).

    Raises
    ------
    ConnectionError
        When the download fails, saying where to put the data by hand.
    ValueError
        When the archive is not a zip holding ``meta/esc50.csv``.

    Example
    -------
    >>> download_esc50(
    ...     str(getfixture("tmpdir") / "ESC-50"), url="/no/such/archive.zip"
    ... )
    Traceback (most recent call last):
      ...
    ConnectionError: Could not get the ESC-50 archive from /no/such/...
    """
    os.makedirs(data_folder, exist_ok=True)
    archive = os.path.join(data_folder, "ESC-50-master.zip")
    unpack_folder = os.path.join(data_folder, ".esc50_unpack")
    try:
        download_file(url, archive, replace_existing=True)
    except OSError as error:
        _remove(archive)
        raise ConnectionError(
            f"Could not get the ESC-50 archive from {url} ({error}). "
            f"Without internet access, download {ESC50_URL} on another "
            "machine, unzip it, and either point data_folder at the "
            f"ESC-50-master folder or copy its audio/ and meta/ into "
            f"{data_folder}."
        ) from error
    try:
        logger.info(f"Unpacking {archive} into {data_folder}")
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(unpack_folder)
        dataset_root = _find_dataset_root(unpack_folder)
        if dataset_root is None:
            raise ValueError(
                f"The archive from {url} holds no {METADATA_FILE}; "
                "it is not the ESC-50 dataset."
            )
        for name in os.listdir(dataset_root):
            shutil.move(os.path.join(dataset_root, name), data_folder)
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"The archive from {url} is not a valid zip ({error}); "
            "delete it and download again."
        ) from error
    finally:
        _remove(archive)
        shutil.rmtree(unpack_folder, ignore_errors=True)
    logger.info(f"ESC-50 is ready in {data_folder}")


def _find_dataset_root(unpack_folder):
    """Return the folder holding ``meta/esc50.csv``: the unpack folder
    itself or one level below (GitHub archives add ``ESC-50-master/``)."""
    candidates = [unpack_folder] + [
        os.path.join(unpack_folder, name)
        for name in sorted(os.listdir(unpack_folder))
    ]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, METADATA_FILE)):
            return candidate
    return None


def _remove(path):
    """Delete a file if it exists."""
    if os.path.isfile(path):
        os.remove(path)
