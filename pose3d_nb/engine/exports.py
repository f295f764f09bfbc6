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
                ``overwrite`` (``export.refuse_replacing_edited``); ``path`` (or the default) is
                one of ``out_dir``'s session names and another run replaced this engine's
                recording there (``ExportError``: give a path elsewhere).
            Pose3DRuntimeError: no ``out_dir`` and more rows recorded than ``capacity``: the
                oldest are gone (``Recorder.session``).
        """
        # "~/frames.csv" is the home folder's, as export() and the recording folder take it
        # (it was written to a folder named "~" in the working one).
        path = Path(path).expanduser() if path is not None else self._default_path("session.csv")
        from pose3d_nb.export import ExportError, refuse_replacing_edited, refuse_replacing_recording
        from pose3d_nb.export.table import write_frame_csv
        from pose3d_nb.recording.folder import record_exports

        self._refuse_the_folders_names_once_replaced(path)
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
                an export beside it that pose3d did not write as it is now). ``ExportError``:
                ``path`` (or the default) is one of ``out_dir``'s session names and another run
                replaced this engine's recording there (give a path elsewhere).
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
        self._refuse_the_folders_names_once_replaced(Path(path).expanduser())
        return export_session(self._recorder.session(), format, path, metadata=self.metadata(), **options)

    def _refuse_the_folders_names_once_replaced(self, path: Path) -> None:
        """``ExportError`` when ``path`` is one of ``out_dir``'s session names (``session.csv``,
        ``session.bvh``...: ``recording_output_names``) and this engine's recording is no longer
        that folder's (``Recorder.replaced_by``: another engine or `pose3d run` with
        overwrite replaced it since it stopped). Written there, its rows passed for the other
        recording's, beside its session.npz, noted as its exports; and they replaced that
        recording's own exports. A path elsewhere is written as asked, from the rows in memory.

        Refused rather than given names of its own (as a recording an --overwrite run set aside
        gets, ``set_aside_export_name``): that one is still in the folder, this one is not, and
        files named after it would be exports of no recording there.
        """
        from pose3d_nb.export import ExportError
        from pose3d_nb.recording.folder import REPLACED_PREFIX, recording_output_names

        if self.out_dir is None or path.name not in recording_output_names():
            return
        if path.absolute().parent.resolve() != self.out_dir.resolve():
            return
        current = self._recorder.replaced_by()
        if current is None:
            return
        if current == self._recorder.out_dir:
            now = (f"another run is recording into {self.out_dir} now (with overwrite: at its stop "
                   "its rows are that folder's session)")
        else:
            held = (f"another recording's {current.name}" if not current.is_dir() else
                    f"an unfinished recording of another run ({current.name}, "
                    + ("set aside by an --overwrite run that was killed)"
                       if current.name.startswith(REPLACED_PREFIX) else "killed)"))
            now = (f"{self.out_dir} now stands for {held} (a run with overwrite=True, or `pose3d "
                   "run --overwrite`, replaced this engine's since it stopped)")
        recorded, in_memory = self._recorder.recorded, len(self._recorder.buffer)
        if in_memory >= recorded:
            rows = (f"Its {recorded} row{'s are' if recorded != 1 else ' is'} in this engine's memory: "
                    "export them to a "
                    "path elsewhere, e.g. engine.export_csv('OTHER/take1.csv') or "
                    "engine.export('bvh', 'OTHER/take1.bvh')")
        else:  # the oldest went with its session.npz: exported as if whole, the rest would mislead
            rows = (f"Only the newest {in_memory} of its {recorded} rows are still held, in this "
                    "engine's memory: export_session(engine.buffer.snapshot(), FORMAT, "
                    "'OTHER/PATH', metadata=engine.metadata()) exports them elsewhere")
        raise ExportError(
            f"this engine's recording is no longer the session of {self.out_dir}: {now}, and "
            f"{path.name} there is that session's export name; written there, this engine's rows "
            f"would pass for that session's. {rows}"
        )

    def _default_path(self, name: str) -> Path:
        if self.out_dir is None:
            raise Pose3DValueError("give a path: this engine has no out_dir")
        return self.out_dir / name
