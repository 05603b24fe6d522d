"""DistributedDataParallel: two CPU processes (gloo) with 2 clips each reach the same weights as
one process with batches of 4. Spawned with torch.multiprocessing, not torchrun, so the test is
self-contained."""
from __future__ import annotations

import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

from ddhpose.experiment import load_config
from ddhpose.training.state import load_training_state
from ddhpose.training.train import initial_model, train

# Stochastic depth draws one mask per local sample, so it is off here; every other draw is
# shared by construction (global-batch diffusion noise, per-item 2D noise).
OVERRIDES = ["train.tensorboard=false", "data.synthetic_sequences=3", "data.synthetic_frames=40",
             "data.synthetic_test_sequences=3", "train.epochs=2", "train.max_steps_per_epoch=3",
             "train.batch_size=4", "model.drop_path=0.0", "data.noise_2d.sigma=0.003"]
WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    train(load_config("tiny", OVERRIDES), out, device="cpu")


def _spawn(out, timeout: float = 120.0) -> None:
    context = mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
            pytest.fail(f"DDP workers did not finish within {timeout} s")


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    single = train(load_config("tiny", OVERRIDES), tmp_path / "single", device="cpu")
    _spawn(tmp_path / "ddp")
    a = load_training_state(tmp_path / "single" / "last.pt")
    b = load_training_state(tmp_path / "ddp" / "last.pt")
    assert b["progress"]["world_size"] == WORLD and b["progress"]["global_step"] == 6
    for key, value in a["model"].items():
        got = b["model"][key]
        if key.endswith("attn.qkv.bias"):
            # The key bias shifts every logit of a softmax row equally, so its true gradient is 0
            # and AdamW normalises float rounding noise into steps: compare it more loosely.
            c = value.shape[0] // 3
            torch.testing.assert_close(got[c:2 * c], value[c:2 * c], rtol=0, atol=1e-4, msg=key)
            got, value = torch.cat([got[:c], got[2 * c:]]), torch.cat([value[:c], value[2 * c:]])
        torch.testing.assert_close(got, value, rtol=0, atol=1e-5, msg=key)
    assert len(single["history"]) == len(b["progress"]["history"]) == 2
    for h1, h2 in zip(single["history"], b["progress"]["history"]):
        assert h1["loss"] == pytest.approx(h2["loss"], rel=1e-5)
        assert h1["mpjpe_mm"] == pytest.approx(h2["mpjpe_mm"], rel=1e-4)  # sharded evaluation, all-reduced
    # the runs really trained: the weights moved much further than the tolerance from the start
    initial = initial_model(load_config("tiny", OVERRIDES)).state_dict()
    assert max((a["model"][k] - initial[k]).abs().max().item() for k in initial) > 1e-3


def test_batch_must_divide_by_the_world_size(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)  # pretend torchrun set it up
    with pytest.raises(ValueError, match=r"train.batch_size \(4\) must be divisible by the number of processes \(3\)"):
        train(load_config("tiny", OVERRIDES), tmp_path, device="cpu")


def test_torchrun_runs_the_cli_with_two_processes(tmp_path):
    """The documented command: ``torchrun --standalone --nproc_per_node 2 -m ddhpose train``."""
    import subprocess
    import sys
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ddhpose", "train", "-c", "tiny", "-o", str(tmp_path / "run"), *OVERRIDES]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    log = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, log
    state = load_training_state(tmp_path / "run" / "last.pt")
    assert state["progress"]["epoch"] == 2 and state["progress"]["world_size"] == 2, log
    assert (tmp_path / "run" / "best.safetensors").is_file() and (tmp_path / "run" / "config.yaml").is_file(), log
