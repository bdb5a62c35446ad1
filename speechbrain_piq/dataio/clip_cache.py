"""On-disk cache of prepared clips, so that decoding and resampling happen once
per clip instead of once per epoch.

A cached clip is a float WAV named ``{clip_id}.{source_key}.wav`` in a folder
named after the sample rate and clip length. ``source_key`` hashes the source
file's absolute path, size and modification time, so editing or replacing a
source file (or pointing at another data folder) makes its entry stale; the
stale entry is deleted when the fresh one is written.
"""

import glob
import hashlib
import os

import torch
from speechbrain.dataio import audio_io
from speechbrain.utils.logger import get_logger

from speechbrain_piq.dataio.clips import all_finite

logger = get_logger(__name__)


def clip_cache_folder(save_folder, sample_rate, clip_seconds):
    """Return the cache folder for clips of one sample rate and length.

    Arguments
    ---------
    save_folder : str
        The experiment's save folder.
    sample_rate : int
        Sample rate of the cached clips, in Hz.
    clip_seconds : float
        Duration of the cached clips, in seconds.

    Returns
    -------
    str
        ``save_folder/clips_{sample_rate}hz_{clip_seconds}s``.

    Example
    -------
    >>> clip_cache_folder("save", 16000, 5.0)
    'save/clips_16000hz_5s'
    """
    name = f"clips_{int(sample_rate)}hz_{clip_seconds:g}s"
    return os.path.join(save_folder, name)


def source_key(path):
    """Return a short hash identifying the current version of a file.

    Arguments
    ---------
    path : str
        An existing file.

    Returns
    -------
    str
        12 hex digits from the absolute path, size and ``mtime_ns``.

    Example
    -------
    >>> path = getfixture("tmpdir") / "a.txt"
    >>> _ = path.write_text("x", encoding="utf-8")
    >>> len(source_key(str(path)))
    12
    """
    stat = os.stat(path)
    identity = f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha1(identity.encode("utf-8")).hexdigest()[:12]


class ClipCache:
    """Return prepared clips from disk, making and storing them on a miss.

    Writes are atomic (temporary file, then rename), so several DataLoader
    workers or DDP processes may share one cache folder.

    Arguments
    ---------
    folder : str
        Where the clips are stored (see ``clip_cache_folder``).
    sample_rate : int
        Sample rate of the clips, in Hz.
    n_samples : int
        Length of every clip; a cached file of another length is remade.

    Example
    -------
    >>> tmpdir = getfixture("tmpdir")
    >>> source = str(tmpdir / "source.wav")
    >>> audio_io.save(source, torch.zeros(1, 800), 8000)
    >>> cache = ClipCache(str(tmpdir / "clips"), 8000, 800)
    >>> make = lambda: torch.linspace(-1, 1, 800)
    >>> first = cache.fetch("clip1", source, make)
    >>> again = cache.fetch("clip1", source, lambda: torch.zeros(800))
    >>> torch.equal(first, again)
    True
    """

    def __init__(self, folder, sample_rate, n_samples):
        self.folder = folder
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        os.makedirs(folder, exist_ok=True)

    def fetch(self, clip_id, source_path, make_clip):
        """Return the cached clip of ``source_path``, making it if needed.

        Arguments
        ---------
        clip_id : str
            Unique identifier of the clip (the manifest's ``ID``).
        source_path : str
            The audio file the clip is made from.
        make_clip : callable
            Called without arguments on a miss; returns the clip, a float
            tensor of shape ``[n_samples]``.

        Returns
        -------
        torch.Tensor
            The clip, float32, shape ``[n_samples]``.
        """
        cached_path = os.path.join(
            self.folder, f"{clip_id}.{source_key(source_path)}.wav"
        )
        if os.path.isfile(cached_path):
            clip = self._read(cached_path)
            if clip is not None:
                return clip
        clip = make_clip()
        self._write(cached_path, clip)
        self._remove_stale(clip_id, cached_path)
        return clip

    def _read(self, cached_path):
        """Return the cached clip, or None when it is unusable."""
        try:
            clip, _ = audio_io.load(
                cached_path, dtype=torch.float32, always_2d=False
            )
        except RuntimeError as error:
            logger.warning(f"Remaking unreadable cached clip: {error}")
            return None
        if clip.shape != (self.n_samples,):
            logger.warning(
                f"Remaking cached clip {cached_path}: it has shape "
                f"{tuple(clip.shape)}, expected ({self.n_samples},)"
            )
            return None
        if not all_finite(clip):
            # Made by a version whose downmix overflowed on very loud files.
            logger.warning(f"Remaking cached clip {cached_path}: not finite")
            return None
        return clip

    def _write(self, cached_path, clip):
        """Store ``clip`` at ``cached_path`` atomically, losslessly."""
        stem = os.path.basename(cached_path)[: -len(".wav")]
        partial_path = os.path.join(
            self.folder, f".{stem}.{os.getpid()}.partial.wav"
        )
        audio_io.save(
            partial_path, clip.unsqueeze(0), self.sample_rate, subtype="FLOAT"
        )
        os.replace(partial_path, cached_path)

    def _remove_stale(self, clip_id, cached_path):
        """Delete entries of ``clip_id`` made from older source versions."""
        any_key = "[0-9a-f]" * 12
        pattern = os.path.join(
            glob.escape(self.folder), f"{glob.escape(clip_id)}.{any_key}.wav"
        )
        for path in glob.glob(pattern):
            if path != cached_path:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    # Another worker removed it first.
                    pass
