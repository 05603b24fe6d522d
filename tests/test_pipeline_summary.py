"""The end-of-run summary of ``ddhpose lift`` / ``video`` (:mod:`ddhpose.pipelines.summary`)."""
import numpy as np
import pytest
from helpers import coco_person

from ddhpose.pipelines.summary import summary


def test_the_summary_says_when_the_focal_length_was_assumed(lifter):
    """The people's distances follow the focal length: the summary says the clip's focal length and
    where it came from, and where it was assumed, how to give it."""
    from ddhpose.lifting.options import DEFAULT_FOCAL_RATIO
    kp = coco_person(11, 500)[..., :2]
    assumed = lifter.lift(kp, layout="coco", image_size=(800, 1000), hypotheses=1, world=False,
                          estimate_focal=False)
    line = f"  camera: focal length {0.9 * 1000:.0f} px, assumed: {DEFAULT_FOCAL_RATIO} x the image's longer side"
    assert DEFAULT_FOCAL_RATIO == 0.9 and summary([assumed]).splitlines()[1].startswith(line)
    assert "--focal-length or --camera" in summary([assumed])
    given = lifter.lift(kp, layout="coco", image_size=(800, 1000), hypotheses=1, world=False, focal_length=1000.0)
    assert summary([given, given]).splitlines()[1] == "  camera: focal length 1000 px, given"
    assert "--focal-length" not in summary([given])
    # two cameras (results of two clips): each person's line says theirs
    both = summary([assumed, given]).splitlines()
    assert both[1].startswith("  track 0") and both[1].endswith("if they matter)") and both[2].endswith("px, given")


def test_the_summary_gives_each_person_s_focal_estimate_where_it_could_not_tell(lifter, monkeypatch):
    """With the clip's focal estimate on: one camera line while every person was lifted under one
    focal length, each person's best guess where their estimate could not tell it; the people of
    one clip told different focal lengths get a camera each."""
    import ddhpose.lifting.lifter as lifter_module
    from ddhpose.lifting.focal import FocalEstimate
    from ddhpose.lifting.keypoints import make_track
    from ddhpose.lifting.options import LiftOptions
    from ddhpose.pipelines.lift import lift_tracks
    size = (1000, 800)
    tracks = [make_track(coco_person(n, x)[..., :2], np.ones((n, 17)), np.arange(n), t, "coco", size, "clip")
              for t, (n, x) in enumerate([(11, 300), (13, 700)])]
    options = LiftOptions(hypotheses=1, world=False, estimate_focal=True)
    monkeypatch.setattr(lifter_module, "estimate_focal", lambda *a: FocalEstimate(
        2000.0 + 100 * len(a[0]), (600.0, 9000.0), False, 1.0, len(a[0]), "stub"))
    with pytest.warns(UserWarning, match="focal length: the clip cannot tell it"):
        lines = summary(lift_tracks(tracks, lifter, options, source="clip")).splitlines()
    assert lines[1].startswith("  camera: focal length 900 px, assumed")  # 0.9 x 1000, said once
    assert lines[2].endswith("the clip could not tell the focal length (best 3100 px)") and "camera:" not in lines[2]
    assert lines[3].endswith("the clip could not tell the focal length (best 3300 px)")
    told = {11: True, 13: False}
    monkeypatch.setattr(lifter_module, "estimate_focal", lambda *a: FocalEstimate(
        1500.0, (1300.0, 1700.0), told[len(a[0])], 1.0, len(a[0]), "stub"))
    with pytest.warns(UserWarning, match="cannot tell it"):
        lines = summary(lift_tracks(tracks, lifter, options, source="clip")).splitlines()
    assert len(lines) == 3  # no clip-wide camera: each person's own
    assert lines[1].endswith("; camera: focal length 1500 px, estimated from the clip")
    assert "; camera: focal length 900 px, assumed" in lines[2] and lines[2].endswith("(best 1500 px)")
