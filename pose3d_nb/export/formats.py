"""Export formats by name: each entry says its file suffix, its writer and the units it takes.

Listing the formats imports no writer (the CLI parser builds its choices from here without
scipy, ezc3d or pyarrow). Code outside the package adds a format with :func:`register_format`;
see ``docs/extending.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pose3d_nb.registry import Registry

Writer = Callable[..., Path]
"""``writer(path, data: ExportData, units=...) -> Path``: writes ``path`` atomically
(``recording.atomic_file``); ``units`` is passed only to formats that declare units."""


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Attributes:
        name: the registry name (``export_session(..., name)``, ``--format NAME``).
        suffix: what the default path ends with, e.g. ``".bvh"`` (``session.npz`` -> ``session.bvh``).
        writer: ``"package.module:function"`` (imported on first use) or a callable, see ``Writer``.
        units: the length units ``units=`` accepts, the default first; empty: the format is
            always in metres and refuses ``units=``.
        description: one line for help texts and the docs.
        fixed_rate: the file has no time column, only one rate (BVH, TRC, C3D): its rows are
            laid on an even grid of the recorded times first (``export.resample``).
    """

    name: str
    suffix: str
    writer: str | Writer
    units: tuple[str, ...] = ()
    description: str = ""
    fixed_rate: bool = False

    @property
    def default_units(self) -> str:
        """The units written when ``units=`` is not given."""
        return self.units[0] if self.units else "m"


FORMATS: Registry[ExportFormat] = Registry("export format", fold_case=True)


def register_format(
    name: str,
    suffix: str,
    writer: str | Writer,
    *,
    units: Iterable[str] = (),
    description: str = "",
    fixed_rate: bool = False,
    replace: bool = False,
) -> ExportFormat:
    """Make ``name`` an export format everywhere: ``export_session``, ``engine.export``, the CLI.

    Args:
        name: the format's name (lower case by convention: ``--export`` lower-cases its list).
        suffix: the default file suffix, with its dot.
        writer, units, description, fixed_rate: see :class:`ExportFormat`.
        replace: replace an entry of the same name instead of refusing.

    Returns:
        The registered :class:`ExportFormat`.

    Raises:
        Pose3DValueError: the name is taken (and ``replace`` is False) or empty.
    """
    entry = ExportFormat(name, suffix, writer, tuple(units), description, fixed_rate)
    return FORMATS.register(name, entry, replace=replace)


def format_names() -> list[str]:
    """Every registered format name, in registration order."""
    return FORMATS.names()


def units_help() -> str:
    """``"bvh: m|cm, trc: m|mm, ..."`` for the formats that take ``units=`` (default first)."""
    return ", ".join(f"{entry.name}: {'|'.join(entry.units)}" for entry in FORMATS.values() if entry.units)


register_format(
    "bvh", ".bvh", "pose3d_nb.export.bvh:write_bvh", units=("m", "cm"),
    description="skeleton + joint rotations, y up (Blender, MotionBuilder)",
    fixed_rate=True,
)
register_format(
    "trc", ".trc", "pose3d_nb.export.trc:write_trc", units=("m", "mm"),
    description="markers with the OpenSim / Pose2Sim header, y up",
    fixed_rate=True,
)
register_format(
    "c3d", ".c3d", "pose3d_nb.export.c3d:write_c3d", units=("mm", "m"),
    description="markers as points, z up, residual -1 where no person (ezc3d)",
    fixed_rate=True,
)
register_format(
    "csv", ".tidy.csv", "pose3d_nb.export.table:write_table_csv",
    description="tidy table, one row per frame and joint, z up, metres",
)
register_format(
    "parquet", ".parquet", "pose3d_nb.export.table:write_parquet",
    description="the tidy table as Parquet (pyarrow)",
)
