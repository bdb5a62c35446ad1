"""The README (HuggingFace model card) of an exported interpreter."""

import math
import string

CARD = string.Template("""\
---
library_name: speechbrain
pipeline_tag: audio-classification
license: apache-2.0
tags:
- speechbrain
- speechbrain-piq
- interpretability
- PIQ
- audio-classification
---

# PIQ interpreter for an audio classifier

A [PIQ](https://arxiv.org/abs/2303.12659) (Posthoc Interpretation via
Quantization) interpreter together with the audio classifier it explains,
trained and exported with speechbrain-piq. For each clip it predicts a class
and returns a time-frequency mask over the log-power spectrogram showing what
the classifier relied on, and the masked audio to listen to.

- Classifier: $classifier, $n_classes classes
- Interpreter: $psi
- Sample rate: $sample_rate Hz (other rates are resampled, channels are
  averaged)

## Test metrics

$metrics

Input fidelity (`fid_in`) is the fraction of test clips whose masked-in
spectrogram keeps the classifier's prediction; see the speechbrain-piq README
for every metric.

## Classes

$classes

## Use it

```bash
pip install speechbrain-piq  # or `pip install -e .` in a clone of its repository
```

```python
from speechbrain_piq.inference import PIQAudioInterpreter

interpreter = PIQAudioInterpreter.from_hparams(source="$source")
result = interpreter.interpret_file("clip.wav")
print(result.label, result.probability)
result.save("out/clip")  # interpretation.wav and interpretation.png
```

From the command line:

```bash
speechbrain-piq interpret clip.wav --source $source --out out/
```

## Files

- `hyperparams.yaml`: builds the features, classifier, interpreter and the
  `Pretrainer` that loads the files below
- `embedding_model.ckpt`, `classifier.ckpt`: the classifier
- `psi.ckpt`: the PIQ interpreter
- `label_encoder.txt`: class names

## Citation

```bibtex
@article{paissan2023posthoc,
  title={Posthoc Interpretation via Quantization},
  author={Paissan, Francesco and Subakan, Cem and Ravanelli, Mirco},
  journal={arXiv preprint arXiv:2303.12659},
  year={2023}
}
```
""")


def model_card(source, classes, sample_rate, components, metrics):
    """Writes the model card text.

    Arguments
    ---------
    source : str
        What users pass to ``from_hparams`` (the repo id, or the folder).
    classes : list of str
        Class names, by class index.
    sample_rate : int
        The model's sample rate, in Hz.
    components : dict
        ``{"classifier": description, "psi": description}``.
    metrics : dict
        Test metric name -> value (empty when the run has none).

    Returns
    -------
    str
        Markdown with HuggingFace metadata.

    Example
    -------
    >>> card = model_card(
    ...     "me/piq-esc10",
    ...     ["dog", "rain"],
    ...     16000,
    ...     {"classifier": "Conv2dEncoder_v2 + Classifier", "psi": "PSI"},
    ...     {"fid_in": 0.8125, "loss": 1.23456789},
    ... )
    >>> print(card[card.index("| metric"):].splitlines()[:4])
    ['| metric | value |', '| --- | --- |', '| fid_in | 0.8125 |', '| loss | 1.235 |']
    >>> 'source="me/piq-esc10"' in card
    True
    """
    return CARD.substitute(
        source=source,
        classifier=components["classifier"],
        psi=components["psi"],
        n_classes=len(classes),
        sample_rate=sample_rate,
        metrics=metrics_table(metrics),
        classes=", ".join(classes),
    )


def metrics_table(metrics):
    """A Markdown table of metrics, four significant digits.

    Arguments
    ---------
    metrics : dict
        Metric name -> number.

    Returns
    -------
    str

    Example
    -------
    >>> print(metrics_table({}))
    No test metrics were found in the training run.
    """
    if not metrics:
        return "No test metrics were found in the training run."
    rows = ["| metric | value |", "| --- | --- |"]
    for name, value in metrics.items():
        rows.append(f"| {name} | {_format_number(value)} |")
    return "\n".join(rows)


def _format_number(value):
    """Integers as they are, other numbers with four significant digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"
