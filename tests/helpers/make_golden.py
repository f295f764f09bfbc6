"""Regenerate mediapipe_sample.json: run from the repository root with
``.venv/bin/python tests/helpers/make_golden.py`` after a deliberate change of the 2D output.

Every 10th frame is detected on its own (static image mode, no person following, no left/right
fix): MediaPipe's video mode feeds each frame's landmarks into the next frame's crop, which
amplifies the CPU-dependent rounding of its kernels into pixels (the same video gave up to 8 px
apart on two x86 machines), while a single image gives the same answer wherever it runs.
Following and the left/right fix are tested on their own in test_detectors.py."""

from __future__ import annotations

import json
from pathlib import Path

import mediapipe

from pose3d_nb.detectors import create_detector
from pose3d_nb.sources import SAMPLE_FILE, open_source

EVERY = 10
OUT = Path(__file__).resolve().parents[1] / "golden" / "mediapipe_sample.json"


def main() -> None:
    frames, keypoints, scores = [], [], []
    options = {"static_image_mode": True, "follow": False, "fix_left_right": False}
    with open_source("sample") as source, create_detector("mediapipe", **options) as detect:
        for frame in source:
            if frame.index % EVERY == 0:
                detection = detect(frame)
                frames.append(frame.index)
                keypoints.append([[round(float(v), 1) for v in point] for point in detection.keypoints])
                scores.append([round(float(s), 3) for s in detection.scores])
    OUT.write_text(
        json.dumps(
            {
                "what": f"COCO-17 keypoints (pixels) of every {EVERY}th frame of the bundled {SAMPLE_FILE}",
                "detector": "mediapipe Pose model_complexity=1, static images, no follow or left/right fix",
                "mediapipe": mediapipe.__version__,
                "frames": frames,
                "keypoints": keypoints,
                "scores": scores,
            },
            indent=None,
        )
        + "\n"
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
