"""The frozen audio classifiers PIQ explains, behind one interface.

``audio_classifier(logpower) -> ClassifierOutput(representation, embedding,
logits)`` whatever the backbone; each backbone is a small adapter selected in
the hparams (``Conv2dAudioClassifier``, ``ViTAudioClassifier``,
``FocalNetAudioClassifier``) around the ``embedding_model`` and ``classifier``
modules that SpeechBrain's ``Pretrainer`` loads.
"""

from speechbrain_piq.classifiers.base import AudioClassifier, check_num_classes
from speechbrain_piq.classifiers.conv2d import Conv2dAudioClassifier
from speechbrain_piq.classifiers.focalnet import FocalNetAudioClassifier
from speechbrain_piq.classifiers.output import ClassifierOutput
from speechbrain_piq.classifiers.pretrained import (
    load_pretrained_classifier,
    save_pretrained_classifier,
)
from speechbrain_piq.classifiers.vit import ViTAudioClassifier

__all__ = [
    "AudioClassifier",
    "ClassifierOutput",
    "Conv2dAudioClassifier",
    "FocalNetAudioClassifier",
    "ViTAudioClassifier",
    "check_num_classes",
    "load_pretrained_classifier",
    "save_pretrained_classifier",
]
