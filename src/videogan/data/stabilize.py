"""Camera stabilization as in the paper (section 3.1) and the authors' released script.

SIFT keypoints on each frame are matched to the previous frame's (2-nearest-neighbour matching, Lowe's
ratio test at 0.7); with at least 10 good matches a RANSAC homography (reprojection threshold 5 px) maps
the frame onto the previous one, and the product of these maps it onto the segment's first frame, where it
is warped. Pixels the warped frame does not cover keep the previous stabilized frame's values.

A segment ends (and the next starts, unwarped, at the frame that broke it) where matching fails, where the
inliers' mean reprojection error is too large, or where the accumulated view has mostly left the first
frame. The released script dropped the whole clip instead; here what came before is kept and the caller
decides whether it is long enough.

Features are computed at a reduced working resolution (`work_side`, short side in pixels) and the
homography is rescaled to the frame's resolution: SIFT cost grows with the pixel count, and detail finer
than the 64x64 training frames gains little. What it costs is measured by
`benchmarks/stabilize_accuracy.py` and reported in docs/data.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

WORK_SIDE = 128  # default feature resolution (short side): see docs/data.md for its accuracy and speed


@dataclass(frozen=True)
class StabilizedFrame:
    image: np.ndarray  # h w 3 uint8, in the segment's first frame's coordinates
    transform: np.ndarray  # 3 3: this frame's pixels -> the segment's first frame's pixels
    segment: int  # increases by one at every break
    matches: int  # good matches to the previous frame (0 for a segment's first frame)
    inliers: int
    error: float  # inliers' mean reprojection error in frame pixels (0 for a segment's first frame)
    coverage: float  # fraction of the first frame's area this frame covers after warping
    break_reason: str = ""  # why a new segment began here ("" for the video's first frame)


class Stabilizer:
    """Feeds frames (h w 3 uint8, all one size) through `run`; yields a `StabilizedFrame` per frame."""

    def __init__(self, work_side: int = WORK_SIDE, ratio: float = 0.7, min_matches: int = 10, ransac_px: float = 5.0,
                 max_error: float = 2.5, min_coverage: float = 0.6):
        self.work_side, self.ratio, self.min_matches = work_side, ratio, min_matches
        self.ransac_px, self.max_error, self.min_coverage = ransac_px, max_error, min_coverage
        self._sift = cv2.SIFT_create()
        self._matcher = cv2.BFMatcher(cv2.NORM_L2)

    def _features(self, frame: np.ndarray, scale: float):
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale != 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        keypoints, descriptors = self._sift.detectAndCompute(gray, None)
        points = np.float32([k.pt for k in keypoints]).reshape(-1, 2)  # n 2, working-resolution pixels
        return points, descriptors

    def _homography(self, current, previous, scale: float):
        """Map from the current frame to the previous one, in frame pixels; (H or None, matches, inliers, error)."""
        (points, descriptors), (prev_points, prev_descriptors) = current, previous
        if descriptors is None or prev_descriptors is None or len(descriptors) < 2 or len(prev_descriptors) < 2:
            return None, 0, 0, 0.0
        pairs = self._matcher.knnMatch(descriptors, prev_descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < self.ratio * p[1].distance]
        if len(good) < self.min_matches:
            return None, len(good), 0, 0.0
        src = points[[m.queryIdx for m in good]]
        dst = prev_points[[m.trainIdx for m in good]]
        # the RANSAC threshold is in frame pixels, as in the released script; at working resolution it shrinks
        homography, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, self.ransac_px * scale)
        if homography is None:
            return None, len(good), 0, 0.0
        inlier = inlier_mask.ravel().astype(bool)
        projected = cv2.perspectiveTransform(src[inlier][None], homography)[0]
        error = float(np.linalg.norm(projected - dst[inlier], axis=1).mean()) / scale
        to_work = np.diag([scale, scale, 1.0])
        return np.linalg.inv(to_work) @ homography @ to_work, len(good), int(inlier.sum()), error

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[StabilizedFrame]:
        segment, previous_features, accumulated, previous_image = -1, None, None, None
        for frame in frames:
            height, width = frame.shape[:2]
            scale = min(1.0, self.work_side / min(height, width))
            features = self._features(frame, scale)
            reason, matches, inliers, error, coverage = "", 0, 0, 0.0, 1.0
            if previous_features is not None:
                step, matches, inliers, error = self._homography(features, previous_features, scale)
                if step is None:
                    reason = f"matching failed ({matches} good matches < {self.min_matches})"
                elif error > self.max_error:
                    reason = f"reprojection error {error:.2f} px > {self.max_error}"
                else:
                    candidate = accumulated @ step
                    ones = np.ones((height, width), np.uint8)
                    covered = cv2.warpPerspective(ones, candidate, (width, height), flags=cv2.INTER_NEAREST)
                    coverage = float(covered.mean())
                    if coverage < self.min_coverage:
                        reason = f"view left the frame (coverage {coverage:.2f} < {self.min_coverage})"
            previous_features = features
            if previous_image is None or reason:
                segment += 1
                accumulated, image = np.eye(3), frame
                if reason:
                    matches, inliers, error, coverage = 0, 0, 0.0, 1.0
            else:
                accumulated = candidate
                warped = cv2.warpPerspective(frame, accumulated, (width, height), flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_CONSTANT)
                # eroded by the warp's interpolation footprint: edge pixels are half black otherwise
                inside = cv2.erode(covered, np.ones((3, 3), np.uint8)).astype(bool)
                image = np.where(inside[..., None], warped, previous_image)
            previous_image = image
            yield StabilizedFrame(image, accumulated, segment, matches, inliers, error, coverage, reason)
