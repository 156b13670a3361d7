"""Every failure a user can cause is a SeprofError: one line that names the bad value and the way out.

The CLI turns these into a message on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SeprofError(ValueError):
    """A user-facing error: bad model name, option value, stage, path or device."""


class UnknownModelError(SeprofError):
    """The model name is not one seprof supports."""


class OptionError(SeprofError):
    """An option's value is out of range or cannot be parsed."""


class StageError(SeprofError):
    """A stage was asked for that the model does not have."""


class OutputPathError(SeprofError):
    """An output file cannot be written."""


class DeviceError(SeprofError):
    """The requested device is not available."""


class ModelError(SeprofError):
    """The model has nothing seprof can work on, or is in a state it cannot handle."""
