"""Training chunks (method section 9) and the test windows of a sequence (method section 7).

Training: every sequence is cut into ``n = ceil(N / F)`` non-overlapping F-frame windows laid out
so the padding is split between both ends (VideoPose3D's ChunkedGenerator); frames outside the
sequence repeat the edge frame. Each window is used once as is and once mirrored. With ``oversample`` > 0, windows that hold
rare motion (:mod:`ddhpose.data.motion_classes`) are used more than once per epoch, by repeat
factors (:func:`repeat_factors`).

Testing: :func:`test_windows` cuts a :class:`PoseSequence` (or an array) into the consecutive
windows of :func:`ddhpose.windowing.test_window_index`; :func:`ddhpose.windowing.unwindow`
puts per-window outputs back, one per frame.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ddhpose.data.motion_classes import MOTION_CLASSES, motion_classes
from ddhpose.data.sequence import PoseSequence
from ddhpose.experiment import Noise2D
from ddhpose.geometry import carry_with_anchor, compose, decompose, flip_pose, project
from ddhpose.seeding import derive_seed
from ddhpose.skeleton import Skeleton
from ddhpose.windowing import test_window_index


def window_starts(num_frames: int, frames: int, offset: int = 0) -> list[int]:
    """First frame of every training window of a sequence (may be negative: padding).

    offset 0 gives the centred layout; ``offset`` in [0, F) shifts the grid right and adds the
    window that then covers the start, so every frame stays covered.
    """
    if num_frames < 1 or frames < 1:
        raise ValueError(f"expected num_frames >= 1 and frames >= 1, got {num_frames} and {frames}")
    if not 0 <= offset < frames:
        raise ValueError(f"offset expected in [0, {frames}), got {offset}")
    n = math.ceil(num_frames / frames)
    base = -((n * frames - num_frames) // 2) + offset
    starts = [base + k * frames for k in range(-1 if offset else 0, n)]
    return [s for s in starts if s < num_frames and s + frames > 0]


def training_windows(sequences: Sequence[PoseSequence], frames: int, *,
                     offset: int | Sequence[int] = 0) -> list[tuple[int, int]]:
    """(sequence index, start frame) of every training window; ``offset`` is one shift for all
    sequences or one per sequence."""
    offsets = [offset] * len(sequences) if isinstance(offset, (int, np.integer)) else list(offset)
    if len(offsets) != len(sequences):
        raise ValueError(f"expected one offset per sequence ({len(sequences)}), got {len(offsets)}")
    return [(i, s) for i, (seq, o) in enumerate(zip(sequences, offsets))
            for s in window_starts(seq.num_frames, frames, int(o))]


def repeat_factors(frame_classes: Sequence[np.ndarray | None], threshold: float) -> np.ndarray:
    """Repeat factor of every motion class: max(1, sqrt(threshold / fraction of frames)).

    Repeat-factor sampling (LVIS, Gupta et al. 2019) with frames as images: a class on fewer
    than ``threshold`` of the frames is repeated, one on 1/4 of that twice as often.
    ``frame_classes`` holds each sequence's (F,) classes (None: not classified, not counted).
    Returns (len(MOTION_CLASSES),) float64, 1 for a class that never occurs.
    """
    counts = np.zeros(len(MOTION_CLASSES))
    for classes in frame_classes:
        if classes is not None:
            counts += np.bincount(classes, minlength=len(MOTION_CLASSES))
    fraction = counts / max(counts.sum(), 1.0)
    with np.errstate(divide="ignore"):
        factor = np.sqrt(threshold / fraction)
    return np.where(fraction > 0, np.maximum(factor, 1.0), 1.0)


def oversampled(windows: list[tuple[int, int]], frames: int, frame_classes: Sequence[np.ndarray | None],
                factors: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``windows`` with each one repeated by the largest factor of the classes in its frames,
    rounded at random (a factor of 1.3 keeps it once, and a second time with chance 0.3)."""
    out: list[tuple[int, int]] = []
    for seq_index, start in windows:
        classes = frame_classes[seq_index]
        if classes is None:
            out.append((seq_index, start))
            continue
        lo, hi = max(start, 0), min(start + frames, len(classes))
        r = float(factors[np.unique(classes[lo:hi])].max())
        out.extend([(seq_index, start)] * (int(r) + int(rng.random() < r - int(r))))
    return out


def flip_intrinsics(intrinsics: torch.Tensor) -> torch.Tensor:
    """Intrinsics (..., 9) of the mirrored image: negate c_x and the tangential coefficient that
    multiplies x (index 7, Human3.6M's p2 / VideoPose3D's first), as VideoPose3D's generator does.
    Then ``project(flip(pose) + flip(traj), flip_intrinsics(K)) == flip(project(pose + traj, K))``.
    """
    sign = torch.ones(9, dtype=intrinsics.dtype, device=intrinsics.device)
    sign[2] = sign[7] = -1
    return intrinsics * sign


def occludable_limbs(skeleton: Skeleton) -> tuple[tuple[int, ...], ...]:
    """The joint groups an occlusion hides: every end joint alone, and with its parent when that
    parent is not the root and has no other child (Human3.6M: wrists, forearms, ankles, shanks,
    head top, head). Derived from ``skeleton.parents``."""
    limbs: list[tuple[int, ...]] = []
    for j, kids in enumerate(skeleton.children):
        if kids or j == skeleton.root:
            continue
        limbs.append((j,))
        p = skeleton.parents[j]
        if p != skeleton.root and len(skeleton.children[p]) == 1:
            limbs.append((p, j))
    return tuple(limbs)


def occlude_limb(x: torch.Tensor, joints: Sequence[int], start: int, stop: int, root: int = 0) -> torch.Tensor:
    """Hide ``joints`` on frames [start, stop) of keypoints (F, J, 2) and fill them as the lifter
    fills gaps (:func:`ddhpose.lifting.keypoints.fill_gaps`, both by
    :func:`ddhpose.geometry.carry_with_anchor`): each joint's offset from ``root`` interpolated
    linearly over the run, held where the run touches the window's edge."""
    missing = torch.zeros(x.shape[:2], dtype=torch.bool)
    missing[start:stop, list(joints)] = True
    return carry_with_anchor(x, missing, root)


#: How far a detector's keypoint sits from the joint centre, relative to the hips' offset, by the
#: end of the joint's name (Needham et al. 2021: hips and knees 30-50 mm, ankles 1-15 mm); other
#: joints :data:`OTHER_OFFSET_WEIGHT`.
DETECTOR_OFFSET_WEIGHTS = {"pelvis": 1.0, "hip": 1.0, "knee": 1.0, "ankle": 0.25}
OTHER_OFFSET_WEIGHT = 0.5


def detector_offset_weights(skeleton: Skeleton) -> torch.Tensor:
    """(J,) the weight of each joint's detector offset (:data:`DETECTOR_OFFSET_WEIGHTS`)."""
    if len(skeleton.names) != skeleton.num_joints:
        raise ValueError("noise_2d.offset: the skeleton has no joint names to weigh the offsets by; "
                         "expected a named skeleton ('h36m' or '3dhp')")
    return torch.tensor([next((w for end, w in DETECTOR_OFFSET_WEIGHTS.items() if name.endswith(end)),
                              OTHER_OFFSET_WEIGHT) for name in skeleton.names], dtype=torch.float64)


def body_extent(x: torch.Tensor) -> torch.Tensor:
    """The person's 2D size: the median over frames of the longer side of the keypoints' box
    (their height standing, their length lying). x (F, J, 2) -> ()."""
    extent = x.amax(-2) - x.amin(-2)  # (F, 2)
    return extent.amax(-1).median()


def augment_2d(x: torch.Tensor, noise: Noise2D, generator: torch.Generator,
               skeleton: Skeleton | None = None) -> torch.Tensor:
    """Apply :class:`Noise2D` to keypoints (F, J, 2); deterministic given ``generator``.
    ``skeleton`` (needed for ``noise.occlusion`` and ``noise.offset``) names the limbs an
    occlusion hides and the joints whose keypoints sit off their centres."""
    f, j, _ = x.shape
    out = x + noise.sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    outlier = torch.rand((f, j, 1), generator=generator) < noise.outlier_prob
    out = out + outlier * noise.outlier_sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    if noise.drop_prob > 0:
        dropped = torch.rand((f, j, 1), generator=generator) < noise.drop_prob
        prev = torch.cat((out[:1], out[:-1]))
        nxt = torch.cat((out[1:], out[-1:]))
        out = torch.where(dropped, (prev + nxt) / 2, out)
    if noise.drift > 0:  # drawn last: the other draws stay as they were without drift
        offset, ramp = noise.drift * torch.randn((2, 1, j, 2), generator=generator, dtype=x.dtype)
        t = torch.linspace(-0.5, 0.5, f, dtype=x.dtype)[:, None, None]
        out = out + offset + t * ramp
    if noise.occlusion > 0 and f > 1:  # after drift, so runs without occlusion see the same draws
        if skeleton is None:
            raise ValueError("augment_2d: noise.occlusion needs the skeleton whose limbs it hides")
        u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
        if u[0] < noise.occlusion:
            limbs = occludable_limbs(skeleton)
            limb = limbs[min(int(u[1] * len(limbs)), len(limbs) - 1)]
            length = 1 + min(int(u[2] * (f - 1)), f - 2)  # 1 .. F-1 frames: one end stays seen
            start = min(int(u[3] * (f - length + 1)), f - length)
            out = occlude_limb(out, limb, start, start + length, skeleton.root)
    if noise.offset > 0:  # drawn last: runs without offsets see the same draws
        if skeleton is None:
            raise ValueError("augment_2d: noise.offset needs the skeleton whose joints it moves")
        size = body_extent(x)
        scale = noise.offset * size * detector_offset_weights(skeleton).to(x.dtype)[:, None]  # (J, 1)
        out = out + scale * torch.randn((j, 2), generator=generator, dtype=x.dtype)
    return out


def symmetric_bone_factors(skeleton: Skeleton, bone_sigma: float, body_sigma: float,
                           generator: torch.Generator) -> torch.Tensor:
    """Random bone-length factors (J,) in bone slots: exp(N(0, bone_sigma)) per bone, the same
    for a left bone and its right twin (the skeleton's mirror permutation), times one
    exp(N(0, body_sigma)) for the whole body. The root slot holds the body factor."""
    j = skeleton.num_joints
    z = torch.randn(j, generator=generator, dtype=torch.float64)
    mirror = torch.tensor(skeleton.flip_permutation)
    paired = mirror != torch.arange(j)
    z = torch.where(paired, (z + z[mirror]) / 2 ** 0.5, z)  # twins share one draw, same spread
    body = torch.randn(1, generator=generator, dtype=torch.float64) * body_sigma
    return torch.exp(z * bone_sigma + body)


def scale_bones(y3d: torch.Tensor, traj: torch.Tensor, intrinsics: torch.Tensor, factors: torch.Tensor,
                skeleton: Skeleton) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Change a clip's bone lengths and film it again with the same camera.

    The root-relative pose y3d (F, J, 3) is split into bone directions and lengths, the lengths
    multiplied by ``factors`` (J,), the pose recomposed (``geometry.compose``) and, placed at its
    camera-frame root ``traj`` (F, 1, 3), projected with the screen-normalised ``intrinsics``
    (9,). Returns (y3d, x2d (F, J, 2)) or None when the clip has no usable root position (a
    joint within 0.1 m of the camera plane, or a zero trajectory).
    """
    direction, length = decompose(y3d.double(), skeleton)
    pose = compose(direction, length * factors.to(length)[:, None], skeleton)
    cam = pose + traj.double()
    if not bool((cam[..., 2] > 0.1).all()):
        return None
    return pose.to(y3d.dtype), project(cam, intrinsics.double()).to(y3d.dtype)


class TrainWindows(Dataset):
    """Training windows of F frames, each once as is and once mirrored (when ``flip``).

    Items ``i < n`` are the plain windows, ``i >= n`` the flipped copy of window ``i - n``.
    ``oversample`` > 0 repeats windows of rare motion classes (:func:`repeat_factors` with that
    threshold), classed from each sequence's 3D and ``up`` (sequences without ``up`` are not).
    Each item is a dict of float32 tensors: 'x2d' (F, J, 2), 'y3d' (F, J, 3), 'intrinsics' (9,),
    'traj' (F, 1, 3), 'valid' (F,). Random offsets and 2D noise depend only on ``seed``, the
    epoch (:meth:`set_epoch`) and the item index, so a resumed run sees the same data.
    """

    def __init__(self, sequences: Sequence[PoseSequence], frames: int, skeleton: Skeleton, *,
                 flip: bool = True, random_offset: bool = False, noise_2d: Noise2D | None = None,
                 seed: int = 0, bone_scale: float = 0.0, body_scale: float = 0.0,
                 oversample: float = 0.0) -> None:
        if not sequences:
            raise ValueError("TrainWindows needs at least one sequence")
        for seq in sequences:
            if seq.num_joints != skeleton.num_joints or seq.root != skeleton.root:
                raise ValueError(f"{seq.name}: {seq.num_joints} joints with root {seq.root} do not match "
                                 f"skeleton {skeleton.name!r} ({skeleton.num_joints} joints, root {skeleton.root})")
        self.sequences, self.frames, self.skeleton = list(sequences), int(frames), skeleton
        self.flip, self.random_offset, self.noise_2d, self.seed = flip, random_offset, noise_2d, int(seed)
        self.bone_scale, self.body_scale = float(bone_scale), float(body_scale)
        self.frame_classes: list[np.ndarray | None] = []
        self.class_repeat = np.ones(len(MOTION_CLASSES))
        if oversample > 0:
            self.frame_classes = [None if s.up is None else motion_classes(s.poses_3d + s.trajectory, s.up, skeleton)
                                  for s in self.sequences]
            self.class_repeat = repeat_factors(self.frame_classes, oversample)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch: redraws the window offsets (if random) and the 2D noise."""
        self.epoch = int(epoch)
        offsets: int | np.ndarray = 0
        if self.random_offset:
            rng = np.random.default_rng([self.seed, self.epoch])
            offsets = rng.integers(0, self.frames, size=len(self.sequences))
        self.windows = training_windows(self.sequences, self.frames, offset=offsets)
        if self.frame_classes:
            rng = np.random.default_rng([self.seed, self.epoch, 1])
            self.windows = oversampled(self.windows, self.frames, self.frame_classes, self.class_repeat, rng)

    def __len__(self) -> int:
        return len(self.windows) * (2 if self.flip else 1)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        flipped = index >= len(self.windows)
        seq_index, start = self.windows[index - len(self.windows) if flipped else index]
        seq = self.sequences[seq_index]
        idx = np.clip(np.arange(start, start + self.frames), 0, seq.num_frames - 1)
        valid = np.ones(len(idx), np.float32) if seq.valid is None else seq.valid[idx].astype(np.float32)
        item = {
            "x2d": torch.from_numpy(seq.keypoints_2d[idx]),
            "y3d": torch.from_numpy(seq.poses_3d[idx]),
            "intrinsics": torch.from_numpy(seq.intrinsics.copy()),
            "traj": torch.from_numpy(seq.trajectory[idx]),
            "valid": torch.from_numpy(valid),
        }
        if flipped:
            item["x2d"] = flip_pose(item["x2d"], self.skeleton)
            item["y3d"] = flip_pose(item["y3d"], self.skeleton)
            item["traj"] = item["traj"] * torch.tensor([-1.0, 1.0, 1.0])
            item["intrinsics"] = flip_intrinsics(item["intrinsics"])
        gen = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, index))
        if self.bone_scale > 0 or self.body_scale > 0:
            factors = symmetric_bone_factors(self.skeleton, self.bone_scale, self.body_scale, gen)
            scaled = scale_bones(item["y3d"], item["traj"], item["intrinsics"], factors, self.skeleton)
            if scaled is not None:
                item["y3d"], item["x2d"] = scaled
        if self.noise_2d is not None:
            item["x2d"] = augment_2d(item["x2d"], self.noise_2d, gen, self.skeleton)
        return item


def test_windows(sequence_or_array: PoseSequence | np.ndarray | torch.Tensor, frames: int
                 ) -> tuple[dict[str, torch.Tensor] | np.ndarray | torch.Tensor, np.ndarray]:
    """Cut a sequence into test windows.

    Args:
        sequence_or_array: a :class:`PoseSequence`, or an (N, ...) array or tensor.
    Returns:
        windows: (n, F, ...) of the array's type, or for a PoseSequence a dict of float32 tensors
            'x2d' (n, F, J, 2), 'y3d' (n, F, J, 3), 'traj' (n, F, 1, 3), 'valid' (n, F),
            'intrinsics' (n, 9); and frame_index (n, F) int64.
    The same windows as the released ``eval_data_prepare`` (main.py, main_3dhp.py): every frame
    appears in exactly one window except the overlap of the last one (none when F divides N).
    """
    if isinstance(sequence_or_array, PoseSequence):
        seq = sequence_or_array
        index = test_window_index(seq.num_frames, frames)
        valid = np.ones(seq.num_frames, np.float32) if seq.valid is None else seq.valid.astype(np.float32)
        out = {"x2d": seq.keypoints_2d[index], "y3d": seq.poses_3d[index], "traj": seq.trajectory[index],
               "valid": valid[index], "intrinsics": np.repeat(seq.intrinsics[None], len(index), axis=0)}
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}, index
    index = test_window_index(len(sequence_or_array), frames)
    if isinstance(sequence_or_array, torch.Tensor):
        return sequence_or_array[torch.from_numpy(index).to(sequence_or_array.device)], index
    return np.asarray(sequence_or_array)[index], index


# these are library functions, not pytest tests
test_windows.__test__ = False  # type: ignore[attr-defined]
