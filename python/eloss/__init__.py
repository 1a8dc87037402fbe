"""eloss: the energy loss functions of *Energy Loss Functions for Physical
Systems* (arXiv:2511.02087) on NumPy arrays, computed by the C library
libeloss through its flat interface (lib/include/eloss/capi.h).

    import eloss
    loss, grad = eloss.energy_loss(pred, ref, coeff="exp_dist")   # (B, N, d)
    loss, grad = eloss.spin_loss(logits, target, jh, jv, loss="local")

Every function returns ``(loss, grad)``: the loss as a float and its
gradient with respect to the prediction (pred or logits), shaped like it.
The definitions are those of ``eloss loss`` and ``eloss spinloss``
(docs/loss.md, docs/spinloss.md):
the same names, defaults (except ``coeff``, "exp_dist" here), numbers and
error messages. ``eloss.torch`` wraps them as ``torch.autograd.Function``.

Arrays are taken as they are, never copied or converted: float64 (int8 for
spin targets), C-contiguous, native byte order, of the documented shape.
Anything else raises :class:`eloss.Error` naming the argument; so does
every failure of the library (a NaN, an edge outside a structure, an
unknown name), with the library's message.

The library is found through, in order: the ``ELOSS_LIBRARY`` environment
variable (a path to libeloss.so), ``pkg-config --variable=libdir eloss``
(an installed eloss, also under a custom prefix on PKG_CONFIG_PATH), the
dynamic linker's search (``ctypes.util.find_library``), and the usual
install directories of ``meson install``. Only NumPy is imported.
"""
import atexit
import ctypes
import ctypes.util
import os
import subprocess
import sys
import threading

import numpy as np

__all__ = [
    "Error", "energy_loss", "mse_loss", "mae_loss", "kabsch_loss", "atoms_loss", "AtomsLoss",
    "spin_loss", "load_model", "diffusion_forward", "library_path", "__version__",
    "ATOMS_LOSSES", "COEFF_LAWS", "EDGE_SETS", "SPIN_LOSSES", "TRAINING_LOSSES",
]



class Error(ValueError):
    """A bad argument or a failure of libeloss; ``str(e)`` is the message,
    ``e.status`` the library's core_status code (0 for checks made here)."""

    def __init__(self, message, status=0):
        super().__init__(message)
        self.status = status


# ---- finding and loading the library --------------------------------------

def _candidates():
    """Paths to try, with where each came from, in order of preference."""
    env = os.environ.get("ELOSS_LIBRARY")
    if env:
        # An explicit choice is never second-guessed: it works or we say why.
        return [(env, "ELOSS_LIBRARY")]
    found = []
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "eloss"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if libdir:
            found.append((os.path.join(libdir, "libeloss.so"), "pkg-config eloss"))
    except (OSError, subprocess.SubprocessError):
        pass
    name = ctypes.util.find_library("eloss")
    if name:
        found.append((name, "the dynamic linker's search path"))
    multiarch = getattr(sys.implementation, "_multiarch", "")
    for prefix in dict.fromkeys([sys.prefix, "/usr/local", "/usr"]):
        for sub in ("lib/" + multiarch if multiarch else None, "lib", "lib64"):
            if sub:
                found.append((os.path.join(prefix, sub, "libeloss.so"), "the prefix " + prefix))
    return found


def _load():
    tried = []
    for path, source in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, source))
            continue
        try:
            # RTLD_GLOBAL: Open MPI loads its components with dlopen and they
            # need libmpi's symbols to be global, as in a linked program.
            return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, source, e))
    raise ImportError(
        "eloss: cannot load libeloss. Build it (meson setup build && ninja -C build) and set "
        "ELOSS_LIBRARY=build/lib/libeloss.so, or `meson install` it. Tried:\n  " + "\n  ".join(tried))


_lib, library_path = _load()

_dp = ctypes.POINTER(ctypes.c_double)
_i64p = ctypes.POINTER(ctypes.c_int64)
_i32p = ctypes.POINTER(ctypes.c_int32)
_i8p = ctypes.POINTER(ctypes.c_int8)
_i64, _u64, _int, _dbl, _str = ctypes.c_int64, ctypes.c_uint64, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
_plan_p = ctypes.c_void_p

_lib.capi_version.restype = ctypes.c_char_p
_lib.capi_version.argtypes = []
_lib.capi_error_message.restype = ctypes.c_char_p
_lib.capi_error_message.argtypes = []
_lib.capi_finalize.restype = _int
_lib.capi_finalize.argtypes = []
_atoms_options = [_str, _str, _str, _i64, _i64, _int, _dp, _i64p, _dbl, _int, _dbl, _i64p, _i64, _int, _int, _u64]
_lib.capi_atoms_plan_create.restype = _int
_lib.capi_atoms_plan_create.argtypes = _atoms_options + [_i64p, _dbl, ctypes.POINTER(_plan_p)]
_lib.capi_atoms_plan_execute.restype = _int
_lib.capi_atoms_plan_execute.argtypes = [_plan_p, _dp, ctypes.POINTER(_dbl), _dp]
_lib.capi_atoms_plan_resample.restype = _int
_lib.capi_atoms_plan_resample.argtypes = [_plan_p, _u64]
_lib.capi_atoms_plan_edges.restype = _int
_lib.capi_atoms_plan_edges.argtypes = [_plan_p, _i64, _i64, _i32p, ctypes.POINTER(_i64)]
_lib.capi_atoms_plan_destroy.restype = None
_lib.capi_atoms_plan_destroy.argtypes = [ctypes.POINTER(_plan_p)]
_lib.capi_atoms_loss.restype = _int
_lib.capi_atoms_loss.argtypes = _atoms_options + [_u64, _i64p, _dbl, _dp, ctypes.POINTER(_dbl), _dp]
_lib.capi_spin_loss.restype = _int
_lib.capi_spin_loss.argtypes = [_str, _dbl, _dbl, _int, _i64, _int, _int, _dp, _dp, _dp, _i8p,
                                ctypes.POINTER(_dbl), _dp]
_lib.capi_name.restype = ctypes.c_char_p
_lib.capi_name.argtypes = [_str, _int]
_f32p = ctypes.POINTER(ctypes.c_float)
_lib.capi_diffusion_forward.restype = _int
_lib.capi_diffusion_forward.argtypes = [_str, _int, _i64, _i64p, _f32p, _f32p, _f32p]
_lib.capi_spin_loss_count.restype = _int
_lib.capi_spin_loss_count.argtypes = []
_lib.capi_spin_loss_info.restype = _int
_lib.capi_spin_loss_info.argtypes = [_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.POINTER(ctypes.c_uint)]

__version__ = _lib.capi_version().decode()

# MPI, if the library started it, ends with the interpreter.
atexit.register(_lib.capi_finalize)


def _check(status):
    if status:
        raise Error(_lib.capi_error_message().decode(errors="replace"), status)


# ---- argument checks --------------------------------------------------------

def _shape(a):
    return "(" + ", ".join(str(s) for s in a.shape) + ("," if a.ndim == 1 else "") + ")"


def _array(name, a, dtype, ndim):
    """a itself if it is an ndarray of dtype, ndim dimensions, C order."""
    if not isinstance(a, np.ndarray):
        raise Error("%s: expected a numpy.ndarray of %s, got %s" % (name, np.dtype(dtype).name, type(a).__name__))
    if a.dtype != np.dtype(dtype):
        got = a.dtype.name if a.dtype.name != np.dtype(dtype).name else "%s of non-native byte order" % a.dtype.str
        raise Error("%s: expected dtype %s, got %s (convert with .astype(np.%s))"
                    % (name, np.dtype(dtype).name, got, np.dtype(dtype).name))
    if a.ndim != ndim:
        raise Error("%s: expected a %d-dimensional array, got shape %s" % (name, ndim, _shape(a)))
    if not a.flags.c_contiguous:
        raise Error("%s: expected a C-contiguous array (np.ascontiguousarray), got strides %s"
                    % (name, a.strides))
    if not a.flags.aligned:
        raise Error("%s: expected an aligned array (its data address is not a multiple of %d; a copy is)"
                    % (name, a.dtype.alignment))
    return a


def _integer(name, value, low, high):
    """A Python or NumPy integer within [low, high], as the C library takes
    it: a float, a bool or a value out of range is refused, never cut."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise Error("%s: expected an integer, got %r" % (name, value))
    if not low <= int(value) <= high:
        raise Error("%s: %d is outside [%d, %d]" % (name, int(value), low, high))
    return int(value)


def _real(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise Error("%s: expected a real number, got %r" % (name, value))
    return float(value)


_INT_MAX, _U64_MAX = 2 ** 31 - 1, 2 ** 64 - 1


def _indices(name, a, ndim):
    """An integer index array (edges, elements, natoms) as C-ordered int64:
    these are small and read once, so any integer dtype is converted."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise Error("%s: expected an integer array, got dtype %s" % (name, a.dtype.name))
    if a.ndim != ndim:
        raise Error("%s: expected a %d-dimensional array, got shape %s" % (name, ndim, _shape(a)))
    return np.ascontiguousarray(a, dtype=np.int64)


def _ptr(a, ptype):
    return None if a is None else a.ctypes.data_as(ptype)


def _coordinates(pred, ref):
    pred = _array("pred", pred, np.float64, 3)
    ref = _array("ref", ref, np.float64, 3)
    if 0 in pred.shape[:2]:
        raise Error("pred: an empty batch, shape %s: the mean over it is undefined" % _shape(pred))
    if pred.shape != ref.shape:
        raise Error("pred has shape %s but ref has %s" % (_shape(pred), _shape(ref)))
    if pred.shape[2] not in (2, 3):
        raise Error("pred: expected shape (B, N, d) with d = 2 or 3, got %s" % _shape(pred))
    return pred, ref


# ---- atoms ------------------------------------------------------------------

class _AtomsArgs:
    """The options of `eloss loss`, checked and in ctypes form."""

    def __init__(self, ref, loss, coeff, edges, k0, per_atom, dmin, degree, pool, seed, elements,
                 bond_tolerance, natoms):
        for what, name, names in (("loss", loss, ATOMS_LOSSES), ("coeff", coeff, COEFF_LAWS)):
            if not isinstance(name, str):
                raise Error("%s: expected one of %s, got %r" % (what, ", ".join(names), name))
        B, N = ref.shape[0], ref.shape[1]
        self.edge_list = None
        if edges is None:
            edges = "complete"
        elif isinstance(edges, str):
            if edges == "explicit":
                raise Error("edges: give the (m, 2) array of pairs itself for explicit edges")
        else:
            self.edge_list = _indices("edges", edges, 2)
            if self.edge_list.shape[1] != 2:
                raise Error("edges: expected an (m, 2) array of atom pairs, got shape %s" % _shape(self.edge_list))
            edges = "explicit"
        self.elements = None
        if elements is not None:
            self.elements = _indices("elements", elements, 2)
            if self.elements.shape != (B, N):
                raise Error("elements: expected shape (%d, %d) (one atomic number per atom of ref), got %s"
                            % (B, N, _shape(self.elements)))
        self.natoms = None
        if natoms is not None:
            self.natoms = _indices("natoms", natoms, 1)
            if self.natoms.shape != (B,):
                raise Error("natoms: expected shape (%d,), got %s" % (B, _shape(self.natoms)))
        self.ref = ref
        n_edges = 0 if self.edge_list is None else self.edge_list.shape[0]
        self.head = [str(loss).encode(), str(coeff).encode(), str(edges).encode(), B, N, ref.shape[2],
                     _ptr(ref, _dp), _ptr(self.natoms, _i64p), float(k0), int(bool(per_atom)), float(dmin),
                     _ptr(self.edge_list, _i64p), n_edges, int(degree), int(pool), int(seed)]
        self.tail = [_ptr(self.elements, _i64p), float(bond_tolerance)]


# Which options shape which loss, as `eloss loss` has it: the energy loss's
# own, then those of one edge set; given elsewhere they are refused, never
# ignored. None means "not given": the default.
_ENERGY_OPTIONS = {"k0": 1.0, "per_atom": False, "dmin": 1e-6}
_REGULAR_OPTIONS = {"degree": 0, "pool": 100, "seed": 0, "draw": 0}
_BONDS_OPTIONS = {"bond_tolerance": 0.45, "elements": None}


def _options(loss, coeff, edges, given):
    """(coeff, options) with the defaults filled in, after refusing options
    that mean nothing for this loss and edge set."""
    if not isinstance(loss, str):
        raise Error("loss: expected one of %s, got %r" % (", ".join(ATOMS_LOSSES), loss))
    kind = "complete" if edges is None else edges if isinstance(edges, str) else "explicit"
    for name, value in dict(given, coeff=coeff, edges=edges).items():
        if value is None:
            continue
        if loss != "energy":
            raise Error("%s applies to the energy loss only, not to %r" % (name, loss))
        if name in _REGULAR_OPTIONS and kind != "regular":
            raise Error("%s applies to edges='regular' only, not to %r" % (name, kind))
        if name in _BONDS_OPTIONS and kind != "bonds":
            raise Error("%s applies to edges='bonds' only, not to %r" % (name, kind))
    o = {k: given.get(k) if given.get(k) is not None else v
         for k, v in {**_ENERGY_OPTIONS, **_REGULAR_OPTIONS, **_BONDS_OPTIONS}.items()}
    o["k0"], o["dmin"] = _real("k0", o["k0"]), _real("dmin", o["dmin"])
    o["bond_tolerance"] = _real("bond_tolerance", o["bond_tolerance"])
    if not isinstance(o["per_atom"], (bool, np.bool_)) and o["per_atom"] not in (0, 1):
        raise Error("per_atom: expected True or False, got %r" % (o["per_atom"],))
    o["degree"] = _integer("degree", o["degree"], 0, _INT_MAX)
    o["pool"] = _integer("pool", o["pool"], 1, _INT_MAX)
    o["seed"] = _integer("seed", o["seed"], 0, _U64_MAX)
    o["draw"] = _integer("draw", o["draw"], 0, _U64_MAX)
    return "exp_dist" if coeff is None else coeff, o


def atoms_loss(pred, ref, loss="energy", coeff=None, edges=None, *, k0=None, per_atom=None, dmin=None,
               degree=None, pool=None, seed=None, draw=None, elements=None, bond_tolerance=None, natoms=None):
    """Any atomistic loss of `eloss loss` and its gradient: ``(loss, grad)``.

    pred, ref  float64 (B, N, d), d = 2 or 3, C order; finite.
    loss       "energy" (Eq. 7) | "mse" | "mae" | "kabsch".
    coeff      energy: k(d) "constant" | "exp_dist" (None: the default) | "inv_dist" |
               "inv_dist2" | "lj"; refused with another loss.
    edges      energy: None or "complete" (every pair), an (m, 2) int array of
               unordered pairs (each row stands for both orientations of
               Eq. 7, so a pair given twice is refused), "regular" (random degree-regular graphs from a pool,
               draw `draw`) or "bonds" (covalent bonds of ref; needs `elements`,
               (B, N) atomic numbers, and ref in Angstrom).
    k0, per_atom, dmin, degree, pool, seed, bond_tolerance: as `eloss loss`
               -k0 (1), -per_atom (False), -coeff_dmin (1e-6), -degree (0: 2 d),
               -pool (100), -seed (0), -bond_tolerance (0.45); each only where
               the CLI takes it (energy; regular; bonds), else refused.
    natoms     (B,) real atom counts of a padded batch (rows past them get
               zero gradient), or None.
    The energy loss is the mean over the B structures; mse, mae and kabsch
    are means over the real coordinates.
    """
    pred, ref = _coordinates(pred, ref)
    coeff, o = _options(loss, coeff, edges, dict(k0=k0, per_atom=per_atom, dmin=dmin, degree=degree, pool=pool,
                                                 seed=seed, draw=draw, elements=elements,
                                                 bond_tolerance=bond_tolerance))
    args = _AtomsArgs(ref, loss, coeff, edges, o["k0"], o["per_atom"], o["dmin"], o["degree"], o["pool"], o["seed"],
                      o["elements"], o["bond_tolerance"], natoms)
    value = _dbl()
    grad = np.empty_like(pred)
    _check(_lib.capi_atoms_loss(*args.head, o["draw"], *args.tail, _ptr(pred, _dp), ctypes.byref(value),
                                _ptr(grad, _dp)))
    return value.value, grad


def energy_loss(pred, ref, coeff="exp_dist", edges=None, **options):
    """The paper's energy loss (Eq. 7) and its gradient: ``(loss, grad)``.
    See :func:`atoms_loss` for the arguments."""
    return atoms_loss(pred, ref, "energy", coeff, edges, **options)


def mse_loss(pred, ref, natoms=None):
    """Mean squared error over the coordinates and its gradient."""
    return atoms_loss(pred, ref, "mse", natoms=natoms)


def mae_loss(pred, ref, natoms=None):
    """Mean absolute error over the coordinates and its (sub)gradient."""
    return atoms_loss(pred, ref, "mae", natoms=natoms)


def kabsch_loss(pred, ref, natoms=None):
    """MSE after the optimal proper rotation of the centred reference onto the
    centred prediction, the rotation held fixed in the gradient."""
    return atoms_loss(pred, ref, "kabsch", natoms=natoms)


class AtomsLoss:
    """A plan: everything that depends only on the reference (edges,
    distances, coefficients) computed once, then ``loss, grad = plan(pred)``
    per prediction. Same arguments as :func:`atoms_loss` (without pred and
    draw). ``resample(draw)`` redraws regular graphs; ``edges(b)`` returns the
    (m, 2) int32 pairs i < j structure b uses. Calls from several threads
    take turns (one lock per plan), and close() waits for a running call."""

    def __init__(self, ref, loss="energy", coeff=None, edges=None, *, k0=None, per_atom=None, dmin=None,
                 degree=None, pool=None, seed=None, elements=None, bond_tolerance=None, natoms=None):
        self._plan = _plan_p()
        self._lock = threading.Lock()
        coeff, o = _options(loss, coeff, edges, dict(k0=k0, per_atom=per_atom, dmin=dmin, degree=degree, pool=pool,
                                                     seed=seed, elements=elements, bond_tolerance=bond_tolerance))
        ref = _array("ref", ref, np.float64, 3)
        if ref.shape[2] not in (2, 3):
            raise Error("ref: expected shape (B, N, d) with d = 2 or 3, got %s" % _shape(ref))
        if 0 in ref.shape[:2]:
            raise Error("ref: an empty batch, shape %s: the mean over it is undefined" % _shape(ref))
        args = _AtomsArgs(ref, loss, coeff, edges, o["k0"], o["per_atom"], o["dmin"], o["degree"], o["pool"],
                          o["seed"], o["elements"], o["bond_tolerance"], natoms)
        self.shape = ref.shape
        self._regular = edges == "regular"
        _check(_lib.capi_atoms_plan_create(*args.head, *args.tail, ctypes.byref(self._plan)))

    def __call__(self, pred):
        pred = _array("pred", pred, np.float64, 3)
        if pred.shape != self.shape:
            raise Error("pred has shape %s but the plan's ref has %s"
                        % (_shape(pred), "(" + ", ".join(map(str, self.shape)) + ")"))
        value = _dbl()
        grad = np.empty_like(pred)
        with self._lock:
            self._alive()
            _check(_lib.capi_atoms_plan_execute(self._plan, _ptr(pred, _dp), ctypes.byref(value), _ptr(grad, _dp)))
        return value.value, grad

    def resample(self, draw):
        if not self._regular:
            raise Error("resample: only a plan with edges='regular' draws graphs")
        draw = _integer("draw", draw, 0, _U64_MAX)
        with self._lock:
            self._alive()
            _check(_lib.capi_atoms_plan_resample(self._plan, draw))

    def edges(self, b):
        b = _integer("b", b, 0, self.shape[0] - 1)
        count = _i64()
        with self._lock:
            self._alive()
            _check(_lib.capi_atoms_plan_edges(self._plan, b, 0, None, ctypes.byref(count)))
            out = np.empty((count.value, 2), dtype=np.int32)
            _check(_lib.capi_atoms_plan_edges(self._plan, b, count.value, _ptr(out, _i32p), ctypes.byref(count)))
        return out

    def close(self):
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed before the plan existed
            return
        with lock:
            if self._plan:
                _lib.capi_atoms_plan_destroy(ctypes.byref(self._plan))

    def _alive(self):
        if not self._plan:
            raise Error("AtomsLoss: the plan is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


# ---- spins ------------------------------------------------------------------

def _vocabulary(name):
    names, k = [], 0
    while (n := _lib.capi_name(name.encode(), k)) is not None:
        names.append(n.decode())
        k += 1
    return tuple(names)


# The library's names (the command line's): read from it, not copied.
ATOMS_LOSSES = _vocabulary("atoms_loss")       # eloss loss -loss
COEFF_LAWS = _vocabulary("atoms_coeff")        # -coeff
EDGE_SETS = _vocabulary("atoms_edges")         # -edges
TRAINING_LOSSES = _vocabulary("atoms_preset")  # eloss shapes / train -task denoise -loss


# The vocabulary of spin losses, read from the library (spin_loss_table):
# name -> flags (1 labels, 2 couplings, 4 T, 8 T > 0, 16 h0, 32 flip_invariant).
def _spin_losses():
    name, summary, flags = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_uint()
    table = {}
    for k in range(_lib.capi_spin_loss_count()):
        _check(_lib.capi_spin_loss_info(k, ctypes.byref(name), ctypes.byref(summary), ctypes.byref(flags)))
        table[name.value.decode()] = flags.value
    return table


_SPIN_TABLE = _spin_losses()
SPIN_LOSSES = tuple(_SPIN_TABLE)
_SPIN_T = tuple(n for n, f in _SPIN_TABLE.items() if f & 4)
_SPIN_H0 = tuple(n for n, f in _SPIN_TABLE.items() if f & 16)
_SPIN_LABELS = tuple(n for n, f in _SPIN_TABLE.items() if f & 1)


def _names(names):
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def spin_loss(logits, target, jh, jv, loss="local", T=None, h0=None, flip_invariant=False):
    """A spin loss of `eloss spinloss` and its gradient: ``(loss, grad)``.

    logits  float64 (B, L, L), C order, finite; q(s_i = +1) = sigmoid(z_i).
    target  int8 (B, L, L) of +-1; None for loss="true" (which reads no
            labels: a target given to it is refused, as `eloss spinloss`
            refuses -target).
    jh, jv  float64 couplings: open lattice (B, L, L-1) and (B, L-1, L) as
            `eloss gs`; periodic (B, L, L) both, each site's bond to its +
            neighbour along x resp. y, wrapping. The shape of jh decides.
    loss    "ce" | "margin" | "local" (Eq. 15-16) | "true" | "bond".
    T, h0   temperature (local, bond: > 0; true: >= 0; default 0.1) and the
            constant of the weights w_i = y_i h_i(y) + h0 (local, bond;
            default 5); given with another loss they are refused, as
            `eloss spinloss` refuses them.
    flip_invariant  ce, margin: the better of y and -y per instance.
    The loss is the mean over the B instances; grad is d loss / d logits.
    """
    if target is not None and loss in SPIN_LOSSES and loss not in _SPIN_LABELS:
        raise Error("target: loss %r uses no labels; pass None" % loss)
    if T is not None and loss not in _SPIN_T:
        raise Error("T is for loss %s only, not %r" % (_names(_SPIN_T), loss))
    if h0 is not None and loss not in _SPIN_H0:
        raise Error("h0 is for loss %s only, not %r" % (_names(_SPIN_H0), loss))
    T = 0.1 if T is None else _real("T", T)
    h0 = 5.0 if h0 is None else _real("h0", h0)
    logits = _array("logits", logits, np.float64, 3)
    jh = _array("jh", jh, np.float64, 3)
    jv = _array("jv", jv, np.float64, 3)
    B, L = jh.shape[0], jh.shape[1]
    if B < 1 or L < 2 or jh.shape[2] not in (L, L - 1):
        raise Error("jh: shape %s; expected (B, L, L-1) (open) or (B, L, L) (periodic) with B >= 1, L >= 2"
                    % _shape(jh))
    periodic = jh.shape[2] == L
    want_v = (B, L if periodic else L - 1, L)
    if jv.shape != want_v:
        raise Error("jv: shape %s; expected %s to match jh %s (%s)"
                    % (_shape(jv), str(want_v), _shape(jh), "periodic" if periodic else "open"))
    if logits.shape != (B, L, L):
        raise Error("logits: shape %s; expected %s to match jh %s" % (_shape(logits), str((B, L, L)), _shape(jh)))
    if target is not None:
        target = _array("target", target, np.int8, 3)
        if target.shape != (B, L, L):
            raise Error("target: shape %s; expected %s to match jh %s"
                        % (_shape(target), str((B, L, L)), _shape(jh)))
    value = _dbl()
    grad = np.empty_like(logits)
    _check(_lib.capi_spin_loss(str(loss).encode(), float(T), float(h0), int(bool(flip_invariant)), B, L,
                               int(periodic), _ptr(jh, _dp), _ptr(jv, _dp), _ptr(logits, _dp),
                               _ptr(target, _i8p), ctypes.byref(value), _ptr(grad, _dp)))
    return value.value, grad


# ---- model files ------------------------------------------------------------

_TASKS = ("spin", "denoise", "shapes", "diffusion")
_CONVS = ("winograd", "direct")


def _sections(path):
    """The sections of an eloss checkpoint file (docs/design.md): name ->
    bytes, every checksum checked."""
    import struct
    import zlib
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 48 or data[:8] != b"ELOSCKPT":
        raise Error("%s: not an eloss model file (no ELOSCKPT header)" % path)
    _fmt, count = struct.unpack_from("<II", data, 8)
    kind = data[16:32].rstrip(b"\0").decode()
    if struct.unpack_from("<I", data, 40)[0] != zlib.crc32(data[:40]):
        raise Error("%s: the header's checksum does not match: a damaged file" % path)
    if kind != "train":
        raise Error("%s: a checkpoint of %r, not a model file of eloss train" % (path, kind))
    out, at = {}, 48
    for _ in range(count):
        if at + 32 > len(data):
            raise Error("%s: truncated" % path)
        name = data[at:at + 16].rstrip(b"\0").decode()
        size, crc = struct.unpack_from("<QI", data, at + 16)
        payload = data[at + 32:at + 32 + size]
        if len(payload) != size:
            raise Error("%s: section %r is truncated" % (path, name))
        if zlib.crc32(payload) != crc:
            raise Error("%s: section %r does not match its checksum: a damaged file" % (path, name))
        out[name] = payload
        at += 32 + size
    return out


def load_model(path, ema=False):
    """A model file of `eloss train` as ``(config, tensors)``.

    config   dict: "task" ("spin", "denoise", "shapes", "diffusion"), "identity" (the
             run's options and data fingerprints, what keys -resume),
             "step", "batch", "shard_size", "conv" (spin), "ema" (whether the
             file keeps a moving average of the parameters), "selected_step"
             (the step whose parameters these are: "step", or with
             `eloss train -select best` the best validation score's), and the model's
             config line as keys and values ("L", "width", "depth", ...;
             numbers as int or float).
    tensors  dict name -> float32 ndarray of the tensor's shape, with the
             names and shapes of the PyTorch modules of eloss.torch
             (``eloss.torch.load_module(path)`` builds one).
    ema      the parameters' moving average instead of the parameters (a
             diffusion model trained with -ema keeps one; eloss sample
             uses it); a file without one raises eloss.Error.
    Every section's checksum is checked; a foreign or damaged file raises
    eloss.Error naming the file.
    """
    import struct
    s = _sections(path)
    for need in ("run", "config", "task", "state", "tensors", "param"):
        if need not in s:
            raise Error("%s: no %r section: not a model file of this eloss" % (path, need))
    kind, conv = struct.unpack_from("<ii", s["task"])
    step, _adam, n_params, batch, shard_size, n_tensors = struct.unpack_from("<6q", s["state"])
    config = {"task": _TASKS[kind] if 0 <= kind < len(_TASKS) else kind,
              "identity": s["run"].split(b"\0", 1)[0].decode(),
              "step": step, "batch": batch, "shard_size": shard_size}
    if config["task"] == "spin":
        config["conv"] = _CONVS[conv] if 0 <= conv < len(_CONVS) else conv
    for item in s["config"].split(b"\0", 1)[0].decode().split():
        key, _, value = item.partition("=")
        if key == "task":
            continue
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        config[key] = value
    config["ema"] = "ema" in s
    # A run with a validation set records its selection: best step, then
    # whether "param" holds the best parameters (lib/train/train.c).
    config["selected_step"] = step
    if "select" in s:
        best_step, _since, select_best = struct.unpack_from("<3q", s["select"])
        if select_best:
            config["selected_step"] = best_step
    if ema and "ema" not in s:
        raise Error("%s: no moving average (the model was trained without -ema)" % path)
    param = np.frombuffer(s["ema" if ema else "param"], dtype="<f4")
    if param.size != n_params or len(s["tensors"]) != 88 * n_tensors:
        raise Error("%s: the parameter block or the tensor table has the wrong size" % path)
    tensors = {}
    for t in range(n_tensors):
        name, ndim, _pad, d0, d1, d2, d3, offset = struct.unpack_from("<40sii4qq", s["tensors"], 88 * t)
        shape = (d0, d1, d2, d3)[:ndim]
        count = int(np.prod(shape))
        if offset < 0 or offset + count > param.size:
            raise Error("%s: tensor %d lies outside the parameter block" % (path, t))
        tensors[name.rstrip(b"\0").decode()] = param[offset:offset + count].reshape(shape).copy()
    return config, tensors


def diffusion_forward(model, x, natoms, t, ema=True):
    """The noise prediction of a diffusion model file's network (GDM or
    EGNN, `eloss train -task diffusion`), float32 (atoms, 8).

    x       float32 (atoms, 8): the molecules' atoms concatenated, rows of
            [position (3, centred per molecule), one-hot type / 4 (H, C, N,
            O, F)], as the model trained on.
    natoms  integers (B): atoms per molecule, 1 .. 63, summing to atoms.
    t       float32 (B): the diffusion time t / T of each molecule, in [0, 1].
    ema     the parameters' moving average where the file keeps one (what
            `eloss sample` uses), else the parameters.
    The positions are not centred here: a model trained on centred
    molecules predicts nonsense for uncentred ones.
    """
    if not isinstance(ema, (bool, np.bool_)):
        raise Error("ema: expected True or False, got %r" % (ema,))
    x = _array("x", x, np.float32, 2)
    natoms = _indices("natoms", natoms, 1)
    t = _array("t", t, np.float32, 1)
    if x.shape[1] != 8:
        raise Error("x: shape %s; expected (atoms, 8): position and the one-hot H, C, N, O, F / 4" % _shape(x))
    if natoms.size < 1 or t.shape != natoms.shape:
        raise Error("natoms %s and t %s: expected one atom count and one time per molecule, at least one molecule"
                    % (_shape(natoms), _shape(t)))
    if natoms.min() < 1 or int(natoms.sum()) != x.shape[0]:
        raise Error("natoms: expected counts >= 1 summing to the %d rows of x, got %s" % (x.shape[0], natoms))
    eps = np.empty_like(x)
    _check(_lib.capi_diffusion_forward(os.fsencode(model), int(bool(ema)), natoms.size, _ptr(natoms, _i64p),
                                       _ptr(x, _f32p), _ptr(t, _f32p), _ptr(eps, _f32p)))
    return eps
