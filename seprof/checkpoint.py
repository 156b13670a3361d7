"""Save an SE model's weights with what it takes to rebuild it, and load it back without running its code.

A checkpoint is a plain dict (loadable with ``torch.load(..., weights_only=True)``): the format name and
version, the base model's name (a torchvision name or a factory ``package.module:function``), r, bias, the
SE stages, the input shape used to find them, whether SE was added beside the model's own (``add_missing``),
and the state_dict of the SE model.

Loading never imports anything the caller did not name: a torchvision name is rebuilt from torchvision; a
factory named in the file is imported and called only when the caller says so (``trust_factory=True``), and
otherwise the caller passes the base model (``base=``) or a factory of their own (``factory=``).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .errors import ModelError, SeprofError, first_line
from .export import atomic_output
from .models import MODEL_FAMILIES, build_model, harness_of, is_factory, is_timm
from .spec import BlockSpec, block_spec
from .surgery import inject

FORMAT = "seprof-se-model"
VERSION = 2  # 2: the whole block under "block" (so that seprof 0.4, which reads 1 only, refuses it)
READS = (1, 2)


def payload(
    model: nn.Module,
    *,
    name: str,
    r: int | None = None,
    bias: bool | None = None,
    stages: Sequence[int],
    input_shape: Sequence[int],
    add_missing: bool = False,
    block: BlockSpec | None = None,
    heads: bool = False,
) -> dict[str, Any]:
    """The checkpoint of ``model`` as a dict, its tensors copied to the CPU (a snapshot: later changes to
    the model, such as timing in train mode, do not reach it). ``block`` is the whole block (SE with ``r`` and
    ``bias`` when not given); the file holds its knobs under "block", and r and bias on their own too."""
    spec = block_spec(block, r, bias)
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "r": spec.r,
        "bias": spec.bias,
        "block": spec.as_dict(),
        "stages": list(stages),
        "input_shape": list(input_shape),
        "add_missing": add_missing,
        "heads": heads,
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
    }


def write(path: str | os.PathLike, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint dict to ``path`` atomically (through a symlink to its target)."""
    with atomic_output(path) as tmp:
        torch.save(checkpoint, tmp)


def save(path: str | os.PathLike, model: nn.Module, **recipe: Any) -> None:
    """Write ``model``'s state_dict and its recipe (``name``, ``block`` or ``r`` and ``bias``, ``stages``,
    ``input_shape``, ``add_missing``; see ``payload``) to ``path`` atomically."""
    write(path, payload(model, **recipe))


# key → (type, what it must be)
_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "a model name"),
    "r": (int, "an integer of at least 1"),
    "bias": (bool, "true or false"),
    "stages": (list, "a list of stage numbers"),
    "input_shape": (list, "a list of three positive sizes"),
    "state_dict": (dict, "a dict of tensors"),
}


def _checked(path: str | os.PathLike, data: Any) -> dict[str, Any]:
    """The checkpoint dict, or a ModelError naming the first thing wrong with it."""
    where = repr(str(path))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{where} is not a seprof SE-model checkpoint (no format {FORMAT!r})")
    if type(data.get("version")) is not int or data.get("version") not in READS:
        raise ModelError(
            f"{where} is a seprof checkpoint of version {data.get('version')!r}; this seprof reads versions "
            f"{', '.join(map(str, READS))}"
        )
    for key, (kind, what) in _FIELDS.items():
        if key not in data:
            raise ModelError(f"{where} has no {key!r}: it is not a complete seprof checkpoint")
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ModelError(f"{where}: {key!r} is {value!r}, not {what}")
    ok = (
        data["r"] >= 1
        and all(isinstance(s, int) and not isinstance(s, bool) for s in data["stages"])
        and len(data["input_shape"]) in (3, 4)
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in data["input_shape"])
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data["state_dict"].items())
        and isinstance(data.get("add_missing", False), bool)
        and isinstance(data.get("heads", False), bool)
    )
    if not ok:
        raise ModelError(f"{where} holds a malformed recipe (r, stages, input_shape, add_missing, heads or "
                         "state_dict)")
    if data["version"] >= 2:
        if "block" not in data:
            raise ModelError(f"{where} has no 'block': it is not a complete seprof checkpoint")
        try:
            if not isinstance(data["block"], dict):
                raise TypeError(type(data["block"]).__name__)
            data["spec"] = BlockSpec.from_dict(data["block"])
        except (SeprofError, TypeError) as error:
            raise ModelError(f"{where} holds a malformed block ({first_line(error, with_type=False)})") from error
    else:  # written by seprof 0.4: SE with r and bias
        data["spec"] = BlockSpec(r=data["r"], bias=data["bias"])
    return data


def _base(
    path: str | os.PathLike, name: str, factory: Callable[[], nn.Module] | None, trust_factory: bool
) -> nn.Module:
    """The un-injected model a checkpoint names, built without running code the caller did not name."""
    if factory is not None:
        try:
            model = factory()
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 - the caller's factory can raise anything, or exit
            raise ModelError(f"factory() failed: {first_line(error)}") from error
    elif name in MODEL_FAMILIES or is_timm(name):
        return build_model(name, "cpu")
    elif is_factory(name) and trust_factory:
        return build_model(name, "cpu")
    elif is_factory(name):
        raise ModelError(
            f"{str(path)!r} names the factory {name!r}: loading it would import and run that code; pass "
            "base=<the model without SE> or factory=<a function that builds it>, or trust_factory=True if "
            "you trust this file"
        )
    else:
        raise ModelError(
            f"{str(path)!r} names the model {name!r}, which is not a torchvision model seprof "
            "knows; pass base=<the model without SE>"
        )
    if not isinstance(model, nn.Module):
        raise ModelError(f"factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _read(path: str | os.PathLike) -> Any:
    """The object in a checkpoint file, read without running pickled code, or a ModelError."""
    where = repr(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ModelError(f"{where} does not exist") from error
    except IsADirectoryError as error:
        raise ModelError(f"{where} is a folder, not a checkpoint file") from error
    except Exception as error:  # noqa: BLE001 - a file that is not a torch checkpoint fails in many ways
        # torch's own message for a refused file suggests weights_only=False: never the advice for a file
        # that may be crafted, so only the kind of failure is passed on
        raise ModelError(f"{where} is not a checkpoint seprof can read: torch.load(..., weights_only=True) refused it "
                         f"({type(error).__name__}); seprof reads tensors and plain data only, never pickled "
                         "objects") from error


def _fit(path: str | os.PathLike, model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Load ``state_dict`` into ``model``, or a ModelError saying which keys or shapes do not fit."""
    shapes = model.state_dict()
    keys = set(shapes)
    missing, unexpected = sorted(keys - set(state_dict)), sorted(set(state_dict) - keys)
    if missing or unexpected:
        parts = [f"{len(keys_)} {what} (e.g. {', '.join(keys_[:3])})"
                 for keys_, what in ((missing, "missing"), (unexpected, "unexpected")) if keys_]
        raise ModelError(f"{str(path)!r} does not fit the model it names: {' and '.join(parts)} state_dict keys")
    wrong = [k for k in sorted(keys) if tuple(state_dict[k].shape) != tuple(shapes[k].shape)]
    if wrong:
        k = wrong[0]
        raise ModelError(f"{str(path)!r} does not fit the model it names: {len(wrong)} tensors have other shapes "
                         f"(e.g. {k}: {tuple(state_dict[k].shape)} in the file, {tuple(shapes[k].shape)} in the model)")
    model.load_state_dict(state_dict)


def load(
    path: str | os.PathLike,
    base: nn.Module | None = None,
    *,
    factory: Callable[[], nn.Module] | None = None,
    trust_factory: bool = False,
) -> nn.Module:
    """Rebuild the SE model saved at ``path`` (with ``seprof inject --save`` or ``save``).

    Args:
        path: the checkpoint file (read with ``torch.load(..., weights_only=True)``: no pickled code runs).
        base: the un-injected model to rebuild from (not modified).
        factory: a function of yours that builds the un-injected model (when ``base`` is not given).
        trust_factory: import and call the factory the checkpoint names (``package.module:function``);
            without it, a checkpoint naming a factory needs ``base`` or ``factory``.

    Returns:
        The SE model with the checkpoint's weights, on the CPU, in eval mode.

    Raises:
        SeprofError: one message for anything wrong with the file, its recipe or the base model.
    """
    if base is not None and not isinstance(base, nn.Module):
        raise ModelError(f"base is a {type(base).__name__}, not a torch.nn.Module")
    data = _checked(path, _read(path))
    if base is None:
        base = _base(path, data["model"], factory, trust_factory)
    try:
        harness = harness_of(data["model"]) if data["model"] in MODEL_FAMILIES else None
        if harness is not None and data.get("heads", False):
            harness = harness.including_heads(data["model"])
        model = inject(base, stages=data["stages"], input_shape=data["input_shape"],
                       add_missing=data.get("add_missing", False), block=data["spec"], harness=harness)
    except SeprofError as error:
        raise ModelError(f"{str(path)!r} holds a recipe that does not fit its model: {error}") from error
    _fit(path, model, data["state_dict"])
    return model.eval()
