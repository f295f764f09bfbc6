"""BlazePose's landmark network on a region we choose: its tracking step, without its detector.

MediaPipe's pose solutions track a person by running the landmark network on a rotated square
around where the person was in the previous frame, and run the (slower, less reliable) person
detector only when that fails. Inside the Tasks ``PoseLandmarker`` that region is MediaPipe's
own: with two people overlapping it can slide from one to the other and take the landmarks
with it. :class:`RoiLandmarks` runs the same network (MediaPipe's ``PoseLandmarkByRoiCpu``
graph, from the files in the mediapipe wheel, no download) on a region the caller gives, so
each tracked person keeps a region of their own (``people_landmarks.PeopleLandmarker``).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from pose3d_nb.detectors.base import DetectorUnavailable
from pose3d_nb.detectors.native_logs import QUIET_RUNS, first_runs_quiet, quiet_native_logs
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError

_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
output_stream: "LANDMARKS:landmarks"
output_stream: "AUXILIARY_LANDMARKS:alignment"
output_stream: "WORLD_LANDMARKS:world_landmarks"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "AUXILIARY_LANDMARKS:alignment"
  output_stream: "WORLD_LANDMARKS:world_landmarks"
}
"""

ROI_SCALE = 1.25
"""BlazePose's margin around the circle its two alignment points span (the side is
``2 * ROI_SCALE`` times their distance)."""


@dataclass(frozen=True)
class Roi:
    """A rotated square in an image: centre ``(x, y)`` and ``side`` in pixels, ``rotation`` in
    radians (MediaPipe's convention: 0 for an upright person, positive clockwise on screen)."""

    x: float
    y: float
    side: float
    rotation: float = 0.0

    def shifted(self, dx: float, dy: float) -> Roi:
        return Roi(self.x + dx, self.y + dy, self.side, self.rotation)

    def scaled(self, factor: float) -> Roi:
        """The same centre and rotation, ``factor`` times the side."""
        return Roi(self.x, self.y, self.side * factor, self.rotation)

    def alignment_points(self) -> np.ndarray:
        """(2, 2) pixels: the two alignment points this region comes from (``roi_from_alignment``)."""
        radius = self.side / (2.0 * ROI_SCALE)
        up = np.array([math.sin(self.rotation), -math.cos(self.rotation)])
        return np.array([[self.x, self.y], [self.x + radius * up[0], self.y + radius * up[1]]])


def roi_from_alignment(centre: np.ndarray, scale_point: np.ndarray) -> Roi:
    """The region BlazePose tracks from its two alignment points (pixels): the body centre
    (between the hips) and a point whose distance from it is the body's radius, in the
    direction the body's top is."""
    dx, dy = (np.asarray(scale_point, float) - np.asarray(centre, float))[:2]
    radius = math.hypot(dx, dy)
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
    return Roi(float(centre[0]), float(centre[1]), 2.0 * ROI_SCALE * radius, rotation)


def roi_from_landmarks(points: np.ndarray) -> Roi:
    """A starting region from (33, >=2) BlazePose landmark pixels (a person found by the
    detector): centred between the hips, turned from the hips towards the shoulders, its radius
    the farthest landmark from the hip centre."""
    points = np.asarray(points, float)[:, :2]
    hips = points[[23, 24]].mean(axis=0)
    shoulders = points[[11, 12]].mean(axis=0)
    up = shoulders - hips
    norm = float(np.linalg.norm(up))
    up = up / norm if norm > 1e-6 else np.array([0.0, -1.0])
    finite = points[np.isfinite(points).all(axis=1)]
    radius = float(np.linalg.norm(finite - hips, axis=1).max()) if len(finite) else 1.0
    return roi_from_alignment(hips, hips + up * max(radius, 1.0))


@dataclass(frozen=True)
class RoiPerson:
    """The landmarks found in one region.

    Attributes:
        points: (33, 4) float x, y pixels of the whole image, z (BlazePose's relative depth, in
            the units of x), visibility in [0, 1].
        world: (33, 3) float32 metres, hip-centred (BlazePose's world landmarks).
        alignment: (2, 2) float pixels, the body centre and scale point for the next region.
    """

    points: np.ndarray
    world: np.ndarray
    alignment: np.ndarray

    def next_roi(self) -> Roi:
        return roi_from_alignment(self.alignment[0], self.alignment[1])


def region_workers(workers: int | None) -> int:
    """The threads for regions run side by side: ``workers``, or None for the CPUs this process
    may use, at most 4.

    Raises:
        Pose3DValueError: ``workers`` is not an integer >= 1.
    """
    if workers is None:
        return min(_available_cpus(), 4)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise Pose3DValueError(
            f"workers must be an integer >= 1 (None: the CPUs, at most 4), got {workers!r}"
        )
    return workers


def _available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS says, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class RoiLandmarks:
    """``RoiLandmarks()(image, roi) -> RoiPerson | None``: BlazePose's landmarks in ``roi``.

    None when the network says no person is in the region (its presence score below
    MediaPipe's 0.5). Stateless between calls, so one instance serves every tracked person;
    ``map`` runs several regions of one frame side by side.

    Args:
        model_complexity: 0 Lite, 1 Full (in the wheel), 2 Heavy (``pose3d models fetch``).
        workers: threads ``map`` may use (each with a network of its own; MediaPipe releases
            the GIL while it runs). Default: the CPUs this process may use, at most 4.
    """

    def __init__(self, model_complexity: int = 1, workers: int | None = None) -> None:
        try:
            from mediapipe.framework.formats import rect_pb2
            from mediapipe.python import solution_base
        except ImportError as exc:
            raise DetectorUnavailable(f"mediapipe is not installed ({exc}): pip install mediapipe") from exc
        self._rect = rect_pb2.NormalizedRect
        self._solution_base = solution_base
        self._complexity = int(model_complexity)
        self.workers = region_workers(workers)
        self._cold: dict = {}  # graph -> its first runs left in a quiet window
        self._graphs = [self._new_graph()]
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def _new_graph(self):
        with quiet_native_logs():
            graph = self._solution_base.SolutionBase(
                graph_config=_GRAPH,
                side_inputs={"model_complexity": self._complexity},
                outputs=["landmarks", "alignment", "world_landmarks"],
            )
        self._cold[graph] = QUIET_RUNS  # its first runs print MediaPipe's start-up notices
        return graph

    def __call__(self, image: np.ndarray, roi: Roi) -> RoiPerson | None:
        """``image`` (H, W, 3) uint8 RGB; ``roi`` in its pixels."""
        if self._closed:
            raise Pose3DRuntimeError("these region landmarks are closed")
        return self._run(self._graphs[0], np.ascontiguousarray(image), roi)

    def map(self, image: np.ndarray, rois: list[Roi]) -> list[RoiPerson | None]:
        """Each of ``rois``' landmarks in ``image``, as ``__call__`` gives them, in order. Up to
        ``workers`` regions run at once: two people a frame took 65 ms instead of 104 on 2 CPU
        cores (1088x1920 frames, Full)."""
        if self._closed:
            raise Pose3DRuntimeError("these region landmarks are closed")
        image = np.ascontiguousarray(image)
        lanes = min(self.workers, len(rois))
        if lanes <= 1:
            return [self._run(self._graphs[0], image, roi) for roi in rois]
        while len(self._graphs) < lanes:
            self._graphs.append(self._new_graph())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="pose3d-regions")
        # One lane per network: a MediaPipe graph runs one packet at a time.
        lanes_of = [self._pool.submit(self._run_lane, self._graphs[lane], image, rois[lane::lanes])
                    for lane in range(lanes)]
        wait(lanes_of)  # every lane done, even when one failed: no graph is left running
        results: list[RoiPerson | None] = [None] * len(rois)
        for lane, future in enumerate(lanes_of):
            results[lane::lanes] = future.result()  # the first failure, if any, raises here
        return results

    def _run_lane(self, graph, image: np.ndarray, rois: list[Roi]) -> list[RoiPerson | None]:
        return [self._run(graph, image, roi) for roi in rois]

    def _run(self, graph, image: np.ndarray, roi: Roi) -> RoiPerson | None:
        height, width = image.shape[:2]
        rect = self._rect(x_center=roi.x / width, y_center=roi.y / height, width=roi.side / width,
                          height=roi.side / height, rotation=roi.rotation)
        result = first_runs_quiet(self._cold, graph, graph.process, {"image": image, "roi": rect})
        if result.landmarks is None or result.alignment is None:
            return None
        scale = np.array([width, height, width], np.float64)
        points = np.array([(p.x, p.y, p.z, p.visibility) for p in result.landmarks.landmark], np.float64)
        points[:, :3] *= scale
        points[:, 3] = np.clip(points[:, 3], 0.0, 1.0)
        alignment = np.array([(p.x * width, p.y * height) for p in result.alignment.landmark[:2]])
        world = np.array([(p.x, p.y, p.z) for p in result.world_landmarks.landmark], np.float32)
        return RoiPerson(points=points, world=world, alignment=alignment)

    def close(self) -> None:
        if not self._closed:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            for graph in self._graphs:
                graph.close()
            self._graphs = []
            self._closed = True
