"""Animations: file formats, sizes, orientation of both panels, validation, atomic writes."""
from __future__ import annotations

import dataclasses

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from ddhpose.export import render
from ddhpose.export.render import bone_colours, camera_to_display, render_animation, render_result
from ddhpose.skeleton import H36M, Skeleton

# H36M joints of a person standing upright in the camera frame (x right, y down, z forward).
STANDING = np.array([
    [0, 0, 0], [-0.13, 0, 0], [-0.13, 0.45, 0], [-0.13, 0.9, 0], [0.13, 0, 0], [0.13, 0.45, 0],
    [0.13, 0.9, 0], [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, 0], [0, -0.75, 0], [0.18, -0.5, 0],
    [0.2, -0.25, 0], [0.22, 0, 0], [-0.18, -0.5, 0], [-0.2, -0.25, 0], [-0.22, 0, 0],
])


def clip(frames: int, hypotheses: int = 0, seed: int = 0):
    """Swinging arms: 2D pixels (F, 17, 2) in a 1000x1000 image, poses (F, 17, 3), (H, F, 17, 3)."""
    t = np.linspace(0, 2 * np.pi, frames)
    poses = np.repeat(STANDING[None], frames, axis=0)
    poses[:, [12, 13], 2] += 0.3 * np.sin(t)[:, None]
    poses[:, [15, 16], 2] -= 0.3 * np.sin(t)[:, None]
    keypoints = 500 * poses[..., :2] / (poses[..., 2:] + 4.0) + 500
    noise = np.random.default_rng(seed).normal(0, 0.03, (hypotheses, frames, 17, 3))
    return keypoints, poses, poses[None] + noise


def mask(panel: np.ndarray, side: str) -> np.ndarray:
    """Pixels of the left (blue) or right (red) limb colour; the axes and text are grey."""
    r, g, b = np.moveaxis(panel.astype(int), -1, 0)
    return b - r > 50 if side == "left" else (r - b > 50) & (r - g > 50)


def test_gif_frame_count_size_and_no_temp_files(tmp_path):
    keypoints, poses, hyps = clip(6, hypotheses=3)
    out = render_animation(keypoints, poses, tmp_path / "clip.gif", hypotheses=hyps,
                           image_size=(1000, 1000), size=128, progress=False)
    assert out == tmp_path / "clip.gif"
    frames = iio.imread(out)
    assert frames.shape == (6, 128, 256, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]
    assert not np.array_equal(frames[0], frames[2])  # the arms move
    panel_3d = frames[0][:, 128:]
    assert mask(panel_3d, "left").sum() > 20 and mask(panel_3d, "right").sum() > 20


def test_mp4_frame_count_and_even_size(tmp_path):
    keypoints, poses, _ = clip(7)
    out = render_animation(torch.from_numpy(keypoints), torch.from_numpy(poses), tmp_path / "clip.mp4",
                           size=97, fps=10, progress=False)
    frames = iio2.mimread(out)
    assert len(frames) == 7
    assert frames[0].shape == (96, 192, 3)  # rounded down to even for yuv420p
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_both_panels_upright(tmp_path):
    # The left bone points up (camera y < 0) and the right bone down: blue must be above red
    # in the image panel (y down) and in the 3D panel (converted so the person stands up).
    sk = Skeleton(parents=(-1, 0, 0), joints_left=(1,), joints_right=(2,))
    poses = np.array([[[0, 0, 0], [0.05, -0.5, 0.0], [-0.05, 0.5, 0.0]]] * 2)
    keypoints = 150 * poses[..., :2] + 100
    out = render_animation(keypoints, poses, tmp_path / "updown.gif", skeleton=sk,
                           image_size=(200, 200), size=160, progress=False)
    frame = iio.imread(out)[0]
    for panel in (frame[:, :160], frame[:, 160:]):
        blue_rows = np.nonzero(mask(panel, "left"))[0]
        red_rows = np.nonzero(mask(panel, "right"))[0]
        assert blue_rows.size > 10 and red_rows.size > 10
        assert blue_rows.mean() + 10 < red_rows.mean()


def test_camera_to_display_is_an_upright_rotation():
    head_up = camera_to_display(np.array([0.0, -1.0, 0.0]))
    np.testing.assert_allclose(head_up, [0, 0, 1])  # camera "up" (-y) is display +z
    basis = camera_to_display(np.eye(3))
    assert np.isclose(np.linalg.det(basis), 1.0)  # no mirroring: left stays left


def test_bone_colours_follow_sides():
    colours = dict(zip((c for _, c in H36M.bones), bone_colours(H36M)))
    assert {colours[j] for j in H36M.joints_left} == {render.LEFT_COLOUR}
    assert {colours[j] for j in H36M.joints_right} == {render.RIGHT_COLOUR}
    assert colours[10] == render.CENTRE_COLOUR


def test_hypothesis_layouts_render_the_same(tmp_path):
    keypoints, poses, hyps = clip(3, hypotheses=2)
    a = render_animation(keypoints, poses, tmp_path / "a.gif", hypotheses=hyps, size=64, progress=False)
    b = render_animation(keypoints, poses, tmp_path / "b.gif", hypotheses=hyps.transpose(1, 0, 2, 3),
                         size=64, progress=False)
    c = render_animation(keypoints, poses, tmp_path / "c.gif", size=64, progress=False)
    assert np.array_equal(iio.imread(a), iio.imread(b))
    assert not np.array_equal(iio.imread(a), iio.imread(c))


@pytest.mark.parametrize("change, message", [
    (lambda k, p, h: (k[:, :16], p, h), "keypoints_2d"),
    (lambda k, p, h: (k, p[..., :2], h), "poses"),
    (lambda k, p, h: (k[:3], p, h), "frames"),
    (lambda k, p, h: (k, np.where(np.arange(17)[:, None] == 5, np.nan, p), h), "finite"),
    (lambda k, p, h: (k, p, h[:, :3]), "hypotheses"),
])
def test_bad_inputs_raise_and_write_nothing(tmp_path, change, message):
    keypoints, poses, hyps = clip(4, hypotheses=2)
    keypoints, poses, hyps = change(keypoints, poses, hyps)
    with pytest.raises(ValueError, match=message):
        render_animation(keypoints, poses, tmp_path / "x.gif", hypotheses=hyps, size=64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_extension_names_supported_ones(tmp_path):
    keypoints, poses, _ = clip(2)
    with pytest.raises(ValueError, match=r"\.gif.*\.mp4"):
        render_animation(keypoints, poses, tmp_path / "x.avi", progress=False)


def test_failure_mid_way_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "clip.gif"
    out.write_bytes(b"previous")
    original, calls = render._Scene.frame, []

    def failing_frame(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(render._Scene, "frame", failing_frame)
    keypoints, poses, _ = clip(5)
    with pytest.raises(RuntimeError, match="boom"):
        render_animation(keypoints, poses, out, size=64, progress=False)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]


def test_mp4_writer_failure_leaves_nothing(tmp_path, monkeypatch):
    import imageio_ffmpeg

    def broken_writer(path, size, **kwargs):
        with open(path, "wb") as f:
            yield  # primed with send(None), like the real generator
            for count in range(10**6):
                f.write(np.asarray((yield)).tobytes())
                if count == 2:
                    raise OSError("disk full")

    monkeypatch.setattr(imageio_ffmpeg, "write_frames", broken_writer)
    keypoints, poses, _ = clip(5)
    with pytest.raises(OSError, match="disk full"):
        render_animation(keypoints, poses, tmp_path / "clip.mp4", size=64, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_render_result_reads_lifter_results(tmp_path, suffix):
    from ddhpose.export.results import LiftResult, save_result
    keypoints, poses, hyps = clip(4, hypotheses=2)
    result = LiftResult(poses=poses.astype(np.float32), hypotheses=hyps.astype(np.float32),
                        uncertainty=np.zeros((4, 17), np.float32), keypoints_2d=keypoints.astype(np.float32),
                        missing=np.zeros((4, 17), bool), scores=np.ones((4, 17), np.float32),
                        frames=np.arange(4), image_size=(1000, 1000))
    save_result(result, tmp_path / f"result{suffix}")
    out = render_result(tmp_path / f"result{suffix}", tmp_path / "result.gif", size=64, progress=False)
    assert iio.imread(out).shape == (4, 64, 128, 3)
    np.savez(tmp_path / "bad.npz", poses_3d=poses)
    with pytest.raises(ValueError, match="keypoints_2d"):
        render_result(tmp_path / "bad.npz", tmp_path / "bad.gif", progress=False)
    assert not (tmp_path / "bad.gif").exists()


def test_video_frames_under_the_keypoints_counter_and_hollow_missing_joints(tmp_path):
    keypoints, poses, _ = clip(3)
    plain = render_animation(keypoints, poses, tmp_path / "plain.gif", image_size=(1000, 1000), size=128,
                             progress=False)
    green = [np.full((1000, 1000, 3), (0, 200, 0), np.uint8)] * 3  # a green "video"
    missing = np.zeros((3, 17), bool)
    missing[:, 13] = True
    out = render_animation(keypoints, poses, tmp_path / "video.gif", image_size=(1000, 1000), size=128,
                           progress=False, frames_of=lambda numbers: iter(green), missing=missing, frame_numbers=[40, 41, 42])
    left_plain, left_video = iio.imread(plain)[0][:, :128], iio.imread(out)[0][:, :128]
    r, g, b = np.moveaxis(left_video.astype(int), -1, 0)
    assert ((g > 150) & (r < 80) & (b < 80)).mean() > 0.2  # the frame is drawn under the skeleton
    assert not ((left_plain[..., 1] > 150) & (left_plain[..., 0] < 80)).any()
    with pytest.raises(ValueError, match="needs image_size"):
        render_animation(keypoints, poses, tmp_path / "x.gif", frames_of=lambda numbers: iter(green), progress=False)
    with pytest.raises(ValueError, match=r"missing: expected \(3, 17\)"):
        render_animation(keypoints, poses, tmp_path / "x.gif", missing=missing[:2], progress=False)


def test_several_people_in_one_animation_in_the_world_frame(tmp_path):
    """Two people, each in a colour of their own, drawn in one animation over the union of their
    frames; in the world frame the 3D panel stands them on the floor grid."""
    from ddhpose.lifting.result import LiftResult
    keypoints, poses, _ = clip(6)
    results = []
    for track, shift, frames in ((3, 0.0, np.arange(0, 6)), (5, 250.0, np.arange(2, 8))):
        world = poses * [1, -1, -1] + [shift / 500, 0.95, 0]  # upright (y up), on the floor
        results.append(LiftResult(poses=poses, hypotheses=poses[None], uncertainty=np.zeros((6, 17)),
                                  keypoints_2d=keypoints + [shift, 0], missing=np.zeros((6, 17), bool),
                                  scores=np.ones((6, 17)), frames=frames, image_size=(1000, 1000), track_id=track,
                                  world_poses=world, foot_contacts=np.zeros((6, 2), bool)))
    out = render_result(results, tmp_path / "people.gif", size=128, progress=False)
    frames = iio.imread(out)
    assert frames.shape == (8, 128, 256, 3)  # frames 0..7: the union of both people's frames

    def has(panel, colour):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        return (np.abs(panel.astype(int) - rgb).sum(-1) < 40).sum()

    first, middle, last = frames[0], frames[4], frames[7]
    blue, red = (render._shade(c, -0.25) for c in render.PERSON_COLOURS[:2])  # their right sides
    assert has(first, blue) > 10 and has(first, red) == 0  # only the first person at frame 0
    assert has(middle, blue) > 10 and has(middle, red) > 10
    assert has(last, red) > 10 and has(last, blue) == 0
    camera = render_result(results, tmp_path / "camera.gif", size=128, progress=False, world=False)
    assert not np.array_equal(iio.imread(camera)[4][:, 128:], frames[4][:, 128:])  # another 3D view


def test_what_a_person_stood_on_is_drawn_under_them(tmp_path):
    from ddhpose.lifting.result import LiftResult
    keypoints, poses, _ = clip(6)
    world = poses * [1, -1, -1] + [0.0, 0.95 + 1.0, 0.0]  # upright, on a box 1 m high
    contacts = np.ones((6, 2), bool)
    person = LiftResult(poses=poses, hypotheses=poses[None], uncertainty=np.zeros((6, 17)), keypoints_2d=keypoints,
                        missing=np.zeros((6, 17), bool), scores=np.ones((6, 17)), frames=np.arange(6),
                        image_size=(1000, 1000), world_poses=world, foot_contacts=contacts,
                        provenance={"placement": {"raised": [{"frames": [0, 5], "height_m": 1.0}]}})
    [drawn], world_view = render.people_of([person])
    assert world_view and len(drawn.supports) == 1
    assert np.allclose(np.sort(drawn.supports[0][:, 2]), [0.0, 1.0])  # display z is up: floor to the box's top
    colour = np.array([int(render.SUPPORT_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])

    def box_pixels(result):
        frame = iio.imread(render_result([result], tmp_path / "box.gif", size=256, progress=False))[0]
        return (np.abs(frame[:, 256:].astype(int) - colour).sum(-1) < 40).sum()

    assert box_pixels(person) > 50
    assert box_pixels(dataclasses.replace(person, provenance={})) == 0


def test_only_seen_or_briefly_bridged_keypoints_are_drawn():
    missing = np.zeros((12, 3), bool)
    missing[2:4, 0] = True  # a 2-frame gap, seen on both sides: bridged
    missing[2:9, 1] = True  # a 7-frame gap: a long guess, not drawn
    missing[:3, 2] = missing[10:, 2] = True  # before the joint was first and after it was last seen
    drawn = render.drawn_joints(missing, max_bridge=3)
    np.testing.assert_array_equal(drawn[:, 0], np.ones(12, bool))
    np.testing.assert_array_equal(np.flatnonzero(~drawn[:, 1]), np.arange(2, 9))
    np.testing.assert_array_equal(np.flatnonzero(drawn[:, 2]), np.arange(3, 10))
    assert render.drawn_joints(missing, max_bridge=7)[:, 1].all()


def test_a_person_whose_every_joint_is_interpolated_is_not_drawn(tmp_path):
    from ddhpose.lifting.result import LiftResult
    keypoints, poses, _ = clip(8)
    results = []
    for track, shift in ((0, 0.0), (1, 250.0)):
        missing = np.zeros((8, 17), bool)
        if track == 1:
            missing[3:] = True  # lost after frame 2: the lifter's guess, never seen again
        world = poses * [1, -1, -1] + [shift / 500, 0.95, 0]
        results.append(LiftResult(poses=poses, hypotheses=poses[None], uncertainty=np.zeros((8, 17)),
                                  keypoints_2d=keypoints + [shift, 0], missing=missing, scores=np.ones((8, 17)),
                                  frames=np.arange(8), image_size=(1000, 1000), track_id=track, world_poses=world,
                                  foot_contacts=np.zeros((8, 2), bool), fps=25.0))
    frames = iio.imread(render_result(results, tmp_path / "people.gif", size=128, progress=False))
    red = np.array([int(render._shade(render.PERSON_COLOURS[1], -0.25)[i:i + 2], 16) for i in (1, 3, 5)])
    count = [(np.abs(f.astype(int) - red).sum(-1) < 40).sum() for f in frames]
    assert min(count[:3]) > 10 and max(count[3:]) == 0  # drawn where seen, in neither panel after
