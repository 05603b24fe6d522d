"""Errors of the checkpoint readers."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the expected architecture."""
