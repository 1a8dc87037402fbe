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

/* A token that names an option: "-" and a letter ("-5" and "-1e-3" are values). */
static int is_option(const char *t) { return t[0] == '-' && ((t[1] >= 'a' && t[1] <= 'z') || (t[1] >= 'A' && t[1] <= 'Z')); }

/* The option named like `name` (n bytes) in line: its value (a pointer to
 * the word after it, or to the next option or the end for a flag) and the
 * value's length in *vn; NULL if line has no such option. */
static const char *option_value(const char *line, const char *name, size_t n, size_t *vn) {
  for (const char *t = line; *t;) {
    const size_t len = strcspn(t, " ");
    const char *next = t + len + (t[len] ? 1 : 0);
    if (is_option(t) && len == n && !strncmp(t, name, n)) {
      *vn = *next && !is_option(next) ? strcspn(next, " ") : 0;
      return next;
    }
    t = next;
  }
  return NULL;
}

/* The first option of `a` (in a's order) whose value b does not share, or
 * that b lacks; 1 and the message if there is one. a_is_now: a is this
 * run's line (the message's wording depends on which side is the file's). */
static int first_difference(const char *a, const char *b, int a_is_now, char *out, size_t len) {
  for (const char *t = a; *t;) {
    const size_t n = strcspn(t, " ");
    const char *next = t + n + (t[n] ? 1 : 0);
    if (is_option(t)) {
      size_t va, vb;
      const char *x = option_value(a, t, n, &va), *y = option_value(b, t, n, &vb);
      const char *sep = va ? " " : "";
      if (!y) {
        if (a_is_now)
          snprintf(out, len, "%.*s%s%.*s (the file has no %.*s)", (int)n, t, sep, (int)va, x, (int)n, t);
        else
          snprintf(out, len, "no %.*s (the file has %.*s%s%.*s)", (int)n, t, (int)n, t, sep, (int)va, x);
        return 1;
      }
      if (va != vb || strncmp(x, y, va) != 0) {
        const char *now = a_is_now ? x : y, *was = a_is_now ? y : x;
        const size_t nn = a_is_now ? va : vb, nw = a_is_now ? vb : va;
        snprintf(out, len, "%.*s %.*s (the file has %.*s)", (int)n, t, (int)nn, now, (int)nw, was);
        return 1;
      }
    }
    t = next;
  }
  return 0;
}

int core_options_difference(const char *was, const char *now, char *out, size_t len) {
  /* By name, not by position: an option one line has and the other has not
   * (a newer option, or one given only sometimes) shifts every later word. */
  return first_difference(now, was, 1, out, len) || first_difference(was, now, 0, out, len);
}
