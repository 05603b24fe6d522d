"""The camera's focal length from the clip itself, where the clip can tell it.

The lifted pose is metric and root-relative; for a focal length ``f`` the perspective root solve
(:func:`ddhpose.lifting.trajectory.perspective_root`) places it in depth, frame by frame. Under
the right ``f`` the body reprojects onto its 2D; under a wrong one the depth is scaled by the
error, and the perspective of the body's own depth extent (its near joints larger than its far
ones, an off-centre body seen obliquely) no longer matches what the image shows. So the focal
length is the minimum over ``f`` of the reprojection error of the whole sequence, each ``f``
with its own per-frame roots: a 1-D search on log ``f`` (a grid, then golden section), each step
a least-squares root solve.

Each frame's error is measured relative to the body's size in the image (near and far frames
count alike). Whether the clip tells ``f`` is read from the cost's flatness: with ``n`` the
number of independent frames (the lifter's errors are correlated over
:data:`CORRELATION_SECONDS`), the focal lengths whose cost exceeds the minimum by less than
``CHI2 / n`` of it cannot be told from the estimate; the clip tells ``f`` when that interval is
narrower than :data:`MAX_INTERVAL_RATIO` (top / bottom) and does not reach the search's ends.
Where the body is small and far (weak perspective) or the pose's own errors hide the
perspective, the interval is wide and the lifter keeps its default.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ddhpose.lifting.trajectory import perspective_root

#: Focal lengths searched, as multiples of the image width (a 160-degree lens to a long tele).
SEARCH_RATIOS = (0.1, 10.0)
#: Grid points per factor e of focal length (log spacing), before the golden-section refinement.
GRID_PER_E = 10
#: Seconds over which the lifted pose's errors stay correlated: one independent frame per this.
CORRELATION_SECONDS = 0.5
#: Cost rise (in units of the minimum's noise, chi-squared) that bounds the focal lengths the
#: clip cannot tell apart: 4 = two standard deviations.
CHI2 = 4.0
#: The clip tells the focal length when its interval is narrower than this (top / bottom): about
#: +-17 % at one standard deviation.
MAX_INTERVAL_RATIO = 2.0
#: At most this many frames (evenly spaced) enter the search: the cost is a mean, and frames
#: closer than :data:`CORRELATION_SECONDS` say little more than one of them.
MAX_FRAMES = 150
#: Fewer solved frames than this, and the clip is not looked at.
MIN_FRAMES = 10


@dataclass(frozen=True)
class FocalEstimate:
    """What the clip says of the focal length: ``focal`` (pixels) the cost's minimum, ``interval``
    (pixels) the focal lengths the clip cannot tell from it, ``identifiable`` whether that is
    narrow enough to use, ``depth_range`` (metres, 5-95 % of the root's depth under the
    estimate), ``frames`` used, ``reason`` in words."""

    focal: float
    interval: tuple[float, float]
    identifiable: bool
    depth_range: float
    frames: int  # the frames searched (at most MAX_FRAMES, evenly spaced)
    reason: str

    def to_dict(self) -> dict:
        return {**asdict(self), "interval": list(self.interval)}


def relative_reprojection_error(pose: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor,
                                focal: float | torch.Tensor, centre: tuple[float, float]
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frame, the weighted mean squared reprojection error of ``pose`` on its own root solve
    under ``focal``, divided by the mean squared spread of the 2D about its centre (the body's
    size in the image, squared). pose (F, J, 3) root-relative metres; keypoints (F, J, 2)
    pixels; weights (F, J); focal pixels, a number or (G,) focal lengths at once. -> ((F,) or
    (G, F) errors, the roots' depths alike); NaN where the solve failed."""
    f = torch.as_tensor(focal, dtype=torch.float64).reshape(-1, 1, 1, 1)  # (G, 1, 1, 1)
    c = keypoints.new_tensor(centre)
    rays = (keypoints - c) / f  # (G, F, J, 2): the solve in ray coordinates, one per focal length
    shape = rays.shape[:-1]
    root = perspective_root(pose.expand(shape + (3,)), rays, 1.0, (0.0, 0.0), weights.expand(shape))
    joints = pose + root[..., None, :]
    proj = f * joints[..., :2] / joints[..., 2:3] + c
    w = weights / weights.sum(-1, keepdim=True)
    err = ((proj - keypoints).square().sum(-1) * w).sum(-1)
    spread = ((keypoints - (keypoints * w[..., None]).sum(-2, keepdim=True)).square().sum(-1) * w).sum(-1)
    err, depth = err / spread, root[..., 2]
    return (err[0], depth[0]) if torch.as_tensor(focal).ndim == 0 else (err, depth)


def estimate_focal(pose: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor, image_size: tuple[int, int],
                   centre: tuple[float, float], fps: float, undetected: torch.Tensor | None = None) -> FocalEstimate:
    """The focal length (pixels) under which the lifted pose sequence reprojects best, and whether
    the clip tells it (the module docstring says how).

    pose (F, J, 3) root-relative metres, camera frame; keypoints (F, J, 2) pixels; weights (F, J)
    per-joint weights (:func:`ddhpose.lifting.trajectory.joint_weights`); image_size (width,
    height); centre the principal point (pixels); fps frames per second; undetected (F,) frames
    where the person was not seen (left out).
    """
    pose, keypoints, weights = pose.double(), keypoints.double(), weights.double().clamp_min(0)
    if pose.ndim != 3 or pose.shape[-1] != 3 or keypoints.shape != pose.shape[:-1] + (2,):
        raise ValueError(f"estimate_focal: expected pose (F, J, 3) and keypoints (F, J, 2), got "
                         f"{tuple(pose.shape)} and {tuple(keypoints.shape)}")
    if not fps > 0:
        raise ValueError(f"estimate_focal: fps: expected a positive frame rate, got {fps}")
    seen = torch.ones(len(pose), dtype=torch.bool) if undetected is None else ~undetected.bool()
    seen &= (weights > 0).sum(-1) >= 3
    step = max(1, math.ceil(int(seen.sum()) / MAX_FRAMES))
    pose, keypoints, weights = pose[seen][::step], keypoints[seen][::step], weights[seen][::step]
    width = float(image_size[0])
    lo, hi = (math.log(r * width) for r in SEARCH_RATIOS)
    if len(pose) < MIN_FRAMES:
        default = math.exp((lo + hi) / 2)
        return FocalEstimate(default, (math.exp(lo), math.exp(hi)), False, 0.0, len(pose),
                             f"{len(pose)} frames seen, fewer than {MIN_FRAMES}")

    def costs_of(log_f: list[float]) -> list[tuple[float, int, torch.Tensor]]:
        err, depth = relative_reprojection_error(pose, keypoints, weights, torch.tensor(log_f).exp(), centre)
        out = []
        for e, z in zip(err, depth):
            ok = torch.isfinite(e)
            # a focal length that puts frames behind the camera explains them worst
            value = float(e[ok].mean()) if int(ok.sum()) >= MIN_FRAMES else math.inf
            out.append((value if int(ok.sum()) == len(e) else max(value, 1.0), int(ok.sum()), z[ok]))
        return out

    def cost(log_f: float) -> tuple[float, int, torch.Tensor]:
        return costs_of([log_f])[0]

    grid = torch.linspace(lo, hi, max(3, round((hi - lo) * GRID_PER_E) + 1)).tolist()
    costs = [value for value, _, _ in costs_of(grid)]
    best = min(range(len(grid)), key=costs.__getitem__)
    if not math.isfinite(costs[best]):
        return FocalEstimate(math.exp((lo + hi) / 2), (math.exp(lo), math.exp(hi)), False, 0.0, len(pose),
                             "no focal length places the body in front of the camera")
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    golden = (math.sqrt(5) - 1) / 2
    c, d = b - golden * (b - a), a + golden * (b - a)
    fc, fd = cost(c)[0], cost(d)[0]
    for _ in range(12):  # golden section between the grid minimum's neighbours, one new point a step
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - golden * (b - a)
            fc = cost(c)[0]
        else:
            a, c, fc = c, d, fd
            d = a + golden * (b - a)
            fd = cost(d)[0]
    log_f = (a + b) / 2
    minimum, frames, depth = cost(log_f)
    if costs[best] < minimum:
        log_f, (minimum, frames, depth) = grid[best], cost(grid[best])
    independent = max(1.0, frames * step / (fps * CORRELATION_SECONDS))
    limit = minimum * (1 + CHI2 / independent)
    low, high = best, best  # the contiguous stretch of the grid under the limit
    while low > 0 and costs[low - 1] <= limit:
        low -= 1
    while high < len(grid) - 1 and costs[high + 1] <= limit:
        high += 1
    interval = (math.exp(min(grid[low], log_f)), math.exp(max(grid[high], log_f)))
    at_end = low == 0 or high == len(grid) - 1
    ratio = interval[1] / interval[0]
    depth_range = float(depth.quantile(0.95) - depth.quantile(0.05))  # at least MIN_FRAMES: the cost is finite
    identifiable = not at_end and ratio <= MAX_INTERVAL_RATIO
    reason = (f"best {math.exp(log_f):.0f} px, {interval[0]:.0f}-{interval[1]:.0f} px fitting as well; {frames} "
              f"frames, the body moving {depth_range:.1f} m in depth")
    return FocalEstimate(math.exp(log_f), interval, identifiable, depth_range, frames, reason)
