"""eloss losses as PyTorch autograd functions: the C loss in a training loop.

    import eloss.torch as elt
    loss = elt.energy_loss(model(x), ref, coeff="exp_dist")   # 0-dim tensor
    loss.backward()                                            # d loss / d pred

Forward runs the C library on the tensors' memory (no copy) and keeps the
gradient it returns; backward multiplies it by the incoming gradient. The
loss is differentiated with respect to the prediction (pred or logits)
only: the reference, targets and couplings are data (tensors or ndarrays).
Tensors follow the rules of the NumPy functions (float64, CPU, contiguous;
int8 targets), data tensors must not require grad, and anything else
raises eloss.Error with PyTorch's remedy. Double backward (create_graph=True)
raises eloss.Error rather than give a wrong second derivative.
"""
import functools

import numpy as np
import torch

import eloss

__all__ = ["energy_loss", "mse_loss", "mae_loss", "kabsch_loss", "atoms_loss", "spin_loss",
           "AtomsLossFunction", "SpinLossFunction", "SpinModel", "MLP", "state_dict", "load_module"]


_CONVERT = {torch.float64: ".double()", torch.int8: ".to(torch.int8)"}


def _numpy(name, t, dtype=torch.float64, differentiated=False):
    """The ndarray sharing t's memory; refuses what eloss would refuse, with
    the same words and PyTorch's remedies, before .numpy() could raise its
    own error. Data that needs no gradient (ref, target, couplings) may also
    be an ndarray; as a tensor it must not ask for a gradient, which eloss
    would silently not compute."""
    if not differentiated and (t is None or isinstance(t, np.ndarray)):
        return t
    if not isinstance(t, torch.Tensor):
        raise eloss.Error("%s: expected a torch.Tensor, got %s" % (name, type(t).__name__))
    if t.device.type != "cpu":
        raise eloss.Error("%s: expected a CPU tensor, got one on %s (move it with .cpu())" % (name, t.device))
    if t.dtype != dtype:
        raise eloss.Error("%s: expected dtype %s, got %s (convert with %s)"
                          % (name, str(dtype).replace("torch.", ""), str(t.dtype).replace("torch.", ""),
                             _CONVERT[dtype]))
    if not t.is_contiguous():
        raise eloss.Error("%s: expected a C-contiguous tensor (.contiguous()), got strides %s"
                          % (name, tuple(t.stride())))
    if not differentiated and t.requires_grad:
        raise eloss.Error("%s: requires grad, but eloss differentiates only the prediction (pass %s.detach())"
                          % (name, name))
    return t.detach().numpy()


def _first_order_only():
    """The C gradient is a constant to autograd: a backward that builds a
    graph (create_graph=True, as a gradient penalty does) would differentiate
    it as zero, silently. Autograd runs backward with grad mode on exactly
    then."""
    if torch.is_grad_enabled():
        raise eloss.Error("eloss losses are differentiable once: a backward with create_graph=True (a gradient "
                          "penalty, double backward) is not supported")


class AtomsLossFunction(torch.autograd.Function):
    """apply(pred, ref, options) with options a dict of eloss.atoms_loss's
    keyword arguments (loss, coeff, edges, ...)."""

    @staticmethod
    def forward(ctx, pred, ref, options):
        value, grad = eloss.atoms_loss(_numpy("pred", pred, differentiated=True), _numpy("ref", ref), **options)
        ctx.save_for_backward(torch.from_numpy(grad))
        return torch.tensor(value, dtype=pred.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        _first_order_only()
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None, None


class SpinLossFunction(torch.autograd.Function):
    """apply(logits, target, jh, jv, options) with options a dict of
    eloss.spin_loss's keyword arguments (loss, T, h0, flip_invariant)."""

    @staticmethod
    def forward(ctx, logits, target, jh, jv, options):
        value, grad = eloss.spin_loss(_numpy("logits", logits, differentiated=True), _numpy("target", target, torch.int8),
                                      _numpy("jh", jh),
                                      _numpy("jv", jv), **options)
        ctx.save_for_backward(torch.from_numpy(grad))
        return torch.tensor(value, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        _first_order_only()
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None, None, None, None


def _edges(edges):
    """Explicit edges may be a tensor; the library takes them as an array."""
    return edges.detach().cpu().numpy() if isinstance(edges, torch.Tensor) else edges


def atoms_loss(pred, ref, loss="energy", coeff=None, edges=None, **options):
    """eloss.atoms_loss as a differentiable 0-dim tensor of pred."""
    opts = dict(options, loss=loss, coeff=coeff, edges=_edges(edges))
    for key in ("elements", "natoms"):
        if isinstance(opts.get(key), torch.Tensor):
            opts[key] = opts[key].detach().cpu().numpy()
    return AtomsLossFunction.apply(pred, ref, opts)


def energy_loss(pred, ref, coeff="exp_dist", edges=None, **options):
    """The paper's energy loss (Eq. 7) of pred (B, N, d) against ref."""
    return atoms_loss(pred, ref, "energy", coeff, edges, **options)


def mse_loss(pred, ref, natoms=None):
    return atoms_loss(pred, ref, "mse", natoms=natoms)


def mae_loss(pred, ref, natoms=None):
    return atoms_loss(pred, ref, "mae", natoms=natoms)


def kabsch_loss(pred, ref, natoms=None):
    return atoms_loss(pred, ref, "kabsch", natoms=natoms)


def spin_loss(logits, target, jh, jv, loss="local", T=None, h0=None, flip_invariant=False):
    """eloss.spin_loss as a differentiable 0-dim tensor of logits (B, L, L)."""
    return SpinLossFunction.apply(logits, target, jh, jv,
                                  dict(loss=loss, T=T, h0=h0, flip_invariant=flip_invariant))



# ---- eloss's models as PyTorch modules ----------------------------------------
#
# The same architectures as lib/nn, with the same tensor names and shapes,
# so a model file of `eloss train` loads as a state_dict.


class SpinModel(torch.nn.Module):
    """lib/nn's spin model: h0 = conv3x3(4 -> W)(x); R residual blocks
    h = h + conv2(relu(conv1(relu(h)))); logits = conv1x1(W -> 1)(relu(h)).
    x (B, 4, L, L): the bond channels right, left, down, up of each site
    (`eloss eval -pred_out` writes them as "inputs"); returns (B, L, L).
    circular: periodic lattices (padding wraps), else zero padding."""

    def __init__(self, width, depth, circular):
        super().__init__()
        mode = "circular" if circular else "zeros"

        def conv(ci, co):
            return torch.nn.Conv2d(ci, co, 3, padding=1, padding_mode=mode)

        self.input = conv(4, width)
        self.blocks = torch.nn.ModuleList()
        for _ in range(depth // 2):
            block = torch.nn.Module()
            block.conv1, block.conv2 = conv(width, width), conv(width, width)
            self.blocks.append(block)
        self.output = torch.nn.Conv2d(width, 1, 1)

    def forward(self, x):
        h = self.input(x)
        for b in self.blocks:
            h = h + b.conv2(torch.relu(b.conv1(torch.relu(h))))
        return self.output(torch.relu(h)).squeeze(1)


class MLP(torch.nn.Module):
    """lib/nn's MLP: dense layers with SiLU between them, none after the
    last; sizes = (input, hidden..., output)."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k + 1 < len(self.layers):
                x = torch.nn.functional.silu(x)
        return x


@functools.lru_cache(maxsize=64)
def _pairs(natoms, self_pairs):
    """Row and column atom indices of every ordered pair of each molecule
    (i = j too with self_pairs), grouped by row; the molecule of each atom.
    natoms a tuple: a batch of the sizes seen before costs no Python loop."""
    rows, cols, molecule, first = [], [], [], 0
    for b, n in enumerate(natoms):
        idx = torch.arange(first, first + n)
        r, c = idx.repeat_interleave(n), idx.repeat(n)
        keep = torch.ones_like(r, dtype=torch.bool) if self_pairs else r != c
        rows.append(r[keep])
        cols.append(c[keep])
        molecule.append(torch.full((n,), b))
        first += n
    return torch.cat(rows), torch.cat(cols), torch.cat(molecule)


def _centre(pos, molecule, natoms):
    mean = torch.zeros(natoms.shape[0], 3, dtype=pos.dtype).index_add_(0, molecule, pos)
    return pos - (mean / natoms.to(pos.dtype)[:, None])[molecule]


class _GCL(torch.nn.Module):
    def __init__(self, h, edge_attrs=0, attention=False):
        super().__init__()
        silu = torch.nn.SiLU
        self.edge_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h + edge_attrs, h), silu(), torch.nn.Linear(h, h), silu())
        self.node_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h, h), silu(), torch.nn.Linear(h, h))
        if attention:
            self.att_mlp = torch.nn.Sequential(torch.nn.Linear(h, 1), torch.nn.Sigmoid())

    def forward(self, h, row, col, attr=None):
        m = self.edge_mlp(torch.cat([h[row], h[col]] + ([] if attr is None else [attr]), dim=1))
        if hasattr(self, "att_mlp"):
            m = m * self.att_mlp(m)
        agg = torch.zeros_like(h).index_add_(0, row, m)
        return h + self.node_mlp(torch.cat([h, agg], dim=1))


class GDM(torch.nn.Module):
    """lib/nn's GDM (EDM's non-equivariant GNN) with its tensor names:
    forward(x (atoms, 3 + F), natoms (B), t (B)) -> eps (atoms, 3 + F), the
    molecules concatenated, every ordered pair of a molecule's atoms (i = j
    too), the coordinate output centred per molecule."""

    def __init__(self, features, width, layers):
        super().__init__()
        self.layers = layers
        self.embedding = torch.nn.Linear(3 + features + 1, width)
        for k in range(layers):
            self.add_module("gcl_%d" % k, _GCL(width))
        self.embedding_out = torch.nn.Linear(width, 3 + features)

    def forward(self, x, natoms, t):
        natoms = torch.as_tensor(natoms)
        row, col, molecule = _pairs(tuple(int(k) for k in natoms), True)
        h = self.embedding(torch.cat([x, t[molecule][:, None].to(x.dtype)], dim=1))
        for k in range(self.layers):
            h = getattr(self, "gcl_%d" % k)(h, row, col)
        out = self.embedding_out(h)
        return torch.cat([_centre(out[:, :3], molecule, natoms), out[:, 3:]], dim=1)


class _EquivariantBlock(torch.nn.Module):
    def __init__(self, h, coords_range):
        super().__init__()
        silu = torch.nn.SiLU
        self.coords_range = coords_range
        self.gcl_0 = _GCL(h, edge_attrs=2, attention=True)
        self.gcl_equiv = torch.nn.Module()
        self.gcl_equiv.coord_mlp = torch.nn.Sequential(torch.nn.Linear(2 * h + 2, h), silu(), torch.nn.Linear(h, h),
                                                       silu(), torch.nn.Linear(h, 1, bias=False))

    def forward(self, h, x, row, col, d0):
        diff = x[row] - x[col]
        radial = (diff ** 2).sum(1, keepdim=True)
        cdir = diff / (torch.sqrt(radial + 1e-8) + 1.0)
        attr = torch.cat([radial, d0], dim=1)
        h = self.gcl_0(h, row, col, attr)
        phi = self.gcl_equiv.coord_mlp(torch.cat([h[row], h[col], attr], dim=1))
        trans = cdir * torch.tanh(phi) * self.coords_range
        return h, x + torch.zeros_like(x).index_add_(0, row, trans)


class EGNN(torch.nn.Module):
    """lib/nn's EGNN (EDM's equivariant network at its QM9 settings) with
    its tensor names: forward(x (atoms, 3 + F), natoms (B), t (B)) -> eps;
    pairs i != j of each molecule; eps_x = x_L - x_0 centred per molecule."""

    def __init__(self, features, width, layers, coords_range=15.0):
        super().__init__()
        self.layers = layers
        self.embedding = torch.nn.Linear(features + 1, width)
        for k in range(layers):
            self.add_module("e_block_%d" % k, _EquivariantBlock(width, coords_range))
        self.embedding_out = torch.nn.Linear(width, features)

    def forward(self, x, natoms, t):
        natoms = torch.as_tensor(natoms)
        row, col, molecule = _pairs(tuple(int(k) for k in natoms), False)
        x0 = x[:, :3]
        d0 = ((x0[row] - x0[col]) ** 2).sum(1, keepdim=True)
        h = self.embedding(torch.cat([x[:, 3:], t[molecule][:, None].to(x.dtype)], dim=1))
        pos = x0
        for k in range(self.layers):
            h, pos = getattr(self, "e_block_%d" % k)(h, pos, row, col, d0)
        return torch.cat([_centre(pos - x0, molecule, natoms), self.embedding_out(h)], dim=1)


def _use_ema(path, ema):
    """ema as asked, or (None) whether a diffusion model file keeps a moving
    average, which eloss sample uses."""
    if ema is None:
        config, _ = eloss.load_model(path)
        return config["task"] == "diffusion" and config["ema"]
    if not isinstance(ema, (bool, np.bool_)):
        raise eloss.Error("ema: expected True, False or None, got %r" % (ema,))
    return bool(ema)


def state_dict(path, ema=None):
    """The parameters of a model file as a PyTorch state_dict (float32):
    what load_module loads (ema=None: a diffusion model's moving average
    when the file keeps one)."""
    _config, tensors = eloss.load_model(path, ema=_use_ema(path, ema))
    return {name: torch.from_numpy(a) for name, a in tensors.items()}


def load_module(path, ema=None):
    """The PyTorch module of a model file's architecture with its
    parameters loaded (strict: every name and shape must match); eval mode.
    ema: a diffusion model's moving average instead of its parameters
    (None: where the file keeps one, as eloss sample)."""
    config, tensors = eloss.load_model(path, ema=_use_ema(path, ema))
    if config["task"] == "diffusion":
        network = EGNN if config.get("model") == "egnn" else GDM
        module = network(config["features"], config["width"], config["layers"])
    elif config["task"] == "spin":
        module = SpinModel(tensors["input.weight"].shape[0], 2 * sum(1 for n in tensors if n.endswith("conv1.weight")),
                           config.get("bc") == "periodic")
    else:
        n = sum(1 for name in tensors if name.endswith(".weight"))
        sizes = [tensors["layers.0.weight"].shape[1]] + [tensors["layers.%d.weight" % k].shape[0] for k in range(n)]
        module = MLP(sizes)
    module.load_state_dict({name: torch.from_numpy(a) for name, a in tensors.items()}, strict=True)
    return module.eval()
