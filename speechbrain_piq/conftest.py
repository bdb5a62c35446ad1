"""Doctest namespace: every example may use ``torch`` without importing."""

import pytest
import torch


@pytest.fixture(autouse=True)
def add_torch(doctest_namespace):
    """Expose ``torch`` to doctests, as SpeechBrain's own doctests do."""
    doctest_namespace["torch"] = torch
