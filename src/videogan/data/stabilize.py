"""Camera stabilization as in the paper (section 3.1) and the authors' released script, made safe for
small, still-camera footage.

SIFT keypoints on each frame are matched to the previous frame's (2-nearest-neighbour matching, Lowe's
ratio test at 0.7); with at least 10 good matches a RANSAC homography (reprojection threshold 5 px) maps
the frame onto the previous one, and the product of these maps it onto the segment's first frame, where it
is warped. Pixels the warped frame does not cover keep the previous stabilized frame's values.

Two additions keep a camera that does not move from ever costing a clip:
- A homography is used unless no motion at all explains the pair of frames clearly better (median grey
  difference over the more textured half of the pixels, lower by more than `feature_slack`). On a tripod
  shot, SIFT's matches sit on the moving person and their homography would drag the wall along with the
  person; "no measurable camera motion" is the identity, and such frames are not warped at all.
- Where matching fails (a low-texture wall at 64 px gives SIFT a handful of keypoints) or the homography is
  degenerate, a global translation from phase correlation stands in for it, used only if it beats no
  motion by `min_gain`. Either is
  accepted only if the frames then agree (median grey difference at most `max_residual` levels): a scene
  cut does not, and breaks the segment.

A segment ends (and the next starts, unwarped, at the frame that broke it) where neither estimate aligns the
frames, where the inliers' mean reprojection error is too large, where the warp is degenerate (scale,
shear, perspective or area change beyond `WarpLimits`, as a corrupted frame gives), or where the accumulated
view has mostly left the first frame. The released script dropped the whole clip instead; here what came
before is kept and the caller decides whether it is long enough.

Features are computed at a working resolution (`work_side`, short side in pixels) and the homography is
rescaled to the frame's resolution: larger frames are reduced (SIFT cost grows with the pixel count, and
detail finer than the 64x64 training frames gains little), smaller ones are enlarged to it. What it costs is
measured by `benchmarks/stabilize_accuracy.py` and reported in docs/data.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

WORK_SIDE = 128  # default feature resolution (short side): see docs/data.md for its accuracy and speed


def versus(value: float, relation: str, limit: float) -> str:
    """'value < limit' with as many decimals as it takes for the two to differ in print."""
    for digits in range(2, 10):
        shown, bound = f"{value:.{digits}f}", f"{limit:.{digits}f}"
        if shown != bound:
            break
    return f"{shown} {relation} {limit:g}" if float(f"{limit:g}") == limit else f"{shown} {relation} {bound}"


@dataclass(frozen=True)
class WarpLimits:
    """Bounds on one frame-to-frame warp beyond which it is taken as a failure, not as camera motion."""
    max_area_change: float = 1.5  # warped frame's area / frame area within [1/this, this]
    max_anisotropy: float = 1.3  # ratio of the linear part's singular values (shear, squash)
    max_perspective: float = 0.2  # change of the projective divisor across the frame

    def violation(self, transform: np.ndarray, width: int, height: int) -> str:
        """Why `transform` is degenerate, or "" if it is within bounds."""
        if abs(transform[2, 2]) < 1e-12:
            return "degenerate warp (maps the frame to infinity)"
        h = transform / transform[2, 2]
        corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        quad = cv2.perspectiveTransform(corners[None], h)[0].astype(np.float64)
        x, y = quad[:, 0], quad[:, 1]
        area = 0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / (width * height)
        edges = np.roll(quad, -1, 0) - quad  # 4 2
        cross = edges[:, 0] * np.roll(edges, -1, 0)[:, 1] - edges[:, 1] * np.roll(edges, -1, 0)[:, 0]
        if area <= 0 or not (all(c > 0 for c in cross) or all(c < 0 for c in cross)):
            return "degenerate warp (folds the frame over)"
        if not 1 / self.max_area_change <= area <= self.max_area_change:
            relation = ">" if area > 1 else "<"
            limit = self.max_area_change if area > 1 else 1 / self.max_area_change
            return f"degenerate warp (area change {versus(area, relation, limit)})"
        singular = np.linalg.svd(h[:2, :2], compute_uv=False)
        anisotropy = singular[0] / max(singular[1], 1e-12)
        if anisotropy > self.max_anisotropy:
            return f"degenerate warp (shear or squash {versus(anisotropy, '>', self.max_anisotropy)})"
        perspective = abs(h[2, 0]) * width + abs(h[2, 1]) * height
        if perspective > self.max_perspective:
            return f"degenerate warp (perspective {versus(perspective, '>', self.max_perspective)})"
        return ""


@dataclass(frozen=True)
class StabilizedFrame:
    image: np.ndarray  # h w 3 uint8, in the segment's first frame's coordinates
    transform: np.ndarray  # 3 3: this frame's pixels -> the segment's first frame's pixels
    segment: int  # increases by one at every break
    matches: int  # good feature matches to the previous frame (0 for a segment's first frame)
    inliers: int
    error: float  # inliers' mean reprojection error in frame pixels (0 unless a homography was used)
    coverage: float  # fraction of the first frame's area this frame covers after warping
    break_reason: str = ""  # why a new segment began here ("" for the video's first frame)
    motion: str = ""  # how this frame was aligned: "features", "global", "still" ("" for a segment's first)


@dataclass
class _View:
    """One frame as the stabilizer compares it: grey at working resolution, and its SIFT features."""
    grey: np.ndarray  # H W float32, working resolution, lightly blurred against noise
    points: np.ndarray  # n 2, working-resolution pixels
    descriptors: np.ndarray | None
    textured: np.ndarray  # H W bool: the more textured half of the pixels, where misalignment shows


class Stabilizer:
    """Feeds frames (h w 3 uint8, all one size) through `run`; yields a `StabilizedFrame` per frame."""

    def __init__(self, work_side: int = WORK_SIDE, ratio: float = 0.7, min_matches: int = 10, ransac_px: float = 5.0,
                 max_error: float = 2.5, min_coverage: float = 0.6, limits: WarpLimits = WarpLimits(),
                 feature_slack: float = 0.1, min_gain: float = 0.02, max_residual: float = 8.0):
        self.work_side, self.ratio, self.min_matches = work_side, ratio, min_matches
        self.ransac_px, self.max_error, self.min_coverage, self.limits = ransac_px, max_error, min_coverage, limits
        self.feature_slack, self.min_gain, self.max_residual = feature_slack, min_gain, max_residual
        self._sift = cv2.SIFT_create()
        self._matcher = cv2.BFMatcher(cv2.NORM_L2)

    def _view(self, frame: np.ndarray, scale: float) -> _View:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale != 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        keypoints, descriptors = self._sift.detectAndCompute(grey, None)
        points = np.float32([k.pt for k in keypoints]).reshape(-1, 2)
        grey = cv2.GaussianBlur(grey.astype(np.float32), (5, 5), 1.0)
        gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        return _View(grey, points, descriptors, gradient >= np.median(gradient))

    def _homography(self, current: _View, previous: _View, scale: float):
        """Map from the current frame to the previous one, in working pixels; (H or None, matches, inliers, error)."""
        if current.descriptors is None or previous.descriptors is None or min(
                len(current.descriptors), len(previous.descriptors)) < 2:
            return None, 0, 0, 0.0
        pairs = self._matcher.knnMatch(current.descriptors, previous.descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < self.ratio * p[1].distance]
        if len(good) < self.min_matches:
            return None, len(good), 0, 0.0
        src = current.points[[m.queryIdx for m in good]]
        dst = previous.points[[m.trainIdx for m in good]]
        # the RANSAC threshold is in frame pixels, as in the released script; at working resolution it scales
        homography, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, self.ransac_px * scale)
        if homography is None:
            return None, len(good), 0, 0.0
        inlier = inlier_mask.ravel().astype(bool)
        projected = cv2.perspectiveTransform(src[inlier][None], homography)[0]
        error = float(np.linalg.norm(projected - dst[inlier], axis=1).mean()) / scale
        return homography, len(good), int(inlier.sum()), error

    @staticmethod
    def _translation(current: _View, previous: _View) -> np.ndarray:
        """Global shift from phase correlation, as a map from the current frame to the previous one (working px)."""
        window = cv2.createHanningWindow(current.grey.shape[::-1], cv2.CV_32F)
        # copies: OpenCV applies the window to its inputs in place
        (dx, dy), _ = cv2.phaseCorrelate(previous.grey.copy(), current.grey.copy(), window)
        return np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy], [0.0, 0.0, 1.0]])

    @staticmethod
    def _difference(current: _View, previous: _View, step: np.ndarray) -> tuple[float, float, float]:
        """Median grey differences over the pixels the warp covers: (after warping by `step`, without
        warping), both over the textured ones only (flat ones look alike however the frames are aligned),
        and after warping over all of them."""
        height, width = previous.grey.shape
        warped = cv2.warpPerspective(current.grey, step, (width, height), flags=cv2.INTER_LINEAR)
        covered = cv2.warpPerspective(np.ones_like(current.grey), step, (width, height), flags=cv2.INTER_NEAREST)
        inside = cv2.erode(covered, np.ones((5, 5), np.uint8)) > 0
        textured = inside & previous.textured
        if textured.mean() < 0.1:
            return np.inf, np.inf, np.inf
        moved = np.abs(warped - previous.grey)
        still = np.abs(current.grey - previous.grey)[textured]
        # medians: the background is most of the frame, a moving person a minority whose motion must not count
        return float(np.median(moved[textured])), float(np.median(still)), float(np.median(moved[inside]))

    def _step(self, current: _View, previous: _View, scale: float):
        """(map current -> previous in working px or None, why not, how, matches, inliers, error)."""
        homography, matches, inliers, error = self._homography(current, previous, scale)
        height, width = current.grey.shape
        if homography is None:
            failure = f"matching failed ({matches} good matches < {self.min_matches})"
        elif error > self.max_error:
            failure = f"reprojection error {versus(error, '>', self.max_error)} px"
        else:
            # a degenerate fit (matches on a jumping person, a corrupted frame) is no camera motion
            failure = self.limits.violation(homography, width, height)
        if not failure:
            moved, still, _ = self._difference(current, previous, homography)
            if moved < still * (1 + self.feature_slack):
                return homography, "", "features", matches, inliers, error
            # features matched, but on the moving subject: the camera did not measurably move
            return np.eye(3), "", "still", matches, inliers, error
        shift = self._translation(current, previous)
        moved, still, residual = self._difference(current, previous, shift)
        step, how = (shift, "global") if moved < still * (1 - self.min_gain) else (np.eye(3), "still")
        if how == "still":
            residual = self._difference(current, previous, np.eye(3))[2]
        if residual > self.max_residual:
            return None, (f"{failure} and the frames do not align (median difference "
                          f"{versus(residual, '>', self.max_residual)} grey levels)"), "", matches, 0, 0.0
        return step, "", how, matches, 0, 0.0

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[StabilizedFrame]:
        segment, previous, accumulated, previous_image = -1, None, None, None
        for frame in frames:
            height, width = frame.shape[:2]
            scale = self.work_side / min(height, width)
            view = self._view(frame, scale)
            reason, how, matches, inliers, error, coverage = "", "", 0, 0, 0.0, 1.0
            if previous is not None:
                step, reason, how, matches, inliers, error = self._step(view, previous, scale)
                if step is not None:
                    to_work = np.diag([scale, scale, 1.0])
                    step = np.linalg.inv(to_work) @ step @ to_work  # frame pixels
                    candidate = accumulated @ step
                    # per step: the accumulated map may drift far, the coverage check below bounds that
                    reason = self.limits.violation(step, width, height)
                if not reason:
                    ones = np.ones((height, width), np.uint8)
                    covered = cv2.warpPerspective(ones, candidate, (width, height), flags=cv2.INTER_NEAREST)
                    coverage = float(covered.mean())
                    if coverage < self.min_coverage:
                        reason = f"view left the frame (coverage {versus(coverage, '<', self.min_coverage)})"
            previous = view
            if previous_image is None or reason:
                segment += 1
                accumulated, image = np.eye(3), frame
                if reason:
                    how, matches, inliers, error, coverage = "", 0, 0, 0.0, 1.0
            else:
                accumulated = candidate
                if np.allclose(accumulated, np.eye(3)):
                    image = frame  # nothing to warp: keeps still footage bit-exact
                else:
                    warped = cv2.warpPerspective(frame, accumulated, (width, height), flags=cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_CONSTANT)
                    # eroded by the warp's interpolation footprint: edge pixels are half black otherwise
                    inside = cv2.erode(covered, np.ones((3, 3), np.uint8)).astype(bool)
                    image = np.where(inside[..., None], warped, previous_image)
            previous_image = image
            yield StabilizedFrame(image, accumulated, segment, matches, inliers, error, coverage, reason, how)
