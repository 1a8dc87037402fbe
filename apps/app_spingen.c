#define _POSIX_C_SOURCE 200809L
/* eloss spingen: generate a spin-glass dataset (the paper's Sec. 6.3 data):
 * couplings, exact ground states and optional equilibrium samples of many
 * instances, sharded over ranks, into one HDF5 file.
 *
 *   mpirun -n 2 eloss spingen -options_file inputs/spin16.opts -split train -out train.h5
 *
 * SIGTERM, SIGINT or SIGUSR1 (Slurm preemption, Ctrl-C, a batch script's
 * forwarded signal): every rank finishes its
 * batch, a checkpoint is written and the program exits with code 3; run the
 * same command with -resume to continue. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/mc.h"

static const char help[] =
    "eloss spingen: spin-glass dataset generator. Per instance: couplings J ~ law(seed,\n"
    "instance), the exact ground state (canonical sign s[0,0] = +1) and its energy, and\n"
    "optional equilibrium samples at given inverse temperatures; one HDF5 file per split,\n"
    "written collectively, identical in its datasets for any number of ranks.\n"
    "Ground states: exact on open square lattices (L <= 20, ~15 ms for 16 x 16), else\n"
    "parallel tempering (-gs pt) or simulated annealing (-gs sa). Checkpoints go to\n"
    "<out>.ckpt; SIGTERM checkpoints and exits with code 3; -resume continues.\n";

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

int app_spingen(int argc, char **argv) {
  PetscCall(app_initialize(&argc, &argv, help));
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  static const char *const lattices[] = {"square", "cubic"}, *const bcs[] = {"open", "periodic"};
  const char *const *laws = spin_coupling_names;
  static const char *const methods[] = {"auto", "exact", "pt", "sa"};
  static const char *const algorithms[] = {"metropolis", "heatbath"};
  PetscInt lattice = 0, bc = 0, law = 0, method = 0, algorithm = 0, L = 16, instances = 1000, seed = 0;
  PetscInt samples = 0, sample_therm = 1000, sample_sweeps = 10, batch = 16;
  PetscReal betas[64] = {1.0}, checkpoint_seconds = 5.0;
  PetscInt n_betas = 64;
  char split[256] = "train", out[PETSC_MAX_PATH_LEN] = "";
  PetscBool resume = PETSC_FALSE, force = PETSC_FALSE, betas_set = PETSC_FALSE, set;
  PetscInt gs_replicas = 0, gs_sweeps = 0;
  PetscReal gs_beta_min = 0, gs_beta_max = 0;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss spingen options", NULL);
  PetscCall(PetscOptionsEList("-lattice", "lattice", NULL, lattices, 2, lattices[lattice], &lattice, &set));
  PetscCall(PetscOptionsInt("-L", "linear size (exact ground states: 2..20)", NULL, L, &L, &set));
  PetscCall(PetscOptionsEList("-bc", "boundary (cubic: periodic)", NULL, bcs, 2, bcs[bc], &bc, &set));
  PetscCall(PetscOptionsEList("-couplings", "coupling law", NULL, laws, 4, laws[law], &law, &set));
  PetscCall(PetscOptionsInt("-instances", "number of instances", NULL, instances, &instances, &set));
  PetscCall(PetscOptionsString("-split", "split name stored in the file", NULL, split, split, sizeof split, &set));
  PetscCall(PetscOptionsInt("-seed", "seed: instance i's couplings are a function of (seed, i)", NULL, seed, &seed, &set));
  PetscCall(PetscOptionsEList("-gs", "ground-state method: auto = exact on open square lattices with L <= 20, "
                              "parallel tempering otherwise", NULL, methods, 4, methods[method], &method, &set));
  PetscCall(PetscOptionsInt("-gs_replicas", "pt: temperatures, sa: runs (0: the tested default)", NULL, gs_replicas,
                            &gs_replicas, &set));
  PetscCall(PetscOptionsInt("-gs_sweeps", "pt / sa: sweeps (0: default)", NULL, gs_sweeps, &gs_sweeps, &set));
  PetscCall(PetscOptionsReal("-gs_beta_min", "pt: hottest, sa: first inverse temperature (0: default)", NULL,
                             gs_beta_min, &gs_beta_min, &set));
  PetscCall(PetscOptionsReal("-gs_beta_max", "pt: coldest, sa: last inverse temperature (0: default)", NULL,
                             gs_beta_max, &gs_beta_max, &set));
  PetscCall(PetscOptionsRealArray("-sample_betas", "inverse temperatures of equilibrium samples (default 1)", NULL,
                                  betas, &n_betas, &betas_set));
  PetscCall(PetscOptionsInt("-samples", "equilibrium samples per beta and instance (0: none)", NULL, samples, &samples, &set));
  PetscCall(PetscOptionsInt("-sample_therm", "sweeps before the first sample", NULL, sample_therm, &sample_therm, &set));
  PetscCall(PetscOptionsInt("-sample_sweeps", "sweeps between samples", NULL, sample_sweeps, &sample_sweeps, &set));
  PetscCall(PetscOptionsEList("-algorithm", "sampler of the equilibrium samples", NULL, algorithms, 2,
                              algorithms[algorithm], &algorithm, &set));
  PetscCall(PetscOptionsInt("-batch", "instances per rank between progress and stop checks", NULL, batch, &batch, &set));
  PetscCall(PetscOptionsReal("-checkpoint_seconds", "longest time between checkpoints", NULL, checkpoint_seconds,
                             &checkpoint_seconds, &set));
  PetscCall(PetscOptionsBool("-resume", "continue from <out>.ckpt if present", NULL, resume, &resume, &set));
  PetscCall(PetscOptionsBool("-force", "replace an existing finished -out, or discard its checkpoint", NULL, force, &force, &set));
  PetscCall(PetscOptionsString("-out", "output HDF5 file", NULL, out, out, sizeof out, &set));
  PetscOptionsEnd();
  PetscBool stop;
  int code;
  PetscCall(app_options_check("spingen", &stop, &code));
  if (stop) return app_finalize(code);
  if (!betas_set) n_betas = 1;

  const int exact_possible = lattice == 0 && bc == 0 && L <= MC_EXACT_MAX_L;
  if (method == 0) method = exact_possible ? 1 : 2;
  core_status st = CORE_OK;
  if (!out[0])
    st = CORE_ERROR(CORE_ERR_ARG, "-out is required");
  else if (method == 1 && (lattice != 0 || bc != 0))
    st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "-gs exact needs -lattice square -bc open; use -gs pt or -gs sa");
  else if (method == 1 && (L < 2 || L > MC_EXACT_MAX_L))
    st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "-L %d: exact ground states are limited to 2 <= L <= %d (memory and time "
                                          "grow as 2^L); use -gs pt or -gs sa", (int)L, (int)MC_EXACT_MAX_L);
  else if (instances < 1 || seed < 0 || samples < 0 || batch < 1 || !(checkpoint_seconds > 0))
    st = CORE_ERROR(CORE_ERR_ARG, "need -instances >= 1, -seed >= 0, -samples >= 0, -batch >= 1 and "
                                  "-checkpoint_seconds > 0");
  st = core_agree(MPI_COMM_WORLD, st);
  if (st) return app_finalize(app_report("spingen", st));

  mc_search_options search;
  if (method == 3) mc_search_options_anneal(&search);
  else mc_search_options_tempering(&search);
  if (gs_replicas > 0) search.replicas = (int)gs_replicas;
  if (gs_sweeps > 0) search.sweeps = (int)gs_sweeps;
  if (gs_beta_min > 0) search.beta_min = gs_beta_min;
  if (gs_beta_max > 0) search.beta_max = gs_beta_max;

  /* The options that shape the data, in one canonical line: stored in the
   * file and fingerprinted by the checkpoint. */
  char text[4096];
  int len = snprintf(text, sizeof text,
                     "-lattice %s -bc %s -L %d -couplings %s -instances %lld -seed %lld -gs %s -samples %d",
                     lattices[lattice], bcs[bc], (int)L, laws[law], (long long)instances, (long long)seed,
                     methods[method], (int)samples);
  if (method >= 2)
    len += snprintf(text + len, sizeof text - (size_t)len, " -gs_replicas %d -gs_sweeps %d -gs_beta_min %.17g -gs_beta_max %.17g",
                    search.replicas, search.sweeps, search.beta_min, search.beta_max);
  if (samples > 0) {
    len += snprintf(text + len, sizeof text - (size_t)len, " -sample_therm %d -sample_sweeps %d -algorithm %s -sample_betas",
                    (int)sample_therm, (int)sample_sweeps, algorithms[algorithm]);
    for (PetscInt k = 0; k < n_betas; ++k)
      len += snprintf(text + len, sizeof text - (size_t)len, "%s%.17g", k ? "," : " ", (double)betas[k]);
  }
  len += snprintf(text + len, sizeof text - (size_t)len, " -split %s", split);
  double beta_values[64];
  for (PetscInt k = 0; k < n_betas; ++k) beta_values[k] = betas[k];

  mc_dataset_options opt = {
      .kind = lattice ? SPIN_CUBIC : SPIN_SQUARE, .bc = bc ? SPIN_PERIODIC : SPIN_OPEN,
      .method = method == 1 ? MC_GS_EXACT : method == 2 ? MC_GS_TEMPERING : MC_GS_ANNEAL, .search = search,
      .L = (int)L, .law = (spin_coupling_law)law, .instances = instances, .seed = (uint64_t)seed, .split = split,
      .n_betas = (int)n_betas, .betas = beta_values, .samples = (int)samples, .sample_therm = (int)sample_therm,
      .sample_sweeps = (int)sample_sweeps, .algorithm = algorithm ? MC_HEATBATH : MC_METROPOLIS,
      .batch = (int)batch, .checkpoint_seconds = checkpoint_seconds, .resume = resume, .force = force, .out = out,
      .options_text = text};
  if (rank == 0) fprintf(stderr, "eloss spingen: %s -out %s\n", text, out);

  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  /* mpirun forwards SIGUSR1 to every rank on every node; batch scripts
   * turn Slurm's SIGTERM into it (jobs/spingen.sbatch). */
  sigaction(SIGUSR1, &action, NULL);
  /* Past a file-size limit (ulimit -f) a write must fail with EFBIG and be
   * reported, not kill the rank with SIGXFSZ. */
  signal(SIGXFSZ, SIG_IGN);

  mc_dataset_report report;
  st = mc_dataset_generate(MPI_COMM_WORLD, &opt, &stop_requested, stderr, &report);
  int exit_code = 0;
  if (st) {
    exit_code = app_report("spingen", st);
  } else if (report.interrupted) {
    if (rank == 0)
      fprintf(stderr, "eloss spingen: stopped after %lld of %lld instances, checkpoint written; "
                      "run the same command with -resume to continue\n", (long long)report.done, (long long)instances);
    exit_code = 3;
  } else if (rank == 0) {
    printf("instances=%lld mean_energy_per_spin=%.10g err=%.3g seconds=%.2f out=%s\n", (long long)report.done,
           report.mean_energy, report.mean_energy_err, report.seconds, out);
  }
  return app_finalize(exit_code);
}
