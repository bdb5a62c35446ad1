"""Interpret audio with a trained PIQ interpreter from the hub or a folder.

A SpeechBrain ``Pretrained`` interface, like upstream's
``speechbrain.inference.interpretability.PIQAudioInterpreter``, that runs
the same :func:`speechbrain_piq.interpretation.interpret` pass as training,
so what was trained is exactly what is served. It loads our exports and
upstream's ``speechbrain/PIQ-ESC50`` layout alike.
"""

import numbers
import os

import torch
from speechbrain.dataio import audio_io
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.logger import get_logger

from speechbrain_piq.dataio.clips import (
    MonoResampler,
    all_finite,
    peak_normalize,
)
from speechbrain_piq.inference.batching import same_length_groups, split_batch
from speechbrain_piq.inference.layout import interpreter_modules
from speechbrain_piq.inference.result import InterpretationResult
from speechbrain_piq.inference.source import (
    fetch_hparams,
    hparams_keys,
    resolve_source,
)
from speechbrain_piq.inference.windows import (
    MaskBlender,
    resynthesize_in_chunks,
    window_starts,
)
from speechbrain_piq.interpretation import (
    interpret,
    masked_spectrograms,
    spectrogram_to_waveform,
)
from speechbrain_piq.plotting import SpectrogramGrid

logger = get_logger(__name__)

# Length of the classifier's training clips when the yaml does not say:
# the recipes' and upstream's PIQ-ESC50's ESC-50 clips.
DEFAULT_CLIP_SECONDS = 5.0
# Windows of a long clip interpreted in one pass, when the yaml does not
# say: memory grows with it, speed barely (see docs/inference.md).
DEFAULT_WINDOW_BATCH_SIZE = 4

# What torch says when a clip is too short for a convolution or pooling of
# the classifier; other failures (device, dtype, memory) keep their message.
TOO_SHORT_FAILURES = (
    "Kernel size can't be greater than actual input size",
    "Output size is too small",
)


def channels_last_pays(device):
    """Whether channels-last weights speed up interpretation.

    Measured with ``python bench/latency_parts.py --device cpu`` (README,
    Performance): on the CPU, channels-last makes PSI 1.6x faster for
    conv2d, 1.5x for ViT and 1.6x for FocalNet (whose decoder was slower
    that way until its mask head, ``MaskHeadConvTranspose2d``, stopped
    using ``conv_transpose2d`` there); GPUs are not measured yet.

    Arguments
    ---------
    device : str or torch.device
        Where the interpreter runs.

    Returns
    -------
    bool

    Example
    -------
    >>> channels_last_pays("cpu"), channels_last_pays("cuda:0")
    (True, False)
    """
    return torch.device(device).type == "cpu"


class PIQAudioInterpreter(Pretrained):
    """Explains an audio classifier's predictions with a trained PIQ.

    Load it with :meth:`from_hparams` from a hub repo id or a local folder
    holding ``hyperparams.yaml`` (with a ``pretrainer`` and ``modules``),
    the checkpoints and ``label_encoder.txt``, as written by
    :func:`speechbrain_piq.inference.export.export_run`.

    Unlike upstream's interface, which returns the waveform and label of a
    batch, every method returns one :class:`InterpretationResult` per clip
    (waveform, mask, label, probability, sample rate), since clips of a
    batch can differ in length.

    Arguments
    ---------
    modules : dict
        From the yaml's ``modules`` (see ``speechbrain_piq.inference.layout``
        for the two accepted layouts).
    hparams : dict
        The loaded yaml; needs ``sample_rate`` and ``label_encoder``.
        An optional ``logit_scale`` multiplies the classifier's scores
        before the softmax that gives ``probability``: ECAPA heads score
        with cosines in [-1, 1] and are trained with a scale (upstream:
        ``AdditiveAngularMargin(scale=30)``), so ``logit_scale: 30``
        gives their training-time probabilities. Default 1.
        ``clip_seconds`` (default 5) is the length of the classifier's
        training clips: longer clips are interpreted in overlapping
        windows of that length, ``window_batch_size`` (default 4) at a
        time (see :meth:`interpret_batch`).
    origin : str
        Where the yaml came from, named in error messages.
    channels_last : bool, optional
        Hold the PSI and classifier weights in channels-last memory format:
        the same results (to float32 rounding), faster convolutions on the
        CPU. Default (None): True on the CPU, False on other devices (see
        :func:`channels_last_pays`).
    **kwargs : dict
        Forwarded to ``Pretrained`` (``run_opts``, ``freeze_params``).

    Example
    -------
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    >>> from speechbrain.processing.features import ISTFT
    >>> from speechbrain_piq.classifiers import Conv2dAudioClassifier
    >>> from speechbrain_piq.features import LogPowerSpectrogram
    >>> from speechbrain_piq.lobes.models.PIQ import (
    ...     Conv2dEncoder_v2, VectorQuantizedPSI_Audio,
    ... )
    >>> encoder = CategoricalEncoder()
    >>> encoder.update_from_iterable(["dog", "rain", "siren"])
    >>> modules = {
    ...     "compute_features": LogPowerSpectrogram(),
    ...     "compute_istft": ISTFT(
    ...         sample_rate=16000, hop_length=11.6099, win_length=23.2199
    ...     ),
    ...     "audio_classifier": Conv2dAudioClassifier(
    ...         Conv2dEncoder_v2(dim=8), Classifier(input_size=8, out_neurons=3)
    ...     ),
    ...     "psi": VectorQuantizedPSI_Audio(dim=8, K=6, numclasses=3),
    ... }
    >>> interpreter = PIQAudioInterpreter(
    ...     modules=modules,
    ...     hparams={"sample_rate": 16000, "label_encoder": encoder},
    ...     run_opts={"device": "cpu"},
    ... )
    >>> results = interpreter.interpret_batch(
    ...     torch.randn(2, 16000), wav_lens=torch.tensor([1.0, 0.6])
    ... )
    >>> [tuple(result.mask.shape) for result in results]
    [(65, 513), (33, 513)]
    """

    def __init__(
        self,
        modules=None,
        hparams=None,
        origin=None,
        channels_last=None,
        **kwargs,
    ):
        self.origin = origin or "the interpreter's hparams"
        modules = interpreter_modules(modules, hparams, self.origin)
        super().__init__(modules=modules, hparams=hparams, **kwargs)
        if channels_last is None:
            channels_last = channels_last_pays(self.device)
        if channels_last:
            for name in ("psi", "audio_classifier"):
                self.mods[name].to(memory_format=torch.channels_last)
        self.sample_rate = int(self.hparams.sample_rate)
        self.to_mono_at_rate = MonoResampler(self.sample_rate)
        clip_seconds = getattr(self.hparams, "clip_seconds", None)
        self.window_samples = round(
            float(clip_seconds or DEFAULT_CLIP_SECONDS) * self.sample_rate
        )
        self.window_batch_size = int(
            getattr(self.hparams, "window_batch_size", None)
            or DEFAULT_WINDOW_BATCH_SIZE
        )

    @classmethod
    def from_hparams(
        cls,
        source,
        hparams_file="hyperparams.yaml",
        overrides=None,
        savedir=None,
        **kwargs,
    ):
        """Loads an interpreter from a hub repo id or a local folder.

        When the yaml defines ``pretrained_path`` (where its ``Pretrainer``
        finds the checkpoints), it is set to ``source``, so a folder copied
        from the hub, or an export loaded before it is published, reads its
        own files.

        Arguments
        ---------
        source : str or os.PathLike
            Hub repo id (``owner/name``) or local folder.
        hparams_file : str
            Name of the yaml inside ``source``.
        overrides : dict, optional
            Changes to the yaml, as for ``load_hyperpyyaml``.
        savedir : str or os.PathLike, optional
            Where the files are collected (links to the hub cache or to
            ``source``); by default they are used where they are.
        **kwargs : dict
            Forwarded to ``speechbrain.inference.interfaces.
            pretrained_from_hparams`` (``run_opts``, ``fetch_config``...).

        Returns
        -------
        PIQAudioInterpreter

        Raises
        ------
        FileNotFoundError
            If ``source`` is no folder or repo id, or lacks the yaml or a
            file the yaml names.
        ValueError
            If the yaml is damaged or lacks a module, or a checkpoint or
            ``label_encoder.txt`` is damaged or does not fit it.
        """
        source = resolve_source(source)
        fetch_options = {
            key: kwargs[key]
            for key in ("local_strategy", "fetch_config")
            if key in kwargs
        }
        hparams_path = fetch_hparams(
            source, hparams_file, savedir, **fetch_options
        )
        keys = hparams_keys(hparams_path)
        overrides = dict(overrides or {})
        if "pretrained_path" not in overrides and "pretrained_path" in keys:
            overrides["pretrained_path"] = source
        try:
            return super().from_hparams(
                source,
                hparams_file=hparams_file,
                overrides=overrides,
                savedir=savedir,
                origin=f"{source}/{hparams_file}",
                **kwargs,
            )
        except KeyError as error:
            # SpeechBrain's own label encoder hook (upstream's yaml) fails
            # so on an empty or cut label_encoder.txt.
            if error.args != ("starting_index",):
                raise
            raise ValueError(
                f"{source}: its label_encoder.txt could not be read "
                "(KeyError: 'starting_index'): the file is empty or "
                "truncated; publish the label_encoder.txt of the run that "
                "trained the classifier (speechbrain-piq export writes it)"
            ) from error

    def read_clip(self, path):
        """Reads an audio file as the model hears it.

        Any format soundfile reads; channels are averaged, the signal is
        resampled to the model's rate and peak-normalised as the training
        clips were (``speechbrain_piq.dataio.clips``). Its length is kept.

        Arguments
        ---------
        path : str or os.PathLike
            Audio file.

        Returns
        -------
        torch.Tensor
            ``[samples]`` float32 waveform at ``self.sample_rate``.

        Raises
        ------
        FileNotFoundError
            If ``path`` is not a file.
        ValueError
            If it is not readable audio or holds no samples.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such audio file")
        try:
            signal, file_rate = audio_io.load(path, dtype=torch.float32)
        except RuntimeError as error:
            # soundfile's message repeats the path; keep only its reason.
            reason = str(error).rsplit(": ", 1)[-1].strip().rstrip(".")
            raise ValueError(
                f"{path} is not readable audio ({reason}); give a file "
                "soundfile reads, e.g. WAV, FLAC or OGG"
            ) from error
        if signal.numel() == 0:
            raise ValueError(f"{path} holds no audio samples (empty file)")
        if not all_finite(signal):
            logger.warning(f"{path}: non-finite samples set to 0")
            signal = torch.nan_to_num(signal, nan=0.0, posinf=0.0, neginf=0.0)
        return peak_normalize(self.to_mono_at_rate(signal, file_rate))

    def interpret_file(self, path):
        """Classifies an audio file and explains the prediction.

        Arguments
        ---------
        path : str or os.PathLike
            Audio file at any sample rate and channel count (see
            :meth:`read_clip`).

        Returns
        -------
        InterpretationResult
        """
        clip = self.read_clip(path)
        try:
            return self.interpret_batch(clip.unsqueeze(0))[0]
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    def interpret_batch(self, wavs, wav_lens=None, sample_rate=None):
        """Classifies a batch of clips and explains each prediction.

        Each clip is trimmed to its length (``wav_lens``) and clips of the
        same length run together, so a clip's result equals interpreting
        it alone: padding never reaches the classifier.

        A clip longer than the classifier's training clips
        (``clip_seconds``) is interpreted in overlapping windows of that
        length, ``window_batch_size`` at a time, so memory does not grow
        with the clip beyond its full-length outputs
        (``speechbrain_piq.inference.windows``). Its label is the class
        with the highest probability averaged over the windows, and that
        probability its ``probability``; every window's mask explains
        that class, and the masks are blended into one mask over the
        whole clip, which gives one interpretation waveform.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, time]``, ``[batch, time, channels]`` (averaged) or a
            single ``[time]`` waveform.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths in (0, 1], as SpeechBrain pads
            batches; all 1 when omitted.
        sample_rate : int, optional
            Rate of ``wavs`` (Hz) when it is not the model's; clips are
            then resampled.

        Returns
        -------
        list of InterpretationResult
            One per clip, in order.

        Raises
        ------
        ValueError
            For empty or non-finite clips, bad ``wav_lens`` or
            ``sample_rate``, or clips too short for the classifier.
        """
        if sample_rate is not None:
            _check_sample_rate(sample_rate)
        clips = split_batch(wavs, wav_lens)
        if sample_rate is not None and sample_rate != self.sample_rate:
            clips = [
                self.to_mono_at_rate(clip.unsqueeze(0), sample_rate)
                for clip in clips
            ]
        results = [None] * len(clips)
        for indices in same_length_groups(clips):
            if clips[indices[0]].shape[0] > self.window_samples:
                for index in indices:
                    results[index] = self._interpret_long_clip(clips[index])
                continue
            batch = torch.stack([clips[index] for index in indices])
            for index, result in zip(indices, self._interpret_clips(batch)):
                results[index] = result
        return results

    def forward(self, wavs, wav_lens=None):
        """Same as :meth:`interpret_batch`."""
        return self.interpret_batch(wavs, wav_lens)

    @torch.no_grad()
    def _interpret_clips(self, wavs):
        """Interprets ``[batch, time]`` clips of equal length."""
        wavs = wavs.to(self.device)
        try:
            with self.inference_ctx:
                found = interpret(
                    self.mods.compute_features,
                    self.mods.audio_classifier,
                    self.mods.psi,
                    wavs,
                )
        except RuntimeError as error:
            first_line = (str(error).splitlines() or [""])[0]
            if not any(failure in first_line for failure in TOO_SHORT_FAILURES):
                raise
            seconds = wavs.shape[1] / self.sample_rate
            raise ValueError(
                f"could not interpret a {seconds:.3f} s clip ({first_line});"
                " clips much shorter than the classifier's training clips "
                "are too short for its convolutions: use a longer clip"
            ) from error
        mask = found.mask.float()
        logpower = found.logpower.float()
        masked_in, _ = masked_spectrograms(mask, logpower)
        waveforms = spectrogram_to_waveform(
            masked_in, found.stft.float(), self.mods.compute_istft
        )
        probabilities = self._probabilities(found.logits)
        return [
            self._result(
                waveforms[index],
                mask[index],
                logpower[index],
                class_index,
                probabilities[index, class_index],
            )
            for index, class_index in enumerate(found.predicted_class.tolist())
        ]

    @torch.no_grad()
    def _interpret_long_clip(self, clip):
        """Interprets a ``[samples]`` clip longer than a window, window by
        window (see :meth:`interpret_batch`)."""
        frame_hop = self.mods.compute_features.compute_stft.hop_length
        starts = window_starts(clip.shape[0], self.window_samples, frame_hop)
        groups = [
            starts[first : first + self.window_batch_size]
            for first in range(0, len(starts), self.window_batch_size)
        ]

        def windows(group):
            """``[len(group), window_samples]`` windows, on the device."""
            return torch.stack(
                [clip[start : start + self.window_samples] for start in group]
            ).to(self.device)

        summed = 0
        for group in groups:
            with self.inference_ctx:
                logpower, _ = self.mods.compute_features(windows(group))
                _, _, logits = self.mods.audio_classifier(logpower)
            summed = summed + self._probabilities(logits).sum(dim=0)
        probabilities = summed / len(starts)
        class_index = int(probabilities.argmax())

        # The clip's STFT has a frame centred on every multiple of the hop.
        blender = MaskBlender(clip.shape[0] // frame_hop + 1)
        for group in groups:
            target = torch.full((len(group),), class_index, device=self.device)
            with self.inference_ctx:
                found = interpret(
                    self.mods.compute_features,
                    self.mods.audio_classifier,
                    self.mods.psi,
                    windows(group),
                    target=target,
                )
            for start, mask in zip(group, found.mask.float()):
                blender.add(mask, start // frame_hop)
        mask = blender.mask()
        # On the CPU, where the outputs are: the device holds only windows.
        logpower, waveform = resynthesize_in_chunks(
            self.mods.compute_features, self.mods.compute_istft, clip, mask
        )
        return self._result(
            waveform, mask, logpower, class_index, probabilities[class_index]
        )

    def _probabilities(self, logits):
        """``[batch, classes]`` probabilities of the classifier's scores."""
        logit_scale = getattr(self.hparams, "logit_scale", 1.0)
        return (logit_scale * logits.float()).softmax(dim=-1)

    def _result(self, waveform, mask, logpower, class_index, probability):
        """One clip's :class:`InterpretationResult` (on the CPU)."""
        return InterpretationResult(
            interpretation=waveform.cpu(),
            mask=mask.cpu(),
            logpower=logpower.cpu(),
            label=self.hparams.label_encoder.ind2lab[class_index],
            probability=float(probability),
            class_index=class_index,
            sample_rate=self.sample_rate,
            grid=SpectrogramGrid.of_stft(
                self.mods.compute_istft, n_bins=mask.shape[-1]
            ),
        )


def _check_sample_rate(sample_rate):
    """Raises unless ``sample_rate`` is a positive whole number of Hz."""
    if (
        not isinstance(sample_rate, numbers.Integral)
        or isinstance(sample_rate, bool)
        or sample_rate <= 0
    ):
        raise ValueError(
            f"sample_rate must be a positive int (Hz), got {sample_rate!r}; "
            "give the rate the clips were recorded at, e.g. 44100"
        )
