#define _POSIX_C_SOURCE 200809L
/* eloss clustergen: Lennard-Jones cluster datasets: K
 * equilibrium conformations per temperature by parallel tempering, and the
 * global minimum by basin hopping, into one HDF5 file.
 *
 *   mpirun -n 2 eloss clustergen -n 13 -out lj13.h5 -xyz lj13_min.xyz
 *
 * SIGTERM, SIGINT or SIGUSR1: the cycle in progress is abandoned, the state
 * of the last finished cycle is checkpointed and the program exits with
 * code 3; the same command with -resume continues. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/lj.h"

static const char help[] =
    "eloss clustergen: Lennard-Jones clusters E = 4 sum_{i<j} (r^-12 - r^-6) (epsilon = sigma = 1).\n"
    "Parallel tempering (Metropolis moves in a containing sphere) stores -samples conformations per\n"
    "temperature; basin hopping (BFGS minimisation) finds the global minimum; both in one HDF5 file,\n"
    "identical for any number of ranks. Prints global_min_energy=<E>. <out>.lock keeps out a second\n"
    "run; checkpoints go to <out>.ckpt; SIGTERM checkpoints and exits with code 3; -resume continues.\n";

/* The summary of a finished run (rank 0). */
static void print_result(const lj_cluster_options *opt, const lj_cluster_report *report) {
  if (opt->samples > 0 && opt->n_temps > 1) {
    fprintf(stderr, "eloss clustergen: exchange acceptance");
    for (int k = 0; k + 1 < opt->n_temps; ++k) fprintf(stderr, " %.2f", report->exchange_rates[k]);
    fprintf(stderr, "\n");
  }
  printf("global_min_energy=%.10g n=%d samples=%d temperatures=%d walks=%d seconds=%.2f out=%s\n",
         report->global_min_energy, opt->n, opt->samples, opt->n_temps, opt->walks, report->seconds, opt->out);
}

enum { MAX_TEMPS = 64 };

typedef struct {
  PetscReal temps[MAX_TEMPS], radius, bh_step, bh_temperature, checkpoint_seconds;
  PetscInt n_temps, n, samples, therm, sweeps, walks, bh_steps, seed;
  char out[PETSC_MAX_PATH_LEN], xyz[PETSC_MAX_PATH_LEN], start[PETSC_MAX_PATH_LEN];
  PetscBool resume, force, out_set, xyz_set, temps_set, start_set, therm_set, sweeps_set;
} clustergen_args;

static PetscErrorCode read_options(clustergen_args *a) {
  /* Default ladder: from deep in the solid (0.05) to above the melting of
   * small clusters (LJ13 melts near T = 0.3), geometric so that the
   * exchange acceptance is about even when the heat capacity is. */
  const PetscReal temps[] = {0.05, 0.0705, 0.0994, 0.14, 0.198, 0.279, 0.393};
  memcpy(a->temps, temps, sizeof temps);
  a->n_temps = 7, a->n = 13, a->samples = 100, a->therm = 200, a->sweeps = 10, a->walks = 4, a->bh_steps = 1000;
  a->bh_step = 0.4, a->bh_temperature = 0.8, a->checkpoint_seconds = 5.0;
  PetscBool set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss clustergen options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_int(po, "-n", "particles", 2, LJ_MAX_N, &a->n, &set));
  PetscCall(app_opt_real_list(po, "-temperatures", "temperatures of the samples, strictly ascending (epsilon / k_B)",
                              0, 100, 1, MAX_TEMPS, a->temps, &a->n_temps, &a->temps_set));
  PetscCall(app_opt_int(po, "-samples", "conformations stored per temperature (0: only the global minimum)", 0,
                        PETSC_MAX_INT, &a->samples, &set));
  PetscCall(app_opt_int(po, "-therm", "cycles before the first sample (step sizes adapt meanwhile)", 0, PETSC_MAX_INT,
                        &a->therm, &a->therm_set));
  PetscCall(app_opt_int(po, "-sweeps", "sweeps per cycle (between samples and exchanges)", 1, PETSC_MAX_INT,
                        &a->sweeps, &a->sweeps_set));
  /* The radius defaults to a function of -n, read just above, so -help
   * shows the value this run would use. */
  a->radius = lj_default_radius((int)a->n);
  PetscCall(app_opt_real(po, "-radius", "containing sphere (default 2.5 for n <= 13, then 2.5 (n/13)^(1/3))", 0, 1e6,
                         1, &a->radius, &set));
  PetscCall(app_opt_int(po, "-walks", "independent basin-hopping walks", 1, 1000000, &a->walks, &set));
  PetscCall(app_opt_int(po, "-bh_steps", "basin-hopping steps per walk", 1, PETSC_MAX_INT, &a->bh_steps, &set));
  PetscCall(app_opt_real(po, "-bh_step", "basin hopping: largest displacement per coordinate (sigma)", 0, 100, 1,
                         &a->bh_step, &set));
  PetscCall(app_opt_real(po, "-bh_temperature", "basin hopping: acceptance temperature of minima", 0, 1e6, 1,
                         &a->bh_temperature, &set));
  PetscCall(app_opt_int(po, "-seed", "seed: every stream is a function of (seed, what, index)", 0, PETSC_MAX_INT,
                        &a->seed, &set));
  PetscCall(app_opt_real(po, "-checkpoint_seconds", "longest time between checkpoints", 0, INFINITY, 1,
                         &a->checkpoint_seconds, &set));
  PetscCall(app_opt_bool(po, "-resume", "continue the interrupted run from <out>.ckpt (refused when there is none)",
                         &a->resume, &set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing finished -out, or discard an interrupted run's checkpoint",
                         &a->force, &set));
  PetscCall(app_opt_string(po, "-out", "output HDF5 file, required", "a file name", a->out, sizeof a->out,
                           &a->out_set));
  PetscCall(app_opt_string(po, "-xyz", "also write the global minimum as XYZ", "a file name", a->xyz, sizeof a->xyz,
                           &a->xyz_set));
  PetscCall(app_opt_string(po, "-start",
                           "XYZ file of one structure of -n atoms: every chain starts there instead of at a quenched "
                           "random start, so all samples keep its atom labels (e.g. the -xyz of another run)",
                           "a file name", a->start, sizeof a->start, &a->start_set));
  PetscOptionsEnd();
  return 0;
}

static PetscErrorCode clustergen_options(void *opts) {
  clustergen_args *a = opts;
  PetscCall(read_options(a));
  for (PetscInt k = 1; k < a->n_temps; ++k)
    if (!(a->temps[k] > a->temps[k - 1])) {
      app_option_error("-temperatures", "must be strictly ascending (%g follows %g)", (double)a->temps[k],
                       (double)a->temps[k - 1]);
      break;
    }
  if (a->samples == 0 && a->temps_set)
    app_option_inapplicable("-temperatures", a->temps_set, "applies only to samples; add -samples K (K >= 1)");
  if (a->samples == 0) {
    const char *why = "applies only to samples; add -samples K (K >= 1)";
    app_option_inapplicable("-start", a->start_set, why);
    app_option_inapplicable("-therm", a->therm_set, why);
    app_option_inapplicable("-sweeps", a->sweeps_set, why);
  }
  if (a->start_set &&
      (io_same_file(a->start, a->out_set ? a->out : NULL) || io_same_file(a->start, a->xyz_set ? a->xyz : NULL)))
    app_option_error("-start", "is also an output (-out or -xyz): an input is never overwritten, even with -force");
  if (!a->out_set) app_option_error("-out", "required: the HDF5 file to write");
  if (a->out_set && a->xyz_set && io_same_file(a->xyz, a->out)) app_option_error("-xyz", "is also the -out file");
  app_output_name("-out", a->out);
  if (a->xyz_set) app_output_name("-xyz", a->xyz);
  if (a->resume && a->force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
  return 0;
}

static int clustergen_main(void *opts) {
  const clustergen_args *a = opts;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  double temps[MAX_TEMPS];
  for (PetscInt k = 0; k < a->n_temps; ++k) temps[k] = a->temps[k];
  /* The start structure (its CRC-32 joins the run's identity). */
  io_molecules start;
  memset(&start, 0, sizeof start);
  core_status st = CORE_OK;
  if (a->start_set) st = core_agree(MPI_COMM_WORLD, lj_cluster_start_read(a->start, (int)a->n, &start));
  lj_cluster_options opt = {
      .n = (int)a->n, .n_temps = (int)a->n_temps, .temperatures = temps, .samples = (int)a->samples,
      .therm = (int)a->therm, .sweeps = (int)a->sweeps, .radius = a->radius, .walks = (int)a->walks,
      .bh_steps = (int)a->bh_steps, .bh_step = a->bh_step, .bh_temperature = a->bh_temperature,
      .seed = (uint64_t)a->seed, .checkpoint_seconds = a->checkpoint_seconds, .resume = a->resume,
      .force = a->force, .out = a->out, .xyz = a->xyz_set ? a->xyz : NULL,
      .start = a->start_set ? start.coords : NULL, .start_name = a->start_set ? a->start : NULL};
  char text[2048 + PETSC_MAX_PATH_LEN];
  lj_cluster_options_text(&opt, text, sizeof text);
  if (!st && rank == 0) fprintf(stderr, "eloss clustergen: %s -out %s\n", text, a->out);
  double rates[MAX_TEMPS];
  lj_cluster_report report = {.exchange_rates = rates};
  if (!st) st = lj_cluster_generate(MPI_COMM_WORLD, &opt, &app_stop_requested, stderr, &report);
  io_molecules_free(&start);
  if (st) return app_report("clustergen", st);
  if (report.interrupted)
    return app_stopped("clustergen", "after %lld of %lld cycles, checkpoint written", (long long)report.cycles,
                       (long long)report.cycles_total);
  if (rank == 0) print_result(&opt, &report);
  return 0;
}

const app_command app_clustergen_command = {
    .name = "clustergen",
    .summary = "Lennard-Jones clusters: tempering samples, basin-hopping global minimum (HDF5)",
    .help = help,
    .long_running = 1,
    .size = sizeof(clustergen_args),
    .options = clustergen_options,
    .run = clustergen_main,
};
