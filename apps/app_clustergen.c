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

int app_clustergen(int argc, char **argv) {
  /* A stop request that arrives while MPI and PETSc start is kept (the
   * first step sees it), not the default death by signal; PETSc installs
   * its own handlers on the way, so ours go back right after. */
  app_catch_stop_signals();
  PetscCall(app_initialize(&argc, &argv, help));
  app_catch_stop_signals();
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  enum { MAX_TEMPS = 64 };
  /* Default ladder: from deep in the solid (0.05) to above the melting of
   * small clusters (LJ13 melts near T = 0.3), geometric so that the
   * exchange acceptance is about even when the heat capacity is. */
  PetscReal temps[MAX_TEMPS] = {0.05, 0.0705, 0.0994, 0.14, 0.198, 0.279, 0.393};
  PetscInt n_temps = 7, n = 13, samples = 100, therm = 200, sweeps = 10, walks = 4, bh_steps = 1000, seed = 0;
  PetscReal radius = 0, bh_step = 0.4, bh_temperature = 0.8, checkpoint_seconds = 5.0;
  char out[PETSC_MAX_PATH_LEN] = "", xyz[PETSC_MAX_PATH_LEN] = "", start[PETSC_MAX_PATH_LEN] = "";
  PetscBool resume = PETSC_FALSE, force = PETSC_FALSE, set, out_set, xyz_set, radius_set, temps_set, start_set;

  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss clustergen options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_int(po, "-n", "particles", 2, LJ_MAX_N, &n, &set));
  PetscCall(app_opt_real_list(po, "-temperatures", "temperatures of the samples, strictly ascending (epsilon / k_B)",
                              0, 100, 1, MAX_TEMPS, temps, &n_temps, &temps_set));
  PetscCall(app_opt_int(po, "-samples", "conformations stored per temperature (0: only the global minimum)", 0,
                        PETSC_MAX_INT, &samples, &set));
  PetscCall(app_opt_int(po, "-therm", "cycles before the first sample (step sizes adapt meanwhile)", 0, PETSC_MAX_INT,
                        &therm, &set));
  PetscCall(app_opt_int(po, "-sweeps", "sweeps per cycle (between samples and exchanges)", 1, PETSC_MAX_INT, &sweeps,
                        &set));
  /* The radius defaults to a function of -n, read just above, so -help
   * shows the value this run would use. */
  radius = lj_default_radius((int)n);
  PetscCall(app_opt_real(po, "-radius", "containing sphere (default 2.5 for n <= 13, then 2.5 (n/13)^(1/3))", 0, 1e6,
                         1, &radius, &radius_set));
  PetscCall(app_opt_int(po, "-walks", "independent basin-hopping walks", 1, 1000000, &walks, &set));
  PetscCall(app_opt_int(po, "-bh_steps", "basin-hopping steps per walk", 1, PETSC_MAX_INT, &bh_steps, &set));
  PetscCall(app_opt_real(po, "-bh_step", "basin hopping: largest displacement per coordinate (sigma)", 0, 100, 1,
                         &bh_step, &set));
  PetscCall(app_opt_real(po, "-bh_temperature", "basin hopping: acceptance temperature of minima", 0, 1e6, 1,
                         &bh_temperature, &set));
  PetscCall(app_opt_int(po, "-seed", "seed: every stream is a function of (seed, what, index)", 0, PETSC_MAX_INT,
                        &seed, &set));
  PetscCall(app_opt_real(po, "-checkpoint_seconds", "longest time between checkpoints", 0, INFINITY, 1,
                         &checkpoint_seconds, &set));
  PetscCall(app_opt_bool(po, "-resume", "continue the interrupted run from <out>.ckpt (refused when there is none)",
                         &resume, &set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing finished -out, or discard an interrupted run's checkpoint",
                         &force, &set));
  PetscCall(app_opt_string(po, "-out", "output HDF5 file, required", "a file name", out, sizeof out, &out_set));
  PetscCall(app_opt_string(po, "-xyz", "also write the global minimum as XYZ", "a file name", xyz, sizeof xyz, &xyz_set));
  PetscCall(app_opt_string(po, "-start",
                           "XYZ file of one structure of -n atoms: every chain starts there instead of at a quenched "
                           "random start, so all samples keep its atom labels (e.g. the -xyz of another run)",
                           "a file name", start, sizeof start, &start_set));
  PetscOptionsEnd();

  for (PetscInt k = 1; k < n_temps; ++k)
    if (!(temps[k] > temps[k - 1])) {
      app_option_error("-temperatures", "must be strictly ascending (%g follows %g)", (double)temps[k],
                       (double)temps[k - 1]);
      break;
    }
  if (samples == 0 && temps_set)
    app_option_inapplicable("-temperatures", temps_set, "applies only to samples; add -samples K (K >= 1)");
  if (samples == 0 && start_set)
    app_option_inapplicable("-start", start_set, "applies only to samples; add -samples K (K >= 1)");
  if (start_set && (io_same_file(start, out_set ? out : NULL) || io_same_file(start, xyz_set ? xyz : NULL)))
    app_option_error("-start", "is also an output (-out or -xyz): an input is never overwritten, even with -force");
  if (!out_set) app_option_error("-out", "required: the HDF5 file to write");
  if (resume && force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
  PetscBool stop;
  int code;
  PetscCall(app_options_check("clustergen", &stop, &code));
  if (stop) return app_finalize(code);

  double t_values[MAX_TEMPS];
  for (PetscInt k = 0; k < n_temps; ++k) t_values[k] = temps[k];
  /* The start structure (its CRC-32 joins the run's identity). */
  io_molecules start_mol;
  memset(&start_mol, 0, sizeof start_mol);
  if (start_set) {
    core_status st = io_xyz_read(start, &start_mol);
    if (!st && (start_mol.count != 1 || start_mol.natoms[0] != n))
      st = CORE_ERROR(CORE_ERR_ARG, "%s: -start needs one structure of -n %d atoms, the file has %lld frame%s of %lld",
                      start, (int)n, (long long)start_mol.count, start_mol.count == 1 ? "" : "s",
                      start_mol.count ? (long long)start_mol.natoms[0] : 0LL);
    st = core_agree(MPI_COMM_WORLD, st);
    if (st) {
      io_molecules_free(&start_mol);
      return app_finalize(app_report("clustergen", st));
    }
  }
  lj_cluster_options opt = {
      .n = (int)n, .n_temps = (int)n_temps, .temperatures = t_values, .samples = (int)samples, .therm = (int)therm,
      .sweeps = (int)sweeps, .radius = radius, .walks = (int)walks, .bh_steps = (int)bh_steps, .bh_step = bh_step,
      .bh_temperature = bh_temperature, .seed = (uint64_t)seed, .checkpoint_seconds = checkpoint_seconds,
      .resume = resume, .force = force, .out = out, .xyz = xyz_set ? xyz : NULL,
      .start = start_set ? start_mol.coords : NULL, .start_name = start_set ? start : NULL};
  char text[2048 + PETSC_MAX_PATH_LEN];
  lj_cluster_options_text(&opt, text, sizeof text);
  if (rank == 0) fprintf(stderr, "eloss clustergen: %s -out %s\n", text, out);

  double rates[MAX_TEMPS];
  lj_cluster_report report = {.exchange_rates = rates};
  core_status st = lj_cluster_generate(MPI_COMM_WORLD, &opt, &app_stop_requested, stderr, &report);
  int exit_code = 0;
  if (st) {
    exit_code = app_report("clustergen", st);
  } else if (report.interrupted) {
    if (rank == 0)
      fprintf(stderr, "eloss clustergen: stopped after %lld of %lld cycles, checkpoint written; run the same command "
                      "with -resume to continue\n", (long long)report.cycles, (long long)report.cycles_total);
    exit_code = 3;
  } else if (rank == 0) {
    print_result(&opt, &report);
  }
  io_molecules_free(&start_mol);
  return app_finalize(exit_code);
}
