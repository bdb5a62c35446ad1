"""Writes the inference ``hyperparams.yaml`` of an exported interpreter.

The classifier, PSI and features entries are taken from the training run's
own yaml, with every ``!ref`` resolved, so the export builds exactly the
modules that were trained, whatever the backbone; only the loading part
(label encoder, ``modules``, ``pretrainer``) is written here.
"""

import inspect
import io
import os

import ruamel.yaml
from hyperpyyaml import resolve_references
from ruamel.yaml.comments import TaggedScalar

from speechbrain_piq.features import LogPowerSpectrogram
from speechbrain_piq.inference.upstream_interface import (
    upstream_interface_entries,
)

# Entries the training yaml must have.
REQUIRED_KEYS = (
    "sample_rate",
    "compute_features",
    "embedding_model",
    "classifier",
    "audio_classifier",
    "psi",
)
# Entries copied when the training yaml has them, in this order.
WRITE_ORDER = (
    "sample_rate",
    "out_n_neurons",
    "logit_scale",
    "mask_th",
    "clip_seconds",
    "compute_features",
    "compute_istft",
    "embedding_model",
    "classifier",
    "audio_classifier",
    "psi",
)

# Files of an exported interpreter, by Pretrainer loadable.
CHECKPOINT_FILES = {
    "embedding_model": "embedding_model.ckpt",
    "classifier": "classifier.ckpt",
    "psi": "psi.ckpt",
    "label_encoder": "label_encoder.txt",
}

MODULE_CHECKPOINTS = ("embedding_model", "classifier", "psi")
# What the interpreter runs, by ``modules`` entry.
INTERPRETER_MODULES = (
    "compute_features",
    "compute_istft",
    "audio_classifier",
    "psi",
)
CHECKED_LOADER = "speechbrain_piq.inference.loading.load_checkpoint"
LABEL_ENCODER_LOADER = "speechbrain_piq.inference.loading.load_label_encoder"

FEATURES_CLASS = "speechbrain_piq.features.LogPowerSpectrogram"
ISTFT_ARGS = ("sample_rate", "n_fft", "hop_length", "win_length")

HEADER = """\
# ############################################################################
# PIQ interpreter exported by speechbrain-piq from {run_dir}
#
#   from speechbrain_piq.inference import PIQAudioInterpreter
#   interpreter = PIQAudioInterpreter.from_hparams(source="<repo id or folder>")
#   result = interpreter.interpret_file("clip.wav")
#
# pretrained_path is where the Pretrainer below finds the files;
# PIQAudioInterpreter.from_hparams sets it to the source it loads from.
# ############################################################################

"""

LOADING = """
# Class index <-> name, filled from label_encoder.txt
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

modules:
{modules}

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
{loadables}
    paths:
{paths}
    # Missing weights or other shapes are errors, not random layers; a
    # missing or damaged label_encoder.txt is an error, not an empty encoder.
    custom_hooks:
{hooks}
"""


def inference_hparams(training_yaml, pretrained_path):
    r"""The text of the inference yaml for a training run's yaml.

    Arguments
    ---------
    training_yaml : str or os.PathLike
        The run's ``hyperparams.yaml`` (SpeechBrain's copy, overrides
        applied).
    pretrained_path : str
        Default location of the checkpoints (the hub repo id, or the export
        folder).

    Returns
    -------
    str
        HyperPyYAML defining ``sample_rate``, the features, the classifier,
        PSI, ``compute_istft``, ``label_encoder``, ``modules`` and
        ``pretrainer``.

    Raises
    ------
    ValueError
        If the training yaml lacks an entry the interpreter needs.

    Example
    -------
    >>> path = getfixture("tmp_path") / "train.yaml"
    >>> lines = [
    ...     "rate: 16000",
    ...     "sample_rate: !ref <rate>",
    ...     "compute_features: !new:speechbrain_piq.features.LogPowerSpectrogram",
    ...     "    sample_rate: !ref <rate>",
    ...     "embedding_model: !new:torch.nn.Identity",
    ...     "classifier: !new:torch.nn.Linear [4, 2]",
    ...     "audio_classifier: !new:speechbrain_piq.classifiers.AudioClassifier",
    ...     "    embedding_model: !ref <embedding_model>",
    ...     "    classifier: !ref <classifier>",
    ...     "psi: !new:torch.nn.Identity",
    ...     "lr: 0.001",
    ... ]
    >>> _ = path.write_text("\n".join(lines))
    >>> text = inference_hparams(path, "me/my-piq")
    >>> start = text.index("audio_classifier:")
    >>> print(text[start:].splitlines()[1])
      embedding_model: !ref <embedding_model>
    >>> "lr:" in text
    False
    """
    training_yaml = os.fspath(training_yaml)
    tree = training_tree(training_yaml)
    missing = [key for key in REQUIRED_KEYS if key not in tree]
    if missing:
        raise ValueError(
            f"{training_yaml} has no {missing} entries; the interpreter is "
            f"built from {list(REQUIRED_KEYS)}, so export a run of "
            "train_piq.py (or add them to its yaml)"
        )
    selection = ruamel.yaml.comments.CommentedMap()
    selection["pretrained_path"] = str(pretrained_path)
    for key in WRITE_ORDER:
        if key in tree:
            selection[key] = _without_comments(tree[key])
    _refer_to_shared_entries(selection)
    text = io.StringIO()
    dumper = ruamel.yaml.YAML()
    dumper.indent(mapping=4, sequence=4, offset=2)
    dumper.dump(selection, text)
    istft = "" if "compute_istft" in selection else _istft_entry(tree)
    upstream_entries, upstream_modules = upstream_interface_entries(tree)
    return (
        HEADER.format(run_dir=os.path.dirname(os.path.abspath(training_yaml)))
        + text.getvalue()
        + istft
        + upstream_entries
        + _loading_entries(INTERPRETER_MODULES + upstream_modules)
    )


def training_tree(training_yaml):
    r"""The training yaml as a ruamel tree with every ``!ref`` resolved.

    Nothing is built: ``!new:`` entries stay tagged nodes.

    Arguments
    ---------
    training_yaml : str or os.PathLike
        A HyperPyYAML file with no ``!PLACEHOLDER`` left.

    Returns
    -------
    ruamel.yaml.comments.CommentedMap

    Example
    -------
    >>> path = getfixture("tmp_path") / "train.yaml"
    >>> _ = path.write_text("rate: 8000\nsample_rate: !ref <rate> * 2")
    >>> training_tree(path)["sample_rate"]
    16000
    """
    with open(training_yaml, encoding="utf-8") as stream:
        try:
            resolved = resolve_references(stream)
        except ValueError as error:
            raise ValueError(
                f"{training_yaml} cannot be read as HyperPyYAML "
                f"({' '.join(str(error).split())}); export the run folder's "
                "own hyperparams.yaml, which has the overrides filled in"
            ) from error
    return ruamel.yaml.YAML().load(resolved)


def _without_comments(node):
    """``node`` with the training yaml's comments dropped, in place.

    ruamel attaches a comment to the entry above it, so a copied entry
    would carry the heading of whatever followed it in the training yaml.
    """
    if hasattr(node, "ca"):
        node.ca.items.clear()
        node.ca.comment = None
        node.ca.end = None
    children = (
        node.values()
        if isinstance(node, dict)
        else node
        if isinstance(node, list)
        else ()
    )
    for child in children:
        _without_comments(child)
    return node


def _refer_to_shared_entries(selection):
    """Replaces copies of another selected entry with ``!ref <entry>``.

    After resolution, ``audio_classifier``'s ``embedding_model`` is the
    same node as the top-level ``embedding_model``; a ``!ref`` keeps the
    yaml readable and still builds a single shared module. Only mappings,
    sequences and tagged nodes are matched: plain scalars such as small
    ints share identity by coincidence.
    """
    entries = {
        id(node): key
        for key, node in selection.items()
        if isinstance(node, (dict, list, TaggedScalar))
    }

    def replace(node, owner):
        children = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for position, child in list(children):
            name = entries.get(id(child))
            if name is not None and name != owner:
                node[position] = TaggedScalar(f"<{name}>", tag="!ref")
            else:
                replace(child, owner)

    for key, node in selection.items():
        replace(node, key)


def _istft_entry(tree):
    """An ``ISTFT`` matching a ``LogPowerSpectrogram`` features entry."""
    features = tree["compute_features"]
    tag = getattr(getattr(features, "tag", None), "value", None) or ""
    if tag != f"!new:{FEATURES_CLASS}":
        raise ValueError(
            f"compute_features is {tag or features!r}, not {FEATURES_CLASS}, "
            "so its inverse is unknown; add a compute_istft: !new:"
            "speechbrain.processing.features.ISTFT entry to the training yaml"
        )
    defaults = inspect.signature(LogPowerSpectrogram).parameters
    arguments = features if isinstance(features, dict) else {}
    lines = ["compute_istft: !new:speechbrain.processing.features.ISTFT"]
    for name in ISTFT_ARGS:
        value = arguments.get(name, defaults[name].default)
        lines.append(f"    {name}: {value}")
    return "\n".join(lines) + "\n"


def _loading_entries(modules):
    """The label encoder, ``modules`` (those named) and ``pretrainer``
    entries."""
    module_lines = "\n".join(f"    {name}: !ref <{name}>" for name in modules)
    loadables = "\n".join(
        f"        {name}: !ref <{name}>" for name in CHECKPOINT_FILES
    )
    paths = "\n".join(
        f"        {name}: !ref <pretrained_path>/{filename}"
        for name, filename in CHECKPOINT_FILES.items()
    )
    hooks = "\n".join(
        f"        {name}: !name:{CHECKED_LOADER}" for name in MODULE_CHECKPOINTS
    )
    hooks += f"\n        label_encoder: !name:{LABEL_ENCODER_LOADER}"
    return LOADING.format(
        modules=module_lines, loadables=loadables, paths=paths, hooks=hooks
    )
