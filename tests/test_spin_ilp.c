/* TAP test: exact ground states of 6 x 6 and 8 x 8 open Edwards-Anderson
 * lattices equal the optimum found by an independent solver, Debian's CBC
 * (coinor-cbc; GLPK's glpsol if CBC is absent), on the 0-1 program
 *
 *   s_i = 2 x_i - 1,  s_i s_j = 4 y_ij - 2 x_i - 2 x_j + 1,
 *   y_ij <= x_i, y_ij <= x_j, y_ij >= x_i + x_j - 1, x binary,
 *   minimise -sum J_ij s_i s_j,
 *
 * written in CPLEX LP format. The solvers print the optimum to 8 or more
 * digits; the comparison tolerance is 1e-6 absolute. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eloss/mc.h"
#include "tap.h"

static char dir[128];

/* Write the LP; return the constant -sum J left out of the objective. */
static double write_lp(const char *path, const spin_lattice *lat, const double *J) {
  const int64_t n = lat->n_sites;
  double *lin = calloc((size_t)n, sizeof(double)), constant = 0;
  FILE *fp = fopen(path, "w");
  fprintf(fp, "Minimize\n obj:");
  for (int dir_ = 0; dir_ < 2; ++dir_)
    for (int64_t i = 0; i < n; ++i) {
      int64_t j = spin_neighbor(lat, i, dir_, +1);
      if (j < 0) continue;
      double Jij = J[dir_ * n + i];
      fprintf(fp, " %+.17g y_%d_%lld", -4 * Jij, dir_, (long long)i);
      lin[i] += 2 * Jij, lin[j] += 2 * Jij;
      constant -= Jij;
    }
  for (int64_t i = 0; i < n; ++i) fprintf(fp, " %+.17g x%lld", lin[i], (long long)i);
  fprintf(fp, "\nSubject To\n");
  for (int dir_ = 0; dir_ < 2; ++dir_)
    for (int64_t i = 0; i < n; ++i) {
      int64_t j = spin_neighbor(lat, i, dir_, +1);
      if (j < 0) continue;
      fprintf(fp, " a_%d_%lld: y_%d_%lld - x%lld <= 0\n", dir_, (long long)i, dir_, (long long)i, (long long)i);
      fprintf(fp, " b_%d_%lld: y_%d_%lld - x%lld <= 0\n", dir_, (long long)i, dir_, (long long)i, (long long)j);
      fprintf(fp, " c_%d_%lld: y_%d_%lld - x%lld - x%lld >= -1\n", dir_, (long long)i, dir_, (long long)i,
              (long long)i, (long long)j);
    }
  fprintf(fp, "Bounds\n");
  for (int dir_ = 0; dir_ < 2; ++dir_)
    for (int64_t i = 0; i < n; ++i)
      if (spin_neighbor(lat, i, dir_, +1) >= 0) fprintf(fp, " 0 <= y_%d_%lld <= 1\n", dir_, (long long)i);
  fprintf(fp, "Binary\n");
  for (int64_t i = 0; i < n; ++i) fprintf(fp, " x%lld\n", (long long)i);
  fprintf(fp, "End\n");
  fclose(fp);
  free(lin);
  return constant;
}

/* Run the solver on path; return its optimum or NAN. */
static double solve_ilp(const char *path, const char **which) {
  char cmd[1024], out[256], line[512];
  snprintf(out, sizeof out, "%s/solution.txt", dir);
  remove(out);
  double value = NAN;
  if (access("/usr/bin/cbc", X_OK) == 0) {
    *which = "CBC";
    snprintf(cmd, sizeof cmd, "cbc %s solve solu %s > %s/cbc.log 2>&1", path, out, dir);
    if (system(cmd) != 0) return NAN;
    FILE *fp = fopen(out, "r");
    if (!fp) return NAN;
    /* First line: "Optimal - objective value <v>" */
    if (fgets(line, sizeof line, fp) && strstr(line, "Optimal")) {
      const char *v = strstr(line, "objective value");
      if (v) value = strtod(v + strlen("objective value"), NULL);
    }
    fclose(fp);
  } else {
    *which = "GLPK";
    snprintf(cmd, sizeof cmd, "glpsol --lp %s -o %s > %s/glpk.log 2>&1", path, out, dir);
    if (system(cmd) != 0) return NAN;
    FILE *fp = fopen(out, "r");
    if (!fp) return NAN;
    while (fgets(line, sizeof line, fp)) {
      const char *v = strstr(line, "obj = ");
      if (!strncmp(line, "Objective:", 10) && v) value = strtod(v + 6, NULL);
    }
    fclose(fp);
  }
  return value;
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/eloss-ilp-%ld", (long)getpid());
  char cmd[256];
  snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
  if (system(cmd) != 0) return 1;
  const int sizes[2] = {6, 8}, per_size = 3;
  tap_plan(2 * per_size);
  for (int k = 0; k < 2; ++k) {
    const int L = sizes[k];
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
    mc_exact *ex;
    mc_exact_create(L, &ex);
    for (int inst = 0; inst < per_size; ++inst) {
      double J[2 * 64], e;
      int8_t s[64];
      spin_couplings_generate(&lat, inst == 2 ? SPIN_COUPLING_GAUSSIAN : SPIN_COUPLING_UNIFORM, 2385,
                              (uint64_t)(100 * L + inst), J);
      mc_exact_solve(ex, J, s, &e);
      char path[256];
      snprintf(path, sizeof path, "%s/ea_%d_%d.lp", dir, L, inst);
      double constant = write_lp(path, &lat, J);
      const char *which = "";
      double t0 = core_time();
      double opt = solve_ilp(path, &which) + constant;
      tap_ok(fabs(opt - e) < 1e-6, "%d x %d %s instance %d: transfer matrix %.10f = %s %.10f (solver %.2f s)", L, L,
             inst == 2 ? "gaussian" : "uniform", inst, e, which, opt, core_time() - t0);
    }
    mc_exact_destroy(&ex);
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) tap_diag("could not remove %s", dir);
  return tap_done();
}
