#!/usr/bin/python3
"""PyTorch CPU baseline for bench/nn_bench.c: the spin model of lib/nn, one
training step = forward + backward, float32, no loss and no optimizer (the
backward starts from a fixed random dz, as nn_bench does; the gradients are
set to None before each step, PyTorch's fastest zero_grad).

Architecture (nn.h, nn_spin_model_forward):
  h_0 = conv3x3_{4->W}(x)                             circular or zero padding
  h_r = h_{r-1} + conv(relu(conv(relu(h_{r-1}))))     r = 1 .. depth/2
  z   = conv1x1_{W->1}(relu(h_R))
x needs no gradient (it is data), so the input convolution computes only its
weight gradient, as in eloss.

  python3 bench/spin_train_torch.py [L W depth B threads [zero]]   (defaults 16 64 6 256 2)

Prints one line in nn_bench's format, plus the thread count:
  L=.. W=.. depth=.. B=.. params=.. ms_per_step=.. us_per_instance=.. gflops=.. samples_per_s=.. threads=..
Timing: three warm-up steps, then the median of 7 blocks of >= 0.2 s.
Set MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ as bench/run does (see
there why); bench/nn_run does.
"""
import statistics
import sys
import time

import torch
from torch import nn

args = sys.argv[1:]
L = int(args[0]) if len(args) > 0 else 16
W = int(args[1]) if len(args) > 1 else 64
depth = int(args[2]) if len(args) > 2 else 6
B = int(args[3]) if len(args) > 3 else 256
threads = int(args[4]) if len(args) > 4 else 2
pad_mode = "zeros" if len(args) > 5 and args[5] == "zero" else "circular"
torch.set_num_threads(threads)
torch.manual_seed(1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(W, W, 3, padding=1, padding_mode=pad_mode)
        self.c2 = nn.Conv2d(W, W, 3, padding=1, padding_mode=pad_mode)

    def forward(self, x):
        return x + self.c2(torch.relu(self.c1(torch.relu(x))))


class SpinModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Conv2d(4, W, 3, padding=1, padding_mode=pad_mode)
        self.blocks = nn.Sequential(*[Block() for _ in range(depth // 2)])
        self.out = nn.Conv2d(W, 1, 1)

    def forward(self, x):
        return self.out(torch.relu(self.blocks(self.inp(x))))[:, 0]


model = SpinModel().float()
x = torch.empty(B, 4, L, L).uniform_(-1.0, 1.0)
dz = (torch.rand(B, L, L) - 0.5) / (B * L * L)
params = list(model.parameters())


def step():
    for p in params:
        p.grad = None
    z = model(x)
    z.backward(dz)


for _ in range(3):
    step()
blocks = []
for _ in range(7):
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        t = time.perf_counter()
        if t - t0 >= 0.2:
            break
    blocks.append((t - t0) / n)
sec = statistics.median(blocks)
S, R = L * L, depth // 2
flops = 2.0 * S * 9 * (8.0 * W + 6.0 * R * W * W) * B  # as nn_bench counts
n_params = sum(p.numel() for p in params)
print(f"L={L} W={W} depth={depth} B={B} params={n_params} ms_per_step={1e3 * sec:.3f} "
      f"us_per_instance={1e6 * sec / B:.1f} gflops={1e-9 * flops / sec:.1f} "
      f"samples_per_s={B / sec:.1f} threads={threads}")
