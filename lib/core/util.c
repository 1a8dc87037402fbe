/* Ownership ranges, wall-clock time and progress lines.
 *
 * core_partition(n, size, rank, &local_n, &local_start): block distribution,
 *   local and pure: every kernel loops over its owned range in global indices.
 * core_time(): monotonic seconds.
 * core_progress_start/update: one line per interval on the given stream with
 *   rate and ETA; pass out = NULL on ranks that should stay quiet. */
#define _POSIX_C_SOURCE 200809L
#include "eloss/core.h"

#include <time.h>

void core_partition(int64_t n, int size, int rank, int64_t *local_n,
                    int64_t *local_start) {
  int64_t base = n / size, extra = n % size;
  *local_n = base + (rank < extra ? 1 : 0);
  *local_start = rank * base + (rank < extra ? rank : extra);
}

double core_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void core_progress_start(core_progress *p, const char *label, int64_t total,
                         FILE *out) {
  p->label = label;
  p->total = total;
  p->t_start = p->t_last = core_time();
  p->interval = 2.0;
  p->out = out;
}

void core_progress_update(core_progress *p, int64_t done) {
  if (!p->out) return;
  double now = core_time();
  if (done < p->total && now - p->t_last < p->interval) return;
  p->t_last = now;
  double elapsed = now - p->t_start;
  double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
  double eta = rate > 0 ? (double)(p->total - done) / rate : 0.0;
  fprintf(p->out, "%s: %lld/%lld (%.1f%%) %.3g/s elapsed %.1fs ETA %.1fs\n",
          p->label, (long long)done, (long long)p->total,
          p->total ? 100.0 * (double)done / (double)p->total : 100.0, rate,
          elapsed, eta);
  fflush(p->out);
}
