"""A graph network's training step in PyTorch: the baseline of bench/graph_run.

    graph_torch.py <gdm|egnn> <width> <layers> <molecules> [features] [threads] [forward]

gdm: the network of lib/nn/gdm.c (EDM's non-equivariant GNN: an embedding,
message-passing layers on every ordered pair of a molecule's atoms with
sum aggregation, an output layer, the coordinate output centred per
molecule). egnn: lib/nn/egnn.c (EDM's EGNN at its QM9 settings: per block
a GCL with the distances as edge attributes and attention, then the
coordinate update with tanh and range 15). Written the way EDM writes
them: gather the pair features, Linear+SiLU on the pairs, index_add into
the atoms; the EGNN's edge list leaves out the diagonal (EDM computes it
and masks it: more work). Molecules of the sizes of graph_bench.c,
concatenated. Times forward + backward (no optimizer); prints
steps_per_s, the median of 7 blocks of >= 0.2 s after a warm-up."""
import sys
import time

import torch


class GCL(torch.nn.Module):
    def __init__(self, h):
        super().__init__()
        self.edge_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h, h), torch.nn.SiLU(), torch.nn.Linear(h, h),
                                            torch.nn.SiLU())
        self.node_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h, h), torch.nn.SiLU(), torch.nn.Linear(h, h))

    def forward(self, h, row, col):
        m = self.edge_mlp(torch.cat([h[row], h[col]], dim=1))
        agg = torch.zeros_like(h).index_add_(0, row, m)
        return h + self.node_mlp(torch.cat([h, agg], dim=1))


class EquivariantBlock(torch.nn.Module):
    def __init__(self, h):
        super().__init__()
        silu = torch.nn.SiLU
        self.edge_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h + 2, h), silu(), torch.nn.Linear(h, h), silu())
        self.att_mlp = torch.nn.Sequential(torch.nn.Linear(h, 1), torch.nn.Sigmoid())
        self.node_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h, h), silu(), torch.nn.Linear(h, h))
        self.coord_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h + 2, h), silu(), torch.nn.Linear(h, h), silu(),
                                             torch.nn.Linear(h, 1, bias=False))

    def forward(self, h, x, row, col, d0):
        diff = x[row] - x[col]
        radial = (diff ** 2).sum(1, keepdim=True)
        cdir = diff / (torch.sqrt(radial + 1e-8) + 1.0)
        attr = torch.cat([radial, d0], dim=1)
        m = self.edge_mlp(torch.cat([h[row], h[col], attr], dim=1))
        m = m * self.att_mlp(m)
        agg = torch.zeros_like(h).index_add_(0, row, m)
        h = h + self.node_mlp(torch.cat([h, agg], dim=1))
        trans = cdir * torch.tanh(self.coord_mlp(torch.cat([h[row], h[col], attr], dim=1))) * 15.0
        return h, x + torch.zeros_like(x).index_add_(0, row, trans)


class EGNN(torch.nn.Module):
    def __init__(self, features, width, layers):
        super().__init__()
        self.embedding = torch.nn.Linear(features + 1, width)
        self.blocks = torch.nn.ModuleList([EquivariantBlock(width) for _ in range(layers)])
        self.embedding_out = torch.nn.Linear(width, features)

    def forward(self, xh, t_atoms, row, col, molecule, natoms):
        x0 = xh[:, :3]
        d0 = ((x0[row] - x0[col]) ** 2).sum(1, keepdim=True)
        h = self.embedding(torch.cat([xh[:, 3:], t_atoms], dim=1))
        x = x0
        for block in self.blocks:
            h, x = block(h, x, row, col, d0)
        pos = x - x0
        mean = torch.zeros(natoms.shape[0], 3).index_add_(0, molecule, pos) / natoms[:, None]
        return torch.cat([pos - mean[molecule], self.embedding_out(h)], dim=1)


class GDM(torch.nn.Module):
    def __init__(self, features, width, layers):
        super().__init__()
        self.embedding = torch.nn.Linear(3 + features + 1, width)
        self.gcl = torch.nn.ModuleList([GCL(width) for _ in range(layers)])
        self.embedding_out = torch.nn.Linear(width, 3 + features)

    def forward(self, x, t_atoms, row, col, molecule, natoms):
        h = self.embedding(torch.cat([x, t_atoms], dim=1))
        for layer in self.gcl:
            h = layer(h, row, col)
        out = self.embedding_out(h)
        pos = out[:, :3]
        mean = torch.zeros(natoms.shape[0], 3).index_add_(0, molecule, pos) / natoms[:, None]
        return torch.cat([pos - mean[molecule], out[:, 3:]], dim=1)


def main():
    network = sys.argv[1]
    width, layers, count = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    features = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    torch.set_num_threads(int(sys.argv[6]) if len(sys.argv) > 6 else 1)
    sizes = [10 + (7 * b) % 20 for b in range(count)]
    rows, cols, molecule, first = [], [], [], 0
    for b, n in enumerate(sizes):
        for i in range(n):
            molecule.append(b)
            for j in range(n):
                if network == "egnn" and i == j:
                    continue
                rows.append(first + i)
                cols.append(first + j)
        first += n
    row, col = torch.tensor(rows), torch.tensor(cols)
    molecule, natoms = torch.tensor(molecule), torch.tensor(sizes, dtype=torch.float32)
    torch.manual_seed(1)
    model = (EGNN if network == "egnn" else GDM)(features, width, layers)
    x = torch.randn(first, 3 + features)
    t_atoms = torch.rand(count)[molecule][:, None]
    dy = torch.randn(first, 3 + features)

    forward_only = len(sys.argv) > 7 and sys.argv[7] == "forward"

    def step():
        if forward_only:  # what a sampler runs T times
            with torch.no_grad():
                model(x, t_atoms, row, col, molecule, natoms)
            return
        model.zero_grad(set_to_none=False)
        y = model(x, t_atoms, row, col, molecule, natoms)
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
          "molecules_per_s=%.4g" % (network, width, layers, count, first, len(rows), params, rate, rate * count))


if __name__ == "__main__":
    main()
