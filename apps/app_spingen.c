#define _POSIX_C_SOURCE 200809L
/* eloss spingen: generate a spin-glass dataset (the paper's Sec. 6.3 data):
 * couplings, exact ground states and optional equilibrium samples of many
 * instances, sharded over ranks, into one HDF5 file.
 *
 *   mpirun -n 2 eloss spingen -options_file inputs/spin16.opts -split train -out train.h5
 *
 * SIGTERM, SIGINT or SIGUSR1 (Slurm preemption, Ctrl-C, a batch script's
 * forwarded signal): the batch in progress is abandoned at the next sweep,
 * the finished ones are checkpointed and the program exits with code 3;
 * run the same command with -resume to continue. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/mc.h"

static const char help[] =
    "eloss spingen: spin-glass dataset generator. Per instance: couplings J ~ law(seed,\n"
    "instance) keyed by the split too (splits never share instances), the ground state\n"
    "(canonical sign s[0,0] = +1) and its energy, optional equilibrium samples, and a\n"
    "CRC-32 per instance; one HDF5 file per split, written by rank 0 for all ranks,\n"
    "identical in its datasets for any number of ranks.\n"
    "Ground states: exact on open square lattices (L <= 20, ~15 ms for 16 x 16), else\n"
    "two independent searches by parallel tempering (-gs pt) or simulated annealing\n"
    "(-gs sa), whose agreement is stored. <out>.lock keeps out a second run;\n"
    "checkpoints go to <out>.ckpt; SIGTERM checkpoints and exits with code 3;\n"
    "-resume checks the stored rows and continues; -force replaces a finished file.\n";


int app_spingen(int argc, char **argv) {
  /* A stop request that arrives while MPI and PETSc start is kept (the
   * first step sees it), not the default death by signal; PETSc installs
   * its own handlers on the way, so ours go back right after. */
  app_catch_stop_signals();
  PetscCall(app_initialize(&argc, &argv, help));
  app_catch_stop_signals();
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  /* -gs: "auto", then the library's methods in mc_gs_method order. */
  const char *methods[1 + MC_GS_METHOD_COUNT] = {"auto"};
  for (int k = 0; k < MC_GS_METHOD_COUNT; ++k) methods[1 + k] = mc_gs_method_names[k];
  enum { GS_AUTO, GS_EXACT = 1 + MC_GS_EXACT, GS_PT = 1 + MC_GS_TEMPERING, GS_SA = 1 + MC_GS_ANNEAL, MAX_BETAS = 64 };
  PetscInt lattice = SPIN_SQUARE, bc = SPIN_OPEN, law = SPIN_COUPLING_UNIFORM, method = GS_AUTO, algorithm = MC_METROPOLIS;
  PetscInt L = 16, instances = 1000, first = 0, count = 0, seed = 0, samples = 0, sample_therm = 1000, sample_sweeps = 10, batch = 16;
  PetscReal betas[MAX_BETAS] = {1.0}, checkpoint_seconds = 5.0;
  PetscInt n_betas = 1;
  char split[256] = "train", out[PETSC_MAX_PATH_LEN] = "";
  PetscBool resume = PETSC_FALSE, force = PETSC_FALSE, dry_run = PETSC_FALSE, set, bc_set, method_set, out_set, first_set, count_set;
  PetscBool replicas_set, sweeps_set, beta_min_set, beta_max_set, betas_set, therm_set, every_set, algorithm_set;
  mc_search_options search;
  PetscInt gs_replicas, gs_sweeps;
  PetscReal gs_beta_min, gs_beta_max;
  int auto_method = 0;

  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss spingen options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-lattice", "lattice", spin_lattice_kind_names, SPIN_LATTICE_KIND_COUNT, &lattice, &set));
  PetscCall(app_opt_int(po, "-L", "linear size (exact ground states: 2..20)", 2, PETSC_MAX_INT, &L, &set));
  /* Cubic lattices are periodic only, so that is their default here as in
   * eloss mc; square ones default to the paper's open lattices. */
  if (lattice == SPIN_CUBIC) bc = SPIN_PERIODIC;
  PetscCall(app_opt_enum(po, "-bc", "boundary (default: open for square, periodic for cubic, which is periodic only)",
                         spin_boundary_names, SPIN_BOUNDARY_COUNT, &bc, &bc_set));
  PetscCall(app_opt_enum(po, "-couplings", "coupling law", spin_coupling_names, SPIN_COUPLING_COUNT, &law, &set));
  PetscCall(app_opt_int(po, "-instances", "number of instances", 1, PETSC_MAX_INT, &instances, &set));
  PetscCall(app_opt_int(po, "-first", "write only instances [first, first + count) of the split: a part for "
                        "eloss spingen-merge (default 0)", 0, PETSC_MAX_INT, &first, &first_set));
  PetscCall(app_opt_int(po, "-count", "with -first: instances in the part (default: to the end of the split)", 1,
                        PETSC_MAX_INT, &count, &count_set));
  PetscCall(app_opt_string(po, "-split", "split name stored in the file", "a name", split, sizeof split, &set));
  PetscCall(app_opt_int(po, "-seed", "seed: instance i's couplings are a function of (seed, split, i)", 0, PETSC_MAX_INT,
                        &seed, &set));
  PetscCall(app_opt_enum(po, "-gs", "ground-state method: auto = exact on open square lattices with L <= 20, "
                         "parallel tempering otherwise", methods, 1 + MC_GS_METHOD_COUNT, &method, &method_set));
  auto_method = method == GS_AUTO;
  if (auto_method) method = lattice == SPIN_SQUARE && bc == SPIN_OPEN && L <= MC_EXACT_MAX_L ? GS_EXACT : GS_PT;
  /* The search settings default to the tested ones of the chosen method
   * (tempering's when the ground states are exact and they do not apply). */
  if (method == GS_SA) mc_search_options_anneal(&search);
  else mc_search_options_tempering(&search);
  gs_replicas = search.replicas, gs_sweeps = search.sweeps;
  gs_beta_min = search.beta_min, gs_beta_max = search.beta_max;
  PetscCall(app_opt_int(po, "-gs_replicas", "-gs pt: temperatures, -gs sa: independent runs", method == GS_PT ? 2 : 1,
                        PETSC_MAX_INT, &gs_replicas, &replicas_set));
  PetscCall(app_opt_int(po, "-gs_sweeps", "-gs pt / sa: sweeps", 1, PETSC_MAX_INT, &gs_sweeps, &sweeps_set));
  PetscCall(app_opt_real(po, "-gs_beta_min", "-gs pt: hottest, sa: first inverse temperature", 0, APP_BETA_MAX, 1,
                         &gs_beta_min, &beta_min_set));
  PetscCall(app_opt_real(po, "-gs_beta_max", "-gs pt: coldest, sa: last inverse temperature", 0, APP_BETA_MAX, 1,
                         &gs_beta_max, &beta_max_set));
  PetscCall(app_opt_int(po, "-samples", "equilibrium samples per beta and instance (0: none)", 0, PETSC_MAX_INT,
                        &samples, &set));
  PetscCall(app_opt_real_list(po, "-sample_betas", "-samples: inverse temperatures of the equilibrium samples", 0,
                              APP_BETA_MAX, 1, MAX_BETAS, betas, &n_betas, &betas_set));
  PetscCall(app_opt_int(po, "-sample_therm", "-samples: sweeps before the first sample", 0, PETSC_MAX_INT,
                        &sample_therm, &therm_set));
  PetscCall(app_opt_int(po, "-sample_sweeps", "-samples: sweeps between samples", 1, PETSC_MAX_INT, &sample_sweeps,
                        &every_set));
  PetscCall(app_opt_enum(po, "-algorithm", "-samples: sampler of the equilibrium samples", mc_algorithm_names,
                         MC_ALGORITHM_COUNT, &algorithm, &algorithm_set));
  PetscCall(app_opt_int(po, "-batch", "instances per rank between progress and stop checks", 1, PETSC_MAX_INT, &batch,
                        &set));
  PetscCall(app_opt_real(po, "-checkpoint_seconds", "longest time between checkpoints", 0, INFINITY, 1,
                         &checkpoint_seconds, &set));
  PetscCall(app_opt_bool(po, "-resume", "continue the interrupted run from <out>.ckpt (refused when there is none)",
                         &resume, &set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing finished -out, or discard an interrupted run's checkpoint",
                         &force, &set));
  PetscCall(app_opt_string(po, "-out", "output HDF5 file, required", "a file name", out, sizeof out, &out_set));
  PetscCall(app_opt_bool(po, "-dry_run", "check the options and -out, print the split's size, write nothing "
                         "(what jobs/submit-spingen does before it submits)", &dry_run, &set));
  PetscOptionsEnd();

  /* What applies in which mode: the search settings to -gs pt and sa,
   * the sampling settings to -samples >= 1. */
  if (lattice == SPIN_CUBIC && bc == SPIN_OPEN)
    app_option_error("-bc", "cubic lattices are periodic only; give -bc periodic or leave -bc out");
  if (method == GS_EXACT && !auto_method && (lattice != SPIN_SQUARE || bc != SPIN_OPEN))
    app_option_error("-gs", "needs -lattice square -bc open; use -gs pt or -gs sa");
  else if (method == GS_EXACT && !auto_method && L > MC_EXACT_MAX_L)
    app_option_error("-L", "exact ground states are limited to 2 <= L <= %d (memory and time grow as 2^L); use -gs pt "
                     "or -gs sa", (int)MC_EXACT_MAX_L);
  if (method == GS_EXACT) {
    const char *why = auto_method ? "tunes the -gs pt and -gs sa searches, but these ground states are exact (-gs auto "
                                    "on an open square lattice with L <= 20); add -gs pt or -gs sa to search instead"
                                  : "tunes the -gs pt and -gs sa searches, not -gs exact";
    app_option_inapplicable("-gs_replicas", replicas_set, why);
    app_option_inapplicable("-gs_sweeps", sweeps_set, why);
    app_option_inapplicable("-gs_beta_min", beta_min_set, why);
    app_option_inapplicable("-gs_beta_max", beta_max_set, why);
  } else if (gs_beta_min > gs_beta_max) {
    app_option_error(beta_min_set ? "-gs_beta_min" : "-gs_beta_max", "needs -gs_beta_min <= -gs_beta_max (here %g > %g)",
                     (double)gs_beta_min, (double)gs_beta_max);
  }
  {
    const int max_L = lattice == SPIN_CUBIC ? SPIN_CUBIC_MAX_L : SPIN_SQUARE_MAX_L;
    if (L > max_L) app_option_error("-L", "expected an integer from 2 to %d for a %s lattice", max_L,
                                    spin_lattice_kind_names[lattice]);
  }
  /* Metropolis barely mixes below beta = 0.01 (see eloss mc): every flip
   * is accepted, every sweep flips nearly all spins. */
  for (PetscInt k = 0; samples > 0 && algorithm == MC_METROPOLIS && k < n_betas; ++k)
    if (betas[k] < 0.01) {
      app_option_error("-sample_betas", "beta %g: Metropolis below beta = 0.01 flips nearly every spin at every "
                       "sweep and barely mixes; use -algorithm heatbath", (double)betas[k]);
      break;
    }
  if (samples == 0) {
    const char *why = "applies only to equilibrium samples; add -samples S (S >= 1)";
    app_option_inapplicable("-sample_betas", betas_set, why);
    app_option_inapplicable("-sample_therm", therm_set, why);
    app_option_inapplicable("-sample_sweeps", every_set, why);
    app_option_inapplicable("-algorithm", algorithm_set, why);
  }
  if (!out_set) app_option_error("-out", "required: the HDF5 file to write");
  /* A part: instances [first, first + count) of the split's -instances. */
  if (first_set && first >= instances)
    app_option_error("-first", "the split has instances 0 to %lld; a part must start within them",
                     (long long)instances - 1);
  else if (count_set && first + count > instances)
    app_option_error("-count", "instances [%lld, %lld) run past the split's %lld", (long long)first,
                     (long long)(first + count), (long long)instances);
  else if ((first_set || count_set) && !count_set)
    count = instances - first;
  if (resume && force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
  PetscBool stop;
  int code;
  PetscCall(app_options_check("spingen", &stop, &code));
  if (stop) return app_finalize(code);

  search.replicas = (int)gs_replicas, search.sweeps = (int)gs_sweeps;
  search.beta_min = gs_beta_min, search.beta_max = gs_beta_max;
  core_status st = CORE_OK;

  double beta_values[MAX_BETAS];
  for (PetscInt k = 0; k < n_betas; ++k) beta_values[k] = betas[k];

  mc_dataset_options opt = {
      .kind = lattice ? SPIN_CUBIC : SPIN_SQUARE, .bc = bc ? SPIN_PERIODIC : SPIN_OPEN,
      .method = (mc_gs_method)(method - 1), .search = search,
      .L = (int)L, .law = (spin_coupling_law)law, .instances = instances, .first = first, .count = count, .seed = (uint64_t)seed, .split = split,
      .n_betas = (int)n_betas, .betas = beta_values, .samples = (int)samples, .sample_therm = (int)sample_therm,
      .sample_sweeps = (int)sample_sweeps, .algorithm = algorithm ? MC_HEATBATH : MC_METROPOLIS,
      .batch = (int)batch, .checkpoint_seconds = checkpoint_seconds, .resume = resume, .force = force, .out = out};
  char text[4096];
  mc_dataset_options_text(&opt, text, sizeof text);
  if (dry_run) {
    /* Everything a run would refuse before its work, without the work. */
    opt.dry_run = 1;
    mc_dataset_report report = {0};
    st = mc_dataset_generate(MPI_COMM_WORLD, &opt, NULL, NULL, &report);
    if (!st && rank == 0)
      printf("dry_run instances=%lld rows=%lld out=%s options=%s\n", (long long)instances,
             (long long)(count > 0 ? count : instances), out, text);
    return app_finalize(st ? app_report("spingen", st) : 0);
  }
  if (rank == 0 && count > 0)
    fprintf(stderr, "eloss spingen: %s -first %lld -count %lld -out %s\n", text, (long long)first, (long long)count, out);
  else if (rank == 0)
    fprintf(stderr, "eloss spingen: %s -out %s\n", text, out);


  mc_dataset_report report = {0};
  st = mc_dataset_generate(MPI_COMM_WORLD, &opt, &app_stop_requested, stderr, &report);
  int exit_code = 0;
  if (st) {
    exit_code = app_report("spingen", st);
  } else if (report.interrupted) {
    if (rank == 0)
      fprintf(stderr, "eloss spingen: stopped after %lld of %lld instances, checkpoint written; "
                      "run the same command with -resume to continue\n", (long long)report.done,
              (long long)(count > 0 ? count : instances));
    exit_code = 3;
  } else if (rank == 0) {
    if (count > 0) printf("first=%lld ", (long long)first);
    printf("instances=%lld mean_energy_per_spin=%.10g err=%.3g seconds=%.2f out=%s\n", (long long)report.done,
           report.mean_energy, report.mean_energy_err, report.seconds, out);
    /* Heuristic ground states searched twice: how often the two agree is
     * the evidence that they are ground states. */
    if (report.gs_compared > 0)
      fprintf(stderr, "eloss spingen: ground states: two independent searches agreed on %lld of %lld instances "
                      "(%.1f %%)\n", (long long)report.gs_agreed, (long long)report.gs_compared,
              100.0 * (double)report.gs_agreed / (double)report.gs_compared);
  }
  return app_finalize(exit_code);
}
