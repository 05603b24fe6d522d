"""tools/gpu_train.py: a run planned to a time budget comes back in parts and goes on here."""
from __future__ import annotations

import json

import pytest

from ddhpose.experiment import load_config
from ddhpose.training.plan import plan_epochs
from ddhpose.training.train import train
from scripts import load_script

@pytest.fixture(scope="module")
def tool():
    return load_script("tools/gpu_train.py")


def test_plan_fills_the_minutes():
    assert plan_epochs(0.5, 10, 4) == (4, 300)  # 1200 steps over 4 epochs
    assert plan_epochs(60.0, 1, 4) == (4, 2)  # never fewer than 8 steps
    with pytest.raises(ValueError):
        plan_epochs(0.5, 0, 4)


def test_split_and_join_give_the_same_bytes(tool, tmp_path):
    assert tool.PART_BYTES < 16 * 2**20  # the device tool returns files of at most 16 MiB
    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    out.mkdir()
    data = bytes(range(256)) * 9  # 2304 bytes: three parts
    (run / "last.pt").write_bytes(data)
    (run / "config.yaml").write_text("x: 1\n")
    parts = tool.split_file(run / "last.pt", out, part_bytes=1000)
    assert [p.name for p in parts] == ["last.pt.part-000", "last.pt.part-001", "last.pt.part-002"]
    assert max(p.stat().st_size for p in parts) == 1000
    (out / "config.yaml").write_text("x: 1\n")
    tool.join(type("A", (), {"files": str(out), "run": str(tmp_path / "back")}))
    assert (tmp_path / "back" / "last.pt").read_bytes() == data
    assert (tmp_path / "back" / "config.yaml").read_text() == "x: 1\n"
    with pytest.raises(SystemExit, match="no last.pt.part"):
        tool.join(type("A", (), {"files": str(run), "run": str(tmp_path / "x")}))


def test_a_planned_run_comes_back_and_goes_on_here(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    tool.main(["run", "-c", "tiny", "--minutes", "0.2", "--reserve", "0", "--timing-seconds", "1", "--evals", "2",
               "--workers", "0", "--run", str(tmp_path / "there"), "--out", str(out), "train.epochs=2"])
    plan = json.loads((out / "plan.json").read_text())
    assert plan["device"] == "cpu" and plan["step_s"] > 0
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "last.safetensors", "metrics.json", "last.pt.part-000"}
    here = tmp_path / "here"
    tool.main(["join", str(out), str(here)])
    assert (here / "last.pt").read_bytes() == (tmp_path / "there" / "last.pt").read_bytes()
    done = json.loads((here / "metrics.json").read_text())
    per_epoch = min(plan["steps_per_epoch"], done[0]["global_step"])  # the tiny data may hold fewer
    assert [h["epoch"] for h in done] == list(range(1, plan["epochs"] + 1))
    steps = plan["epochs"] * per_epoch
    assert done[-1]["global_step"] == steps
    # here it goes on from the returned state: one epoch more, the same run
    config = load_config(here / "config.yaml", [f"train.epochs={plan['epochs'] + 1}"])
    result = train(config, here, resume="auto", device="cpu")
    assert result["history"][-1]["global_step"] == steps + per_epoch
    assert result["history"][:len(done)] == done  # the history carried over, not restarted
