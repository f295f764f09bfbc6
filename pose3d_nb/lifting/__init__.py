"""2D keypoints -> 3D joints: the VideoPose3D model, its checkpoints, offline and streaming inference."""
