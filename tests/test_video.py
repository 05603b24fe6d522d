"""``ddhpose video``: decoding, detections kept beside the result, one fps everywhere, nothing
half-written, and MediaPipe on a real clip when the ``video`` extra is installed."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.cli import main
from ddhpose.export.results import load_result
from ddhpose.lifting.keypoints import MEDIAPIPE33
from ddhpose.lifting.lifter import Lifter
from ddhpose.model.checkpoint import save_checkpoint
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.pipelines.video import lift_video
from ddhpose.video import decode as V

CLIP = Path(__file__).parent / "fixtures" / "sports2d_demo_3s.mp4"  # real, 90 frames, 884 x 498, 30 fps


@pytest.fixture(scope="module")
def lifter(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_checkpoint(DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)), path)
    return Lifter.from_pretrained(path, device="cpu")


class FakeDetector:
    """A standing person in the middle of every frame (MediaPipe's 33 landmarks), none in
    ``empty`` frames; records that it was closed."""

    name, layout = "fake", "mediapipe33"

    def __init__(self, empty: tuple[int, ...] = ()) -> None:
        self.empty, self.calls, self.closed = set(empty), 0, False

    def __call__(self, rgb):
        assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
        i, self.calls = self.calls, self.calls + 1
        if i in self.empty:
            return []
        h, w = rgb.shape[:2]
        pos = {"nose": (0, -0.8), "left_eye": (0.03, -0.83), "right_eye": (-0.03, -0.83),
               "left_shoulder": (0.15, -0.6), "right_shoulder": (-0.15, -0.6), "left_elbow": (0.2, -0.35),
               "right_elbow": (-0.2, -0.35), "left_wrist": (0.22, -0.1), "right_wrist": (-0.22, -0.1),
               "left_hip": (0.1, 0.0), "right_hip": (-0.1, 0.0), "left_knee": (0.1, 0.4),
               "right_knee": (-0.1, 0.4), "left_ankle": (0.1, 0.8), "right_ankle": (-0.1, 0.8)}
        kp = np.full((33, 2), (w / 2, h / 2), np.float64)
        for name, (x, y) in pos.items():
            kp[MEDIAPIPE33.names.index(name)] = (w / 2 + x * h * 0.4 + i, h / 2 + y * h * 0.4)  # walks right
        return [(kp, np.full(33, 0.9))]

    def close(self):
        self.closed = True


def test_read_frames_of_a_real_clip():
    info, frames = V.read_frames(CLIP)
    assert info.fps == 30 and info.size == (884, 498)
    first = next(frames)
    assert first.shape == (498, 884, 3) and first.dtype == np.uint8
    assert 1 + sum(1 for _ in frames) == 90


def test_unreadable_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"nothere.mp4: no such video file"):
        V.read_frames(tmp_path / "nothere.mp4")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(ValueError, match=r"text.mp4: not a readable video"):
        V.read_frames(tmp_path / "text.mp4")
    cut = tmp_path / "cut.mp4"  # a download that stopped half way
    cut.write_bytes(CLIP.read_bytes()[: CLIP.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut.mp4: not a readable video"):
        V.read_frames(cut)


def test_a_video_without_frames_is_refused(tmp_path, lifter):
    import subprocess

    import imageio_ffmpeg
    empty = tmp_path / "empty.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=black:s=64x48:r=25", "-frames:v", "0", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(empty)], check=True)
    with pytest.raises(ValueError, match=r"empty.mp4: (not a readable video|the video has no frames)"):
        lift_video(empty, tmp_path / "out.npz", detector=FakeDetector(), lifter=lifter, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4"]


def test_lift_video_writes_detections_results_and_render_at_the_video_fps(lifter, tmp_path):
    detector = FakeDetector(empty=(5,))
    paths = lift_video(CLIP, tmp_path / "out.npz", render=str(tmp_path / "out.mp4"), bvh=True,
                         detector=detector, lifter=lifter, progress=False)
    names = sorted(p.name for p in paths)
    assert names == ["out.bvh", "out.detections.json", "out.mp4", "out.npz"]
    assert detector.calls == 90 and detector.closed
    result = load_result(tmp_path / "out.npz")
    assert result.fps == 30 and result.image_size == (884, 498) and result.num_frames == 90
    assert result.missing[5].all() and not result.missing[4].any()  # the frame without a person, filled
    bvh = (tmp_path / "out.bvh").read_text()
    assert "Frame Time: 0.03333333" in bvh and "Frames: 90" in bvh
    import imageio.v2 as iio
    assert iio.get_reader(tmp_path / "out.mp4").get_meta_data()["fps"] == 30
    det = json.loads((tmp_path / "out.detections.json").read_text())
    assert det["fps"] == 30 and det["image_size"] == [884, 498] and det["layout"] == "mediapipe33"
    assert len(det["frames"]) == 89 and len(det["frames"][0]["keypoints"]) == 33
    # the detections lift again without the video, to the same result
    from ddhpose.pipelines.lift import lift_file
    # re-lifting takes the frame rate and the score threshold from the file, as the video did
    relifted = lift_file(tmp_path / "out.detections.json", tmp_path / "re.npz", lifter=lifter, bvh=True)
    again = load_result(relifted[0])
    np.testing.assert_allclose(again.poses, result.poses, atol=1e-6)
    assert again.fps == 30 and "Frame Time: 0.03333333" in relifted[1].read_text()
    assert again.provenance["score_threshold"] == result.provenance["score_threshold"] == 0.5
    # provenance names the user's input, not a temporary file
    assert result.provenance["input"] == str(CLIP) and again.provenance["input"].endswith("out.detections.json")


def test_no_person_writes_nothing_and_a_failing_detector_keeps_its_detections(lifter, tmp_path):
    with pytest.raises(ValueError, match=r"no person was detected in any of its 90 frames"):
        lift_video(CLIP, tmp_path / "out.npz", detector=FakeDetector(empty=tuple(range(90))), lifter=lifter,
                     progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "out.npz").write_bytes(b"an earlier result")
    detector = FakeDetector()
    with pytest.raises(ValueError, match=r"out.avi: unsupported animation extension"):
        lift_video(CLIP, tmp_path / "out.npz", render=str(tmp_path / "out.avi"), detector=detector,
                     lifter=lifter, progress=False)
    assert detector.calls == 0  # refused before decoding anything
    with pytest.raises(ValueError, match=r"unsupported result extension"):
        lift_video(CLIP, tmp_path / "out.csv", detector=detector, lifter=lifter, progress=False)

    class Broken(FakeDetector):  # fails half way through the video
        def __call__(self, rgb):
            if self.calls == 45:
                raise RuntimeError("detector crashed")
            return super().__call__(rgb)

    broken = Broken()
    with pytest.raises(RuntimeError, match=r"out.mp4|sports2d_demo_3s.mp4: detection stopped after 45 of 90 frames: "
                                           r"RuntimeError: detector crashed; the detections of those frames are kept "
                                           r"in .*out.detections.json"):
        lift_video(CLIP, tmp_path / "out.npz", detector=broken, lifter=lifter, progress=False)
    assert broken.closed
    assert (tmp_path / "out.npz").read_bytes() == b"an earlier result"  # nothing computed is lost, nothing replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.detections.json", "out.npz"]
    kept = json.loads((tmp_path / "out.detections.json").read_text())
    assert kept["num_frames"] == 45 and sorted({d["frame"] for d in kept["frames"]}) == list(range(45))


def test_cli_without_the_detector_says_how_to_install_it(tmp_path, capsys):
    pytest.importorskip("torch")
    try:
        import mediapipe  # noqa: F401
        pytest.skip("mediapipe is installed")
    except ImportError:
        pass
    assert main(["video", str(CLIP), "-o", str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'ddhpose[video]'" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_mediapipe_on_the_real_clip(lifter, tmp_path):
    pytest.importorskip("mediapipe")
    from ddhpose.video.detect import get_detector
    paths = lift_video(CLIP, tmp_path / "out.npz", lifter=lifter, progress=False, detector=get_detector(max_people=1))
    det = json.loads(paths[0].read_text())
    assert det["detector"] == "mediapipe" and len(det["frames"]) >= 80  # a person in (nearly) every frame
    kp = np.array([f["keypoints"] for f in det["frames"]])
    assert (kp[..., 0] > 0).mean() > 0.9 and (kp[..., 0] < 884).mean() > 0.9
    result = load_result(paths[1])
    assert result.fps == 30 and np.isfinite(result.poses).all()


def test_every_person_of_the_real_clip_one_id_each(lifter, tmp_path):
    """The default detector on the real clip: the man on the box and the walking woman in (nearly)
    every frame, each under one id from the first frame to the last; the detections keep the
    tracker's ids, the people file holds both."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("ai_edge_litert")
    from ddhpose.export.people import load_people
    paths = lift_video(CLIP, tmp_path / "out.npz", lifter=lifter, progress=False)
    assert sorted(p.name for p in paths) == ["out.detections.json", "out.npz", "out_track0.npz", "out_track1.npz"]
    det = json.loads((tmp_path / "out.detections.json").read_text())
    assert det["detector"] == "blazepose"
    rows = {}  # track id -> hip rows (fractions of the frame height)
    for f in det["frames"]:
        hips = np.array(f["keypoints"])[[23, 24], 1].mean() / 498
        rows.setdefault(f["track_id"], []).append(hips)
    (man, woman) = sorted(rows, key=lambda t: np.median(rows[t]))
    assert np.median(rows[man]) < 0.35 < 0.65 < np.median(rows[woman])  # on the box; on the grass
    assert len(rows[man]) >= 80 and len(rows[woman]) >= 85  # of 90 frames
    assert max(rows[man]) < 0.4 and min(rows[woman]) > 0.6  # neither id ever jumps to the other
    people = load_people(tmp_path / "out.npz")
    np.testing.assert_array_equal(people["person_ids"], [0, 1])
    assert people["present"].all(1).sum() >= 1 and people["poses"].shape[:2] == (2, 90)


def _encode(tmp_path, name: str, *args: str) -> Path:
    import subprocess

    import imageio_ffmpeg
    out = tmp_path / name
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args, str(out)], check=True)
    return out


def test_frame_timing_comes_from_the_timestamps(tmp_path):
    """A variable-rate clip (30 frames at 30 fps, then 15 at 15 fps) keeps its 45 real frames and
    says it is variable; a constant clip joined from two parts keeps its real count and rate."""
    vfr = _encode(tmp_path, "vfr.mp4", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30:duration=2",
                  "-vf", "select='lt(n\\,30)+not(mod(n\\,2))',setpts='if(lt(N,30),N/30,1+(N-30)/15)/TB'",
                  "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    info, frames = V.read_frames(vfr)
    assert info.frames == 45 and info.variable_fps and info.fps == pytest.approx(30, abs=0.5)
    assert sum(1 for _ in frames) == 45
    steady = V.probe(CLIP)
    assert not steady.variable_fps and steady.frames == 90
    np.testing.assert_allclose(np.diff(steady.timestamps), 1 / 30, atol=1e-4)
    parts = [_encode(tmp_path, f"part{i}.mp4", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate=30:duration={d}",
                     "-c:v", "libx264", "-pix_fmt", "yuv420p") for i, d in enumerate((1, 2))]
    listing = tmp_path / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    joined = _encode(tmp_path, "joined.mp4", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy")
    info, frames = V.read_frames(joined)
    assert info.frames == 90 and info.fps == pytest.approx(30, abs=0.01) and sum(1 for _ in frames) == 90


def test_a_video_cut_short_warns_with_both_counts(tmp_path):
    fast = _encode(tmp_path, "fast.mp4", "-i", str(CLIP), "-c", "copy", "-movflags", "+faststart")
    cut = tmp_path / "cut40.mp4"  # an unfinished download: the index says 90 frames, the data stops
    cut.write_bytes(fast.read_bytes()[: int(fast.stat().st_size * 0.4)])
    info, frames = V.read_frames(cut)
    with pytest.warns(UserWarning, match=r"cut40.mp4: the file ends early: \d+ frames decoded, its container "
                                         r"promises 90"):
        count = sum(1 for _ in frames)
    assert count < 90
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sum(1 for _ in V.read_frames(CLIP)[1]) == 90  # a whole file: no warning


def test_interrupted_render_says_which_files_were_written(lifter, tmp_path, monkeypatch, capsys):
    import ddhpose.cli as cli
    from ddhpose.export import render as render_module

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render_module._Scene, "frame", interrupt)  # Ctrl-C in the middle of the render
    monkeypatch.setattr("ddhpose.video.detect.get_detector", lambda *a, **k: FakeDetector())
    monkeypatch.setattr("ddhpose.lifting.lifter.Lifter.from_pretrained", classmethod(lambda cls, *a, **k: lifter))
    code = cli.main(["video", str(CLIP), "-o", str(tmp_path / "out.npz"), "--render", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert code == 130
    assert "written whole:" in err and "out.npz" in err and "out.detections.json" in err
    assert "not written: " + str(tmp_path / "out.mp4") in err and "no output" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.detections.json", "out.npz"]


def test_an_unreadable_video_closes_the_detector_handed_in(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    detector = FakeDetector()
    with pytest.raises(ValueError, match="bad.mp4"):
        lift_video(tmp_path / "bad.mp4", tmp_path / "out.npz", detector=detector, lifter=object(), progress=False)
    assert detector.closed and detector.calls == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]


def test_render_size_follows_the_video():
    from ddhpose.export.render import default_render_size
    assert default_render_size(498) == 498 and default_render_size(2160) == 720 and default_render_size(240) == 384


def test_a_lens_the_file_states_becomes_the_focal_length(tmp_path):
    clip = _encode(tmp_path, "phone.mp4", "-f", "lavfi", "-i", "testsrc=size=1920x1080:rate=30:duration=0.2",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "use_metadata_tags",
                   "-metadata", "com.apple.quicktime.camera.focal_length.35mm_equivalent=26")
    info = V.probe(clip)
    assert info.focal_length == pytest.approx(26 * np.hypot(1920, 1080) / 43.27)
    assert V.probe(CLIP).focal_length is None


def test_audio_that_outlasts_the_video_is_not_a_file_cut_short(tmp_path):
    """The container's duration is its longest stream's: 4 s of video with 4.5 s of audio is whole."""
    both = _encode(tmp_path, "av.mp4", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=4", "-f", "lavfi",
                   "-i", "sine=duration=4.5", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info, frames = V.read_frames(both)
        assert sum(1 for _ in frames) == 100
    assert info.frames == 100 and info.duration == pytest.approx(4.0, abs=0.05) and info.expected_frames == 100
