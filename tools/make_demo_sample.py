"""Build the bundled demo input: 2D keypoints of a CMU mocap clip seen by a virtual camera.

Usage: python tools/make_demo_sample.py CMU_ROOT [--clip 02/02_05.amc] [-o src/ddhpose/assets/demo]

The clip is retargeted to the Human3.6M 17 joints, resampled to 50 fps, filmed by a fixed
virtual camera (1000 x 1000 px, f = 1145 px), and lightly jittered (sigma 1.5 px) so it looks
like a detector's output. The 3D ground truth (camera frame, metres) is stored beside it so the
demo can report its error. CMU data: free for research and products (see assets/demo/README.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ddhpose.data.retarget import load_mocap
from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.files import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cmu_root")
    parser.add_argument("--clip", default="02/02_05.amc")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("-o", "--output", default="src/ddhpose/assets/demo")
    args = parser.parse_args()
    world = load_mocap(Path(args.cmu_root) / args.clip, fps=50).numpy()[args.start:args.start + args.frames]
    centre = world[:, 0].mean(0)
    camera = look_at_camera(centre + np.array([0.8, -4.5, 0.4]), centre, image_size=(1000, 1000), name="demo")
    cam, uv = (t.numpy() for t in observe(world, camera))
    rng = np.random.default_rng(0)
    keypoints = uv + rng.normal(0, 1.5, uv.shape)
    scores = np.full(keypoints.shape[:2], 0.9, np.float32)
    stem = Path(args.clip).stem
    out = Path(args.output) / f"cmu_{stem}_h36m17.npz"
    with atomic_path(out) as tmp:
        np.savez_compressed(tmp, keypoints=keypoints.astype(np.float32), scores=scores,
                            image_size=np.array([1000, 1000]), layout=np.array("h36m"),
                            poses_3d=(cam - cam[:, :1]).astype(np.float32),
                            focal_length=np.float32(camera.intrinsics[0]), fps=np.float32(50.0),
                            source=np.array(f"CMU Graphics Lab Motion Capture Database, clip {stem}"))
    print(f"wrote {out}: {len(keypoints)} frames")


if __name__ == "__main__":
    main()
