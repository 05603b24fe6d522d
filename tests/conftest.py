"""Shared test set-up: one intra-op thread, so tiny models are not slowed by thread
contention on small shared CI machines."""
import torch

torch.set_num_threads(1)
