"""Writing a ``PoseEngine``'s recording to files on request: CSV and the export formats.

``EngineExports`` is mixed into ``PoseEngine`` (and reached from ``PoseApp.export``); the work is
done by ``pose3d_nb.export.table.write_frame_csv`` and ``pose3d_nb.export.export_session``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError

if TYPE_CHECKING:
    from pose3d_nb.recording import Recorder


class EngineExports:
    """``export_csv`` and ``export``; needs ``_recorder``, ``out_dir`` and ``metadata()`` from the
    class it is mixed into."""

    _recorder: Recorder
    out_dir: Path | None
    metadata: Callable[[], dict[str, Any]]

    def export_csv(self, path: str | Path | None = None, *, overwrite: bool = False) -> Path:
        """Write the recording as CSV.

        Args:
            path: the file to write; default ``out_dir/session.csv``.
            overwrite: replace a ``session.csv`` beside a recording that pose3d did not write as
                it is now (edited since, or not pose3d's); without it that is refused.

        Returns:
            The path written.

        Raises:
            Pose3DValueError: no ``path`` and the engine has no ``out_dir``; nothing recorded yet
                (``ExportError``); ``path`` is part of
                a recording (``ExportError``: a session file, a journal's file), or is a
                ``session.csv`` beside one that pose3d did not write as it is now, without
                ``overwrite`` (``export.refuse_replacing_edited``).
            Pose3DRuntimeError: no ``out_dir`` and more rows recorded than ``capacity``: the
                oldest are gone (``Recorder.session``).
        """
        # "~/frames.csv" is the home folder's, as export() and the recording folder take it
        # (it was written to a folder named "~" in the working one).
        path = Path(path).expanduser() if path is not None else self._default_path("session.csv")
        from pose3d_nb.export import ExportError, refuse_replacing_edited, refuse_replacing_recording
        from pose3d_nb.export.table import write_frame_csv
        from pose3d_nb.recording.folder import record_exports

        refuse_replacing_recording(path)
        if not overwrite:
            refuse_replacing_edited(path, "csv")
        session = self._recorder.session()
        if not len(session):
            # A header-only session.csv in out_dir also made the engine's start refuse the folder.
            raise ExportError("nothing to export: nothing is recorded yet; start the engine first")
        write_frame_csv(path, session)
        record_exports([path])  # beside its recording: an --overwrite run may delete it while unedited
        return path

    def export(self, format: str, path: str | Path | None = None, **options: Any) -> Path:
        """Export the recording (``pose3d_nb.export.export_session``).

        Args:
            format: bvh, trc, c3d, csv or parquet.
            path: the file to write; default ``out_dir/session`` with the format's suffix
                (``session.bvh``; csv: ``session.tidy.csv``, apart from ``export_csv``'s ``session.csv``).
                ``out=`` is taken for it too, as ``export_session`` and ``pose3d export --out`` name it.
            **options: fps, smooth, units, segment, person, overwrite (see ``export_session``).

        Returns:
            The path written.

        Raises:
            Pose3DValueError: an unknown format (named first), no ``path`` and the engine has
                no ``out_dir``; a bad option (``export.ExportError``). Pose3DTypeError: both
                ``path`` and ``out``. An existing file at ``path`` is replaced, as
                ``export_session`` replaces it (never a recording, nor without ``overwrite=True``
                an export beside it that pose3d did not write as it is now).
            Pose3DRuntimeError: no ``out_dir`` and more rows recorded than ``capacity``: the
                oldest are gone (``Recorder.session``).
        """
        from pose3d_nb.export import check_units, default_path, export_session, format_name

        format = format_name(format)
        check_units(format, options.get("units"))  # an unknown format named before a missing path
        if "out" in options:  # was a TypeError from export_session: "multiple values for 'out'"
            out = options.pop("out")
            if path is not None and out is not None:
                raise Pose3DTypeError(f"give the file as path= or out=, not both (got {path!r} and {out!r})")
            path = path if out is None else out
        if path is None:
            path = default_path(self._default_path("session.npz"), format)
        return export_session(self._recorder.session(), format, path, metadata=self.metadata(), **options)

    def _default_path(self, name: str) -> Path:
        if self.out_dir is None:
            raise Pose3DValueError("give a path: this engine has no out_dir")
        return self.out_dir / name
