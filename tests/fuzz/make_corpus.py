#!/usr/bin/env python3
"""Write the seed corpus of the libFuzzer harnesses: tests/fuzz/corpus/<harness>/.

A handful of valid and invalid files per reader, small (the whole corpus is a
few tens of KB), deterministic (run again: the same bytes). Needs numpy and,
for the raw HDF5 seeds, h5py. Usage: tests/fuzz/make_corpus.py [corpus dir]."""
import io
import os
import struct
import sys
import zlib

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(harness, name, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy(a, version=None):
    b = io.BytesIO()
    if version:
        np.lib.format.write_array(b, a, version=version)
    else:
        np.save(b, a)
    return b.getvalue()


# .npy: every supported dtype, a big-endian and a v2 header, and refusals
rng = np.random.default_rng(2385)
put("npy", "f64_2x3.npy", npy(rng.normal(size=(2, 3))))
put("npy", "f32_2x2x3.npy", npy(rng.normal(size=(2, 2, 3)).astype(np.float32)))
put("npy", "i8.npy", npy(np.array([1, -1, 1], np.int8)))
put("npy", "u1_bool.npy", npy(np.array([True, False])))
put("npy", "i64_be.npy", npy(np.arange(6, dtype=">i8").reshape(3, 2)))
put("npy", "v2_i32.npy", npy(np.arange(4, dtype=np.int32), version=(2, 0)))
put("npy", "fortran.npy", npy(np.asfortranarray(np.ones((2, 2)))))
put("npy", "truncated.npy", npy(np.ones((4, 4)))[:100])
put("npy", "complex.npy", npy(np.ones(2, np.complex128)))
# edge lists: int32 and int64 pairs, a self-loop, a wrong shape
put("edges", "triangle_i32.npy", npy(np.array([[0, 1], [1, 2], [2, 0]], np.int32)))
put("edges", "path_i64.npy", npy(np.array([[0, 1], [1, 2], [2, 3]], np.int64)))
put("edges", "self_loop.npy", npy(np.array([[0, 1], [2, 2]], np.int32)))
put("edges", "shape_3.npy", npy(np.zeros((2, 3), np.int32)))
put("edges", "negative.npy", npy(np.array([[0, -1]], np.int64)))
# XYZ: one and two frames (symbols, atomic numbers, extra columns), refusals
put("xyz", "water.xyz", b"3\nwater\nO 0.0 0.0 0.117\nH 0.0 0.757 -0.469\nH 0.0 -0.757 -0.469\n")
put("xyz", "two_frames.xyz", b"2\nH2\nH 0 0 0\nH 0 0 0.74\n\n3\nby number, extended\n8 0 0 0 1.5\n1 0.9 0 0 -1\n1 -0.3 0.9 0 0\n")
put("xyz", "unknown_element.xyz", b"1\nx\nXx 0 0 0\n")
put("xyz", "truncated.xyz", b"4\nshort\nC 0 0 0\n")
put("xyz", "nan.xyz", b"1\nnan\nC nan 0 0\n")


# checkpoints: the "fuzz" kind of fuzz_checkpoint.c (head 16, empty 0, body 40)
def ckpt(kind=b"fuzz", sections=((b"head", bytes(range(16))), (b"empty", b""), (b"body", bytes(range(40)))),
         damage=None):
    h = b"ELOSCKPT" + struct.pack("<II", 1, len(sections)) + kind.ljust(16, b"\0") + struct.pack("<II", 0x2385, 0)
    h += struct.pack("<II", zlib.crc32(h), 0)
    body = b""
    for name, payload in sections:
        body += name.ljust(16, b"\0") + struct.pack("<QII", len(payload), zlib.crc32(payload), 0) + payload
    data = bytearray(h + body)
    if damage is not None:
        data[damage] ^= 0x10
    return bytes(data)


put("checkpoint", "valid.ckpt", ckpt())
put("checkpoint", "other_kind.ckpt", ckpt(kind=b"train"))
put("checkpoint", "flipped.ckpt", ckpt(damage=120))
put("checkpoint", "truncated.ckpt", ckpt()[:90])
put("checkpoint", "trailing.ckpt", ckpt() + b"\0")
# options decks: what inputs/ holds, the value parsers' options, refusals
put("options", "values.deck", b"# a deck\n-i 12\n-i2 -3\n-r 0.5\n-r2 -2.5e3\n-il 1,2,3\n-rl 0.25,1e-3\n-e margin\n"
    b"-s \"a name\"\n-b\n")
put("options", "bad_values.deck", b"-i 5.5\n-r nan\n-il 1,,2\n-e nope\n-b maybe\n")
put("options", "two_on_a_line.deck", b"-i 3 -r 0.5\n")
put("options", "stray.deck", b"-rl 0.5 2\n")
put("options", "alias.deck", b"alias -x -i\n! comment\n% comment\n-x 4\n")
put("options", "nested.deck", b"-options_file /nonexistent/deck\n")

# raw HDF5: tiny spingen- and clustergen-shaped files (layout only)
try:
    import h5py
except ImportError:
    h5py = None
if h5py:
    def h5bytes(fill):
        b = io.BytesIO()
        with h5py.File(b, "w", track_order=False) as f:
            fill(f)
        return b.getvalue()

    def spin(f):
        L, n = 2, 1
        f["ground_state"] = np.ones((n, L, L), np.int8)
        f["couplings_h"] = np.ones((n, L, L - 1))
        f["couplings_v"] = np.ones((n, L - 1, L))
        f["energy"] = np.full(n, -4.0)
        f["crc32"] = np.zeros(n, np.int64)
        f.attrs["split"] = "train"

    def cluster(f):
        f["positions"] = rng.normal(size=(1, 1, 2, 3))
        f["temperatures"] = np.ones(1)
        f["energies"] = np.zeros((1, 1))
        f["crc32"] = np.zeros(1, np.int64)

    put("h5_raw", "spin.h5", h5bytes(spin))
    put("h5_raw", "cluster.h5", h5bytes(cluster))

# structured HDF5 harnesses: the first bytes choose the layout (see the
# harness); flags 0x03 make energy and crc32 right, so these get past the
# checksum; the rest of the bytes are values and per-dataset choices.
for name, shape, flags in [("open_2x2", 0x00, 0x03), ("periodic_3x3", 0x06, 0x03), ("cubic_2", 0x01, 0x03),
                           ("samples_agree", 0x12, 0x0f), ("drawn_crc", 0x00, 0x00), ("bad_spins", 0x00, 0x83)]:
    body = bytes((7 * k + 3) % 251 for k in range(400))
    put("h5_spin", name, bytes([shape, flags]) + body)
for name, shape, flags in [("t1k1n2", 0x00, 0x01), ("t3k3n5", 0x3a, 0x01), ("drawn_crc", 0x11, 0x00),
                           ("raw_doubles", 0x05, 0x81)]:
    body = bytes((11 * k + 5) % 241 for k in range(700))
    put("h5_cluster", name, bytes([shape, flags]) + body)
