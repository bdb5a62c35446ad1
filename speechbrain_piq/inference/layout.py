"""Reads both hub layouts into the four modules the interpreter runs.

Our exports name the modules ``compute_features``, ``audio_classifier``,
``psi`` and ``compute_istft``. Upstream's ``speechbrain/PIQ-ESC50`` names
``compute_stft``, ``embedding_model``, ``classifier``, ``psi`` and
``compute_istft`` and keeps ``spec_mag_power`` in the hparams; it is mapped
onto the same four so that one code path serves both.
"""

import os

from speechbrain_piq.classifiers import Conv2dAudioClassifier
from speechbrain_piq.features import LogPowerSpectrogram

REQUIRED_HPARAMS = ("sample_rate", "label_encoder")

# Upstream's interface also accepts use_vq: False (decode without the
# dictionary) and use_mask_output: False (softplus reconstruction); PIQ as
# trained here always quantizes and explains with a sigmoid mask.
SUPPORTED_SWITCHES = ("use_vq", "use_mask_output")


def interpreter_modules(modules, hparams, origin):
    """Maps a loaded hub yaml (ours or upstream's) onto the interpreter's
    modules, or raises a ``ValueError`` naming what is missing.

    Arguments
    ---------
    modules : dict
        The yaml's ``modules``.
    hparams : dict
        The loaded yaml, with the label encoder already filled by the
        ``Pretrainer``.
    origin : str
        Where the yaml came from, for error messages.

    Returns
    -------
    dict
        ``compute_features``, ``audio_classifier``, ``psi`` and
        ``compute_istft`` (plus the yaml's other modules).

    Example
    -------
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    >>> from speechbrain.processing.features import ISTFT, STFT
    >>> from speechbrain_piq.lobes.models.PIQ import (
    ...     Conv2dEncoder_v2, VectorQuantizedPSI_Audio,
    ... )
    >>> upstream_modules = {
    ...     "compute_stft": STFT(sample_rate=16000, n_fft=1024),
    ...     "compute_istft": ISTFT(sample_rate=16000, n_fft=1024),
    ...     "embedding_model": Conv2dEncoder_v2(dim=8),
    ...     "classifier": Classifier(input_size=8, out_neurons=2),
    ...     "psi": VectorQuantizedPSI_Audio(dim=8, K=4, numclasses=2),
    ... }
    >>> encoder = CategoricalEncoder()
    >>> encoder.update_from_iterable(["dog", "rain"])
    >>> hparams = {"sample_rate": 16000, "label_encoder": encoder,
    ...            "spec_mag_power": 0.5, "use_vq": True}
    >>> modules = interpreter_modules(upstream_modules, hparams, "here")
    >>> type(modules["audio_classifier"]).__name__
    'Conv2dAudioClassifier'
    """
    for name in REQUIRED_HPARAMS:
        if name not in hparams:
            raise ValueError(
                f"{origin} has no '{name}' entry; a PIQ hub yaml defines "
                f"{list(REQUIRED_HPARAMS)} (export a training run with "
                "'speechbrain-piq export RUN_DIR OUT_DIR' to get one)"
            )
    for name in SUPPORTED_SWITCHES:
        if not hparams.get(name, True):
            raise ValueError(
                f"{origin} sets {name}: False, which speechbrain-piq does "
                f"not support; PIQ explains with a vector-quantized sigmoid "
                f"mask: set {name}: True"
            )
    modules = dict(modules or {})
    if "compute_features" not in modules:
        modules["compute_features"] = _features_from_stft(
            modules, hparams, origin
        )
    if "audio_classifier" not in modules:
        modules["audio_classifier"] = _classifier_from_parts(modules, origin)
    for name in ("psi", "compute_istft"):
        if name not in modules:
            raise ValueError(
                f"{origin} has no '{name}' in its modules; add it (see "
                "the hyperparams.yaml that 'speechbrain-piq export' writes)"
            )
    _check_class_count(modules["audio_classifier"], hparams, origin)
    return modules


def _features_from_stft(modules, hparams, origin):
    """Upstream layout: the yaml's STFT inside a ``LogPowerSpectrogram``."""
    if "compute_stft" not in modules or "spec_mag_power" not in hparams:
        raise ValueError(
            f"{origin} defines neither a 'compute_features' module nor "
            "upstream's 'compute_stft' module with a 'spec_mag_power' "
            "hparam; add compute_features: !new:"
            "speechbrain_piq.features.LogPowerSpectrogram"
        )
    features = LogPowerSpectrogram(spec_mag_power=hparams["spec_mag_power"])
    # The yaml's STFT, not our default one, so that any window or hop it
    # sets is honoured.
    features.compute_stft = modules["compute_stft"]
    return features


def _classifier_from_parts(modules, origin):
    """Upstream layout: ``embedding_model`` + ``classifier`` are conv2d."""
    if "embedding_model" not in modules or "classifier" not in modules:
        raise ValueError(
            f"{origin} defines neither an 'audio_classifier' module nor "
            "upstream's 'embedding_model' and 'classifier' modules; add "
            "audio_classifier: !new:speechbrain_piq.classifiers.* around "
            "them"
        )
    return Conv2dAudioClassifier(
        modules["embedding_model"], modules["classifier"]
    )


def _check_class_count(audio_classifier, hparams, origin):
    """The label encoder must name every class the classifier scores."""
    n_labels = len(hparams["label_encoder"])
    if n_labels == 0:
        _explain_empty_label_encoder(hparams, origin)
    n_classes = audio_classifier.n_classes
    if n_labels != n_classes:
        raise ValueError(
            f"{origin}: the classifier has {n_classes} outputs but the "
            f"label encoder (label_encoder.txt) lists {n_labels} classes; "
            "publish the label_encoder.txt of the run that trained this "
            "classifier"
        )


def _explain_empty_label_encoder(hparams, origin):
    """Raises the error that says why the label encoder lists no class.

    SpeechBrain's default hook for the label encoder (upstream's yaml,
    exports older than :func:`speechbrain_piq.inference.loading.
    load_label_encoder`) silently leaves it empty when its file is missing
    or unreadable.
    """
    fix = (
        "publish the label_encoder.txt of the run that trained the "
        "classifier (speechbrain-piq export writes it)"
    )
    paths = getattr(hparams.get("pretrainer"), "paths", {})
    path = paths.get("label_encoder")
    if path is None:
        raise ValueError(f"{origin}: the label encoder lists no class; {fix}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing; {fix}")
    raise ValueError(f"{path} lists no class: it is empty or damaged; {fix}")
