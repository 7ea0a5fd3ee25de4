"""Errors that the CLI turns into a one-line message and exit code 2."""


class NumbaplayError(Exception):
    """Base class: anything a user can cause and fix."""


class PositionError(NumbaplayError, ValueError):
    """A malformed position string (SPEC section 1 notation)."""


class ConfigError(NumbaplayError, ValueError):
    """An unknown or malformed configuration key or value."""


class CheckpointError(NumbaplayError, ValueError):
    """A corrupt, foreign or mismatched checkpoint."""


class CReferenceError(NumbaplayError, RuntimeError):
    """The C reference could not be built or run (missing compiler, BLAS, bad file)."""


class OutputFileError(NumbaplayError):
    """An output file that cannot be written where asked, or that exists and may not be overwritten."""
