/* Atomic file creation and CRC-32.
 *
 * io_atomic_open(f, path): create "<path>.tmp.<pid>" next to the target so
 *   the final rename stays within one file system (and hence atomic).
 * io_atomic_commit(f): fflush + fsync + fclose + rename; on any failure,
 *   including an earlier write that failed (the stream's error flag), the
 *   temporary file is removed and nothing appears at path. Every text,
 *   CSV, .npy and checkpoint output of the suite goes through it.
 * io_atomic_abort(f): discard.
 * io_crc32(crc, data, n): reflected CRC-32, polynomial 0xEDB88320, the value
 *   zlib and Python's zlib.crc32 give, so checksums can be checked from
 *   Python. Local, thread-safe after the first call builds the table. */
#define _POSIX_C_SOURCE 200809L
#include "eloss/io.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { INPUTS_MAX = 16 };
static char registered[INPUTS_MAX][4096];
static int n_registered;

void io_input_register(const char *path) {
  if (path && path[0] && n_registered < INPUTS_MAX)
    snprintf(registered[n_registered++], sizeof registered[0], "%s", path);
}

const char *io_input_registered(const char *path) {
  for (int k = 0; path && k < n_registered; ++k)
    if (io_same_file(path, registered[k])) return registered[k];
  return NULL;
}

core_status io_atomic_open(io_atomic_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  const char *input = io_input_registered(path);
  CORE_CHECK(!input, CORE_ERR_ARG, "%s is the options file %s read: choose another output", path, input);
  CORE_CHECK(strlen(path) < sizeof f->path, CORE_ERR_ARG, "output path is too long: %s", path);
  snprintf(f->path, sizeof f->path, "%s", path);
  snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp.%ld", path, (long)getpid());
  f->fp = fopen(f->tmp_path, "wb");
  CORE_CHECK(f->fp, CORE_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  return CORE_OK;
}

core_status io_atomic_commit(io_atomic_file *f) {
  /* Every write is checked here: a stream's error flag is sticky, and an
   * earlier fprintf that lost its buffer to a full disk leaves the final
   * fflush nothing to fail on. */
  const int earlier = ferror(f->fp);
  int saved = errno;
  int ok = fflush(f->fp) == 0 && !earlier;
  if (!earlier) saved = errno;
  if (ok) ok = fsync(fileno(f->fp)) == 0 || errno == EINVAL;
  if (fclose(f->fp) != 0 && ok) ok = 0, saved = errno;
  f->fp = NULL;
  if (ok && rename(f->tmp_path, f->path) != 0) ok = 0, saved = errno;
  if (!ok) {
    remove(f->tmp_path);
    return CORE_ERROR(CORE_ERR_IO, "%s: cannot write%s: %s", f->path, earlier ? " (an earlier write failed)" : "",
                      strerror(saved));
  }
  return CORE_OK;
}

void io_atomic_abort(io_atomic_file *f) {
  if (f->fp) fclose(f->fp);
  f->fp = NULL;
  remove(f->tmp_path);
}

uint32_t io_crc32(uint32_t crc, const void *data, size_t n) {
  /* The table is rebuilt per call (a few microseconds; checksums are taken
   * of whole checkpoints): no shared state, so any thread may call. */
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

const char *io_output_name_reserved(const char *path) {
  const size_t len = path ? strlen(path) : 0;
  /* <output>.lock is another run's lock (io_lock): writing into it would
   * take the lock's holder text and lose the data when that run ends. */
  if (len >= 5 && !strcmp(path + len - 5, ".lock")) return "names ending in .lock are the locks of outputs being written";
  /* <output>.tmp.<digits> is another output's temporary (io_atomic_open),
   * which that output's next run removes as stale. */
  const char *tmp = path ? strstr(path, ".tmp.") : NULL;
  while (tmp && strstr(tmp + 1, ".tmp.")) tmp = strstr(tmp + 1, ".tmp.");
  if (tmp && tmp[5] && strspn(tmp + 5, "0123456789") == strlen(tmp + 5))
    return "names ending in .tmp.<digits> are the temporaries of outputs being written";
  return NULL;
}

core_status io_output_check(const char *out) {
  CORE_CHECK(out && out[0], CORE_ERR_ARG, "no output file given (-out)");
  const char *input = io_input_registered(out);
  CORE_CHECK(!input, CORE_ERR_ARG, "%s is the options file %s read: choose another output", out, input);
  const char *reserved = io_output_name_reserved(out);
  CORE_CHECK(!reserved, CORE_ERR_ARG, "%s: %s; choose another file", out, reserved);
  struct stat sb;
  CORE_CHECK(!(stat(out, &sb) == 0 && !S_ISREG(sb.st_mode)), CORE_ERR_ARG,
             "%s: exists and is not a regular file (%s): an output is written beside it and renamed onto it; "
             "choose a file name", out, S_ISDIR(sb.st_mode) ? "a directory" : "a device, pipe or socket");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", out);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  CORE_CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), CORE_ERR_IO, "%s: directory %s does not exist", out, dir);
  CORE_CHECK(access(dir, W_OK | X_OK) == 0, CORE_ERR_IO, "%s: directory %s is not writable: %s", out, dir,
             strerror(errno));
  return CORE_OK;
}

int io_same_file(const char *a, const char *b) {
  if (!a || !b) return 0;
  if (strcmp(a, b) == 0) return 1;
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
