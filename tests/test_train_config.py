"""Experiment configs: packaged YAML files, inheritance, dotted overrides, type checks."""
from __future__ import annotations

import pytest
import yaml

from ddhpose.experiment import (DataConfig, ExperimentConfig, TrainConfig, apply_overrides, available_configs,
                                load_config)
from ddhpose.model.config import ModelConfig


def test_packaged_configs_load_and_match_the_paper():
    names = available_configs()
    assert {"tiny", "h36m", "h36m_cpu", "h36m_xyz", "3dhp"} <= set(names)
    for name in names:
        assert isinstance(load_config(name), ExperimentConfig)
    paper = load_config("h36m")
    assert (paper.model.frames, paper.model.channels, paper.model.depth) == (243, 512, 8)
    assert (paper.train.batch_size, paper.train.epochs, paper.train.lr, paper.train.lr_decay) == (4, 400, 1e-4, 0.993)
    assert paper.train.weight_decay == 0.1 and paper.train.betas == (0.9, 0.999)
    assert paper.data.train_subjects == ["S1", "S5", "S6", "S7", "S8"] and paper.data.test_subjects == ["S9", "S11"]
    tiny = load_config("tiny")
    assert (tiny.model.frames, tiny.model.channels, tiny.model.depth, tiny.data.dataset) == (9, 32, 2, "synthetic")
    mpi = load_config("3dhp")
    assert mpi.model.skeleton == "3dhp"
    # main_3dhp.py computes its losses on millimetres, main.py on metres
    assert mpi.train.loss_units == "mm" and paper.train.loss_units == "m" and TrainConfig().loss_units == "m"
    with pytest.raises(ValueError, match="train.loss_units must be 'm' or 'mm', got 'cm'"):
        load_config("3dhp", ["train.loss_units=cm"])


def test_base_inheritance_changes_only_what_the_child_sets():
    xyz, paper = load_config("h36m_xyz"), load_config("h36m")
    assert xyz.model.diffusion == "xyz" and paper.model.diffusion == "disentangled"
    assert xyz.train == paper.train and xyz.data == paper.data
    cpu = load_config("h36m_cpu")
    assert cpu.model.frames == 27 and cpu.model.depth == 4 and cpu.data.path_2d == ""
    assert cpu.data.train_subjects == paper.data.train_subjects


def test_user_file_extends_a_neighbour_and_a_packaged_config(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: tiny\ntrain: {epochs: 7}\n")
    (tmp_path / "child.yaml").write_text("base: mine\nmodel: {depth: 3}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.train.epochs, cfg.model.depth, cfg.model.frames) == (7, 3, 9)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "grandchild.yaml").write_text("base: ../child.yaml\neval: {hypotheses: 5}\n")
    cfg = load_config(tmp_path / "sub" / "grandchild.yaml")
    assert (cfg.train.epochs, cfg.model.depth, cfg.eval.hypotheses) == (7, 3, 5)
    (tmp_path / "loop.yaml").write_text("base: loop\n")
    with pytest.raises(ValueError, match="'base' chain loops"):
        load_config(tmp_path / "loop.yaml")


def test_overrides_are_parsed_and_type_checked():
    cfg = load_config("tiny", ["train.epochs=3", "model.hrst=false", "train.lr=1e-4", "data.test_subjects=[S9]",
                               "train.betas=[0.8, 0.9]", "train.amp=bf16", "model.scale=1"])
    assert cfg.train.epochs == 3 and cfg.model.hrst is False and cfg.train.lr == pytest.approx(1e-4)
    assert cfg.data.test_subjects == ["S9"] and cfg.train.betas == (0.8, 0.9) and cfg.train.amp == "bf16"
    assert isinstance(cfg.model.scale, float)
    assert load_config("tiny", ["data.mocap_train=clips/*.bvh"]).data.mocap_train == ["clips/*.bvh"]
    with pytest.raises(ValueError, match="train.epochs: expected an integer"):
        load_config("tiny", ["train.epochs=three"])
    with pytest.raises(ValueError, match="model.hrst: expected true or false"):
        load_config("tiny", ["model.hrst=1"])
    with pytest.raises(ValueError, match=r"train.betas: expected 2 values"):
        load_config("tiny", ["train.betas=[0.9]"])
    with pytest.raises(ValueError, match="train.amp must be"):
        load_config("tiny", ["train.amp=fp8"])


def test_unknown_keys_are_errors_naming_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key 'epoch' in train; valid keys are \[.*'epochs'"):
        load_config("tiny", ["train.epoch=3"])
    with pytest.raises(ValueError, match="unknown section 'optim'"):
        load_config("tiny", ["optim.lr=1"])
    with pytest.raises(ValueError, match="expected SECTION.KEY=VALUE"):
        load_config("tiny", ["train.epochs"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {frames: 9, chanels: 32}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: model: unknown key\(s\) \['chanels'\]; valid keys .*'channels'"):
        load_config(bad)
    bad.write_text("trian: {epochs: 1}\n")
    with pytest.raises(ValueError, match=r"unknown section\(s\) \['trian'\]"):
        load_config(bad)
    with pytest.raises(ValueError, match="no packaged config named 'nope'.*tiny"):
        load_config("nope")
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_model_config_validation_is_reported():
    with pytest.raises(ValueError, match="divisible by heads"):
        load_config("tiny", ["model.heads=5"])
    with pytest.raises(ValueError, match="data.dataset must be one of"):
        load_config("tiny", ["data.dataset=coco"])


def test_save_round_trip(tmp_path):
    cfg = load_config("tiny", ["train.epochs=5", "model.hrtt=false"])
    cfg.save(tmp_path / "run.yaml")
    assert yaml.safe_load((tmp_path / "run.yaml").read_text())["train"]["epochs"] == 5
    assert load_config(tmp_path / "run.yaml") == cfg
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left behind


def test_defaults_are_the_paper_recipe():
    cfg = ExperimentConfig()
    assert cfg.model == ModelConfig() and cfg.data == DataConfig()
    assert (cfg.train.lr, cfg.train.lr_decay, cfg.train.weight_decay) == (1e-4, 0.993, 0.1)
    with pytest.raises(ValueError, match="train.batch_size must be >= 1"):
        TrainConfig(batch_size=0)
    assert apply_overrides({}, ["eval.hypotheses=5"]) == {"eval": {"hypotheses": 5}}


def test_the_2d_noise_is_a_sub_section_and_the_earlier_flat_keys_still_read(tmp_path):
    from ddhpose.experiment import ExperimentConfig, Noise2D, load_config
    assert Noise2D() == Noise2D(0.0, 0.0, 0.05, 0.0, 0.0) and not Noise2D().active  # one default: off
    cfg = load_config("tiny", ["data.noise_2d.sigma=0.004", "data.noise_2d.drift=0.02"])
    assert cfg.data.noise_2d == Noise2D(sigma=0.004, drift=0.02) and cfg.data.noise_2d.active
    assert load_config("wild_stage2").data.noise_2d == Noise2D(0.005, 0.01, 0.03, 0.02, 0.01)  # merged with wild's
    old = cfg.to_dict()  # a run folder's config.yaml or a checkpoint from before the sub-section
    old["data"].pop("noise_2d")
    old["data"].update(noise_2d_sigma=0.004, noise_2d_drift=0.02)
    assert ExperimentConfig.from_dict(old) == cfg
    assert load_config("tiny", ["data.noise_2d_sigma=0.004", "data.noise_2d_drift=0.02"]) == cfg
    with pytest.raises(ValueError, match=r"unknown key 'sgima' in data.noise_2d; valid keys are \['sigma'"):
        load_config("tiny", ["data.noise_2d.sgima=0.004"])
    with pytest.raises(ValueError, match=r"data.flip has no keys of its own"):
        load_config("tiny", ["data.flip.x=1"])
