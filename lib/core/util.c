/* Ownership ranges, wall-clock time and progress lines.
 *
 * core_partition(n, size, rank, &local_n, &local_start): block distribution,
 *   local and pure: every kernel loops over its owned range in global indices.
 * core_time(): monotonic seconds.
 * core_progress_start/update: one line per interval on the given stream with
 *   rate and ETA; pass out = NULL on ranks that should stay quiet.
 * core_options_difference(was, now, ...): the option a refused resume names. */
#define _POSIX_C_SOURCE 200809L
#include "eloss/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  p->first = 0;
  p->t_start = p->t_last = core_time();
  p->interval = 2.0;
  p->out = out;
}

void core_progress_resume(core_progress *p, int64_t first) { p->first = first; }

void core_progress_update(core_progress *p, int64_t done) {
  if (!p->out) return;
  double now = core_time();
  if (done < p->total && now - p->t_last < p->interval) return;
  p->t_last = now;
  double elapsed = now - p->t_start;
  double rate = elapsed > 0 ? (double)(done - p->first) / elapsed : 0.0;
  double eta = rate > 0 ? (double)(p->total - done) / rate : 0.0;
  fprintf(p->out, "%s: %lld/%lld (%.1f%%) %.3g/s elapsed %.1fs ETA %.1fs\n",
          p->label, (long long)done, (long long)p->total,
          p->total ? 100.0 * (double)done / (double)p->total : 100.0, rate,
          elapsed, eta);
  fflush(p->out);
}

void core_appendf(char *buf, size_t size, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(buf + (*len < size ? *len : size), *len < size ? size - *len : 0, fmt, ap);
  va_end(ap);
  *len += n > 0 ? (size_t)n : 0;
}

const char *core_real_text(double v, char buf[32]) {
  for (int digits = 1; digits <= 17; ++digits) {
    snprintf(buf, 32, "%.*g", digits, v);
    if (strtod(buf, NULL) == v || v != v) break;
  }
  return buf;
}

int core_options_difference(const char *was, const char *now, char *out, size_t len) {
  const char *p = was, *q = now;
  while (*p || *q) {
    size_t lp = strcspn(p, " "), lq = strcspn(q, " ");
    if (lp != lq || strncmp(p, q, lp) != 0) {
      /* An option only one side has (a newer option, absent from an older file). */
      if (!*p || !*q) {
        const char *o = *p ? p : q, *v = o + strcspn(o, " ");
        v += *v ? 1 : 0;
        size_t no = strcspn(o, " "), nv = *v == '-' ? 0 : strcspn(v, " ");
        if (*p)
          snprintf(out, len, "no %.*s (the file has %.*s%s%.*s)", (int)no, o, (int)no, o, nv ? " " : "", (int)nv, v);
        else
          snprintf(out, len, "%.*s%s%.*s (the file has no %.*s)", (int)no, o, nv ? " " : "", (int)nv, v, (int)no, o);
        return 1;
      }
      /* Back up to the option name when the value differs. */
      const char *sp = p, *sq = q;
      if (*p != '-' && p > was) {
        sp = p - 2;
        while (sp > was && sp[-1] != ' ') --sp;
        sq = q - 2;
        while (sq > now && sq[-1] != ' ') --sq;
      }
      size_t np = strcspn(sp, " "), nq = strcspn(sq, " ");
      const char *vp = sp + np + (sp[np] ? 1 : 0), *vq = sq + nq + (sq[nq] ? 1 : 0);
      snprintf(out, len, "%.*s %.*s (the file has %.*s)", (int)nq, sq, (int)strcspn(vq, " "), vq,
               (int)strcspn(vp, " "), vp);
      return 1;
    }
    p += lp + (p[lp] ? 1 : 0), q += lq + (q[lq] ? 1 : 0);
  }
  return 0;
}
