"""Plain words for sets of stages and signed changes, shared by errors, the report and the CLI (no torch)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def stage_list(stages: Iterable[int]) -> str:
    """'2–5' for three or more consecutive stages, '2,3,5' otherwise, 'none' for none."""
    stages = sorted(stages)
    if not stages:
        return "none"
    if len(stages) > 2 and stages == list(range(stages[0], stages[-1] + 1)):
        return f"{stages[0]}–{stages[-1]}"
    return ",".join(map(str, stages))


def signed_percent(value: float, decimals: int) -> str:
    """'+9.90%', '-0.40%'."""
    return f"{value:+.{decimals}f}%"


def stage_set_text(stage_set: Sequence[int] | None) -> str:
    """A stage set as a sweep names it: 'all' (None), '4', '4+5'."""
    return "all" if stage_set is None else "+".join(map(str, stage_set))
