"""The command line: exit codes, one-line errors, no partial outputs."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ddhpose.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def test_convert_and_info(tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    assert main(["convert", str(FIXTURES / "official_h36m_f27.bin"), str(out)]) == 0
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["config"]["frames"] == 27 and info["config"]["channels"] == 64


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"unknown": 1}'])
def test_lift_bad_input_prints_one_line_and_writes_nothing(tmp_path, capsys, content):
    src = tmp_path / "keypoints.json"
    src.write_bytes(content)
    model = tmp_path / "model.safetensors"
    assert main(["convert", str(FIXTURES / "official_h36m_f27.bin"), str(model)]) == 0
    capsys.readouterr()
    out = tmp_path / "result.npz"
    code = main(["lift", str(src), "-o", str(out), "--checkpoint", str(model), "--image-size", "100", "100"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ddhpose lift: error:") and "Traceback" not in err and str(src) in err
    assert set(tmp_path.iterdir()) == {src, model}


def test_lift_refuses_pickled_npz(tmp_path, capsys):
    src = tmp_path / "keypoints.npz"
    np.savez(src, keypoints=np.array([{"a": 1}], dtype=object))
    model = tmp_path / "model.safetensors"
    main(["convert", str(FIXTURES / "official_h36m_f27.bin"), str(model)])
    capsys.readouterr()
    code = main(["lift", str(src), "-o", str(tmp_path / "out.npz"), "--checkpoint", str(model),
                 "--layout", "h36m", "--image-size", "100", "100"])
    assert code == 2 and "error" in capsys.readouterr().err
    assert not (tmp_path / "out.npz").exists()


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.safetensors")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_hostile_checkpoint_is_refused_without_running_code(tmp_path, capsys):
    import pickle
    import zipfile

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps({"model_pos": Evil()}, protocol=2))
    assert main(["info", str(path)]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()


def test_demo_writes_results_and_animation_with_the_bundled_model(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "-H", "2"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ddhpose_demo.gif", "ddhpose_demo.json", "ddhpose_demo.npz"]
    with np.load(tmp_path / "ddhpose_demo.npz", allow_pickle=False) as result:
        assert result["poses"].shape == (250, 17, 3) and str(result["units"]) == "metres"
        assert np.isfinite(result["poses"]).all() and (result["poses"][:, 0] == 0).all()
        assert result["hypotheses"].shape == (2, 250, 17, 3)
        assert float(result["fps"]) == 50.0  # the sample's own rate (it was lifted and recorded at 25)
    assert json.loads((tmp_path / "ddhpose_demo.json").read_text())["fps"] == 50.0
    from PIL import Image
    with Image.open(tmp_path / "ddhpose_demo.gif") as gif:
        assert gif.info["duration"] == 20  # milliseconds a frame: played at the clip's 50 fps
    out = capsys.readouterr().out
    error_mm = float(out.split("ground truth: MPJPE ")[1].split(" mm")[0])
    # the bundled model at H = 2: measured 52.7 mm in fp32 and 52.8 mm in bf16 (--precision auto picks
    # either by CPU); random weights give ~450 mm on this clip
    assert error_mm == pytest.approx(52.7, abs=1.0)
    assert "acceleration error" in out and "bone-length variation 0.0 %" in out


def test_lift_two_people_with_bvh_and_animation(tmp_path, capsys):
    import json as _json
    rng = np.random.default_rng(0)
    base = rng.uniform(300, 700, (17, 2))
    records = []
    for frame in range(12):
        for track, shift in ((1, 0.0), (2, 150.0)):
            kp = np.concatenate([base + shift + rng.normal(0, 2, (17, 2)), np.full((17, 1), 0.9)], -1)
            records.append({"image_id": frame, "category_id": 1, "keypoints": kp.reshape(-1).tolist(),
                            "score": 0.9, "track_id": track})
    src = tmp_path / "det.json"
    src.write_text(_json.dumps(records))
    code = main(["lift", str(src), "-o", str(tmp_path / "people.json"), "--image-size", "1000", "1000",
                 "--bvh", "--render", str(tmp_path / "people.gif")])
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in tmp_path.iterdir())
    # the file's ids 1 and 2 become people 0 and 1; people.json holds both, one animation draws both
    assert names == ["det.json", "people.gif", "people.json", "people_track0.bvh", "people_track0.json",
                     "people_track1.bvh", "people_track1.json"]
    together = _json.loads((tmp_path / "people.json").read_text())
    assert together["format"] == "ddhpose-people" and [p["id"] for p in together["people"]] == [0, 1]
    assert [p["file"] for p in together["people"]] == ["people_track0.json", "people_track1.json"]
    # as a user sees it (a process of its own: pytest records warnings instead of showing them), a
    # warning is one sentence without the source line that raised it
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-m", "ddhpose", "lift", str(src), "-o", str(tmp_path / "again.json"),
                          "--image-size", "1000", "1000"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "ddhpose lift: warning: no world frame: the clip is 0.48 s long" in run.stderr
    assert "UserWarning" not in run.stderr and "place_in_world(" not in run.stderr


def test_lift_height_scales_the_result_and_a_bad_height_is_one_line(tmp_path, capsys):
    import torch

    from ddhpose.export.results import load_result
    from ddhpose.lifting.postprocess import standing_height
    from ddhpose.skeleton import H36M
    rng = np.random.default_rng(0)
    src = tmp_path / "kp.npy"
    np.save(src, rng.uniform(300, 700, (12, 17, 2)))
    args = ["lift", str(src), "--layout", "h36m", "--image-size", "1000", "1000"]
    assert main([*args, "-o", str(tmp_path / "p.npz"), "--height", "1.8"]) == 0, capsys.readouterr().err
    result = load_result(tmp_path / "p.npz")
    assert float(standing_height(torch.as_tensor(result.bone_lengths), H36M)) == pytest.approx(1.8, rel=1e-5)
    assert result.provenance["height"] == 1.8
    assert main([*args, "-o", str(tmp_path / "q.npz"), "--height", "180"]) == 2
    err = capsys.readouterr().err
    assert "height: expected the person's height in metres" in err and "Traceback" not in err
    assert not (tmp_path / "q.npz").exists()


def test_tiny_config_trains_and_evaluates_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    # overrides may follow the options; --resume auto starts afresh in an empty folder
    assert main(["train", "-c", "tiny", "-o", str(run), "--resume", "auto", "train.tensorboard=false"]) == 0
    assert "tensorboard: false" in (run / "config.yaml").read_text() and not (run / "tb").exists()
    assert main(["evaluate", "--checkpoint", str(run / "best.safetensors"), "-c", "tiny", "-o",
                 str(run / "eval"), "-H", "2", "-W", "2"]) == 0
    data = json.loads((run / "eval" / "results.json").read_text())
    assert (data["hypotheses"], data["iterations"]) == (2, 2)
    assert data["provenance"]["checkpoint"] == str(run / "best.safetensors")
    assert data["provenance"]["sequences"] == 2 and data["provenance"]["frames"] == 200
    assert len(data["groups"]["Average"]["mpjpe_j_agg"]) == 2
    assert "checkpoint:" in (run / "eval" / "results.md").read_text()
    # the resumable last.pt evaluates as the same model as last.safetensors
    assert main(["evaluate", "--checkpoint", str(run / "last.pt"), "-c", "tiny", "-o", str(run / "a")]) == 0
    assert main(["evaluate", "--checkpoint", str(run / "last.safetensors"), "-c", "tiny", "-o", str(run / "b")]) == 0
    a = json.loads((run / "a" / "results.json").read_text())["groups"]
    assert a == json.loads((run / "b" / "results.json").read_text())["groups"]


def test_unknown_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "-c", "tiny", "-o", str(tmp_path), "--resume", "auto", "--bogus", "train.epochs=1"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_evaluate_with_a_checkpoint_of_another_clip_length_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "-c", "tiny", "-o", str(run), "train.tensorboard=false", "train.epochs=1"]) == 0
    capsys.readouterr()
    code = main(["evaluate", "--checkpoint", str(run / "last.safetensors"), "-c", "tiny", "-o",
                 str(tmp_path / "eval"), "model.frames=27"])
    err = capsys.readouterr().err
    assert code != 0 and "does not match config" in err and "Traceback" not in err
    assert not (tmp_path / "eval").exists()


def test_version_device_and_broken_pipe(capsys, tmp_path):
    import subprocess
    import sys
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("ddhpose ")
    import torch
    if not torch.cuda.is_available():
        assert main(["demo", "-o", str(tmp_path), "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "CUDA is not available here" in err and "Traceback" not in err
    assert main(["demo", "-o", str(tmp_path), "--device", "tpu:x"]) == 2
    assert "--device 'tpu:x'" in capsys.readouterr().err
    # a reader that leaves early (| head) gets no traceback
    proc = subprocess.run(f"{sys.executable} -m ddhpose --help | head -c 10", shell=True, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr


def test_every_option_has_help():
    from ddhpose.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"ddhpose {name}: {'/'.join(action.option_strings) or action.dest} has no help"


def test_interrupted_training_exits_130_saying_where_progress_is(monkeypatch, capsys, tmp_path):
    from ddhpose.training import train as train_module

    def interrupted(*args, **kwargs):
        raise train_module.TrainingInterrupted(f"training stopped at epoch 1, step 3/4; progress saved to "
                                               f"{tmp_path / 'last.pt'}")

    monkeypatch.setattr(train_module, "train_from_args", interrupted)
    assert main(["train", "-c", "tiny", "-o", str(tmp_path)]) == 130
    assert f"progress saved to {tmp_path / 'last.pt'}" in capsys.readouterr().err


def test_evaluate_export_without_scipy_and_bad_p_best_windows_fail_before_loading(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "missing.safetensors")  # never opened: the checks come first
    args = ["evaluate", "--checkpoint", missing, "-c", "3dhp", "-o", str(tmp_path / "eval")]
    assert main([*args, "--p-best-windows", "0"]) == 2
    assert "--p-best-windows expected >= 1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    assert main([*args, "--export-mat", str(tmp_path / "mat")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'ddhpose[mat]'" in err and "Traceback" not in err
    assert not (tmp_path / "eval").exists() and not (tmp_path / "mat").exists()


def test_help_shows_every_default_and_answers_without_loading_torch():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, ddhpose.cli as c; c.build_parser(); "
                          "print('torch' in sys.modules)"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # the package's API is imported on first use
    from ddhpose.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = sub.choices["video"].format_help()
    for option, default in (("--hypotheses", "1"), ("--iterations", "1"), ("--min-score", "0.3"),
                            ("--max-gap", "30"), ("--max-jump", "0.1"), ("--smooth", "2.0")):
        chunk = text[text.index("\n  " + option) + 1:]  # the option, not the usage line
        assert f"(default: {default})" in chunk[:chunk.index("\n  -")], option
