"""The ankle joint's resting height above the floor, as a fraction of the leg, in the motion the
bundled model learnt: the figure behind ``ddhpose.lifting.world.ANKLE_HEIGHT_RATIO``.

    python tools/ankle_height.py                  # the wild config's training data (data/ linked)
    python tools/ankle_height.py --test           # its held-out clips instead

For each clip of true world motion (z up, floor at 0): the foot contacts by the lifter's own rule
(``ddhpose.lifting.feet.foot_contacts``), the median height of the resting ankles over the
median hip-to-ankle length of the clip. Printed per data set (the median over its clips, with
the 10th and 90th percentiles) and for all clips together. What the lifter predicts is a joint
where the mocap put it, not the anatomical malleolus: each set places its ankle joint at its
own height, and the model learns their mixture.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ddhpose.data.h36m import _h36m_17_from_32, _member, world_positions
from ddhpose.data.retarget import load_mocap
from ddhpose.data.sources import _matches
from ddhpose.experiment import load_config
from ddhpose.lifting.feet import foot_contacts
from ddhpose.lifting.world import leg_length
from ddhpose.safe_pickle import load_npz

ZUP_TO_YUP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z) -> (x, z, -y)
FPS = 25.0
LEFT_ANKLE, RIGHT_ANKLE = 6, 3  # Human3.6M-17; contacts are (left, right)


def resting_ratio(world_zup: np.ndarray) -> float | None:
    """Median resting-ankle height over median leg length of one clip (F, 17, 3), z up, metres."""
    world = world_zup @ ZUP_TO_YUP.T
    contacts = foot_contacts(world, FPS)
    if not contacts.any():
        return None
    heights = np.stack([world[:, LEFT_ANKLE, 1], world[:, RIGHT_ANKLE, 1]], 1)[contacts]
    return float(np.median(heights) / np.median(leg_length(world - world[:, :1])))


def dataset_of(path: str) -> str:
    for key, name in (("bandai", "Bandai Namco"), ("hdm05", "HDM05"), ("cmu_dance", "CMU dance / martial arts"),
                      ("cmu_mocap", "CMU")):
        if key in path:
            return name
    return Path(path).parent.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--test", action="store_true", help="the held-out clips instead of the training ones")
    args = parser.parse_args()
    cfg = load_config(args.config)
    ratios: dict[str, list[float]] = {}
    source = cfg.data.path_3d
    positions = _member(load_npz(source), "positions_3d", source)
    subjects = cfg.data.test_subjects if args.test else cfg.data.train_subjects
    for subject in subjects:
        for take, value in positions[subject].items():
            world = world_positions(value, f"{source}: {subject} {take}")
            world = world[:, _h36m_17_from_32()] if world.shape[1] == 32 else world
            ratio = resting_ratio(world[::2].astype(np.float64))  # 50 -> 25 fps
            if ratio is not None:
                ratios.setdefault("Human3.6M", []).append(ratio)
    for path in sorted(_matches(cfg.data.mocap_test if args.test else cfg.data.mocap_train)):
        if not args.test and any(Path(path).match(p) for p in cfg.data.mocap_test):
            continue
        ratio = resting_ratio(np.asarray(load_mocap(path, fps=FPS), np.float64))
        if ratio is not None:
            ratios.setdefault(dataset_of(path), []).append(ratio)
    print(f"resting ankle height / leg length, {'held-out' if args.test else 'training'} clips of -c {args.config}")
    print("| data | clips | median | 10th / 90th percentile |\n|---|---|---|---|")
    for name, values in [*ratios.items(), ("all", [v for vs in ratios.values() for v in vs])]:
        v = np.asarray(values)
        print(f"| {name} | {len(v)} | {np.median(v):.3f} | {np.percentile(v, 10):.3f} / {np.percentile(v, 90):.3f} |")


if __name__ == "__main__":
    main()
