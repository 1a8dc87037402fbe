#!/usr/bin/python3
"""PyTorch CPU baseline of `eloss train -task spin -loss ce`: the same
network (bench/spin_train_torch.py's SpinModel, nn.h's architecture), the
same input channels, loss and optimizer, trained on the same HDF5 dataset
of eloss spingen for a fixed number of steps.

  python3 bench/train_torch.py train.h5 W depth B steps threads

One step: batch of B instances (a fixed random order, as eloss draws
them), forward, loss = mean over instances and sites of softplus(-y z)
(eloss's ce), backward, Adam(lr 1e-3). Zero padding on open lattices,
circular on periodic ones, as eloss. Timing: 3 warm-up steps, then the
given steps, wall clock inside the process (data loading excluded, as in
eloss's samples_per_s). Prints samples_per_s=.. steps=.. B=.. threads=..
"""
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

path, W, depth, B, steps, threads = sys.argv[1], *map(int, sys.argv[2:7])
torch.set_num_threads(threads)
torch.manual_seed(1)

with h5py.File(path, "r") as f:
    H, V, gs = f["couplings_h"][...], f["couplings_v"][...], f["ground_state"][...]
I, L = gs.shape[0], gs.shape[1]
periodic = H.shape[2] == L
# Channels: bond to the right, left, down, up of each site (0 off an open lattice).
x = np.zeros((I, 4, L, L), np.float32)
if periodic:
    x[:, 0], x[:, 1] = H, np.roll(H, 1, 2)
    x[:, 2], x[:, 3] = V, np.roll(V, 1, 1)
else:
    x[:, 0, :, :-1], x[:, 1, :, 1:] = H, H
    x[:, 2, :-1, :], x[:, 3, 1:, :] = V, V
x, y = torch.from_numpy(x), torch.from_numpy(gs.astype(np.float32))
pad = "circular" if periodic else "zeros"


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(W, W, 3, padding=1, padding_mode=pad)
        self.c2 = nn.Conv2d(W, W, 3, padding=1, padding_mode=pad)

    def forward(self, h):
        return h + self.c2(torch.relu(self.c1(torch.relu(h))))


class SpinModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Conv2d(4, W, 3, padding=1, padding_mode=pad)
        self.blocks = nn.Sequential(*[Block() for _ in range(depth // 2)])
        self.out = nn.Conv2d(W, 1, 1)

    def forward(self, h):
        return self.out(torch.relu(self.blocks(self.inp(h))))[:, 0]


model = SpinModel().float()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
order = np.random.default_rng(1).permutation(np.arange((steps + 3) * B) % I)


def step(k):
    idx = torch.from_numpy(order[k * B:(k + 1) * B])
    opt.zero_grad(set_to_none=True)
    z = model(x[idx])
    loss = F.softplus(-y[idx] * z).mean()
    loss.backward()
    opt.step()
    return loss


for k in range(3):
    step(k)
t0 = time.perf_counter()
for k in range(3, 3 + steps):
    step(k)
sec = time.perf_counter() - t0
print(f"samples_per_s={steps * B / sec:.1f} steps={steps} B={B} threads={threads} L={L} W={W} depth={depth}")
