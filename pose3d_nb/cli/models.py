"""``pose3d models``: the known checkpoints and detector models, and fetching one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose3d_nb.cli.common import UsageError


def cmd_models(args: argparse.Namespace) -> int:
    from pose3d_nb.detectors.blazepose_models import VARIANTS
    from pose3d_nb.lifting.weights import KNOWN_CHECKPOINTS, FetchError, fetch, model_dir, sha256_of

    directory = Path(args.dir) if args.dir else model_dir()
    if args.action == "fetch":
        if not args.name:
            raise UsageError("usage: pose3d models fetch NAME")
        # Names in any case, as --detector takes them ("MediaPipe-Heavy" is "mediapipe-heavy").
        known_names = {name.lower(): name for name in (*(k.name for k in KNOWN_CHECKPOINTS), *VARIANTS)}
        args.name = known_names.get(args.name.lower(), args.name)
        if args.name in VARIANTS:
            if args.dir:  # the detector reads its models from the cache only: a file elsewhere is never used
                raise UsageError(
                    f"--dir is the lifter checkpoint folder; {args.name} goes to the cache the detector "
                    "reads ($POSE3D_CACHE_DIR, else $XDG_CACHE_HOME/pose3d_nb or ~/.cache/pose3d_nb): set "
                    "POSE3D_CACHE_DIR instead"
                )
            return _fetch_detector_model(args.name)
        try:
            path = fetch(args.name, directory)
        except KeyError:
            # fetch knows only the checkpoints; the detector models are fetched here too.
            known = ", ".join([*(k.name for k in KNOWN_CHECKPOINTS), *VARIANTS])
            if args.name.lower() in {"mediapipe", "mediapipe-full", "mediapipe-people"}:
                raise UsageError(f"{args.name} (BlazePose Full) ships inside the mediapipe package: "
                                 f"nothing to fetch; fetched models: {known}") from None
            raise UsageError(f"unknown model {args.name!r}; known: {known}") from None
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"saved {path} ({path.stat().st_size} bytes, sha256 {sha256_of(path)})")
        return 0
    print(f"checkpoint folder: {directory}")
    for known in KNOWN_CHECKPOINTS:
        path = directory / known.filename
        present = "present" if path.is_file() else "missing"
        size = f"{known.size_bytes} B" if known.size_bytes else "size unknown"
        digest = known.sha256 or "sha256 unknown"
        usable = "usable" if known.usable else "not usable here"
        print(f"  {known.name:22s} {present:8s} {usable:16s} RF {known.receptive_field:3d}  {known.url}")
        print(f"  {'':22s} input {known.input_layout}; {size}; {digest}; {known.note}")
    from pose3d_nb.lifting.choice import choose_lifter, shipped_checkpoint, shipped_meta

    shipped, meta = shipped_checkpoint(), shipped_meta()
    print(f"shipped with the package: {shipped} ({shipped.stat().st_size} B, sha256 {sha256_of(shipped)})")
    print(
        f"  trained by `pose3d train` on motion capture, {meta.get('steps')} steps; held-out mocap MPJPE "
        f"{meta.get('held_out_mpjpe_mm')} mm; data: {meta.get('data')}"
    )
    print(f"in use with --lifter auto: {choose_lifter('auto', world_landmark_weight=None).name}")
    from pose3d_nb.detectors.blazepose_models import cached_path

    print("detector models not in the mediapipe wheel (pose3d models fetch NAME):")
    for name, model in VARIANTS.items():
        path = cached_path(model)
        state = "present" if path.is_file() else "missing"
        print(f"  {name:22s} {state:8s} {path} ({model.size_bytes} B, sha256 {model.sha256})")
    return 0


def _fetch_detector_model(name: str) -> int:
    from pose3d_nb.detectors.blazepose_models import fetch_model
    from pose3d_nb.lifting.weights import sha256_of

    path = fetch_model(name)  # ModelFetchError: one line from cli.main, exit 1
    print(f"saved {path} ({path.stat().st_size} bytes, sha256 {sha256_of(path)})")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d models`` to the command line."""
    models = commands.add_parser(
        "models", help="list known checkpoints and detector models, or fetch one (e.g. mediapipe-heavy)"
    )
    models.add_argument("action", nargs="?", choices=["list", "fetch"], default="list",
                        help="list (the default): the known checkpoints and detector models, which "
                             "are present and which lifter auto runs; fetch: download NAME")
    models.add_argument("name", nargs="?", metavar="NAME",
                        help="fetch: a known checkpoint or detector model, any case (pose3d models "
                             "lists them: e.g. h36m_detectron_coco, mediapipe-heavy)")
    models.add_argument("--dir", help="checkpoint folder (default: model/ or $POSE3D_MODEL_DIR); detector "
                        "models go to $POSE3D_CACHE_DIR (default ~/.cache/pose3d_nb)")
    models.set_defaults(func=cmd_models)
