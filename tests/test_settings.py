"""Settings and LiftSettings: every default in one place, checked once for every front."""

from __future__ import annotations

import pytest

from pose3d_nb.benchmarks.lifter import random_model
from pose3d_nb.cli import build_parser, run_settings
from pose3d_nb.engine import PoseEngine
from pose3d_nb.lifting.choice import choose_lifter
from pose3d_nb.lifting.lifter import VideoPose3DLifter
from pose3d_nb.lifting.model import Architecture
from pose3d_nb.lifting.protocol import Lifter, LiftSettings
from pose3d_nb.pose3d import Pose3D
from pose3d_nb.settings import DEFAULTS, Settings
from pose3d_nb.ui.controls import Controls


@pytest.mark.parametrize("bad", [{"window": -1}, {"lookahead": -2}, {"window": 2.5}, {"window": True}])
def test_lift_settings_refuse_what_no_lifter_could_use(bad):
    with pytest.raises(ValueError, match="window|lookahead"):
        LiftSettings(**bad)
    with pytest.raises(ValueError):
        Settings(**bad)


def test_one_check_for_every_lifter_and_every_front():
    model = random_model(Architecture((3, 3, 3), 32))  # receptive field 27, pad 13
    lifter = VideoPose3DLifter(model)
    assert isinstance(lifter, Lifter) and isinstance(choose_lifter("mediapipe"), Lifter)
    with pytest.raises(ValueError, match="between 0 and 13"):
        lifter.settings = LiftSettings(lookahead=14)
    with pytest.raises(ValueError, match="temporal lifter"):
        choose_lifter("mediapipe").settings = LiftSettings(lookahead=1)
    engine = PoseEngine(lifter=model, out_dir=None)
    with pytest.raises(ValueError, match="between 0 and 13"):
        engine.lookahead = 14
    with pytest.raises(ValueError, match="window must be >= 0"):
        engine.window = -1
    for wrong in (3, {"window": 3}):  # a bare AttributeError ('int' object has no attribute ...)
        with pytest.raises(TypeError, match="lift settings must be a LiftSettings"):
            engine.lift_settings = wrong
    assert engine.lift_settings == DEFAULTS.lift  # a refused change changes nothing
    engine.window, engine.flip = 9, not DEFAULTS.flip
    assert engine.settings.window == 9 and engine.settings.flip is not DEFAULTS.flip
    assert engine.lift_settings == LiftSettings(9, 0, not DEFAULTS.flip)
    with pytest.raises(ValueError, match="between 0 and 13"):
        Pose3D(lifter=model, lookahead=20, detector=object())


def test_engine_cli_and_controls_share_the_defaults():
    engine = PoseEngine(out_dir=DEFAULTS.out_dir)
    assert engine.settings == DEFAULTS
    args = build_parser().parse_args(["run"])
    assert run_settings(args) == DEFAULTS
    controls = Controls()
    knobs = (controls.window, controls.lookahead, controls.flip)
    assert knobs == (DEFAULTS.window, DEFAULTS.lookahead, DEFAULTS.flip)
    assert (controls.source, controls.detector) == (DEFAULTS.source, DEFAULTS.detector)
    assert build_parser().parse_args(["run", "--lifter", "mediapipe"]).lifter == "mediapipe"
