"""Training the interpreter: its loss terms (``objectives``) and the rule
that picks the checkpoint it keeps (``selection``)."""
