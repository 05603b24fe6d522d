"""Virtual cameras that turn world-space mocap into 2D-3D training pairs.

Conventions are Human3.6M's (method section 8): world z up, metres; ``x_cam = R (x_world - T)``
with R world-to-camera and T the camera centre; the camera looks along +z, image x to the right
and y down. Intrinsics default to Human3.6M-like values (f about 1145 px, 1000 x 1002 images,
no distortion). Cameras are :class:`ddhpose.data.cameras.Camera` objects, like the real ones.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ddhpose.data.cameras import Camera
from ddhpose.data.sequence import PoseSequence
from ddhpose.geometry import normalize_intrinsics, normalize_screen, project, world_to_camera

H36M_IMAGE_SIZE = (1000, 1002)
H36M_FOCAL = 1145.0
_MIN_DEPTH = 0.1  # metres in front of the camera every joint must be


def look_at_camera(position: Sequence[float], target: Sequence[float], *,
                   focal: float | tuple[float, float] = H36M_FOCAL,
                   image_size: tuple[int, int] = H36M_IMAGE_SIZE,
                   center: tuple[float, float] | None = None,
                   distortion: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0),
                   up: Sequence[float] = (0.0, 0.0, 1.0), name: str = "virtual") -> Camera:
    """A camera at ``position`` (3,) looking at ``target`` (3,) with no roll.

    Args:
        focal: fx (= fy) or (fx, fy) in pixels; center: principal point (default image centre).
        distortion: (k1, k2, k3, p1, p2), VideoPose3D tangential order.
        up: world up; the image's y axis points along its opposite.
    """
    pos, tgt, up_v = (np.asarray(v, dtype=np.float64) for v in (position, target, up))
    if pos.shape != (3,) or tgt.shape != (3,) or up_v.shape != (3,):
        raise ValueError(f"position, target and up must be (3,), got {pos.shape}, {tgt.shape}, {up_v.shape}")
    z = tgt - pos
    if np.linalg.norm(z) < 1e-9:
        raise ValueError("camera position and target coincide")
    z = z / np.linalg.norm(z)
    y = -(up_v - (up_v @ z) * z)  # image y points down
    if np.linalg.norm(y) < 1e-6:
        raise ValueError("camera looks straight along the up axis; its roll is undefined")
    y = y / np.linalg.norm(y)
    rotation = np.stack((np.cross(y, z), y, z))  # rows: camera axes in world coordinates
    fx, fy = (focal, focal) if np.isscalar(focal) else focal
    w, h = image_size
    cx, cy = center if center is not None else (w / 2, h / 2)
    dist = np.asarray(distortion, dtype=np.float64)
    if dist.shape != (5,):
        raise ValueError(f"distortion must be (k1, k2, k3, p1, p2), got shape {dist.shape}")
    intrinsics = np.concatenate(([fx, fy, cx, cy], dist))
    return Camera(id=name, rotation=rotation, translation=pos, intrinsics=intrinsics, width=int(w), height=int(h))


def random_camera(rng: np.random.Generator, *, target: Sequence[float],
                  distance: tuple[float, float] = (3.5, 6.5), height: tuple[float, float] = (0.8, 2.0),
                  focal: tuple[float, float] = (1100.0, 1190.0), image_size: tuple[int, int] = H36M_IMAGE_SIZE,
                  center_jitter: float = 15.0, aim_jitter: float = 0.15, distortion: float = 0.0,
                  name: str = "virtual") -> Camera:
    """A camera on a circle around ``target`` (3,), looking at it.

    Args:
        rng: e.g. ``np.random.default_rng(seed)``.
        target: the subject's mean world position (metres, z up).
        distance: horizontal distance range to the target; height: camera z range (world).
        focal: range of f in pixels (fx = fy); center_jitter: principal point offset range (px).
        aim_jitter: the camera aims at target + U(-aim_jitter, aim_jitter) per axis (metres).
        distortion: k1, k2 ~ U(-d, d), p1, p2 ~ U(-d/100, d/100), k3 = 0 (0: none).
    """
    tgt = np.asarray(target, dtype=np.float64)
    azimuth = rng.uniform(0, 2 * np.pi)
    radius = rng.uniform(*distance)
    position = np.array([tgt[0] + radius * np.cos(azimuth), tgt[1] + radius * np.sin(azimuth), rng.uniform(*height)])
    aim = tgt + rng.uniform(-aim_jitter, aim_jitter, size=3)
    w, h = image_size
    center = (w / 2 + rng.uniform(-center_jitter, center_jitter), h / 2 + rng.uniform(-center_jitter, center_jitter))
    k = rng.uniform(-distortion, distortion, size=2)
    p = rng.uniform(-distortion / 100, distortion / 100, size=2)
    return look_at_camera(position, aim, focal=rng.uniform(*focal), image_size=image_size, center=center,
                          distortion=(k[0], k[1], 0.0, p[0], p[1]), name=name)


#: Image sizes (width, height) a wide virtual camera draws from: video and photo formats,
#: landscape and portrait, and Human3.6M's own.
WIDE_IMAGE_SIZES = ((1920, 1080), (1280, 720), (1080, 1920), (720, 1280), (1000, 1002), (640, 480),
                    (480, 640), (1024, 1024), (3840, 2160), (2048, 2048))


def _roll_pitch_yaw(camera: Camera, roll: float, pitch: float, yaw: float) -> Camera:
    """Turn a camera about its own axes (radians): yaw about image y, pitch about image x,
    roll about the optical axis. The camera centre stays where it is."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return Camera(id=camera.id, rotation=rz @ rx @ ry @ camera.rotation, translation=camera.translation,
                  intrinsics=camera.intrinsics, width=camera.width, height=camera.height)


def wide_camera(rng: np.random.Generator, *, target: Sequence[float], extent: float,
                focal: tuple[float, float] = (500.0, 3000.0), fill: tuple[float, float] = (0.3, 0.9),
                height: tuple[float, float] = (0.3, 3.0), roll: float = 10.0, offcentre: float = 0.6,
                center_jitter: float = 0.05, image_sizes: Sequence[tuple[int, int]] = WIDE_IMAGE_SIZES,
                name: str = "virtual") -> Camera:
    """A camera as people film people: any image format, focal length and framing.

    The image size is drawn from ``image_sizes``, f log-uniformly from ``focal`` (pixels), and
    the distance so that a subject of ``extent`` metres fills a fraction ``fill`` of the
    image's shorter side. The camera stands at a height from ``height`` (metres, world z),
    aims at the subject, then turns so the subject lands anywhere within ``offcentre`` of the
    half-image from the centre, and rolls by up to ``roll`` degrees. The principal point is off
    the image centre by up to ``center_jitter`` of the image size.

    Args:
        target: (3,) the subject's mean world position (metres, z up); extent: its size (m).
    """
    tgt = np.asarray(target, dtype=np.float64)
    w, h = image_sizes[rng.integers(len(image_sizes))]
    f = float(np.exp(rng.uniform(np.log(focal[0]), np.log(focal[1]))))
    radius = f * extent / (rng.uniform(*fill) * min(w, h))
    cam_z = rng.uniform(*height)
    ground = np.sqrt(max(radius ** 2 - (cam_z - tgt[2]) ** 2, (0.3 * radius) ** 2))
    azimuth = rng.uniform(0, 2 * np.pi)
    position = np.array([tgt[0] + ground * np.cos(azimuth), tgt[1] + ground * np.sin(azimuth), cam_z])
    center = (w / 2 * (1 + rng.uniform(-center_jitter, center_jitter) * 2),
              h / 2 * (1 + rng.uniform(-center_jitter, center_jitter) * 2))
    camera = look_at_camera(position, tgt, focal=f, image_size=(w, h), center=center, name=name)
    yaw = np.arctan(rng.uniform(-offcentre, offcentre) * w / 2 / f)
    pitch = np.arctan(rng.uniform(-offcentre, offcentre) * h / 2 / f)
    return _roll_pitch_yaw(camera, np.radians(rng.uniform(-roll, roll)), pitch, yaw)


def _camera_tensors(camera: Camera) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.as_tensor(camera.rotation, dtype=torch.float64),
            torch.as_tensor(camera.translation, dtype=torch.float64),
            torch.as_tensor(camera.intrinsics, dtype=torch.float64))


def observe(world_poses: torch.Tensor | np.ndarray, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame joints (N, J, 3) and pixel coordinates (N, J, 2) of world poses (N, J, 3)."""
    x = torch.as_tensor(np.asarray(world_poses), dtype=torch.float64)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"world_poses: expected (N, J, 3), got {tuple(x.shape)}")
    rotation, translation, intrinsics = _camera_tensors(camera)
    cam = world_to_camera(x, rotation, translation)
    return cam, project(cam, intrinsics)


def inside_image(uv: torch.Tensor, camera: Camera) -> torch.Tensor:
    """(N, J, 2) pixels -> (N,) True where every joint lies inside the image."""
    size = torch.tensor([camera.width, camera.height], dtype=uv.dtype)
    return ((uv >= 0) & (uv <= size)).all(-1).all(-1)


def make_training_pair(world_poses: torch.Tensor | np.ndarray, camera: Camera, *, subject: str = "mocap",
                       action: str = "mocap") -> PoseSequence:
    """Film world poses (N, J, 3) (metres, z up, root joint 0) with ``camera``.

    Returns:
        a PoseSequence: keypoints_2d screen-normalised, poses_3d camera frame root-relative,
        trajectory the camera-frame root, intrinsics screen-normalised, ``valid`` marking frames
        with every joint inside the image.
    Raises:
        ValueError: a joint less than 0.1 m in front of the camera (the projection would be
            meaningless).
    """
    cam, uv = observe(world_poses, camera)
    behind = (cam[..., 2] < _MIN_DEPTH).any(-1)
    if behind.any():
        raise ValueError(f"camera {camera.id!r}: joints behind or within {_MIN_DEPTH} m of the camera in "
                         f"{int(behind.sum())} of {len(behind)} frames, first at frame {int(behind.float().argmax())}")
    w, h = camera.width, camera.height
    intrinsics = normalize_intrinsics(torch.as_tensor(camera.intrinsics, dtype=torch.float64), w, h)
    return PoseSequence(
        keypoints_2d=normalize_screen(uv, w, h).numpy(), poses_3d=(cam - cam[:, :1]).numpy(),
        trajectory=cam[:, :1].numpy(), intrinsics=intrinsics.numpy(), image_size=(w, h),
        subject=subject, action=action, camera=camera.id, valid=inside_image(uv, camera).numpy(),
        up=np.asarray(camera.rotation)[:, 2],
    )


def camera_for_sequence(rng: np.random.Generator, world_poses: torch.Tensor | np.ndarray, *,
                        min_inside: float = 0.95, tries: int = 100, wide: bool = False, **kwargs) -> Camera:
    """Draw :func:`random_camera` (or :func:`wide_camera` when ``wide``; the subject's extent is
    measured from the poses) around the poses' mean position until at least ``min_inside`` of
    the frames have every joint inside the image and every joint is in front of the camera.

    ``kwargs`` go to the camera function. Raises ValueError after ``tries`` failures.
    """
    x = torch.as_tensor(np.asarray(world_poses), dtype=torch.float64)
    target = x.reshape(-1, 3).mean(0).numpy()
    if wide:  # the subject's size: its bounding box over the clip, at most a few metres
        kwargs = {"extent": float((x.reshape(-1, 3).amax(0) - x.reshape(-1, 3).amin(0)).max().clamp(1.0, 4.0)),
                  **kwargs}
    draw = wide_camera if wide else random_camera
    best = 0.0
    for _ in range(tries):
        camera = draw(rng, target=target, **kwargs)
        cam, uv = observe(x, camera)
        if (cam[..., 2] < _MIN_DEPTH).any():
            continue
        frac = inside_image(uv, camera).double().mean().item()
        if frac >= min_inside:
            return camera
        best = max(best, frac)
    raise ValueError(f"no camera in {tries} tries kept {min_inside:.0%} of the frames inside the image "
                     f"(best {best:.0%}); the motion may cover too much ground for distance={kwargs.get('distance')}")
