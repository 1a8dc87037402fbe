/* A tiny TAP producer for eloss tests (header-only).
 *
 *   tap_plan(3);
 *   tap_ok(x == 2, "x is two");
 *   tap_close(a, b, 1e-12, "a matches b");       // relative tolerance
 *   return tap_done();                            // exit status: 0 iff all passed
 *
 * MPI tests start with tap_mpi_start(plan, &rank, &size) (only rank 0
 * prints) and reduce their conditions before calling tap_ok, so every rank
 * agrees. */
#ifndef ELOSS_TAP_H
#define ELOSS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int tap_count_ = 0, tap_failed_ = 0, tap_quiet_ = 0;

static inline void tap_set_quiet(int quiet) { tap_quiet_ = quiet; }

static inline void tap_plan(int n) {
  if (!tap_quiet_) printf("1..%d\n", n);
  fflush(stdout);
}

static inline int tap_vok(int cond, const char *fmt, va_list ap) {
  ++tap_count_;
  if (!cond) ++tap_failed_;
  if (!tap_quiet_) {
    printf("%s %d - ", cond ? "ok" : "not ok", tap_count_);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
  }
  return cond;
}

static inline int tap_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int tap_ok(int cond, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = tap_vok(cond, fmt, ap);
  va_end(ap);
  return r;
}

/* Diagnostic line (printed as a TAP comment). */
static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...) {
  if (tap_quiet_) return;
  va_list ap;
  va_start(ap, fmt);
  printf("# ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
}

/* |got - want| <= rtol * max(|want|, tiny): prints both on failure. */
static inline int tap_close(double got, double want, double rtol, const char *what) {
  double scale = fabs(want) > 1e-300 ? fabs(want) : 1e-300;
  double rel = fabs(got - want) / scale;
  int ok = rel <= rtol && !isnan(got);
  tap_ok(ok, "%s (got %.17g, want %.17g, rel %.2e, tol %.1e)", what, got, want, rel, rtol);
  return ok;
}

static inline int tap_done(void) {
  fflush(stdout);
  return tap_failed_ ? 1 : 0;
}

#ifdef MPI_VERSION /* included after mpi.h */
static inline void tap_mpi_start(int plan, int *rank, int *size) {
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  tap_set_quiet(*rank != 0);
  tap_plan(plan);
  tap_diag("%d ranks", *size);
}
#endif

#endif
