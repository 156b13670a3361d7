"""Every failure a user can cause is a SeprofError: one line that names the bad value and the way out.

The CLI turns these into a message on stderr and exit code 2; anything else is a bug and keeps its traceback.
Errors about a parameter (``OptionError``) carry the parameter's name and value, so that the Python API and
the command line can each name it in their own words: ``r=0 is invalid`` from ``seprof.profile(r=0)``,
``--r 0 is invalid`` from ``seprof inject -r 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .text import stage_list


def first_line(error: BaseException, with_type: bool = True) -> str:
    """The first line of an exception's message for a one-line error ('ValueError: ...'), or what a
    SystemExit asked for; never raises, whatever the exception's own ``__str__`` does."""
    if isinstance(error, SystemExit):
        try:
            code = repr(error.code)
        except Exception:  # noqa: BLE001 - a user's object can raise anything from __repr__
            code = "an object"
        return f"it called sys.exit({code})"
    try:
        text = str(error).strip()
    except Exception:  # noqa: BLE001 - a user's exception can raise anything from __str__
        text = ""
    if not text:
        return type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0]}" if with_type else text.splitlines()[0]


def elided(text: str, limit: int = 120) -> str:
    """``text`` for a one-line message: as it is up to ``limit`` characters, else its start and end around an
    ellipsis (a path keeps its name's end, a number its first digits)."""
    return text if len(text) <= limit else f"{text[:limit * 2 // 3]}…{text[-limit // 4:]}"


class SeprofError(ValueError):
    """A user-facing error: bad model name, option value, stage, path or device."""


class UnknownModelError(SeprofError):
    """The model name is not one seprof supports."""


def api_name(option: str, value: Any) -> str:
    """How the Python API names a parameter and its value: ``r=0``, ``input_shape=(1, 224, 224)``."""
    return f"{option}={value!r}"


class OptionError(SeprofError):
    """A parameter's value is out of range, cannot be parsed, or conflicts with another parameter.

    Attributes:
        option: the parameter's name in the Python API (``r``, ``input_shape``, ``latency``...).
        value: the value it was given.
        reason: what is wrong and what to do, written to follow the parameter and its value; ``{other}`` in
            it stands for the parameter it conflicts with.
        other: (name, value) of that parameter, if any.
    """

    def __init__(self, option: str, value: Any, reason: str, other: tuple[str, Any] | None = None) -> None:
        self.option, self.value, self.reason, self.other = option, value, reason, other
        super().__init__(self.render(api_name))

    def render(self, name: Callable[[str, Any], str]) -> str:
        """The message with each parameter named by ``name(option, value)``."""
        reason = self.reason.format(other=name(*self.other)) if self.other else self.reason
        return f"{name(self.option, self.value)} {reason}"


class StageError(SeprofError):
    """A stage was asked for that the model does not have."""


class OutputPathError(SeprofError):
    """An output file cannot be written."""


class DeviceError(OptionError):
    """The requested device is not available."""


class ModelError(SeprofError):
    """The model has nothing seprof can work on, or is in a state it cannot handle."""


class NativeSEError(ModelError):
    """SE was to be added to a model that has SE blocks of its own (``add_missing`` not given).

    Attributes:
        model: the model's name; ``blocks``: its own SE blocks; ``stages``: where they are; ``missing``: its
        blocks without SE, where ``add_missing`` would add some.
    """

    def __init__(self, model: str, blocks: int, stages: tuple[int, ...], missing: int) -> None:
        self.model, self.blocks, self.stages, self.missing = model, blocks, stages, missing
        super().__init__(self.render("seprof.profile", "add_missing=True"))

    def render(self, measure: str, add_missing: str) -> str:
        """The message, naming the way to measure the model's own SE and the way to add the missing."""
        have = f"{self.model} already has {self.blocks} SE blocks of its own (stages {stage_list(self.stages)})"
        if self.missing:
            rest = f"or use {add_missing} to add SE to its {self.missing} blocks without one"
        else:
            rest = "every block of it that seprof knows already has SE, so there is none to add"
        return f"{have}: measure them with {measure}; {rest}"

