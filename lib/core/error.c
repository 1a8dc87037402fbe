/* Status codes and the last-error record of the eloss library.
 *
 * core_status_string(code): fixed text per code.
 * core_error_set(code, file, line, func, fmt, ...): record a message for the
 *   user and the origin for developers; returns code. Local, thread-local.
 * core_agree(comm, local): collective on comm; see core.h.
 *
 * The library never exits: functions return a status, apps decide to stop.
 * Messages are kept in thread-local buffers; a message is truncated at
 * CORE_MESSAGE_MAX bytes rather than allocated, so recording an error cannot
 * itself fail. */
#include "eloss/core.h"

#include <stdarg.h>
#include <string.h>

enum { CORE_MESSAGE_MAX = 1024 };

static _Thread_local char error_message[CORE_MESSAGE_MAX];
static _Thread_local char error_origin[256];

static const char *const status_names[CORE_ERR_COUNT] = {
    [CORE_OK] = "success",
    [CORE_ERR_ARG] = "invalid argument",
    [CORE_ERR_IO] = "I/O error",
    [CORE_ERR_FORMAT] = "malformed file",
    [CORE_ERR_VALUE] = "invalid value",
    [CORE_ERR_MEM] = "out of memory",
    [CORE_ERR_MPI] = "MPI error",
    [CORE_ERR_NUMERIC] = "numerical failure",
    [CORE_ERR_UNSUPPORTED] = "unsupported",
    [CORE_ERR_STOPPED] = "stopped on request",
};

const char *core_status_string(core_status code) {
  if ((int)code < 0 || code >= CORE_ERR_COUNT) return "unknown status";
  return status_names[code];
}

core_status core_error_set(core_status code, const char *file, int line,
                           const char *func, const char *fmt, ...) {
  /* Format into a copy first: a caller may wrap the previous message
   * (CORE_ERROR(..., "step %d: %s", k, core_error_message())), and
   * vsnprintf must not read the buffer it writes. */
  char text[CORE_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  memcpy(error_message, text, sizeof text);
  snprintf(error_origin, sizeof error_origin, "%s:%d (%s)", file, line, func);
  return code;
}

const char *core_error_message(void) { return error_message; }
const char *core_error_origin(void) { return error_origin; }

void core_error_clear(void) {
  error_message[0] = '\0';
  error_origin[0] = '\0';
}

core_status core_name_lookup(const char *what, const char *const *names, int count, const char *name, int *index) {
  for (int k = 0; name && k < count; ++k)
    if (!strcmp(name, names[k])) {
      *index = k;
      return CORE_OK;
    }
  char list[256] = "";
  for (int k = 0; k < count; ++k) {
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", names[k]);
  }
  return CORE_ERROR(CORE_ERR_ARG, "unknown %s '%s': expected one of %s", what, name ? name : "", list);
}

core_status core_agree(MPI_Comm comm, core_status local) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int mine = local == CORE_OK ? size : rank;
  int first = size;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
    return CORE_ERROR(CORE_ERR_MPI, "MPI_Allreduce failed while agreeing on a status");
  if (first == size) return CORE_OK;
  /* The lowest failing rank tells everybody what went wrong. */
  int code = (int)local;
  MPI_Bcast(&code, 1, MPI_INT, first, comm);
  MPI_Bcast(error_message, CORE_MESSAGE_MAX, MPI_CHAR, first, comm);
  MPI_Bcast(error_origin, (int)sizeof error_origin, MPI_CHAR, first, comm);
  return (core_status)code;
}

/* ---- fault injection ------------------------------------------------------ */

static struct {
  char site[64];
  int rank;      /* -1: every rank */
  long target;   /* the k-th pass fails */
  long passes;   /* passes through the site so far */
} fault;

core_status core_fault_configure(const char *spec) {
  memset(&fault, 0, sizeof fault);
  if (!spec || !spec[0]) return CORE_OK;
  const char *colon = strchr(spec, ':');
  int rank;
  long target;
  char tail;
  if (!colon || (size_t)(colon - spec) >= sizeof fault.site || colon == spec ||
      sscanf(colon + 1, "%d:%ld%c", &rank, &target, &tail) != 2 || rank < -1 || target < 1) {
    memset(&fault, 0, sizeof fault);
    return CORE_ERROR(CORE_ERR_ARG, "ELOSS_FAULT=%s: expected site:rank:k with rank >= -1 and k >= 1", spec);
  }
  memcpy(fault.site, spec, (size_t)(colon - spec));
  fault.rank = rank;
  fault.target = target;
  return CORE_OK;
}

int core_fault(const char *site) {
  if (!fault.site[0] || strcmp(site, fault.site) != 0) return 0;
  if (fault.rank >= 0) {
    int initialized = 0, rank = 0;
    MPI_Initialized(&initialized);
    if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank != fault.rank) return 0;
  }
  return ++fault.passes == fault.target;
}
