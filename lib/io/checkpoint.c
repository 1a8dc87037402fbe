/* Checkpoints: one file format for every long job of the suite.
 *
 * io_ckpt_write(path, kind, options_crc, count, sections): local; writes
 *   the file atomically (io_atomic: temporary file, fsync, rename).
 * io_ckpt_read(path, kind, options_crc, count, sections, &found): local;
 *   *found = 0 if there is no file; otherwise every check below must hold.
 *
 * Layout (little-endian, as x86 and ARM store it):
 *   header  (48 bytes) magic "ELOSCKPT", format version (u32), section
 *           count (u32), kind (16 bytes, zero-padded: "spingen", "train"),
 *           CRC-32 of the options that identify the run (u32), pad (u32),
 *           CRC-32 of the 40 bytes before it (u32), pad (u32)
 *   then per section: name (16 bytes, zero-padded), size in bytes (u64),
 *           CRC-32 of the payload (u32), pad (u32), payload (size bytes)
 * Each section carries its own checksum, so a damaged checkpoint names the
 * part that is wrong; the reader also refuses a foreign kind, a missing or
 * extra section, a size other than the one asked for, and trailing bytes.
 * Whether the checkpoint belongs to the run (options_crc) is the caller's
 * decision: it is returned, not checked. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eloss/io.h"

enum { CKPT_FORMAT = 1, NAME_BYTES = 16 };
static const char magic[8] = {'E', 'L', 'O', 'S', 'C', 'K', 'P', 'T'};

typedef struct {
  char magic[8];
  uint32_t format, count;
  char kind[NAME_BYTES];
  uint32_t options_crc, pad0;
  uint32_t header_crc, pad1;
} header;

typedef struct {
  char name[NAME_BYTES];
  uint64_t size;
  uint32_t crc, pad;
} section_header;

static core_status name_field(const char *what, const char *name, char field[NAME_BYTES]) {
  CORE_CHECK(name && strlen(name) < NAME_BYTES, CORE_ERR_ARG, "checkpoint %s name '%s' is longer than %d bytes", what,
             name ? name : "", NAME_BYTES - 1);
  memset(field, 0, NAME_BYTES);
  memcpy(field, name, strlen(name));
  return CORE_OK;
}

core_status io_ckpt_write(const char *path, const char *kind, uint32_t options_crc, int count,
                          const io_ckpt_section *sections) {
  header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, magic, sizeof magic);
  h.format = CKPT_FORMAT, h.count = (uint32_t)count, h.options_crc = options_crc;
  CORE_CHECK(count >= 0, CORE_ERR_ARG, "%s: negative section count", path);
  CORE_CALL(name_field("kind", kind, h.kind));
  h.header_crc = io_crc32(0, &h, offsetof(header, header_crc));
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  int ok = fwrite(&h, sizeof h, 1, f.fp) == 1;
  for (int k = 0; ok && k < count; ++k) {
    section_header s;
    memset(&s, 0, sizeof s);
    if (name_field("section", sections[k].name, s.name)) {
      io_atomic_abort(&f);
      return CORE_ERR_ARG;
    }
    s.size = sections[k].size;
    s.crc = io_crc32(0, sections[k].data, (size_t)sections[k].size);
    ok = fwrite(&s, sizeof s, 1, f.fp) == 1 &&
         (s.size == 0 || fwrite(sections[k].data, (size_t)s.size, 1, f.fp) == 1);
  }
  if (!ok) {
    int saved = errno;
    io_atomic_abort(&f);
    return CORE_ERROR(CORE_ERR_IO, "%s: cannot write the checkpoint: %s", path, strerror(saved));
  }
  return io_atomic_commit(&f);
}

/* Open path and check its header: an eloss checkpoint of `kind`. *fp is
 * NULL (and CORE_OK) when there is no file. */
static core_status open_checked(const char *path, const char *kind, FILE **fp, header *h) {
  *fp = fopen(path, "rb");
  if (!*fp) {
    CORE_CHECK(errno == ENOENT, CORE_ERR_IO, "%s: cannot open the checkpoint: %s", path, strerror(errno));
    return CORE_OK;
  }
  char want_kind[NAME_BYTES];
  struct stat sb;
  core_status st = CORE_OK;
  if (fstat(fileno(*fp), &sb) == 0 && S_ISDIR(sb.st_mode))
    st = CORE_ERROR(CORE_ERR_IO, "%s: is a directory, not a checkpoint", path);
  if (!st) st = name_field("kind", kind, want_kind);
  if (!st && (fread(h, sizeof *h, 1, *fp) != 1 || memcmp(h->magic, magic, sizeof magic) != 0))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: not an eloss checkpoint (too short or bad magic)", path);
  else if (!st && (h->header_crc != io_crc32(0, h, offsetof(header, header_crc)) || h->pad1 != 0))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: damaged checkpoint header (its checksum does not match)", path);
  else if (!st && h->format != CKPT_FORMAT)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: checkpoint format %u, this eloss reads format %u", path, h->format,
                    (unsigned)CKPT_FORMAT);
  else if (!st && memcmp(h->kind, want_kind, NAME_BYTES) != 0)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: a checkpoint of '%.16s', not of '%s'", path, h->kind, kind);
  if (st) {
    fclose(*fp);
    *fp = NULL;
  }
  return st;
}

core_status io_ckpt_count(const char *path, const char *kind, int *count) {
  FILE *fp;
  header h;
  CORE_CALL(open_checked(path, kind, &fp, &h));
  CORE_CHECK(fp, CORE_ERR_IO, "%s: no such file", path);
  fclose(fp);
  CORE_CHECK(h.count <= 4096, CORE_ERR_FORMAT, "%s: damaged checkpoint header (%u sections)", path, h.count);
  *count = (int)h.count;
  return CORE_OK;
}

/* Read the first `count` sections; whole = 1: the file must hold exactly
 * those (io_ckpt_read), 0: at least those (io_ckpt_read_first). */
static core_status ckpt_read(const char *path, const char *kind, uint32_t *options_crc, int count,
                             const io_ckpt_section *sections, int whole, int *found) {
  *found = 0;
  FILE *fp;
  header h;
  CORE_CALL(open_checked(path, kind, &fp, &h));
  if (!fp) return CORE_OK;
  core_status st = CORE_OK;
  if (whole ? h.count != (uint32_t)count : h.count < (uint32_t)count)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: %u sections, expected %d", path, h.count, count);
  for (int k = 0; !st && k < count; ++k) {
    section_header s;
    char want[NAME_BYTES];
    st = name_field("section", sections[k].name, want);
    const int got = !st && fread(&s, sizeof s, 1, fp) == 1;
    if (!st && !got)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: truncated before section %d ('%s')", path, k, sections[k].name);
    else if (!st && memcmp(s.name, want, NAME_BYTES) != 0)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: section %d is named '%.16s', not '%s': a damaged file, or one of another "
                      "program", path, k, s.name, sections[k].name);
    else if (!st && s.pad != 0)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: damaged header of section '%s'", path, sections[k].name);
    else if (!st && s.size != sections[k].size)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: section '%s' holds %llu bytes, expected %llu: a file of another version "
                      "of eloss, or damaged", path, sections[k].name, (unsigned long long)s.size,
                      (unsigned long long)sections[k].size);
    else if (!st && s.size > 0 && fread((void *)sections[k].data, (size_t)s.size, 1, fp) != 1)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: section '%s' is truncated", path, sections[k].name);
    else if (!st && io_crc32(0, sections[k].data, (size_t)s.size) != s.crc)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: section '%s' does not match its checksum (damaged file)", path,
                      sections[k].name);
  }
  if (!st && whole && fgetc(fp) != EOF) st = CORE_ERROR(CORE_ERR_FORMAT, "%s: trailing bytes after the last section", path);
  fclose(fp);
  if (!st) {
    *options_crc = h.options_crc;
    *found = 1;
  }
  return st;
}

core_status io_ckpt_read(const char *path, const char *kind, uint32_t *options_crc, int count,
                         const io_ckpt_section *sections, int *found) {
  return ckpt_read(path, kind, options_crc, count, sections, 1, found);
}

core_status io_ckpt_read_first(const char *path, const char *kind, uint32_t *options_crc, int count,
                               const io_ckpt_section *first) {
  int found = 0;
  CORE_CALL(ckpt_read(path, kind, options_crc, count, first, 0, &found));
  CORE_CHECK(found, CORE_ERR_IO, "%s: no such file", path);
  return CORE_OK;
}
