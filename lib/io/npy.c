/* NumPy .npy arrays: reader (header only, whole array, or a slab of rows)
 * and atomic writer.
 *
 * io_npy_info(path, &info): parse the header. Local.
 * io_npy_read(path, &array), io_npy_read_rows(path, start, count, &array):
 *   allocate array->data (caller frees with io_array_free). Local.
 * io_npy_write(path, dtype, ndim, shape, data): atomic. Local.
 * io_array_convert(&array, IO_F64 | IO_F32): convert in place.
 *
 * Format (numpy.lib.format): the magic "\x93NUMPY", a major and minor
 * version byte, a little-endian header length (uint16 for 1.0, uint32 for
 * 2.0 and 3.0), then an ASCII Python dict literal with keys 'descr',
 * 'fortran_order' and 'shape', padded with spaces and a newline so that the
 * data start at a multiple of 64 bytes. We parse the dict by hand: it is
 * written by numpy in one fixed style, but we accept any key order and
 * spacing. Every error names the file and what was wrong, because this is
 * where users' hand-made arrays first meet the suite. */
#define _POSIX_C_SOURCE 200809L
#include "eloss/io.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

size_t io_dtype_size(io_dtype dtype) {
  switch (dtype) {
    case IO_F32: return 4;
    case IO_F64: return 8;
    case IO_I8: return 1;
    case IO_U8: return 1;
    case IO_I32: return 4;
    case IO_I64: return 8;
  }
  return 0;
}

const char *io_shape_text(const io_array *a, char *text, size_t size) {
  size_t used = (size_t)snprintf(text, size, "(");
  for (int k = 0; k < a->ndim && used < size; ++k)
    used += (size_t)snprintf(text + used, size - used, "%s%lld", k ? ", " : "", (long long)a->shape[k]);
  if (used < size) snprintf(text + used, size - used, "%s)", a->ndim == 1 ? "," : "");
  return text;
}

const char *io_dtype_name(io_dtype dtype) {
  switch (dtype) {
    case IO_F32: return "float32";
    case IO_F64: return "float64";
    case IO_I8: return "int8";
    case IO_U8: return "uint8";
    case IO_I32: return "int32";
    case IO_I64: return "int64";
  }
  return "unknown";
}

static const char *npy_descr(io_dtype dtype) {
  switch (dtype) {
    case IO_F32: return "<f4";
    case IO_F64: return "<f8";
    case IO_I8: return "|i1";
    case IO_U8: return "|u1";
    case IO_I32: return "<i4";
    case IO_I64: return "<i8";
  }
  return "";
}

typedef struct {
  io_array info;
  int big_endian;
  int64_t data_offset;
  int64_t file_size;
} npy_header;

/* How often 'key' (in either quotes) appears in the dict text: a key
 * given twice is refused, since numpy would take the last and we the first. */
static int dict_key_count(const char *dict, const char *key) {
  char quoted[64];
  int count = 0;
  for (int q = 0; q < 2; ++q) {
    snprintf(quoted, sizeof quoted, q ? "\"%s\"" : "'%s'", key);
    for (const char *p = strstr(dict, quoted); p; p = strstr(p + 1, quoted)) ++count;
  }
  return count;
}

/* Find 'key' in the dict text and return a pointer just after its colon. */
static const char *dict_value(const char *dict, const char *key) {
  char quoted[64];
  for (int q = 0; q < 2; ++q) {
    snprintf(quoted, sizeof quoted, q ? "\"%s\"" : "'%s'", key);
    const char *p = strstr(dict, quoted);
    if (p) {
      p += strlen(quoted);
      while (isspace((unsigned char)*p)) ++p;
      if (*p != ':') return NULL;
      ++p;
      while (isspace((unsigned char)*p)) ++p;
      return p;
    }
  }
  return NULL;
}

static core_status parse_descr(const char *path, const char *v, npy_header *h) {
  char quote = *v;
  CORE_CHECK(quote == '\'' || quote == '"', CORE_ERR_FORMAT,
             "%s: .npy header has a non-string 'descr' (structured dtypes are not supported)", path);
  const char *end = strchr(v + 1, quote);
  CORE_CHECK(end && end - v - 1 < 16, CORE_ERR_FORMAT, "%s: .npy header has a malformed 'descr'", path);
  char d[16];
  memcpy(d, v + 1, (size_t)(end - v - 1));
  d[end - v - 1] = '\0';
  char order = d[0];
  const char *type = d + 1;
  if (order != '<' && order != '>' && order != '|' && order != '=')
    order = '=', type = d;
  static const struct { const char *code; io_dtype dtype; } types[] = {
      {"f4", IO_F32}, {"f8", IO_F64}, {"i1", IO_I8}, {"u1", IO_U8},
      {"i4", IO_I32}, {"i8", IO_I64}, {"b1", IO_U8},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; ++i) {
    if (!strcmp(type, types[i].code)) {
      h->info.dtype = types[i].dtype;
      h->big_endian = order == '>';
      return CORE_OK;
    }
  }
  /* Say what the array holds in numpy's words, then what can be read; each
   * command then names the dtypes it takes among these. */
  static const struct { const char *code, *name; } others[] = {
      {"f2", "float16"}, {"f16", "longdouble"}, {"c8", "complex64"}, {"c16", "complex128"}, {"c32", "clongdouble"},
      {"i2", "int16"},   {"u2", "uint16"},      {"u4", "uint32"},    {"u8", "uint64"},      {"O", "object"},
  };
  const char *name = NULL;
  for (size_t i = 0; i < sizeof others / sizeof others[0] && !name; ++i)
    if (!strcmp(type, others[i].code)) name = others[i].name;
  if (!name) name = type[0] == 'U' || type[0] == 'S' ? "strings" : type[0] == 'M' || type[0] == 'm' ? "dates or times"
                                                                                                    : "another type";
  return CORE_ERROR(CORE_ERR_FORMAT,
                    "%s: unsupported dtype '%s' (%s): eloss reads .npy arrays of float32, float64, int8, uint8, "
                    "bool, int32 or int64, and each command says which of these it takes",
                    path, d, name);
}

static core_status parse_shape(const char *path, const char *v, npy_header *h) {
  CORE_CHECK(*v == '(', CORE_ERR_FORMAT, "%s: .npy header has a malformed 'shape'", path);
  ++v;
  h->info.ndim = 0;
  h->info.count = 1;
  for (;;) {
    while (isspace((unsigned char)*v) || *v == ',') ++v;
    if (*v == ')') break;
    CORE_CHECK(isdigit((unsigned char)*v), CORE_ERR_FORMAT,
               "%s: .npy header has a malformed 'shape'", path);
    CORE_CHECK(h->info.ndim < IO_NDIM_MAX, CORE_ERR_FORMAT,
               "%s: array has more than %d dimensions", path, IO_NDIM_MAX);
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    CORE_CHECK(errno == 0 && n >= 0 && n < ((int64_t)1 << 48), CORE_ERR_FORMAT,
               "%s: .npy shape entry out of range", path);
    h->info.shape[h->info.ndim++] = n;
    CORE_CHECK(n == 0 || h->info.count <= ((int64_t)1 << 50) / n, CORE_ERR_FORMAT,
               "%s: .npy array is too large", path);
    h->info.count *= n;
    v = end;
    while (*v == 'L') ++v; /* Python 2 long suffix */
  }
  return CORE_OK;
}

static core_status read_header(const char *path, FILE *fp, npy_header *h) {
  memset(h, 0, sizeof *h);
  unsigned char pre[12];
  size_t got = fread(pre, 1, 10, fp);
  CORE_CHECK(got == 10 && !memcmp(pre, npy_magic, 6), CORE_ERR_FORMAT,
             "%s: not a .npy file (missing the \\x93NUMPY magic)", path);
  int major = pre[6];
  uint32_t hlen;
  int64_t prefix;
  if (major == 1) {
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    prefix = 10;
  } else if (major == 2 || major == 3) {
    CORE_CHECK(fread(pre + 10, 1, 2, fp) == 2, CORE_ERR_FORMAT, "%s: truncated .npy header", path);
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
           (uint32_t)pre[11] << 24;
    prefix = 12;
  } else {
    return CORE_ERROR(CORE_ERR_FORMAT, "%s: unsupported .npy format version %d.%d", path,
                      major, pre[7]);
  }
  CORE_CHECK(hlen < (1u << 24), CORE_ERR_FORMAT, "%s: .npy header length %u is implausible",
             path, hlen);
  char *dict = malloc(hlen + 1);
  CORE_CHECK(dict, CORE_ERR_MEM, "%s: cannot allocate the .npy header", path);
  core_status st = CORE_OK;
  if (fread(dict, 1, hlen, fp) != hlen) {
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: truncated .npy header", path);
    goto done;
  }
  dict[hlen] = '\0';
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};
  for (int k = 0; k < 3; ++k)
    if (dict_key_count(dict, keys[k]) > 1) {
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: .npy header gives '%s' twice", path, keys[k]);
      goto done;
    }
  const char *v = dict_value(dict, "descr");
  if (!v) {
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: .npy header lacks 'descr'", path);
    goto done;
  }
  if ((st = parse_descr(path, v, h))) goto done;
  v = dict_value(dict, "fortran_order");
  if (!v) {
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: .npy header lacks 'fortran_order'", path);
    goto done;
  }
  const int is_true = !strncmp(v, "True", 4), is_false = !strncmp(v, "False", 5);
  const char after = is_true ? v[4] : is_false ? v[5] : 'x';
  if (!(after == ',' || after == '}' || isspace((unsigned char)after))) {
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: .npy header has a malformed 'fortran_order' (expected True or False)", path);
    goto done;
  }
  if (is_true) {
    st = CORE_ERROR(CORE_ERR_FORMAT,
                    "%s: Fortran-ordered array; save it with numpy.ascontiguousarray first", path);
    goto done;
  }
  v = dict_value(dict, "shape");
  if (!v) {
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: .npy header lacks 'shape'", path);
    goto done;
  }
  if ((st = parse_shape(path, v, h))) goto done;
  h->data_offset = prefix + hlen;
  if (fseeko(fp, 0, SEEK_END) != 0) {
    st = CORE_ERROR(CORE_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    goto done;
  }
  h->file_size = ftello(fp);
  int64_t need = h->data_offset + h->info.count * (int64_t)io_dtype_size(h->info.dtype);
  if (h->file_size < need)
    st = CORE_ERROR(CORE_ERR_FORMAT,
                    "%s: truncated .npy file: the header promises %" PRId64 " bytes of data, the file holds %" PRId64,
                    path, need - h->data_offset, h->file_size - h->data_offset);
  else if (h->file_size > need)
    st = CORE_ERROR(CORE_ERR_FORMAT,
                    "%s: %" PRId64 " bytes follow the array the header describes: a damaged or concatenated file",
                    path, h->file_size - need);
done:
  free(dict);
  return st;
}

static void byteswap(void *data, int64_t count, size_t size) {
  unsigned char *p = data;
  for (int64_t i = 0; i < count; ++i, p += size)
    for (size_t a = 0, b = size - 1; a < b; ++a, --b) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

core_status io_npy_info(const char *path, io_array *info) {
  FILE *fp = fopen(path, "rb");
  CORE_CHECK(fp, CORE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  npy_header h;
  core_status st = read_header(path, fp, &h);
  fclose(fp);
  if (st) return st;
  *info = h.info;
  info->data = NULL;
  return CORE_OK;
}

core_status io_npy_read_rows(const char *path, int64_t row_start, int64_t row_count,
                             io_array *array) {
  memset(array, 0, sizeof *array);
  FILE *fp = fopen(path, "rb");
  CORE_CHECK(fp, CORE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  npy_header h;
  core_status st = read_header(path, fp, &h);
  if (st) goto fail;
  if (h.info.ndim < 1 || row_start < 0 || row_count < 0 ||
      row_start + row_count > h.info.shape[0]) {
    st = CORE_ERROR(CORE_ERR_ARG, "%s: rows [%" PRId64 ", %" PRId64 ") requested of an array with %" PRId64 " rows",
                    path, row_start, row_start + row_count, h.info.ndim ? h.info.shape[0] : 0);
    goto fail;
  }
  size_t size = io_dtype_size(h.info.dtype);
  int64_t row_elems = h.info.shape[0] ? h.info.count / h.info.shape[0] : 0;
  *array = h.info;
  array->shape[0] = row_count;
  array->count = row_elems * row_count;
  array->data = malloc(array->count ? (size_t)array->count * size : 1);
  if (!array->data) {
    st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate %" PRId64 " elements", path, array->count);
    goto fail;
  }
  if (fseeko(fp, h.data_offset + row_start * row_elems * (int64_t)size, SEEK_SET) != 0 ||
      fread(array->data, size, (size_t)array->count, fp) != (size_t)array->count) {
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: truncated .npy data", path);
    goto fail;
  }
  fclose(fp);
  if (h.big_endian && size > 1) byteswap(array->data, array->count, size);
  return CORE_OK;
fail:
  fclose(fp);
  io_array_free(array);
  return st;
}

core_status io_npy_read(const char *path, io_array *array) {
  io_array info;
  CORE_CALL(io_npy_info(path, &info));
  CORE_CHECK(info.ndim > 0, CORE_ERR_FORMAT, "%s: 0-dimensional arrays are not supported", path);
  return io_npy_read_rows(path, 0, info.shape[0], array);
}

void io_array_free(io_array *array) {
  if (!array) return;
  free(array->data);
  array->data = NULL;
}

core_status io_array_convert(io_array *array, io_dtype to) {
  CORE_CHECK(to == IO_F64 || to == IO_F32, CORE_ERR_ARG, "can only convert to float32 or float64");
  if (array->dtype == to) return CORE_OK;
  void *out = malloc(array->count ? (size_t)array->count * io_dtype_size(to) : 1);
  CORE_CHECK(out, CORE_ERR_MEM, "cannot allocate %" PRId64 " elements", array->count);
  for (int64_t i = 0; i < array->count; ++i) {
    double v = 0;
    switch (array->dtype) {
      case IO_F32: v = ((const float *)array->data)[i]; break;
      case IO_F64: v = ((const double *)array->data)[i]; break;
      case IO_I8: v = ((const int8_t *)array->data)[i]; break;
      case IO_U8: v = ((const uint8_t *)array->data)[i]; break;
      case IO_I32: v = ((const int32_t *)array->data)[i]; break;
      case IO_I64: v = (double)((const int64_t *)array->data)[i]; break;
    }
    if (to == IO_F64)
      ((double *)out)[i] = v;
    else
      ((float *)out)[i] = (float)v;
  }
  free(array->data);
  array->data = out;
  array->dtype = to;
  return CORE_OK;
}

core_status io_npy_write(const char *path, io_dtype dtype, int ndim, const int64_t *shape,
                         const void *data) {
  CORE_CHECK(ndim >= 0 && ndim <= IO_NDIM_MAX, CORE_ERR_ARG, "%s: cannot write %d dimensions", path, ndim);
  char dict[512];
  int64_t count = 1;
  int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     npy_descr(dtype));
  for (int i = 0; i < ndim; ++i) {
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%" PRId64 "%s", shape[i],
                    ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    count *= shape[i];
  }
  len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
  /* Pad with spaces so that magic + version + length + dict + '\n' is a
   * multiple of 64 bytes, as numpy does. */
  int version = 1;
  int prefix = 10;
  int total = ((prefix + len + 1 + 63) / 64) * 64;
  if (total - prefix > 65535) version = 2, prefix = 12, total = ((prefix + len + 1 + 63) / 64) * 64;
  int hlen = total - prefix;
  unsigned char head[12 + 512 + 64];
  memcpy(head, npy_magic, 6);
  head[6] = (unsigned char)version;
  head[7] = 0;
  if (version == 1) {
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
  } else {
    for (int i = 0; i < 4; ++i) head[8 + i] = (unsigned char)((unsigned)hlen >> (8 * i));
  }
  memcpy(head + prefix, dict, (size_t)len);
  memset(head + prefix + len, ' ', (size_t)(hlen - len - 1));
  head[total - 1] = '\n';

  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  size_t size = io_dtype_size(dtype);
  int ok = fwrite(head, 1, (size_t)total, f.fp) == (size_t)total;
  /* The suite runs on little-endian machines; numpy reads '<' everywhere. */
  if (ok && count > 0) ok = fwrite(data, size, (size_t)count, f.fp) == (size_t)count;
  if (!ok) {
    io_atomic_abort(&f);
    return CORE_ERROR(CORE_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  }
  return io_atomic_commit(&f);
}
