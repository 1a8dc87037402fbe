"""A graph network's training step in PyTorch: the baseline of bench/graph_run.

    graph_torch.py <gdm|egnn> <width> <layers> <molecules> [features] [threads] [forward]

The networks are eloss.torch.GDM and eloss.torch.EGNN (python/eloss/torch.py):
lib/nn/gdm.c and lib/nn/egnn.c written the way EDM writes them (gather the
pair features, Linear+SiLU on the pairs, index_add into the atoms; the
EGNN's pairs leave out the diagonal, which EDM computes and masks: more
work), with lib/nn's tensor names, so a model file loads into them and
tests/test_model_export.py holds them equal to eloss's networks. Molecules
of the sizes of graph_bench.c, concatenated; the pair lists are built once
(cached by the batch's sizes). Times forward + backward (no optimizer);
prints steps_per_s, the median of 7 blocks of >= 0.2 s after a warm-up.
Needs ELOSS_LIBRARY (bench/graph_run sets it) to import eloss."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import torch  # noqa: E402

import eloss.torch as elt  # noqa: E402


def main():
    network = sys.argv[1]
    width, layers, count = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    features = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    torch.set_num_threads(int(sys.argv[6]) if len(sys.argv) > 6 else 1)
    forward_only = len(sys.argv) > 7 and sys.argv[7] == "forward"
    sizes = [10 + (7 * b) % 20 for b in range(count)]
    atoms, pairs = sum(sizes), sum(n * (n - (network == "egnn")) for n in sizes)
    natoms = torch.tensor(sizes)
    torch.manual_seed(1)
    model = (elt.EGNN if network == "egnn" else elt.GDM)(features, width, layers)
    x = torch.randn(atoms, 3 + features)
    t = torch.rand(count)
    dy = torch.randn(atoms, 3 + features)

    def step():
        if forward_only:  # what a sampler runs T times
            with torch.no_grad():
                model(x, natoms, t)
            return
        model.zero_grad(set_to_none=False)
        y = model(x, natoms, t)
        y.backward(dy)

    for _ in range(3):
        step()
    rates = []
    for _ in range(7):
        steps, t0 = 0, time.perf_counter()
        while True:
            step()
            steps += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= 0.2:
                break
        rates.append(steps / elapsed)
    rate = sorted(rates)[3]
    params = sum(p.numel() for p in model.parameters())
    print("network=%s width=%d layers=%d molecules=%d atoms=%d pairs=%d params=%d steps_per_s=%.4g "
          "molecules_per_s=%.4g" % (network, width, layers, count, atoms, pairs, params, rate, rate * count))


if __name__ == "__main__":
    main()
