"""The people file (export/people.py): every person of a clip on one timeline with a people axis,
written beside the per-person results and read back from .npz and .json."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ddhpose.export.people import load_people, people_arrays
from ddhpose.export.results import load_result
from ddhpose.export.writers import planned_writes, write_all
from body_poses import result_of



def _people():
    rng = np.random.default_rng(0)
    walk = rng.normal(0, 0.2, (30, 17, 3)) + [0.0, 1.0, 0.0]
    a = result_of(walk, start=10, fps=30.0, track_id=0)
    b = result_of(walk[:12] + [1.0, 0.0, 0.0], start=25, fps=30.0, track_id=1)
    return a, b


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_the_people_file_holds_every_person_on_one_timeline(tmp_path, suffix):
    a, b = _people()
    out = tmp_path / f"clip{suffix}"
    paths = write_all(planned_writes([a, b], out))
    assert [p.name for p in paths] == [f"clip{suffix}", f"clip_track0{suffix}", f"clip_track1{suffix}"]
    back = load_people(out)
    np.testing.assert_array_equal(back["person_ids"], [0, 1])
    np.testing.assert_array_equal(back["frames"], np.arange(10, 40))  # 10-39: a's 10-39, b's 25-36
    assert back["present"][0].all() and back["present"][1].sum() == 12
    np.testing.assert_array_equal(np.flatnonzero(back["present"][1]), np.arange(15, 27))
    assert np.isnan(back["poses"][1, :15]).all()
    np.testing.assert_allclose(back["poses"][1, 15:27], load_result(tmp_path / f"clip_track1{suffix}").poses,
                               atol=1e-5)
    np.testing.assert_allclose(back["poses"][0], a.poses, atol=1e-5)
    assert list(back["person_files"]) == [f"clip_track0{suffix}", f"clip_track1{suffix}"]


def test_seen_frames_and_world_poses_on_the_people_axis():
    a, b = _people()
    missing = a.missing.copy()
    missing[3:5] = True  # not seen in two frames: present (bridged) but not seen
    a = dataclasses.replace(a, missing=missing)
    arrays = people_arrays([a, b], ["a.npz", "b.npz"])
    assert arrays["present"][0, 3:5].all() and not arrays["seen"][0, 3:5].any() and arrays["seen"][0, 5]
    assert arrays["world_poses"].shape == (2, 30, 17, 3)
    np.testing.assert_allclose(arrays["world_poses"][1, 15:27], b.world_poses)
    with pytest.raises(ValueError, match="files: expected one per person"):
        people_arrays([a, b], ["a.npz"])


def test_one_person_writes_only_their_result(tmp_path):
    a, _ = _people()
    assert [p.name for p in write_all(planned_writes([a], tmp_path / "one.npz"))] == ["one.npz"]
    assert load_result(tmp_path / "one.npz").track_id == 0
    with pytest.raises(ValueError, match="not a people file"):
        load_people(tmp_path / "one.npz")
