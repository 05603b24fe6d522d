"""OpenSim motion files (ddhpose.export.mot) and the angle tables of a result (ddhpose.export.angles):
written, read back by the project's reader and by OpenSim's own where installed, missing values
kept missing."""
from __future__ import annotations

import numpy as np
import pytest

from ddhpose.export.angles import format_angle_csv, format_angle_mot
from ddhpose.export.mot import format_mot, read_mot
from ddhpose.lifting.angles import ANGLE_NAMES
from ddhpose.lifting.result import LiftResult

from body_poses import RIGHT, result_of, standing, turn


def test_a_mot_file_reads_back_with_its_header_times_and_missing_values(tmp_path):
    times = np.array([0.4, 0.44, 0.48])
    path = tmp_path / "a.mot"
    path.write_text(format_mot(times, {"knee": np.array([1.0, np.nan, 3.25]), "hip": np.zeros(3)}, name="t"))
    header, t, columns = read_mot(path)
    assert header["inDegrees"] == "yes" and header["nRows"] == "3" and header["nColumns"] == "3"
    np.testing.assert_allclose(t, times)
    assert list(columns) == ["knee", "hip"]
    np.testing.assert_array_equal(np.isnan(columns["knee"]), [False, True, False])
    assert columns["knee"][2] == 3.25


@pytest.mark.parametrize("kwargs, message", [
    (dict(times=[0.0, 0.1], columns={"a b": np.zeros(2)}), "names must be non-empty without white space"),
    (dict(times=[0.0, 0.1], columns={"a": np.zeros(3)}), "expected 2 values each"),
    (dict(times=[0.1, 0.1], columns={"a": np.zeros(2)}), "times: expected finite, increasing seconds"),
])
def test_bad_tables_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        format_mot(np.asarray(kwargs["times"]), kwargs["columns"])


def test_a_file_without_a_header_end_is_refused_naming_it(tmp_path):
    path = tmp_path / "x.mot"
    path.write_text("time\ta\n0\t1\n")
    with pytest.raises(ValueError, match="x.mot: not an OpenSim motion file"):
        read_mot(path)


def _knee_bend(frames: int = 5, start: int = 30) -> LiftResult:
    world = np.stack([turn(standing(), ["right_ankle"], "right_knee", RIGHT, -10.0 * k) for k in range(frames)])
    missing = np.zeros((frames, 17), bool)
    missing[1, 2] = True  # the right knee unseen in the second frame
    return result_of(world, start=start, fps=50.0, track_id=3, missing=missing)


def test_the_angle_csv_has_every_angle_on_the_video_clock_and_empty_cells_where_missing():
    lines = format_angle_csv(_knee_bend()).splitlines()
    header = lines[0].split(",")
    assert header == ["frame", "time", *ANGLE_NAMES]
    rows = [line.split(",") for line in lines[1:]]
    knee = header.index("right_knee_flexion")
    assert [r[0] for r in rows] == ["30", "31", "32", "33", "34"] and rows[0][1] == "0.600000"
    assert [r[knee] for r in rows] == ["0.000", "", "20.000", "30.000", "40.000"]
    assert rows[0][header.index("left_ankle_dorsiflexion")] == ""  # no toe joint: never measured


def test_the_angle_mot_leaves_out_the_angles_never_measured(tmp_path):
    path = tmp_path / "a.mot"
    path.write_text(format_angle_mot(_knee_bend()))
    header, times, columns = read_mot(path)
    np.testing.assert_allclose(times, np.arange(30, 35) / 50.0)
    assert "right_ankle_dorsiflexion" not in columns and "pelvis_tilt" in columns
    np.testing.assert_allclose(columns["right_knee_flexion"], [0, np.nan, 20, 30, 40], atol=1e-5)
    assert header["inDegrees"] == "yes"


def test_opensim_reads_the_angle_mot(tmp_path):
    opensim = pytest.importorskip("opensim", reason="OpenSim (the opensim extra) reads .mot independently")
    path = tmp_path / "a.mot"
    path.write_text(format_angle_mot(_knee_bend()))
    table = opensim.TimeSeriesTable(str(path))
    labels = list(table.getColumnLabels())
    assert table.getNumRows() == 5 and "right_knee_flexion" in labels
    knee = labels.index("right_knee_flexion")
    assert table.getRowAtIndex(3).to_numpy()[knee] == pytest.approx(30.0, abs=1e-5)
    assert np.isnan(table.getRowAtIndex(1).to_numpy()[knee])
    assert list(table.getIndependentColumn()) == pytest.approx(np.arange(30, 35) / 50.0)
