"""speechbrain-piq: Posthoc Interpretation via Quantization for audio
classifiers, as a SpeechBrain lobe, an interpreter Brain and a recipe."""

__version__ = "0.2.0"
