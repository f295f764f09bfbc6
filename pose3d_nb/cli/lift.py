"""``pose3d lift``: a (T, 17, 2) keypoint array to 3D joints."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from pose3d_nb.cli.common import UsageError, positive_count
from pose3d_nb.cli.world_args import add_world_arguments, world_options
from pose3d_nb.settings import DEFAULTS


def _load_keypoints(path: Path) -> np.ndarray:
    from pose3d_nb.lifting.keypoints import check_keypoints

    if not path.is_file():
        raise UsageError(f"keypoints file not found: {path}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as exc:  # EOFError: an empty file
        raise UsageError(f"{path} is not a plain numeric .npy array ({exc})") from None
    if isinstance(array, np.lib.npyio.NpzFile):  # np.load opens an archive lazily, reads nothing
        array.close()
        raise UsageError(f"{path} is a .npz archive: save the (T, 17, 2) array alone with numpy.save (.npy)")
    try:
        return check_keypoints(array, what=str(path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _checkpoint(spec: str) -> tuple[Path, bool]:
    """``--lifter`` (old name ``--checkpoint``) as ``pose3d run --lifter`` reads it: the file,
    and whether it is the shipped lifter ("shipped", or "auto" without an official checkpoint in
    ``model/``). A file path is a checkpoint of its own there and here (no lean table; zoomed
    only if its meta says it was trained on zoomed 2D, ``checkpoint.trained_zoom_height``),
    whatever it holds."""
    from pose3d_nb.lifting.choice import shipped_checkpoint
    from pose3d_nb.lifting.weights import find_checkpoint

    official = find_checkpoint() if spec.lower() == "auto" else None
    if spec.lower() == "shipped" or (spec.lower() == "auto" and official is None):
        return shipped_checkpoint(), True
    path = official or Path(spec).expanduser()
    if not path.suffix and not path.exists():  # a name, as ``choose_lifter`` tells them from paths
        why = (": it lifts MediaPipe's own 3D landmarks, which a keypoint file does not hold (pose3d run "
               "--lifter mediapipe)") if spec.lower() == "mediapipe" else ""
        raise UsageError(
            f"unknown lifter {spec!r}{why}; pose3d lift takes shipped, auto or a checkpoint path"
        )
    return path, False


def _grounded(args: argparse.Namespace, joints, keypoints, valid, size, lean) -> np.ndarray:
    """``--grounded``: the lifted camera-frame poses placed in the world (``pose3d_nb.world``),
    with ``lean`` (the lifter's lean habit, ``world.lean``, or None) turned back out."""
    from pose3d_nb.world import WorldTracker, place_clip, resolve_intrinsics

    options = world_options(args)
    if not args.stream:
        intrinsics = resolve_intrinsics(*size, options["camera"], options["fov"], options["focal"])
        placed = place_clip(joints, keypoints, intrinsics, valid=valid, height=options["height"], lean=lean,
                            fps=_fps(args))
        # What a recording's metadata says of its camera (camera_*, focal_*): the .npy holds none.
        print(f"camera: pitch {placed.frame.pitch_deg:.1f} deg, roll {placed.frame.roll_deg:.1f} deg, "
              f"height {placed.frame.height:.2f} m (up from the {placed.up_source}), focal "
              f"{intrinsics.fx:.0f} px ({intrinsics.source})")
        return placed.joints
    tracker = WorldTracker(**options, fps=_fps(args), lean=lean)
    frames = zip(joints, keypoints, valid, strict=True)
    return np.stack([tracker.push(pose, points, None, size, bool(ok))[0] for pose, points, ok in frames])


#: A keypoint file says no frame rate: without --fps the placement takes this one (as its own
#: default, ``place_clip`` and ``WorldTracker``).
ASSUMED_FPS = 30.0


def _fps(args: argparse.Namespace) -> float:
    return ASSUMED_FPS if args.fps is None else float(args.fps)


def _zoom_of(args: argparse.Namespace) -> float | None:
    """The person height the weights of ``--lifter`` are zoomed to (None: lifted as framed;
    ``--no-zoom``, or weights whose meta does not say they were trained zoomed). Zoomed weights
    also have each frame's rays turned to the person, with the lens given or the default one."""
    from pose3d_nb.lifting.checkpoint import trained_zoom_height

    return None if args.no_zoom else trained_zoom_height(_checkpoint(args.lifter)[0])


def check_lift_options(args: argparse.Namespace) -> None:
    """``pose3d lift``'s own values, before anything is lifted (``cli.main`` runs it first; a
    ``Pose3DValueError`` here is a refusal of the command line, exit status 2): --bones with
    --stream; the lens and height options, and --window and --lookahead: the height only places
    the poses, the lens places them and turns the rays of zoomed weights (``lifting.rays``), and
    the others only step the streaming lifter, so where they would change nothing they are
    refused, and a bad value should not wait for the lift. A checkpoint path that is not a
    file, and a --window or --lookahead beyond what the lifter sees, are refused here too."""
    from pose3d_nb.lifting.choice import check_lift_limits
    from pose3d_nb.lifting.protocol import LiftSettings
    from pose3d_nb.world.intrinsics import resolve_intrinsics
    from pose3d_nb.world.scale import check_height

    if args.fps is not None:
        if not (math.isfinite(args.fps) and args.fps > 0):
            raise UsageError(f"--fps must be a positive frame rate, got {args.fps:g}")
        if not args.grounded:  # only the placement's times use it
            raise UsageError("--fps: used only with --grounded, which places the poses in the room")
    if args.stream and args.bones == "held":
        raise UsageError("--bones held needs the whole clip: not with --stream")
    options = world_options(args)
    given = [f"--{name}" for name, value in options.items() if value is not None]
    streamed = [f"--{name}" for name in ("window", "lookahead") if getattr(args, name) is not None]
    if streamed and not args.stream:  # they were ignored offline, where every frame sees the whole clip
        raise UsageError(f"{', '.join(streamed)}: used only with --stream, which lifts frame by frame")
    # A negative one: before the model loads.
    lift = LiftSettings(args.window or 0, args.lookahead or 0, args.flip)
    checkpoint, _ = _checkpoint(args.lifter)  # an unknown name
    if not checkpoint.is_file():  # was found when the lift loaded it (exit 1), as pose3d run and batch did
        raise UsageError(f"lifter {args.lifter!r} is neither shipped, auto nor a checkpoint file")
    if args.stream:  # beyond the receptive field: refused as pose3d run and batch refuse it
        check_lift_limits(str(checkpoint), lift)
    lens_given = any(options[name] is not None for name in ("camera", "fov", "focal"))
    if given and not args.grounded:
        # The lens also turns the rays of zoomed weights; the height only places the poses.
        turned = lens_given and _zoom_of(args) is not None
        unused = [f"--{name}" for name, value in options.items()
                  if value is not None and (name == "height" or not turned)]
        if unused:
            why = "" if turned or not lens_given else (
                " (and the lens with weights that are zoomed, whose rays it turns: not these)")
            raise UsageError(f"{', '.join(unused)}: used only with --grounded, which places the poses in "
                             f"the room{why}")
    if lens_given:  # each value, and a calibration for another aspect ratio than --size
        resolve_intrinsics(*args.size, options["camera"], options["fov"], options["focal"])
    if options["height"] is not None:
        check_height(options["height"])


def _output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """``--out`` and the ``_valid.npy`` mask beside it, checked before anything is lifted: neither
    may be the keypoints file, a folder, a recording (``--overwrite`` or not), or (without
    ``--overwrite``) a file that exists."""
    from pose3d_nb.recording.folder import recording_part

    out = Path(args.out).expanduser()
    valid_path = out.with_name(out.stem + "_valid.npy")
    source = Path(args.keypoints).expanduser().resolve()
    for path in (out, valid_path):
        if path.resolve() == source:
            raise UsageError(f"--out would write {path} over the keypoints lifted; choose another --out")
        if path.is_dir():
            raise UsageError(f"--out: {path} is a folder; name a .npy file (in it, if you like)")
        replaced = recording_part(path)
        if replaced is not None:  # --overwrite names an earlier lift's output, never a recording
            raise UsageError(f"--out: {path} is {replaced}, which pose3d lift never replaces; "
                             "choose another --out")
        if (path.exists() or path.is_symlink()) and not args.overwrite:
            raise UsageError(f"{path} exists; pass --overwrite to replace it, or choose another --out")
    return out, valid_path


def cmd_lift(args: argparse.Namespace) -> int:
    from pose3d_nb.lifting.bones import hold_bone_lengths
    from pose3d_nb.lifting.checkpoint import load_model
    from pose3d_nb.lifting.offline import lift_sequence
    from pose3d_nb.lifting.rays import RayCentring, turn_back
    from pose3d_nb.lifting.streaming import StreamingLifter
    from pose3d_nb.lifting.world import camera_to_world, rebase_floor
    from pose3d_nb.lifting.zoom import ScreenZoom
    from pose3d_nb.recording.files import atomic_file
    from pose3d_nb.world.lean import shipped_lean_bias

    out, valid_path = _output_paths(args)  # its values were checked first (check_lift_options)
    checkpoint, shipped = _checkpoint(args.lifter)
    # Which one "auto" (the default) took, as pose3d run says it.
    print(f"lifter: {'shipped, ' if shipped else ''}{checkpoint}")
    keypoints = _load_keypoints(Path(args.keypoints))
    size = tuple(args.size)
    model = load_model(checkpoint, causal=args.causal)
    # Weights trained on zoomed 2D (the shipped lifter's meta says so) see the person at that
    # size, as the engine runs them (``lifting.zoom``); the lean table was measured on the
    # shipped lifter so (``world.lean``).
    zoom = _zoom_of(args)
    lean_known = shipped and zoom  # the lean table was measured on the shipped lifter, zoomed
    # Zoomed weights see each frame as a camera turned to the person would (``lifting.rays``), as
    # the engine runs them, with the lens given (--fov/--focal/--camera) or the default one.
    options = world_options(args)
    lens = {name: options[name] for name in ("camera", "fov", "focal")} if zoom else None
    bones = "the lifter's own bone lengths"
    window, lookahead = args.window or 0, args.lookahead or 0  # None: not given (only --stream takes them)
    if args.stream:
        lifter = StreamingLifter(model, window=window, lookahead=lookahead, flip=args.flip)
        screen_zoom = ScreenZoom(zoom) if zoom else None
        centring = RayCentring(**lens) if lens is not None else None
        outputs, rotations = [], []
        for frame in keypoints:
            if centring is not None:
                frame, rotation = centring(frame, size)
                rotations.append(rotation)
            outputs += lifter.push(screen_zoom(frame, size) if screen_zoom else frame, size)
        outputs += lifter.flush()
        joints = np.stack([o.joints for o in outputs])
        if centring is not None:  # each output frame back from its own turned camera
            joints = turn_back(joints, np.stack([rotations[o.frame] for o in outputs]))
        valid = np.array([o.valid for o in outputs])
    else:
        lifted = lift_sequence(model, keypoints, size, flip=args.flip, zoom_height=zoom, lens=lens)
        joints, valid = lifted.joints, lifted.valid
        # One body for the clip (lifting.bones), by default for the shipped lifter unless the output
        # must stay causal (--causal: frame t from frames up to t; held lengths use the whole clip).
        if (args.bones or ("held" if shipped and not args.causal else "free")) == "held":
            joints = hold_bone_lengths(joints, valid)
            bones = "bones held at their clip medians"
    if args.world:
        joints = rebase_floor(camera_to_world(joints), per_frame=args.stream)
    elif args.grounded:
        lean = shipped_lean_bias() if lean_known else None
        joints = _grounded(args, joints, keypoints, valid, size, lean)
    for path, array in ((out, joints.astype(np.float32)), (valid_path, valid)):
        with atomic_file(path) as handle:  # a stop half way leaves the old file, not a torn one
            np.save(handle, array)  # to the path as named (np.save(path) would add ".npy")
    mode = f"offline, {bones}"
    if args.stream:
        mode = f"streaming (window {window}, lookahead {lookahead})"
    print(
        f"lifted {len(joints)} frames ({mode}, receptive field {model.arch.receptive_field}, "
        f"{'world' if args.world or args.grounded else 'camera'} space, flip={args.flip}, "
        f"{f'zoomed to a person {zoom} screen units tall' if zoom else 'no zoom'}"
        f"{', lean removed' if args.grounded and lean_known else ''}) -> {out}; "
        f"{int((~valid).sum())} frames without a detection, mask in {valid_path}"
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d lift`` to the command line."""
    lift = commands.add_parser("lift", help="lift a (T, 17, 2) COCO pixel keypoint array to 3D")
    lift.add_argument("keypoints", help=".npy file, shape (T, 17, 2), COCO order, pixels, NaN = missing")
    lift.add_argument(
        "--size", nargs=2, type=positive_count, required=True, metavar=("W", "H"), help="frame size in pixels"
    )
    lift.add_argument(
        # The main name and the default as pose3d run and batch have them ("auto" picks the same
        # network there: the official checkpoint in model/, else the shipped one); --checkpoint,
        # its old name, stays an alias, as there.
        "--lifter", "--checkpoint", dest="lifter", default=DEFAULTS.lifter, metavar="LIFTER",
        help=f"shipped, auto (the official checkpoint in model/, else shipped; default: {DEFAULTS.lifter}, "
        "as pose3d run) or a VideoPose3D checkpoint file (--checkpoint: old name)",
    )
    lift.add_argument(
        # The package's default, as pose3d run, PoseEngine and Pose3D take it (and VideoPose3D's
        # run.py, whose --no-test-time-augmentation turns it off); better offline on held-out
        # mocap too (docs/benchmarks.md).
        "--flip", action=argparse.BooleanOptionalAction, default=DEFAULTS.flip,
        help=f"test-time flip augmentation (default: {'on' if DEFAULTS.flip else 'off'}, from the package "
        "settings, pose3d_nb.settings.DEFAULTS, as pose3d run)",
    )
    lift.add_argument("--causal", action="store_true", help="run the causal variant of the model")
    lift.add_argument(
        "--no-zoom", action="store_true",
        help="the shipped lifter (--lifter shipped, or auto without an official checkpoint): lift "
        "the 2D as framed, and with --grounded keep its lean (by default the 2D is zoomed to the person "
        "size it lifts best and --grounded removes its lean, as pose3d run does; a checkpoint file is "
        "zoomed when its meta says it was trained on zoomed 2D, as pose3d train now writes). Such "
        "weights are far off as framed (the shipped lifter: 113.2 mm PA-MPJPE on held-out mocap "
        "against 62.8 zoomed, pose3d bench offline-lift); kept to compare",
    )  # fmt: skip
    lift.add_argument(
        "--bones", choices=("held", "free"), default=None,
        help="offline: held = every bone at its median length over the clip, each frame keeping its bone "
        "directions (one body for the whole clip; the default for the shipped lifter: on held-out mocap "
        "about 1 mm better PA-MPJPE and 2-8 mm better --grounded WA-MPJPE, docs/benchmarks.md); free = "
        "each frame's lengths as lifted (the default for a checkpoint file, as VideoPose3D's run.py, "
        "and with --causal, whose rows use no later frame)",
    )  # fmt: skip
    lift.add_argument("--stream", action="store_true", help="frame-by-frame: row t made at time t+L")
    lift.add_argument(
        "--window", type=int, default=None, help="--stream: frames used per step (default 0 = all)"
    )
    lift.add_argument(
        "--lookahead", type=int, default=None, help="--stream: output delay in frames (default 0)"
    )
    space = lift.add_mutually_exclusive_group()
    space.add_argument(
        "--world", action="store_true", help="z-up, floor at z=0 as the original demo does (a fixed camera)"
    )
    space.add_argument(
        "--grounded", action="store_true",
        help="world-grounded (pose3d_nb.world): the path, the camera's pitch/roll/height, one floor; "
        "offline from the whole clip, with --stream frame by frame",
    )  # fmt: skip
    add_world_arguments(lift)
    lift.add_argument(
        "--fps", type=float, default=None,
        help=f"--grounded: the keypoints' frame rate (default {ASSUMED_FPS:g}); the placement smooths "
        "the path over seconds and starts it again after a second without the person",
    )
    lift.add_argument("--out", required=True,
                      help="output .npy (T, 17, 3), written at exactly this path (no suffix added); "
                           "a _valid.npy mask beside it")
    lift.add_argument("--overwrite", action="store_true", help="replace --out and its mask if they exist")
    lift.set_defaults(func=cmd_lift, check=check_lift_options)
