"""Tables that fit the width they are given, with every number whole. Needs rich only (no torch).

Cells never wrap or shorten, except prose columns, which wrap between words; a table too wide for the
console is split into several, each repeating the key columns (the stage, the configuration, the model), so
that at 80 columns every number is still printed in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Column:
    """A table column: its header, alignment, whether it is repeated in every part of a split table
    (``key``), whether its cells are prose that may wrap between words (never a number), and whether it may
    be left out, leftmost first, where the table would otherwise be split (``optional``)."""

    header: str
    justify: str = "right"
    key: bool = False
    wrap: bool = False
    optional: bool = False


@dataclass
class Grid:
    """A table's content before it is fitted to a width: rows of cell texts, a style per row, and the rows
    before which a separating line goes."""

    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    styles: list[str | None] = field(default_factory=list)
    sections: set[int] = field(default_factory=set)

    def add(self, *cells: str, style: str | None = None, section: bool = False) -> None:
        if section:
            self.sections.add(len(self.rows))
        self.rows.append(list(cells))
        self.styles.append(style)


def _table(grid: Grid, indices: Sequence[int]) -> Table:
    """The table of these columns. A value column never shrinks below its widest cell; on a console too narrow
    even for the key column and one other, the key column's labels (and prose) wrap, and past that the table
    is wider than the console rather than cut."""
    table = Table(header_style="bold")
    for i in indices:
        column = grid.columns[i]
        foldable = column.wrap or column.key
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not foldable,
            overflow="fold" if foldable else "ellipsis",
            min_width=None if foldable else _min_width(grid, i),
        )
    for number, (cells, style) in enumerate(zip(grid.rows, grid.styles)):
        if number in grid.sections:
            table.add_section()
        table.add_row(*(cells[i] for i in indices), style=style)
    return table


def _min_width(grid: Grid, i: int) -> int:
    """The narrowest a column can be: its widest cell (or header), or for prose its longest word."""
    texts = [grid.columns[i].header, *(cells[i] for cells in grid.rows)]
    if grid.columns[i].wrap:
        return max(cell_len(word) for text in texts for word in (text.split() or [""]))
    return max(cell_len(text) for text in texts)


def _width(grid: Grid, indices: Sequence[int]) -> int:
    """The narrowest the table of these columns can be: each column's width plus one space either side,
    and a border between and around the columns."""
    return sum(_min_width(grid, i) + 2 for i in indices) + len(indices) + 1


def _parts(console: Console, grid: Grid) -> list[list[int]]:
    """The columns of each table the grid is split into: as few as fit the console's width, each with the
    key columns first, the other columns in order."""
    keys = [i for i, c in enumerate(grid.columns) if c.key]
    parts: list[list[int]] = []
    current: list[int] = []
    for i, column in enumerate(grid.columns):
        if column.key:
            continue
        if current and _width(grid, keys + current + [i]) > console.width:
            parts.append(keys + current)
            current = []
        current.append(i)
    parts.append(keys + current)
    return parts


def fitted(console: Console, grid: Grid) -> tuple[Grid, list[str]]:
    """``grid`` without as many optional columns (leftmost first: the absolute figures a percentage beside them
    says, before the extras) as it takes to fit the console in one table, and the headers left out."""
    dropped: list[str] = []
    while _width(grid, range(len(grid.columns))) > console.width:
        optional = [i for i, column in enumerate(grid.columns) if column.optional]
        if not optional:
            break
        i = optional[0]
        dropped.append(grid.columns[i].header)
        grid = Grid(grid.columns[:i] + grid.columns[i + 1:], [cells[:i] + cells[i + 1:] for cells in grid.rows],
                    grid.styles, grid.sections)
    return grid, dropped


def print_grid(console: Console, title: str | None, grid: Grid, legend: str | None = None) -> list[str]:
    """Print ``grid`` under a bold ``title`` as one table, leaving out optional columns where it is too wide,
    then split into several where it is still too wide, with the ``legend`` (dim, wrapped) under it. Returns
    the headers of the columns left out."""
    if title:
        console.print(Text(title, style="bold"))
    grid, dropped = fitted(console, grid)
    for indices in _parts(console, grid):
        console.print(_table(grid, indices))
    if legend:
        console.print(Text(legend, style="dim"))
    return dropped
