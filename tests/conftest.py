import warnings

import pytest

from seprof.models import build_model

warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated", category=FutureWarning)


@pytest.fixture(scope="session")
def resnet50_meta():
    return build_model("resnet50", "meta")


@pytest.fixture(scope="session")
def resnet18_meta():
    return build_model("resnet18", "meta")


def hooks_of(model):
    """Every forward/backward hook registered anywhere in ``model``."""
    found = []
    for m in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_forward_hooks_with_kwargs"):
            found += list(getattr(m, name, {}).keys())
    return found
