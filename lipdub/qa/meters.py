"""Pixel meters fed one (output, source) frame pair at a time; each reports one figure at the end.

- ``OutsidePSNR``: PSNR of everything outside the lower face (nothing else may change);
- ``SeamMeter``: extra edge energy on the lower face's inner rim (a visible blend seam);
- ``FlickerMeter``: frame-to-frame change of the mouth crop, output over source (popping texture);
- ``EditMeter``: whether the lower face differs from the source at all (for outputs we did not plan).
"""
from __future__ import annotations

import cv2
import numpy as np

from lipdub.qa.regions import FaceRegions

# Side of the grey mouth crop the flicker meter compares (pixels after resizing).
FLICKER_CROP = 32
# Mean absolute lower-face difference (grey levels) above which a frame counts as edited: well
# above H.264 noise at crf 18 (about 1 level), well below a moved mouth.
EDITED_LEVELS = 2.5


# Each meter's figure from its running sums: the meters report with these, and so does a QA part
# merged from several segments' sums (lipdub/qa/measure.py).
def psnr_db(squared_error: float, count: float) -> float:
    if count == 0:
        return float("nan")
    mse = squared_error / count
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def seam_score(output_energy: float, source_energy: float) -> float:
    return output_energy / source_energy - 1.0 if source_energy > 0 else float("nan")


def change_ratio(output_change: float, source_change: float) -> float:
    """``output_change / source_change``; NaN where either is not a positive finite number."""
    finite = np.isfinite(output_change) and np.isfinite(source_change)
    return output_change / source_change if finite and source_change > 0 else float("nan")


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


class OutsidePSNR:
    """Squared error outside the lower face over a video, reported as one PSNR (dB)."""

    def __init__(self) -> None:
        self.squared_error = 0.0
        self.count = 0

    def add(self, output: np.ndarray, source: np.ndarray, regions: FaceRegions | None) -> None:
        # Whole frame minus the lower face, so the mask is only ever drawn over the face box.
        total = cv2.norm(output, source, cv2.NORM_L2SQR)
        count = output.size
        if regions is not None:
            x0, y0, x1, y1 = regions.box
            inside = regions.lower_face.astype(np.uint8)
            total -= cv2.norm(output[y0:y1, x0:x1], source[y0:y1, x0:x1], cv2.NORM_L2SQR, inside)
            count -= int(inside.sum()) * output.shape[2]
        self.squared_error += max(float(total), 0.0)
        self.count += count

    def psnr_db(self) -> float:
        return psnr_db(self.squared_error, self.count)


def _edge_magnitude(image_grey: np.ndarray) -> np.ndarray:
    smooth = cv2.GaussianBlur(image_grey, (3, 3), 0).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))


class SeamMeter:
    """Edge energy on the seam band, output against source: 0 = no extra edges, 0.2 = 20% more.

    Why edges and not the difference image: inside the band the pasted skin is another frame's,
    so output and source legitimately differ there; a seam is a new *edge* the source lacked.
    """

    def __init__(self) -> None:
        self.output_energy = 0.0
        self.source_energy = 0.0

    def add(self, output_box_grey: np.ndarray, source_box_grey: np.ndarray, regions: FaceRegions) -> None:
        """Grey crops of ``regions.box`` from the output and the source frame."""
        band = regions.seam_band
        if not band.any():
            return
        self.output_energy += float(_edge_magnitude(output_box_grey)[band].sum())
        self.source_energy += float(_edge_magnitude(source_box_grey)[band].sum())

    def score(self) -> float:
        return seam_score(self.output_energy, self.source_energy)


class FlickerMeter:
    """Mean absolute frame-to-frame change of the mouth crop, output over the source's own."""

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self.output_change = 0.0
        self.source_change = 0.0

    @staticmethod
    def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The mouth box of an RGB frame as a small grey float crop."""
        x0, y0, x1, y1 = box
        small = cv2.resize(image[y0:y1, x0:x1], (FLICKER_CROP, FLICKER_CROP), interpolation=cv2.INTER_AREA)
        return grey(small).astype(np.float32)

    def add(self, output_crop: np.ndarray | None, source_crop: np.ndarray | None, continuous: bool) -> None:
        """Crops of consecutive frames; ``continuous`` False (a cut, a jump, a lost face) restarts."""
        if output_crop is None or source_crop is None:
            self._previous = None
            return
        if continuous and self._previous is not None:
            self.output_change += float(np.abs(output_crop - self._previous[0]).mean())
            self.source_change += float(np.abs(source_crop - self._previous[1]).mean())
        self._previous = (output_crop, source_crop)

    def ratio(self) -> float:
        return change_ratio(self.output_change, self.source_change)


def lower_face_difference(output_box_grey: np.ndarray, source_box_grey: np.ndarray, regions: FaceRegions) -> float:
    """Mean absolute grey difference inside the lower face (grey crops of ``regions.box``)."""
    diff = cv2.absdiff(output_box_grey, source_box_grey)
    return float(diff[regions.lower_face].mean()) if regions.lower_face.any() else 0.0
