"""The ankle joint's resting height above the floor, as a fraction of the leg, in the motion the
bundled model learnt: the figure behind ``ddhpose.lifting.world.ANKLE_HEIGHT_RATIO``.

    python tools/ankle_height.py                  # the wild config's training data (data/ linked)
    python tools/ankle_height.py --test           # its held-out clips instead

For each clip of true world motion (z up, its floor taken to be z = 0: assumed, not checked; the
Human3.6M motion's is): the foot contacts by the lifter's own rule on the lowest support
(``ddhpose.lifting.feet.foot_contacts`` with ``window=None``: a foot on a box does not count),
the median height of the resting ankles over the median hip-to-ankle length of the clip (the
height the foot lock and the common floor of :mod:`ddhpose.lifting.placement` put them at).
Printed per data set (the median over its clips, with the 10th and 90th percentiles) and for all
clips together. What the lifter predicts is a joint
where the mocap put it, not the anatomical malleolus: each set places its ankle joint at its
own height, and the model learns their mixture.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ddhpose.data.h36m import world_positions
from ddhpose.data.sources import h36m_positions, mocap_clips
from ddhpose.experiment import load_config
from ddhpose.geometry import Y_UP_TO_Z_UP
from ddhpose.lifting.feet import foot_contacts
from ddhpose.lifting.world import leg_length
from ddhpose.skeleton import H36M

#: The ankles in the order of the contacts (left, right).
ANKLES = list(H36M.joints(("left_ankle", "right_ankle"), "the resting ankle height").values())
#: Data folders and the names the table gives them.
DATASETS = {"bandai_bvh": "Bandai Namco", "hdm05": "HDM05", "cmu_dance_martial": "CMU dance / martial arts",
            "cmu_mocap": "CMU"}


def resting_ratio(world_zup: np.ndarray, fps: float) -> float | None:
    """The median height of the resting ankles over the leg's length (hip to ankle) of one clip
    of true motion, (F, 17, 3) metres, z up, its floor at z = 0 (assumed, not checked); None where
    no foot rests. Contacts by the lifter's rule on the lowest support only (``window=None``:
    a foot on a box is not counted)."""
    world = world_zup @ np.asarray(Y_UP_TO_Z_UP)  # z up -> y up: the transpose of y up -> z up
    contacts = foot_contacts(world, fps, window=None)
    if not contacts.any():
        return None
    heights = world[:, ANKLES, 1][contacts]
    return float(np.median(heights) / leg_length(world))


def dataset_of(path: str) -> str:
    """The data set a clip's file belongs to: the first folder of its path named in :data:`DATASETS`,
    else its own folder's name."""
    for part in Path(path).parts:
        if part in DATASETS:
            return DATASETS[part]
    return Path(path).parent.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--test", action="store_true", help="the held-out clips instead of the training ones")
    args = parser.parse_args()
    data = load_config(args.config).data
    fps = data.mocap_fps
    ratios: dict[str, list[float]] = {}
    step = max(1, round(50 / fps))  # Human3.6M's world motion is at 50 fps
    subjects = data.test_subjects if args.test else data.train_subjects
    for subject, takes in h36m_positions(data.path_3d, subjects).items():
        for take, value in sorted(takes.items()):
            world = world_positions(value, f"{data.path_3d}: {subject} {take}")[::step]
            ratio = resting_ratio(world.astype(np.float64), fps)
            if ratio is not None:
                ratios.setdefault("Human3.6M", []).append(ratio)
    clips = mocap_clips(data.mocap_test, fps) if args.test else mocap_clips(data.mocap_train, fps, data.mocap_test)
    for path, world in clips:
        ratio = resting_ratio(world.astype(np.float64), fps)
        if ratio is not None:
            ratios.setdefault(dataset_of(path), []).append(ratio)
    print(f"resting ankle height / leg length, {'held-out' if args.test else 'training'} clips of -c {args.config}")
    print("| data | clips | median | 10th / 90th percentile |\n|---|---|---|---|")
    for name, values in [*ratios.items(), ("all", [v for vs in ratios.values() for v in vs])]:
        v = np.asarray(values)
        print(f"| {name} | {len(v)} | {np.median(v):.3f} | {np.percentile(v, 10):.3f} / {np.percentile(v, 90):.3f} |")


if __name__ == "__main__":
    main()
