"""Installs speechbrain-piq: ``pip install -e .`` (``.[dev]`` for tests)."""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "README.md"), encoding="utf-8") as readme:
    long_description = readme.read()

setup(
    name="speechbrain-piq",
    version="0.2.0",
    description=(
        "Posthoc Interpretation via Quantization (PIQ) for audio "
        "classifiers, as a SpeechBrain lobe and recipe"
    ),
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["speechbrain_piq", "speechbrain_piq.*"]),
    python_requires=">=3.9",
    install_requires=[
        "speechbrain>=1.1",
        "torch>=2.1",
        "torchaudio>=2.1",
        "hyperpyyaml>=1.2",
        "pandas>=1.5",
        "scipy>=1.8",
        "soundfile>=0.12",
        "matplotlib>=3.5",
        "transformers>=4.40",
        "huggingface_hub>=0.34",
        "captum>=0.7",
    ],
    extras_require={
        "dev": ["pytest>=7", "ruff>=0.4", "quantus>=0.6,<0.7"],
        "tensorboard": ["tensorboard"],
    },
    entry_points={
        "console_scripts": ["speechbrain-piq=speechbrain_piq.cli:main"],
    },
)
