/* TAP test of lib/io: .npy round trips and header variants, every reader
 * error path, XYZ frames, CRC-32, atomic writes. Files go to a fresh
 * directory under /tmp. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eloss/io.h"
#include "tap.h"

static char dir[256];

static const char *path_of(const char *name) {
  static char buf[4][512];
  static int next = 0;
  char *p = buf[next++ % 4];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  fwrite(data, 1, n, fp);
  fclose(fp);
}

/* A hand-made .npy with the given header dict and payload. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data, size_t n) {
  unsigned char head[256];
  size_t prefix = major == 1 ? 10 : 12, len = strlen(dict);
  size_t total = (prefix + len + 1 + 63) / 64 * 64, hlen = total - prefix;
  memcpy(head, "\x93NUMPY", 6);
  head[6] = (unsigned char)major, head[7] = 0;
  for (size_t i = 0; i < prefix - 8; ++i) head[8 + i] = (unsigned char)(hlen >> (8 * i));
  memcpy(head + prefix, dict, len);
  memset(head + prefix + len, ' ', hlen - len - 1);
  head[total - 1] = '\n';
  FILE *fp = fopen(path, "wb");
  fwrite(head, 1, total, fp);
  if (n) fwrite(data, 1, n, fp);
  fclose(fp);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static int expect_error(core_status st, core_status code, const char *needle) {
  return st == code && strstr(core_error_message(), needle) != NULL;
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/eloss-test-io-%ld", (long)getpid());
  mkdir(dir, 0700);
  tap_plan(28);

  /* Round trip of a (2, 3, 3) float64 array, then rows [1, 2). */
  double x[18];
  for (int i = 0; i < 18; ++i) x[i] = 2.385 * i - 7.25;
  int64_t shape[3] = {2, 3, 3};
  io_array a;
  core_status st = io_npy_write(path_of("x.npy"), IO_F64, 3, shape, x);
  st = st ? st : io_npy_read(path_of("x.npy"), &a);
  tap_ok(!st && a.dtype == IO_F64 && a.ndim == 3 && a.shape[0] == 2 && a.shape[2] == 3 &&
             !memcmp(a.data, x, sizeof x),
         "float64 (2,3,3) round trip is exact");
  io_array_free(&a);
  st = io_npy_read_rows(path_of("x.npy"), 1, 1, &a);
  tap_ok(!st && a.shape[0] == 1 && a.count == 9 && !memcmp(a.data, x + 9, 9 * sizeof(double)),
         "reading rows [1, 2) returns the second structure");
  io_array_free(&a);

  /* Other dtypes, a 1-d shape and conversion. */
  int32_t e[6] = {0, 1, 1, 2, 2, 0};
  int64_t eshape[2] = {3, 2};
  st = io_npy_write(path_of("e.npy"), IO_I32, 2, eshape, e);
  st = st ? st : io_npy_read(path_of("e.npy"), &a);
  tap_ok(!st && a.dtype == IO_I32 && a.shape[0] == 3 && !memcmp(a.data, e, sizeof e),
         "int32 (3,2) round trip");
  io_array_free(&a);
  float f[3] = {1.5f, -2.25f, 3.0f};
  int64_t fshape[1] = {3};
  st = io_npy_write(path_of("f.npy"), IO_F32, 1, fshape, f);
  st = st ? st : io_npy_read(path_of("f.npy"), &a);
  st = st ? st : io_array_convert(&a, IO_F64);
  tap_ok(!st && a.dtype == IO_F64 && a.ndim == 1 && ((double *)a.data)[1] == -2.25,
         "float32 (3,) round trip and conversion to float64");
  io_array_free(&a);

  /* Header variants written by other tools: big-endian data, version 2.0,
   * reordered keys. */
  unsigned char be[16];
  double v0 = 1.0, v1 = -3.5;
  for (int i = 0; i < 8; ++i) be[i] = ((unsigned char *)&v0)[7 - i], be[8 + i] = ((unsigned char *)&v1)[7 - i];
  write_npy_raw(path_of("be.npy"), 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be, 16);
  st = io_npy_read(path_of("be.npy"), &a);
  tap_ok(!st && ((double *)a.data)[0] == 1.0 && ((double *)a.data)[1] == -3.5,
         "big-endian float64 is byte-swapped on read");
  io_array_free(&a);
  write_npy_raw(path_of("v2.npy"), 2, "{'shape': (1, 2), 'fortran_order': False, 'descr': '<f8'}", x, 16);
  st = io_npy_read(path_of("v2.npy"), &a);
  tap_ok(!st && a.shape[0] == 1 && a.shape[1] == 2 && ((double *)a.data)[1] == x[1],
         "format 2.0 header with reordered keys");
  io_array_free(&a);

  /* Every reader error names the file and the problem. */
  write_bytes(path_of("text.npy"), "hello world, not numpy", 22);
  st = io_npy_read(path_of("text.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "text.npy: not a .npy file"), "non-.npy file: %s",
         core_error_message());
  write_npy_raw(path_of("short.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 3), }", x, 100);
  st = io_npy_read(path_of("short.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "short.npy: truncated"), "truncated file: %s",
         core_error_message());
  write_npy_raw(path_of("fortran.npy"), 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }", x, 16);
  st = io_npy_read(path_of("fortran.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "Fortran"), "Fortran order refused: %s", core_error_message());
  write_npy_raw(path_of("twice.npy"), 1, "{'descr': '<f8', 'shape': (1,), 'fortran_order': False, 'shape': (2,), }",
                x, 16);
  st = io_npy_read(path_of("twice.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "gives 'shape' twice"), "a key given twice (numpy takes the last): %s",
         core_error_message());
  write_npy_raw(path_of("quoted.npy"), 1, "{'descr': '<f8', 'fortran_order': 'False', 'shape': (2,), }", x, 16);
  st = io_npy_read(path_of("quoted.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "malformed 'fortran_order'"), "fortran_order as a string: %s",
         core_error_message());
  write_npy_raw(path_of("long.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", x, 16);
  st = io_npy_read(path_of("long.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "8 bytes follow the array"), "bytes after the array: %s",
         core_error_message());
  write_npy_raw(path_of("complex.npy"), 1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", x, 16);
  st = io_npy_read(path_of("complex.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "unsupported dtype '<c16'"), "complex dtype refused: %s",
         core_error_message());
  st = io_npy_read(path_of("missing.npy"), &a);
  tap_ok(expect_error(st, CORE_ERR_IO, "missing.npy: cannot open"), "missing file: %s", core_error_message());

  /* Atomic writes leave nothing behind on failure. */
  st = io_npy_write("/nonexistent-dir/g.npy", IO_F64, 1, fshape, x);
  tap_ok(st == CORE_ERR_IO && !exists("/nonexistent-dir/g.npy"), "unwritable path fails cleanly");
  io_atomic_file af;
  st = io_atomic_open(&af, path_of("aborted.txt"));
  if (!st) {
    fputs("partial", af.fp);
    io_atomic_abort(&af);
  }
  tap_ok(!st && !exists(path_of("aborted.txt")) && !exists(af.tmp_path),
         "an aborted atomic file leaves neither the file nor its temporary");

  /* CRC-32 check value of "123456789" (the standard's, also zlib's). */
  tap_ok(io_crc32(0, "123456789", 9) == 0xCBF43926u, "CRC-32 check value");

  /* XYZ: two frames of different sizes, padded. */
  const char *xyz = "3\nwater\nO 0.0 0.0 0.117\nH 0.0 0.757 -0.469\nh 0.0 -0.757 -0.469\n"
                    "2\nH2\n1 0 0 0\nH 0 0 0.74\n";
  write_bytes(path_of("m.xyz"), xyz, strlen(xyz));
  io_molecules mol;
  st = io_xyz_read(path_of("m.xyz"), &mol);
  tap_ok(!st && mol.count == 2 && mol.max_atoms == 3 && mol.natoms[0] == 3 && mol.natoms[1] == 2 &&
             mol.element[0] == 8 && mol.element[2] == 1 && mol.element[3] == 1 &&
             mol.element[5] == 0 && mol.coords[3 * 3 + 5] == 0.74 && mol.coords[5 * 3 + 2] == 0.0,
         "two XYZ frames of 3 and 2 atoms read into a padded batch");
  io_molecules_free(&mol);
  const char *bad = "3\ncut short\nO 0 0 0\nH 0 0 1\n";
  write_bytes(path_of("bad.xyz"), bad, strlen(bad));
  st = io_xyz_read(path_of("bad.xyz"), &mol);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "bad.xyz: truncated"), "truncated XYZ: %s", core_error_message());
  const char *alien = "1\nx\nXx 0 0 0\n";
  write_bytes(path_of("alien.xyz"), alien, strlen(alien));
  st = io_xyz_read(path_of("alien.xyz"), &mol);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "alien.xyz:3: unknown element 'Xx'"), "unknown element: %s",
         core_error_message());
  const char *glued = "2\nx\nH 0 0 0 0.5\nH 0 0 0.74abc\n";
  write_bytes(path_of("glued.xyz"), glued, strlen(glued));
  st = io_xyz_read(path_of("glued.xyz"), &mol);
  tap_ok(expect_error(st, CORE_ERR_FORMAT, "glued.xyz:4: expected 'Symbol x y z'"),
         "a coordinate with glued characters (an extra column is fine): %s", core_error_message());

  /* Checkpoints: round trip, then every way a file can be wrong. */
  {
    double params[5] = {2.385, -1.25, 0.5, 1e-300, 7.0};
    int64_t step = 12345, step_in = 0;
    double params_in[5] = {0};
    io_ckpt_section out[2] = {{"step", &step, sizeof step}, {"params", params, sizeof params}};
    io_ckpt_section in[2] = {{"step", &step_in, sizeof step_in}, {"params", params_in, sizeof params_in}};
    const char *ck = path_of("run.ckpt");
    uint32_t crc = 0;
    int found = 1;
    st = io_ckpt_read(path_of("none.ckpt"), "train", &crc, 2, in, &found);
    tap_ok(!st && !found, "no checkpoint file: found = 0, no error");
    st = io_ckpt_write(ck, "train", 0xC0FFEEu, 2, out);
    if (!st) st = io_ckpt_read(ck, "train", &crc, 2, in, &found);
    tap_ok(!st && found && crc == 0xC0FFEEu && step_in == step && !memcmp(params, params_in, sizeof params) &&
               !exists(path_of("run.ckpt.tmp")),
           "checkpoint round trip: sections, options CRC");
    st = io_ckpt_read(ck, "spingen", &crc, 2, in, &found);
    tap_ok(expect_error(st, CORE_ERR_FORMAT, "a checkpoint of 'train', not of 'spingen'"), "foreign kind: %s",
           core_error_message());
    io_ckpt_section small[2] = {{"step", &step_in, sizeof step_in}, {"params", params_in, 4 * sizeof(double)}};
    st = io_ckpt_read(ck, "train", &crc, 2, small, &found);
    tap_ok(expect_error(st, CORE_ERR_FORMAT, "section 'params' holds 40 bytes, expected 32"), "wrong size: %s",
           core_error_message());
    /* Flip one byte of the params payload: 48 header + 32 + 8 step + 32 section header + 9. */
    FILE *fp = fopen(ck, "r+b");
    fseek(fp, 48 + 32 + 8 + 32 + 9, SEEK_SET);
    int byte = fgetc(fp);
    fseek(fp, 48 + 32 + 8 + 32 + 9, SEEK_SET);
    fputc(byte ^ 0x04, fp);
    fclose(fp);
    st = io_ckpt_read(ck, "train", &crc, 2, in, &found);
    tap_ok(expect_error(st, CORE_ERR_FORMAT, "section 'params' does not match its checksum"), "flipped byte: %s",
           core_error_message());
    st = io_ckpt_write(ck, "train", 1, 2, out);
    if (!st && truncate(ck, 48 + 32 + 8 + 32 + 20) != 0) st = CORE_ERR_IO;
    st = io_ckpt_read(ck, "train", &crc, 2, in, &found);
    tap_ok(expect_error(st, CORE_ERR_FORMAT, "section 'params' is truncated"), "truncated: %s", core_error_message());
    {
      const char *text = "not a checkpoint at all, just some text that is long enough";
      write_bytes(ck, text, strlen(text));
    }
    st = io_ckpt_read(ck, "train", &crc, 2, in, &found);
    tap_ok(expect_error(st, CORE_ERR_FORMAT, "not an eloss checkpoint"), "foreign file: %s", core_error_message());
  }

  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) tap_diag("could not remove %s", dir);
  return tap_done();
}
