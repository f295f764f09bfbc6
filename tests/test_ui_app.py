"""PoseApp wired to a real PoseEngine on the bundled sample, without a browser."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from helpers.waiting import until

from pose3d_nb.engine import PoseEngine
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DTypeError, Pose3DValueError
from pose3d_nb.ui.app import PoseApp

pytestmark = pytest.mark.slow




@pytest.fixture
def fallback_app(tmp_path):
    app = PoseApp(source="sample", lifter=None, out_dir=tmp_path / "out", loop=True, pace=True)
    yield app
    app.close()


def test_start_button_runs_the_engine_and_the_display_follows(fallback_app):
    app = fallback_app
    c = app.controls
    # Fallback lifter: temporal knobs are disabled, with the reason on screen.
    assert c.window_slider.disabled and c.lookahead_slider.disabled and c.flip_box.disabled
    assert "frame by frame" in c.notes.value
    c.start_button.value = True  # what a click does
    assert app.engine.running and c.start_button.description == "Stop"
    assert app.wait(frames=30, timeout=60)
    with pytest.raises(TypeError):  # engine.wait(30) is 30 seconds: app.wait(30) read as either
        app.wait(30)
    assert until(lambda: app.frames_shown > 5 and app.view3d.updates > 5 and app.plot.draws > 0)
    assert app.live.widget.value[:2] == b"\xff\xd8"  # a JPEG frame is on display
    assert np.isfinite(app.view3d.positions).all()
    assert until(lambda: "running" in c.status.value and "fps" in c.status.value)
    assert "mediapipe" in c.status.value and "per-frame 3D landmarks (chosen by name)" in c.status.value
    joints = app.joints
    assert joints.ndim == 3 and joints.shape[1:] == (17, 3) and len(joints) >= 30
    joints[:] = 0  # a copy: the buffer is untouched
    assert not np.all(app.joints == 0)
    c.start_button.value = False
    assert not app.engine.running
    assert until(lambda: "stopped" in c.status.value)
    time.sleep(0.2)  # the display may still pick up the last frame made before the stop
    shown = app.frames_shown
    time.sleep(0.5)
    assert app.frames_shown == shown


def test_a_stop_click_is_not_undone_by_the_display_thread(fallback_app):
    """The CI flake: the display thread saw the still-running engine while a Stop click was on
    its way to it, set the button back, and the click arrived as a Start (the engine ran on)."""
    app, c = fallback_app, fallback_app.controls
    c.start_button.value = True
    assert app.engine.running
    # A click the kernel has stored but not acted on yet: the display thread refreshes meanwhile.
    with c.quiet():
        c.start_button.value = False
    app._refresh_status()
    assert c.start_button.value is False, "the display thread undid the click"
    # The display thread runs between the click storing its value and the engine call.
    style = c._style_button

    def style_then_refresh(running: bool) -> None:
        style(running)
        app._refresh_status()

    c._style_button = style_then_refresh
    c.start_button.value = True  # the click, arriving
    c.start_button.value = False  # a Stop click
    assert not app.engine.running and c.start_button.description == "Start"
    assert until(lambda: "stopped" in c.status.value)


def _stored_pose(app) -> np.ndarray:
    """The 3D pose kept in the widget state: what a reloaded page or a saved notebook shows."""
    return np.asarray(app.view3d._positions.array)


def test_the_shown_pose_is_stored_for_a_reload_once_poses_pause_and_on_close(tmp_path):
    app = PoseApp(source="sample", lifter=None, out_dir=None, loop=True, pace=True)
    try:
        app.start()
        assert until(lambda: app.view3d.updates > 10)
        # Live poses are not widget state (that would cost a round trip per frame).
        assert not np.array_equal(_stored_pose(app), app.view3d.positions)
        app.stop()
        assert until(lambda: np.array_equal(_stored_pose(app), app.view3d.positions), timeout=5)
        assert np.isfinite(_stored_pose(app)).all() and np.abs(_stored_pose(app)).sum() > 0
        app.start()
        assert until(lambda: not np.array_equal(_stored_pose(app), app.view3d.positions))
    finally:
        app.close()  # while running: close itself stores the last pose
    assert np.array_equal(_stored_pose(app), app.view3d.positions)


def test_a_refused_change_is_shown_and_the_control_reverts(fallback_app):
    app = fallback_app
    c = app.controls
    # Stopped, the engine notes the new source (opened on Start), but one that names nothing is
    # refused at once: the box showed "source: /nonexistent/video.mp4" as if it were taken.
    c.source_box.value = "/nonexistent/video.mp4"
    assert "could not switch source" in c.status.value and "/nonexistent/video.mp4" in c.status.value
    assert c.source == "sample" == app.engine.source_name
    assert not app.engine.running and not c.running and c.start_button.description == "Start"
    c.start_button.value = True
    assert app.engine.running and "could not" not in c.status.value
    # Running, the engine opens the new source at once: it refuses, keeps going, the box reverts.
    c.source_box.value = "/nonexistent/other.mp4"
    assert "could not switch source" in c.status.value
    assert app.engine.running and c.running and c.source == "sample"
    # An unknown detector is refused the same way.
    # The control shows the name as chosen, though "mediapipe" runs as "mediapipe-people".
    assert c.detector == "mediapipe" and app.engine.detector_name == "mediapipe-people"
    c.detector_dropdown.options = [*c.detector_dropdown.options, "openpose"]
    c.detector_dropdown.value = "openpose"
    assert "could not switch detector" in c.status.value and c.detector == "mediapipe"


def test_window_lookahead_flip_reach_a_videopose3d_engine(reference_checkpoint, tmp_path):
    engine = PoseEngine(source="sample", lifter=reference_checkpoint, out_dir=None)
    app = PoseApp(engine)
    try:
        c = app.controls
        assert not c.full_window.disabled and not c.lookahead_slider.disabled and c.notes.value == ""
        assert c.window_slider.max == 27 and c.lookahead_slider.max == 13  # from the receptive field
        assert c.window == 0 and engine.window == 0
        assert c.flip and engine.flip  # on by default
        c.full_window.value = False
        c.window_slider.value = 9
        c.lookahead_slider.value = 4
        c.flip_box.value = False
        assert (engine.window, engine.lookahead, engine.flip) == (9, 4, False)
        c.full_window.value = True
        assert engine.window == 0
        # Beyond what the engine accepts: the message says why and the slider shows the engine's value.
        c.set_limits(max_lookahead=20)
        c.lookahead_slider.value = 20
        assert engine.lookahead == 4 and c.lookahead == 4
        assert "could not set lookahead" in c.status.value
    finally:
        app.close()


def test_temporal_controls_keep_their_tooltips_with_the_default_lifter():
    """The app enables the temporal controls at construction: their help must stay on hover."""
    app = PoseApp(source="sample", out_dir=None)
    try:
        assert app.engine.lifter_info.temporal  # the default lifter is the shipped temporal one
        c = app.controls
        temporal = [c.window_slider, c.full_window, c.lookahead_slider, c.flip_box]
        assert all(w.tooltip and not w.tooltip.startswith("disabled") for w in temporal)
        assert "future frames" in c.lookahead_slider.tooltip and "mirrored" in c.flip_box.tooltip
    finally:
        app.close()


def test_app_rejects_engine_options_next_to_an_engine(tmp_path):
    engine = PoseEngine(source="sample", lifter=None, out_dir=None)
    with pytest.raises(TypeError):
        PoseApp(engine, window=3)


@pytest.mark.parametrize(("first", "options"), [("sample", {}), ("camera:1", {}), (0, {}),
                                                ("sample", {"loop": True})])
def test_a_source_given_as_the_first_argument_is_refused_saying_source(first, options):
    # PoseApp("sample") failed with "'str' object has no attribute 'lifter_info'"; with options,
    # "engine options ['loop'] given together with an engine".
    with pytest.raises(Pose3DTypeError) as refused:
        PoseApp(first, **options)
    assert f"PoseApp(source={first!r})" in str(refused.value)


def test_an_object_without_the_engines_interface_is_refused_by_name():
    with pytest.raises(Pose3DTypeError, match="PoseApp's first argument is a PoseEngine .* got a dict "
                                              "without start, stop, settings, lifter_info"):
        PoseApp({"source": "sample"})


@pytest.mark.parametrize(("option", "message"), [
    (dict(image_hz="x"), "image_hz must be a number of updates a second (0: no limit), got 'x'"),
    (dict(display_hz=float("nan")), "display_hz must be a number of updates a second"),
    (dict(plot_window_s=0), "plot_window_s must be a positive number of seconds, got 0"),
    (dict(image_width=0), "image_width must be a whole number of pixels >= 1, got 0"),
    (dict(view_size=-5), "view_size must be a whole number of pixels >= 1, got -5"),
    (dict(view_size=480.5), "view_size must be a whole number of pixels >= 1, got 480.5"),
])
def test_the_apps_own_options_are_refused_by_name_before_an_engine_is_built(option, message, monkeypatch):
    import pose3d_nb.engine

    # "x" was float()'s bare ValueError, view_size=-5 matplotlib's, image_width=0 was taken.
    built = []
    monkeypatch.setattr(pose3d_nb.engine, "PoseEngine", lambda **options: built.append(options))
    with pytest.raises(Pose3DValueError) as refused:
        PoseApp(**option)
    assert str(refused.value).startswith(message) and not built


def test_browser_camera_is_a_source_choice_that_shows_its_widget(fallback_app):
    from pose3d_nb.browser_camera import BrowserCamera

    app = fallback_app
    assert "browser camera" in app.controls.source_box.options
    assert app.camera_slot.children == ()
    app.controls.source_box.value = "browser camera"  # what picking it in the box does
    assert len(app.camera_slot.children) == 1 and isinstance(app.camera_slot.children[0], BrowserCamera)
    assert app.engine.source_name == "browser camera"
    app.controls.source_box.value = "sample"
    assert app.camera_slot.children == () and app.engine.source_name == "sample"


def test_app_is_a_context_manager_that_closes_on_exit(tmp_path):
    with PoseApp(source="sample", lifter=None, out_dir=tmp_path, loop=True, pace=True) as app:
        assert isinstance(app, PoseApp)
        app.engine.start()
        assert app.engine.running
        assert until(lambda: "running" in app.controls.status.value)
    assert not app.engine.running and app._closed.is_set()
    assert "stopped" in app.controls.status.value and "running" not in app.controls.status.value


def test_settings_changed_from_a_cell_show_on_the_controls(reference_checkpoint, tmp_path):
    """README: ``app.engine.window = 9`` changes a setting while it runs; the controls must then
    show the engine's values, not the ones they were built with."""
    engine = PoseEngine(source="sample", lifter=reference_checkpoint, out_dir=None)
    app = PoseApp(engine)
    try:
        c = app.controls
        assert (c.window, c.lookahead, c.flip) == (0, 0, True)
        engine.window, engine.lookahead, engine.flip = 9, 4, False
        video = str(tmp_path / "other.mp4")
        writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
        for _ in range(3):  # a real file: a spec that names nothing is refused when chosen
            writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.release()
        engine.set_source(video)
        engine.set_detector("mediapipe-lite")
        assert until(lambda: (c.window, c.lookahead, c.flip, c.source, c.detector)
                     == (9, 4, False, video, "mediapipe-lite"), timeout=5)
        assert not c.full_window.value and not c.window_slider.disabled
        engine.window = 0  # the full receptive field: the box is ticked, the slider greyed
        assert until(lambda: c.full_window.value and c.window_slider.disabled, timeout=5)
        # A control's own change still reaches the engine afterwards.
        c.full_window.value = False
        c.lookahead_slider.value = 2
        assert (engine.window, engine.lookahead) == (9, 2)
    finally:
        app.close()


def test_a_closed_app_refuses_to_start_and_says_so(tmp_path):
    """A closed app has no display thread: a Start click on its still-displayed controls would
    run the engine with a frozen video and status line, and nothing left to stop it."""
    app = PoseApp(source="sample", lifter=None, out_dir=None, loop=True, pace=True)
    app.close()
    c = app.controls
    assert c.start_button.disabled and "closed" in c.notes.value
    c.start_button.value = True  # a click already on its way when the controls were disabled
    assert not app.engine.running and not c.running and c.start_button.description == "Start"
    assert "closed" in c.status.value
    with pytest.raises(Pose3DRuntimeError, match="closed"):
        app.start()
    assert not app.engine.running


def test_a_cleared_source_box_shows_the_source_in_use_again(fallback_app):
    c = fallback_app.controls
    c.source_box.value = "  "  # emptied (or blanks) and Enter: nothing to switch to
    assert c.source == "sample" == fallback_app.engine.source_name


def test_a_click_note_goes_once_the_follower_has_acted_on_it(fallback_app):
    """A click on the video said "following whoever is at (x, y) from the next frame" for good:
    minutes later it still read as a pending request, beside the follower's own line."""
    app, c = fallback_app, fallback_app.controls
    c.start_button.value = True
    assert until(lambda: app.frames_shown > 0 and "following person" in c.status.value, timeout=60)
    app.live.widget._on_message(app.live.widget, {"type": "click", "x": 0.5, "y": 0.5}, [])  # a click
    assert "following whoever is at (270,480) from the next frame" in c.status.value
    assert until(lambda: "following whoever is at" not in c.status.value, timeout=10)
    assert "following person" in c.status.value and app.engine.running


def test_a_finished_file_shows_no_follow_line(tmp_path):
    """At the end of a file the follower's last line stayed ("person 1 hidden: frames missing
    until they reappear" under "finished"), though nothing runs to see anyone reappear."""
    app = PoseApp(source="sample", lifter=None, out_dir=None, loop=False, pace=False)
    try:
        c = app.controls
        c.start_button.value = True
        assert until(lambda: app.engine.finished, timeout=120)
        last_line = app.engine.follow_status
        assert last_line  # the detector still has one: what the status must not show any more
        assert until(lambda: "finished" in c.status.value and c.start_button.description == "Start")
        assert last_line not in c.status.value, c.status.value
    finally:
        app.close()


def _status_lines(app) -> list[str]:
    return app.controls.status.value.split("<br>")


def test_stop_keeps_the_follow_line_saying_whom_it_last_followed(fallback_app):
    """On Stop the line saying whom the engine follows went away, and everything under the
    status (the video, the 3D view) moved up by a line. It stays, with whom it last followed
    (not the follower's own line, which would read as still true)."""
    app, c = fallback_app, fallback_app.controls
    c.start_button.value = True
    assert until(lambda: "following person 1" in c.status.value, timeout=60)
    running_lines = len(_status_lines(app))
    c.start_button.value = False
    assert until(lambda: "stopped" in c.status.value)
    lines = _status_lines(app)
    assert len(lines) == running_lines, lines
    assert lines[-1].startswith("last followed person 1"), lines
    assert "following person" not in c.status.value
    c.start_button.value = True  # running again: the follower's own line
    assert until(lambda: "following person 1" in c.status.value, timeout=60)
    assert "last followed" not in c.status.value


def test_a_stop_before_anyone_was_followed_keeps_a_blank_follow_line(tmp_path, monkeypatch):
    """Nobody followed yet ("nobody in view yet: waiting to follow ..."), then Stop: the line
    stays, blank, so that nothing under it moves; a message takes its place."""
    import dataclasses

    from pose3d_nb.engine import PoseEngine

    app = PoseApp(source="sample", lifter=None, out_dir=None)
    app.close()  # no display thread: the status is refreshed by calling it here
    stats = app.engine.stats()
    monkeypatch.setattr(PoseEngine, "follow_status", property(lambda self: "nobody in view yet: waiting"))
    monkeypatch.setattr(app.engine, "stats", lambda: dataclasses.replace(stats, running=True))
    app._refresh_status()
    running_lines = _status_lines(app)
    assert running_lines[-1] == "nobody in view yet: waiting</div>"
    monkeypatch.setattr(app.engine, "stats", lambda: dataclasses.replace(stats, running=False, frames_in=5))
    app._refresh_status()
    lines = _status_lines(app)
    assert len(lines) == len(running_lines) and lines[-1] == "&nbsp;</div>", lines
    app._message = "source: sample"
    app._refresh_status()
    assert _status_lines(app)[-1] == "source: sample</div>"


def test_the_reset_view_button_resets_the_3d_view(tmp_path):
    """The button under the 3D view puts an orbited camera back (``Skeleton3D.reset_view``)."""
    app = PoseApp(source="sample", lifter=None, out_dir=None)
    app.close()
    view = app.view3d
    home = view.camera.position
    view.camera.position, view.controls.target = (3.0, -1.0, 0.4), (0.5, 0.2, 0.0)  # as after a drag
    app.reset_view_button.click()
    assert view.camera.position == home and tuple(view.controls.target) == (0.0, 0.0, 0.0)


def test_the_trail_starts_afresh_when_another_person_is_followed(tmp_path, monkeypatch):
    """After a click on someone else the 3D view's pelvis trail ran on from the person followed
    before: for two seconds a line crossed the floor from one person to the other. The 3D trails
    the video by the lookahead (2 frames here): the old person's last poses still extend the
    old trail, the new person's first one starts a new one."""
    from pose3d_nb.detectors.detection import Detection
    from pose3d_nb.engine.live import LiveView
    from pose3d_nb.skeleton import H36M

    app = PoseApp(source="sample", lifter=None, out_dir=None)
    app.close()  # no display thread: the views below are shown by calling its refresh here
    person = {1: np.zeros((17, 3)), 2: np.zeros((17, 3))}
    person[2][:, 0] = 3.0  # three metres to the side
    lag, switch = 2, 10
    image = np.zeros((36, 64, 3), np.uint8)

    def view(i: int) -> LiveView:
        followed = 1 if i < switch else 2
        pose = person[1 if i - lag < switch else 2] + [0.01 * i, 0, 0]  # walking slowly
        detection = Detection(np.zeros((17, 2), np.float32), np.ones(17, np.float32),
                              np.zeros(4, np.float32), (64, 36), i / 30, i, {"track_id": followed})
        return LiveView(image, detection, i, pose, True, i - lag)

    pelvis = H36M.index("pelvis")
    for i in range(lag, switch + 6):
        shown = view(i)
        monkeypatch.setattr(app.engine, "latest_view", lambda shown=shown: shown)
        app._refresh_once()
        trail_x = app.view3d.trail[:, 0]
        newest = float(person[1 if i - lag < switch else 2][pelvis, 0] + 0.01 * i)
        assert trail_x[-1] == pytest.approx(newest, abs=1e-6)
        # One person's path only: every point of the trail within a step of the newest.
        assert np.abs(trail_x - trail_x[-1]).max() < 0.5, (i, trail_x)


def test_the_plot_goes_under_a_landscape_video_and_back_beside_a_portrait_one(tmp_path):
    """The plot sat under the 3D view whatever the video's shape: beside a landscape frame (most
    webcams; the two-person sample) the area under the video stayed empty, 210 px at 16:9."""
    import cv2

    landscape = tmp_path / "landscape.mp4"
    video = cv2.VideoWriter(str(landscape), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 360))
    for k in range(30):
        video.write(np.full((360, 640, 3), 60 + 4 * k, np.uint8))
    video.release()
    app = PoseApp(source=str(landscape), lifter=None, out_dir=None, loop=True, pace=True)
    try:
        video_column, view_column = app.widget.children[3].children
        assert app.plot.widget in view_column.children  # before the first frame: as before
        app.start()
        assert until(lambda: app.frames_shown > 0)
        assert list(video_column.children) == [app.live.widget, app.plot.widget]
        (view_panel,) = view_column.children
        assert app.view3d.widget in view_panel.children  # with its reset button
        app.controls.source_box.value = "sample"  # 540x960, portrait
        assert until(lambda: app.plot.widget in view_column.children)
        assert list(video_column.children) == [app.live.widget]
        assert list(view_column.children) == [view_panel, app.plot.widget]
    finally:
        app.close()



def _documented_app_options(document: str) -> dict:
    """The keywords of the ``app = PoseApp(...)`` line of a document's notebook snippet."""
    import ast
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / document).read_text()
    line = next(line for line in text.splitlines() if line.startswith("app = PoseApp("))
    call = ast.parse(line.split("#")[0].strip()).body[0].value
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}


def test_the_readme_notebook_snippet_runs_twice_in_the_same_folder(tmp_path, monkeypatch):
    # README's PoseApp(source="sample", loop=True, pace=True) recorded to ./out_files; run
    # again (a notebook's cell, the next day), start refused the complete session there.
    monkeypatch.chdir(tmp_path)
    options = _documented_app_options("README.md")
    for _ in range(2):
        with PoseApp(**options) as app:
            app.start()
            assert app.wait(frames=5, timeout=120)
            app.stop()
            assert app.engine.error is None
    assert (tmp_path / "out_files" / "session.npz").is_file()
    # docs/notebook.md's snippet records to the same default folder: it must say so too.
    assert _documented_app_options("docs/notebook.md").get("overwrite") is True
