"""TRC marker files against the layout Pose2Sim writes and OpenSim reads (five tab-separated header
lines, then frame number, time and x y z per marker), written out here cell by cell, and read back
by trc-data-reader."""
from __future__ import annotations

import numpy as np
import pytest

from ddhpose.export.trc import export_trc, format_trc
from ddhpose.skeleton import H36M

trc = pytest.importorskip("trc", reason="trc-data-reader (the test extra) reads TRC independently")


def _positions(frames: int, markers: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, (frames, markers, 3))


def test_the_layout_cell_by_cell():
    positions = np.array([[[0.1, 1.5, -0.25], [1.0, 2.0, 3.0]],
                          [[-0.5, 0.0, 0.123456789], [4.0, 5.0, 6.0]]])
    text = format_trc(positions, 30.0, names=("head", "toe"), file_name="walk.trc")
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 5 + 2 + 1  # every line ends with a newline
    cells = [line.split("\t") for line in lines[:-1]]
    assert cells[0] == ["PathFileType", "4", "(X/Y/Z)", "walk.trc"]
    assert cells[1] == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                        "OrigDataStartFrame", "OrigNumFrames"]
    assert cells[2] == ["30", "30", "2", "2", "m", "30", "1", "2"]
    assert cells[3] == ["Frame#", "Time", "head", "", "", "toe", "", ""]  # each name over its x y z
    assert cells[4] == ["", "", "X1", "Y1", "Z1", "X2", "Y2", "Z2"]
    assert cells[5] == ["1", "0.000000", "0.100000", "1.500000", "-0.250000", "1.000000", "2.000000", "3.000000"]
    assert cells[6] == ["2", "0.033333", "-0.500000", "0.000000", "0.123457", "4.000000", "5.000000", "6.000000"]


def test_trc_data_reader_reads_every_marker_and_frame(tmp_path):
    positions = _positions(9, 17)
    path = tmp_path / "take.trc"
    export_trc(path, positions, 29.97)
    data = trc.TRCData()
    data.load(str(path))
    assert data["FileName"] == "take.trc"  # the header names the file it is in
    assert float(data["DataRate"]) == float(data["CameraRate"]) == float(data["OrigDataRate"]) == 29.97
    assert int(data["NumFrames"]) == int(data["OrigNumFrames"]) == 9 and int(data["NumMarkers"]) == 17
    assert int(data["OrigDataStartFrame"]) == 1 and data["Units"] == "m"
    assert data["Markers"] == list(H36M.names)  # the default names: Human3.6M's
    assert data["Frame#"] == list(range(1, 10))
    np.testing.assert_allclose(data["Time"], np.arange(9) / 29.97, atol=1e-6)
    for j, name in enumerate(H36M.names):
        np.testing.assert_allclose(np.asarray(data[name]), positions[:, j], atol=5e-7)


def test_a_rate_below_one_frame_a_second():
    rows = format_trc(_positions(3, 17), 0.5).split("\n")
    assert rows[2].split("\t")[:2] == ["0.5", "0.5"] and [r.split("\t")[1] for r in rows[5:8]] == [
        "0.000000", "2.000000", "4.000000"]


def test_export_writes_format_trc_atomically(tmp_path):
    positions = _positions(3, 2, seed=1)
    export_trc(tmp_path / "two.trc", positions, 50.0, names=("a", "b"))
    assert (tmp_path / "two.trc").read_text(encoding="utf-8") == format_trc(positions, 50.0, ("a", "b"), "two.trc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.trc"]


def test_bad_input_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ValueError, match=r"positions: expected \(F, 17, 3\), got \(4, 17\)"):
        format_trc(np.zeros((4, 17)), 25.0)
    with pytest.raises(ValueError, match=r"positions: expected \(F, 2, 3\), got \(4, 2, 2\)"):
        format_trc(np.zeros((4, 2, 2)), 25.0, names=("a", "b"))
    with pytest.raises(ValueError, match="^positions contain non-finite values$"):
        format_trc(np.full((2, 17, 3), np.inf), 25.0)
    with pytest.raises(ValueError, match=r"^start_frame: expected a video frame index >= 0, got -1$"):
        format_trc(_positions(2, 17), 25.0, start_frame=-1)
    for fps in (0.0, -25.0, float("nan")):
        with pytest.raises(ValueError, match=f"fps: expected a positive frame rate, got {fps}"):
            export_trc(tmp_path / "bad.trc", _positions(2, 17), fps)
    assert list(tmp_path.iterdir()) == []
