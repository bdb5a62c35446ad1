"""Evaluation: the interpreter against baseline explanations, one table.

``speechbrain-piq evaluate`` (``command``) runs ``evaluate`` (``run``) on
clips from ``data`` (an ESC-50-layout fold or a manifest, such as the
real-audio mixtures of ``mixtures``), maps them with every method of
``methods`` and scores the maps with ``scores``; ``report`` and ``figure``
write the table and the picture. See ``docs/evaluation.md``.
"""
