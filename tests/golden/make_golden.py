"""Regenerate mediapipe_sample.json: run from the repository root with
``.venv/bin/python tests/golden/make_golden.py`` after a deliberate change of the 2D output."""

from __future__ import annotations

import json
from pathlib import Path

import mediapipe

from pose3d_nb.detectors import create_detector
from pose3d_nb.sources import SAMPLE_FILE, open_source

EVERY = 10
OUT = Path(__file__).with_name("mediapipe_sample.json")


def main() -> None:
    frames, keypoints, scores = [], [], []
    with open_source("sample") as source, create_detector("mediapipe") as detect:
        for frame in source:
            detection = detect(frame)  # every frame: MediaPipe's video mode depends on the history
            if frame.index % EVERY == 0:
                frames.append(frame.index)
                keypoints.append([[round(float(v), 1) for v in point] for point in detection.keypoints])
                scores.append([round(float(s), 3) for s in detection.scores])
    OUT.write_text(
        json.dumps(
            {
                "what": f"COCO-17 keypoints (pixels) of every {EVERY}th frame of the bundled {SAMPLE_FILE}",
                "detector": "mediapipe Pose model_complexity=1, video mode, pose3d_nb defaults",
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
