"""468 Face Mesh landmarks in a rotated, zoomed crop around one face.

Why a crop: the Face Mesh model sees a 192x192 image. Feeding it a square region 1.5x the face,
rotated so the eyes are level and cut from the *full-resolution* frame, gives every face, however
small in the frame, the same number of model pixels; landmarks are then mapped back to frame pixels.

Two backends:
- ``"roi"`` (default): MediaPipe's own landmark stage (ImageToTensor -> face_landmark.tflite ->
  presence score) as a small calculator graph fed with the frame and the region, exactly what
  MediaPipe's tracking mode does between detections. One model run, no detector: ~4 ms per face.
- ``"static"``: ``mp.solutions.face_mesh.FaceMesh(static_image_mode=True)`` on a crop warped to
  ``crop_size``; it runs its own detector inside the crop, so it is slower (~2x) but tolerates a
  badly placed crop. Kept as a fallback and as the reference the ``roi`` backend was measured
  against.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import cv2
import mediapipe as mp
import numpy as np
from google.protobuf import text_format
from mediapipe.calculators.core import split_vector_calculator_pb2  # noqa: F401  (registers options)
from mediapipe.calculators.tensor import image_to_tensor_calculator_pb2  # noqa: F401
from mediapipe.calculators.tensor import inference_calculator_pb2  # noqa: F401
from mediapipe.calculators.tensor import tensors_to_floats_calculator_pb2  # noqa: F401
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats import rect_pb2
from mediapipe.python import packet_creator, packet_getter
from mediapipe.python._framework_bindings import resource_util

from lipdub.face import geometry
from lipdub.face.detect import FaceBox

logger = logging.getLogger(__name__)

N_LANDMARKS = 468
MODEL_INPUT = 192
ROI_SCALE = 1.5  # MediaPipe's own margin around the face for the landmark model
_MP_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(mp.__file__)))
_MODEL_PATH = os.path.join(_MP_ROOT, "mediapipe", "modules", "face_landmark", "face_landmark.tflite")

_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmark_floats"
output_stream: "presence"
node {
  calculator: "ImageToTensorCalculator"
  input_stream: "IMAGE:image"
  input_stream: "NORM_RECT:roi"
  output_stream: "TENSORS:input_tensors"
  options { [mediapipe.ImageToTensorCalculatorOptions.ext] {
    output_tensor_width: %(size)d output_tensor_height: %(size)d
    output_tensor_float_range { min: 0.0 max: 1.0 } border_mode: BORDER_REPLICATE } }
}
node {
  calculator: "InferenceCalculator"
  input_stream: "TENSORS:input_tensors"
  output_stream: "TENSORS:output_tensors"
  options { [mediapipe.InferenceCalculatorOptions.ext] {
    model_path: "%(model)s" delegate { xnnpack { num_threads: %(threads)d } } } }
}
node {
  calculator: "SplitTensorVectorCalculator"
  input_stream: "output_tensors"
  output_stream: "landmark_tensor"
  output_stream: "flag_tensor"
  options { [mediapipe.SplitVectorCalculatorOptions.ext] {
    ranges { begin: 0 end: 1 } ranges { begin: 1 end: 2 } } }
}
node {
  calculator: "TensorsToFloatsCalculator"
  input_stream: "TENSORS:flag_tensor"
  output_stream: "FLOAT:presence"
  options { [mediapipe.TensorsToFloatsCalculatorOptions.ext] { activation: SIGMOID } }
}
node {
  calculator: "TensorsToFloatsCalculator"
  input_stream: "TENSORS:landmark_tensor"
  output_stream: "FLOATS:landmark_floats"
}
"""


@dataclass(frozen=True)
class FaceRoi:
    """A square region around a face in frame pixels, rotated by ``rotation`` radians.

    ``rotation`` is the angle of the eye line (subject's right eye -> left eye) in image
    coordinates (y down): the crop is turned by it so the face is upright for the model.
    """

    cx: float
    cy: float
    size: float
    rotation: float = 0.0

    @classmethod
    def from_box(cls, box: FaceBox, scale: float = ROI_SCALE) -> "FaceRoi":
        """Region for a detector box; the eye keypoints, when present, give the rotation."""
        rotation = 0.0
        if box.keypoints is not None:
            dx, dy = box.keypoints[1] - box.keypoints[0]
            rotation = math.atan2(float(dy), float(dx))
        cx, cy = box.centre
        return cls(cx, cy, max(box.width, box.height) * scale, rotation)

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, scale: float = ROI_SCALE) -> "FaceRoi":
        """Region for the next frame from this frame's landmarks (MediaPipe's tracking rule)."""
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        dx, dy = landmarks[geometry.LEFT_EYE_OUTER] - landmarks[geometry.RIGHT_EYE_OUTER]
        return cls(float(x0 + x1) / 2.0, float(y0 + y1) / 2.0, float(max(x1 - x0, y1 - y0)) * scale,
                   math.atan2(float(dy), float(dx)))

    def crop_to_frame(self, crop_size: float) -> np.ndarray:
        """2x3 affine mapping crop pixels (``crop_size`` square) to frame pixels."""
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / crop_size
        half = crop_size / 2.0
        return np.array([
            [k * cos, -k * sin, self.cx - k * (cos * half - sin * half)],
            [k * sin, k * cos, self.cy - k * (sin * half + cos * half)],
        ], dtype=np.float64)


class FaceMesher:
    """Face Mesh landmarks ``(468, 2)`` in frame pixels for one face at a time.

    ``min_presence``: the landmark model's own face-presence probability below which the crop is
    said to hold no face (how a tracker learns it lost the face).
    """

    def __init__(self, *, backend: str = "roi", min_presence: float = 0.5, crop_size: int = 256,
                 num_threads: int = 1) -> None:
        if backend not in ("roi", "static"):
            raise ValueError(f"unknown mesh backend {backend!r}")
        self.backend = backend
        self.min_presence = min_presence
        self.crop_size = crop_size
        self.last_presence = 0.0
        self._timestamp = 0
        self._graph: mp.CalculatorGraph | None = None
        self._static: object | None = None
        self._outputs: dict[str, object] = {}
        if backend == "roi":
            self._start_graph(num_threads)
        else:
            self._static = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                min_detection_confidence=min_presence)

    def _start_graph(self, num_threads: int) -> None:
        resource_util.set_resource_dir(_MP_ROOT)
        config = text_format.Parse(
            _GRAPH % {"size": MODEL_INPUT, "model": _MODEL_PATH, "threads": num_threads},
            calculator_pb2.CalculatorGraphConfig())
        graph = mp.CalculatorGraph(graph_config=config)
        graph.observe_output_stream("landmark_floats", self._on_landmarks)
        graph.observe_output_stream("presence", self._on_presence)
        graph.start_run()
        self._graph = graph

    def _on_landmarks(self, _stream: str, packet: object) -> None:
        self._outputs["floats"] = packet_getter.get_float_list(packet)

    def _on_presence(self, _stream: str, packet: object) -> None:
        self._outputs["presence"] = packet_getter.get_float(packet)

    def close(self) -> None:
        """Stop the MediaPipe graph."""
        if self._graph is not None:
            self._graph.close()
            self._graph = None
        if self._static is not None:
            self._static.close()  # type: ignore[attr-defined]
            self._static = None

    def __enter__(self) -> "FaceMesher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def landmarks(self, frame: np.ndarray, box: FaceBox) -> np.ndarray | None:
        """Landmarks of the face in ``box`` or None when the model sees no face there.

        The detector's box is only roughly centred on the face, so the region is refined once from
        the first landmarks (as MediaPipe does on the frame after a detection).
        """
        first = self.landmarks_in_roi(frame, FaceRoi.from_box(box))
        if first is None:
            return None
        refined = self.landmarks_in_roi(frame, FaceRoi.from_landmarks(first))
        return first if refined is None else refined

    def track(self, frame: np.ndarray, previous: np.ndarray) -> np.ndarray | None:
        """Landmarks in this frame from the previous frame's landmarks of the same face."""
        return self.landmarks_in_roi(frame, FaceRoi.from_landmarks(previous))

    def landmarks_in_roi(self, frame: np.ndarray, roi: FaceRoi) -> np.ndarray | None:
        """One model run on ``roi``; None when the face-presence score is below ``min_presence``."""
        if roi.size < 4:
            return None
        if self.backend == "roi":
            return self._run_graph(frame, roi)
        return self._run_static(frame, roi)

    def _run_graph(self, frame: np.ndarray, roi: FaceRoi) -> np.ndarray | None:
        assert self._graph is not None
        height, width = frame.shape[:2]
        rect = rect_pb2.NormalizedRect(x_center=roi.cx / width, y_center=roi.cy / height,
                                       width=roi.size / width, height=roi.size / height, rotation=roi.rotation)
        self._outputs.clear()
        image = packet_creator.create_image_frame(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        self._graph.add_packet_to_input_stream("image", image.at(self._timestamp))
        self._graph.add_packet_to_input_stream("roi", packet_creator.create_proto(rect).at(self._timestamp))
        self._timestamp += 1
        self._graph.wait_until_idle()
        self.last_presence = float(self._outputs.get("presence", 0.0))  # type: ignore[arg-type]
        if self.last_presence < self.min_presence or "floats" not in self._outputs:
            return None
        crop_points = np.asarray(self._outputs["floats"], dtype=np.float64).reshape(N_LANDMARKS, 3)[:, :2]
        return geometry.apply_affine(roi.crop_to_frame(MODEL_INPUT), crop_points).astype(np.float32)

    def _run_static(self, frame: np.ndarray, roi: FaceRoi) -> np.ndarray | None:
        assert self._static is not None
        to_frame = roi.crop_to_frame(self.crop_size)
        crop = cv2.warpAffine(frame, geometry.invert_affine(to_frame), (self.crop_size, self.crop_size),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        result = self._static.process(crop)  # type: ignore[attr-defined]
        if not result.multi_face_landmarks:
            self.last_presence = 0.0
            return None
        self.last_presence = 1.0
        points = np.array([[p.x, p.y] for p in result.multi_face_landmarks[0].landmark[:N_LANDMARKS]],
                          dtype=np.float64) * self.crop_size
        return geometry.apply_affine(to_frame, points).astype(np.float32)
