"""Entries that let SpeechBrain's own ``PIQAudioInterpreter`` load an export.

``speechbrain.inference.interpretability.PIQAudioInterpreter`` computes the
features from a ``compute_stft`` module and a ``spec_mag_power`` hparam,
feeds them to the ``embedding_model`` module, mean-pools its output into the
``classifier`` module, and reads ``use_vq`` and ``use_mask_output``. It
cannot resize a spectrogram into an image backbone, so only exports of a
conv2d classifier get these entries.
"""

import inspect

from speechbrain_piq.features import LogPowerSpectrogram

# audio_classifier tags whose backbone upstream's interface runs.
UPSTREAM_RUNNABLE = (
    "!new:speechbrain_piq.classifiers.Conv2dAudioClassifier",
    "!new:speechbrain_piq.classifiers.conv2d.Conv2dAudioClassifier",
)
# The modules it reads beside ours (psi and compute_istft are shared).
UPSTREAM_MODULES = ("compute_stft", "embedding_model", "classifier")
STFT_ARGS = ("sample_rate", "n_fft", "hop_length", "win_length")

ENTRIES = """
# For SpeechBrain's own PIQAudioInterpreter
# (speechbrain.inference.interpretability), which computes the features and
# runs the classifier's two modules itself.
spec_mag_power: {spec_mag_power}
use_vq: True
use_mask_output: True
compute_stft: !new:speechbrain.processing.features.STFT
{stft_args}
"""


def upstream_interface_entries(tree):
    r"""The yaml text that upstream's interface needs, or ``""``.

    Arguments
    ---------
    tree : ruamel.yaml.comments.CommentedMap
        The training yaml, references resolved
        (:func:`speechbrain_piq.inference.hub_hparams.training_tree`).

    Returns
    -------
    entries : str
        ``spec_mag_power``, ``use_vq``, ``use_mask_output`` and
        ``compute_stft`` (matching ``compute_features``); empty when the
        classifier is not conv2d or the features are not a
        ``LogPowerSpectrogram``.
    modules : tuple of str
        The entries to add to ``modules`` (empty with ``entries``).

    Example
    -------
    >>> import ruamel.yaml
    >>> tree = ruamel.yaml.YAML().load(
    ...     "compute_features: !new:speechbrain_piq.features."
    ...     "LogPowerSpectrogram\n  n_fft: 512\n"
    ...     "audio_classifier: !new:speechbrain_piq.classifiers."
    ...     "Conv2dAudioClassifier\n  classifier: null\n"
    ... )
    >>> entries, modules = upstream_interface_entries(tree)
    >>> print(entries.splitlines()[-3])
        n_fft: 512
    >>> modules
    ('compute_stft', 'embedding_model', 'classifier')
    """
    if _tag(tree.get("audio_classifier")) not in UPSTREAM_RUNNABLE:
        return "", ()
    features = tree.get("compute_features")
    if _tag(features) != "!new:speechbrain_piq.features.LogPowerSpectrogram":
        return "", ()
    defaults = inspect.signature(LogPowerSpectrogram).parameters
    arguments = features if isinstance(features, dict) else {}

    def value(name):
        return arguments.get(name, defaults[name].default)

    stft_args = "\n".join(f"    {name}: {value(name)}" for name in STFT_ARGS)
    entries = ENTRIES.format(
        spec_mag_power=value("spec_mag_power"), stft_args=stft_args
    )
    return entries, UPSTREAM_MODULES


def _tag(node):
    """The ``!new:...`` tag of a yaml node, or None."""
    return getattr(getattr(node, "tag", None), "value", None)
