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
#include "eloss/spinset.h"

static const char help[] =
    "eloss spingen: spin-glass dataset generator. Per instance: couplings J ~ law(seed,\n"
    "instance) keyed by the split too (splits never share instances), the ground state\n"
    "(canonical sign s[0,0] = +1) and its energy, optional equilibrium samples, and a\n"
    "CRC-32 per instance; one HDF5 file per split, written by rank 0 for all ranks,\n"
    "identical in its datasets for any number of ranks.\n"
    "Ground states: exact on open square lattices of any size (-gs_method tm: the\n"
    "transfer matrix, L <= 20; matching: minimum-weight perfect matching on the dual\n"
    "graph, 16 x 16 in ~1 ms, 1024 x 1024 in ~17 s), else two independent searches\n"
    "by parallel tempering (-gs pt) or simulated annealing (-gs sa), whose agreement\n"
    "is stored. <out>.lock keeps out a second run;\n"
    "checkpoints go to <out>.ckpt; SIGTERM checkpoints and exits with code 3;\n"
    "-resume checks the stored rows and continues; -force replaces a finished file.\n";


/* -gs: "auto", then the library's methods in spinset_gs_method order. */
enum { GS_AUTO, GS_EXACT = 1 + SPINSET_GS_EXACT, GS_PT = 1 + SPINSET_GS_TEMPERING, GS_SA = 1 + SPINSET_GS_ANNEAL, MAX_BETAS = 64 };
/* -gs_method: "auto", then the library's exact solvers (1 + mc_ground_method). */
enum { EXACT_AUTO };

typedef struct {
  PetscInt lattice, bc, law, method, algorithm, L, instances, first, count, seed, samples, sample_therm, sample_sweeps,
      chunk, n_betas, gs_replicas, gs_sweeps, exact_method;
  PetscReal betas[MAX_BETAS], checkpoint_seconds, gs_beta_min, gs_beta_max;
  char split[256], out[PETSC_MAX_PATH_LEN];
  PetscBool resume, force, dry_run, auto_method;
  PetscBool exact_method_set, bc_set, out_set, first_set, count_set, replicas_set, sweeps_set, beta_min_set,
      beta_max_set, betas_set, therm_set, every_set, algorithm_set;
} spingen_args;

static PetscErrorCode read_options(spingen_args *a) {
  const char *methods[1 + SPINSET_GS_METHOD_COUNT] = {"auto"};
  for (int k = 0; k < SPINSET_GS_METHOD_COUNT; ++k) methods[1 + k] = spinset_gs_method_names[k];
  a->lattice = SPIN_SQUARE, a->bc = SPIN_OPEN, a->law = SPIN_COUPLING_UNIFORM, a->method = GS_AUTO;
  a->algorithm = MC_METROPOLIS, a->L = 16, a->instances = 1000, a->sample_therm = 1000, a->sample_sweeps = 10;
  a->chunk = 16, a->betas[0] = 1.0, a->n_betas = 1, a->checkpoint_seconds = 5.0;
  snprintf(a->split, sizeof a->split, "train");
  PetscBool set, method_set;
  mc_search_options search;

  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss spingen options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-lattice", "lattice", spin_lattice_kind_names, SPIN_LATTICE_KIND_COUNT, &a->lattice,
                         &set));
  PetscCall(app_opt_int(po, "-L", "linear size", 2, PETSC_MAX_INT, &a->L, &set));
  /* Cubic lattices are periodic only, so that is their default here as in
   * eloss mc; square ones default to the paper's open lattices. */
  if (a->lattice == SPIN_CUBIC) a->bc = SPIN_PERIODIC;
  PetscCall(app_opt_enum(po, "-bc", "boundary (default: open for square, periodic for cubic, which is periodic only)",
                         spin_boundary_names, SPIN_BOUNDARY_COUNT, &a->bc, &a->bc_set));
  PetscCall(app_opt_enum(po, "-couplings", "coupling law", spin_coupling_names, SPIN_COUPLING_COUNT, &a->law, &set));
  PetscCall(app_opt_int(po, "-instances", "number of instances", 1, PETSC_MAX_INT, &a->instances, &set));
  PetscCall(app_opt_int(po, "-first", "write only instances [first, first + count) of the split: a part for "
                        "eloss spingen-merge (default 0)", 0, PETSC_MAX_INT, &a->first, &a->first_set));
  PetscCall(app_opt_int(po, "-count", "with -first: instances in the part (default: to the end of the split)", 1,
                        PETSC_MAX_INT, &a->count, &a->count_set));
  PetscCall(app_opt_string(po, "-split", "split name stored in the file", "a name", a->split, sizeof a->split, &set));
  PetscCall(app_opt_int(po, "-seed", "seed: instance i's couplings are a function of (seed, split, i)", 0,
                        PETSC_MAX_INT, &a->seed, &set));
  PetscCall(app_opt_enum(po, "-gs", "ground-state method: auto = exact on open square lattices, parallel tempering "
                         "otherwise", methods, 1 + SPINSET_GS_METHOD_COUNT, &a->method, &method_set));
  a->auto_method = a->method == GS_AUTO;
  if (a->auto_method) a->method = a->lattice == SPIN_SQUARE && a->bc == SPIN_OPEN ? GS_EXACT : GS_PT;
  const char *exact_methods[1 + MC_GROUND_METHOD_COUNT] = {"auto"};
  for (int k = 0; k < MC_GROUND_METHOD_COUNT; ++k) exact_methods[1 + k] = mc_ground_method_names[k];
  a->exact_method = EXACT_AUTO;
  PetscCall(app_opt_enum(po, "-gs_method", "-gs exact: tm (transfer matrix, L <= 20) or matching (any L); auto = "
                         "the faster for L (tm below L = 12)", exact_methods, 1 + MC_GROUND_METHOD_COUNT,
                         &a->exact_method, &a->exact_method_set));
  if (a->exact_method == EXACT_AUTO) a->exact_method = 1 + (PetscInt)mc_ground_method_default((int)a->L);
  /* The search settings default to the tested ones of the chosen method
   * (tempering's when the ground states are exact and they do not apply). */
  if (a->method == GS_SA) mc_search_options_anneal(&search);
  else mc_search_options_tempering(&search);
  a->gs_replicas = search.replicas, a->gs_sweeps = search.sweeps;
  a->gs_beta_min = search.beta_min, a->gs_beta_max = search.beta_max;
  PetscCall(app_opt_int(po, "-gs_replicas", "-gs pt: temperatures, -gs sa: independent runs",
                        a->method == GS_PT ? 2 : 1, PETSC_MAX_INT, &a->gs_replicas, &a->replicas_set));
  PetscCall(app_opt_int(po, "-gs_sweeps", "-gs pt / sa: sweeps", 1, PETSC_MAX_INT, &a->gs_sweeps, &a->sweeps_set));
  PetscCall(app_opt_real(po, "-gs_beta_min", "-gs pt: hottest, sa: first inverse temperature", 0, APP_BETA_MAX, 1,
                         &a->gs_beta_min, &a->beta_min_set));
  PetscCall(app_opt_real(po, "-gs_beta_max", "-gs pt: coldest, sa: last inverse temperature", 0, APP_BETA_MAX, 1,
                         &a->gs_beta_max, &a->beta_max_set));
  PetscCall(app_opt_int(po, "-samples", "equilibrium samples per beta and instance (0: none)", 0, PETSC_MAX_INT,
                        &a->samples, &set));
  PetscCall(app_opt_real_list(po, "-sample_betas", "-samples: inverse temperatures of the equilibrium samples", 0,
                              APP_BETA_MAX, 1, MAX_BETAS, a->betas, &a->n_betas, &a->betas_set));
  PetscCall(app_opt_int(po, "-sample_therm", "-samples: sweeps before the first sample", 0, PETSC_MAX_INT,
                        &a->sample_therm, &a->therm_set));
  PetscCall(app_opt_int(po, "-sample_sweeps", "-samples: sweeps between samples", 1, PETSC_MAX_INT,
                        &a->sample_sweeps, &a->every_set));
  PetscCall(app_opt_enum(po, "-algorithm", "-samples: sampler of the equilibrium samples", mc_algorithm_names,
                         MC_ALGORITHM_COUNT, &a->algorithm, &a->algorithm_set));
  PetscCall(app_opt_int(po, "-chunk", "instances per rank between progress and stop checks (a chunk runs as one: "
                        "its instances share the SIMD lanes)", 1, PETSC_MAX_INT, &a->chunk, &set));
  PetscCall(app_opt_real(po, "-checkpoint_seconds", "longest time between checkpoints", 0, INFINITY, 1,
                         &a->checkpoint_seconds, &set));
  PetscCall(app_opt_bool(po, "-resume", "continue the interrupted run from <out>.ckpt (refused when there is none)",
                         &a->resume, &set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing finished -out, or discard an interrupted run's checkpoint",
                         &a->force, &set));
  PetscCall(app_opt_string(po, "-out", "output HDF5 file, required", "a file name", a->out, sizeof a->out,
                           &a->out_set));
  PetscCall(app_opt_bool(po, "-dry_run", "check the options and -out, print the split's size and the memory per "
                         "rank, write nothing (what jobs/submit-spingen does before it submits)", &a->dry_run, &set));
  PetscOptionsEnd();
  return 0;
}

/* What applies in which mode: the search settings to -gs pt and sa. */
static void check_ground_states(const spingen_args *a) {
  if (a->lattice == SPIN_CUBIC && a->bc == SPIN_OPEN)
    app_option_error("-bc", "cubic lattices are periodic only; give -bc periodic or leave -bc out");
  if (a->method == GS_EXACT && !a->auto_method && (a->lattice != SPIN_SQUARE || a->bc != SPIN_OPEN))
    app_option_error("-gs", "needs -lattice square -bc open; use -gs pt or -gs sa");
  else if (a->method == GS_EXACT) {
    const core_status st = mc_ground_check((int)a->L, (mc_ground_method)(a->exact_method - 1));
    if (st) app_option_error(a->exact_method_set ? "-gs_method" : "-L", "%s", core_error_message());
  }
  if (a->method != GS_EXACT)
    app_option_inapplicable("-gs_method", a->exact_method_set,
                            a->auto_method ? "chooses the exact solver, but -gs auto searches (pt) on this lattice: "
                                             "exact ground states need an open square lattice"
                                           : "chooses the exact solver of -gs exact, not of the -gs pt and sa searches");
  if (a->method == GS_EXACT) {
    const char *why = a->auto_method ? "tunes the -gs pt and -gs sa searches, but these ground states are exact (-gs "
                                       "auto on an open square lattice); add -gs pt or -gs sa to search instead"
                                     : "tunes the -gs pt and -gs sa searches, not -gs exact";
    app_option_inapplicable("-gs_replicas", a->replicas_set, why);
    app_option_inapplicable("-gs_sweeps", a->sweeps_set, why);
    app_option_inapplicable("-gs_beta_min", a->beta_min_set, why);
    app_option_inapplicable("-gs_beta_max", a->beta_max_set, why);
  } else if (a->gs_beta_min > a->gs_beta_max) {
    app_option_error(a->beta_min_set ? "-gs_beta_min" : "-gs_beta_max",
                     "needs -gs_beta_min <= -gs_beta_max (here %g > %g)", (double)a->gs_beta_min,
                     (double)a->gs_beta_max);
  }
  const int max_L = a->lattice == SPIN_CUBIC ? SPIN_CUBIC_MAX_L : SPIN_SQUARE_MAX_L;
  if (a->L > max_L)
    app_option_error("-L", "expected an integer from 2 to %d for a %s lattice", max_L,
                     spin_lattice_kind_names[a->lattice]);
}

/* The sampling settings apply to -samples >= 1; a part lies in the split. */
static void check_samples_and_part(spingen_args *a) {
  /* Metropolis barely mixes below beta = 0.01 (see eloss mc): every flip
   * is accepted, every sweep flips nearly all spins. */
  for (PetscInt k = 0; a->samples > 0 && a->algorithm == MC_METROPOLIS && k < a->n_betas; ++k)
    if (a->betas[k] < 0.01) {
      app_option_error("-sample_betas", "beta %g: Metropolis below beta = 0.01 flips nearly every spin at every "
                       "sweep and barely mixes; use -algorithm heatbath", (double)a->betas[k]);
      break;
    }
  if (a->samples == 0) {
    const char *why = "applies only to equilibrium samples; add -samples S (S >= 1)";
    app_option_inapplicable("-sample_betas", a->betas_set, why);
    app_option_inapplicable("-sample_therm", a->therm_set, why);
    app_option_inapplicable("-sample_sweeps", a->every_set, why);
    app_option_inapplicable("-algorithm", a->algorithm_set, why);
  }
  if (!a->out_set) app_option_error("-out", "required: the HDF5 file to write");
  app_output_name("-out", a->out);
  /* The split name is one word of the run's options line. */
  if (a->split[strcspn(a->split, " \t\n\r")])
    app_option_error("-split", "expected one word (no blanks): it names the split in the file's options line");
  /* A part: instances [first, first + count) of the split's -instances. */
  if (a->first_set && a->first >= a->instances)
    app_option_error("-first", "the split has instances 0 to %lld; a part must start within them",
                     (long long)a->instances - 1);
  else if (a->count_set && a->first + a->count > a->instances)
    app_option_error("-count", "instances [%lld, %lld) run past the split's %lld", (long long)a->first,
                     (long long)(a->first + a->count), (long long)a->instances);
  else if ((a->first_set || a->count_set) && !a->count_set)
    a->count = a->instances - a->first;
  if (a->resume && a->force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
}

static PetscErrorCode spingen_options(void *opts) {
  spingen_args *a = opts;
  PetscCall(read_options(a));
  check_ground_states(a);
  check_samples_and_part(a);
  return 0;
}

static int spingen_main(void *opts) {
  const spingen_args *a = opts;
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  mc_search_options search;
  if (a->method == GS_SA) mc_search_options_anneal(&search);
  else mc_search_options_tempering(&search);
  search.replicas = (int)a->gs_replicas, search.sweeps = (int)a->gs_sweeps;
  search.beta_min = a->gs_beta_min, search.beta_max = a->gs_beta_max;
  double betas[MAX_BETAS];
  for (PetscInt k = 0; k < a->n_betas; ++k) betas[k] = a->betas[k];
  spinset_options opt = {
      .kind = a->lattice ? SPIN_CUBIC : SPIN_SQUARE, .bc = a->bc ? SPIN_PERIODIC : SPIN_OPEN,
      .method = (spinset_gs_method)(a->method - 1), .exact_method = (mc_ground_method)(a->exact_method - 1),
      .search = search, .L = (int)a->L, .law = (spin_coupling_law)a->law,
      .instances = a->instances, .first = a->first, .count = a->count, .seed = (uint64_t)a->seed, .split = a->split,
      .n_betas = (int)a->n_betas, .betas = betas, .samples = (int)a->samples, .sample_therm = (int)a->sample_therm,
      .sample_sweeps = (int)a->sample_sweeps, .algorithm = a->algorithm ? MC_HEATBATH : MC_METROPOLIS,
      .chunk = (int)a->chunk, .checkpoint_seconds = a->checkpoint_seconds, .resume = a->resume, .force = a->force,
      .out = a->out, .dry_run = a->dry_run};
  char text[4096];
  spinset_options_text(&opt, text, sizeof text);
  spinset_report report = {0};
  const long long rows = (long long)(a->count > 0 ? a->count : a->instances);
  if (a->dry_run) {
    /* Everything a run would refuse before its work, without the work. */
    core_status st = spinset_generate(MPI_COMM_WORLD, &opt, NULL, NULL, &report);
    if (!st && rank == 0)
      printf("dry_run instances=%lld rows=%lld memory_mb=%lld out=%s options=%s\n", (long long)a->instances, rows,
             (long long)((spinset_memory(&opt, size) + (1 << 20) - 1) >> 20), a->out, text);
    return st ? app_report("spingen", st) : 0;
  }
  if (rank == 0 && a->count > 0)
    fprintf(stderr, "eloss spingen: %s -first %lld -count %lld -out %s\n", text, (long long)a->first,
            (long long)a->count, a->out);
  else if (rank == 0)
    fprintf(stderr, "eloss spingen: %s -out %s\n", text, a->out);
  core_status st = spinset_generate(MPI_COMM_WORLD, &opt, &app_stop_requested, stderr, &report);
  if (st) return app_report("spingen", st);
  if (report.interrupted)
    return app_stopped("spingen", "after %lld of %lld instances, checkpoint written", (long long)report.done, rows);
  if (rank == 0) {
    if (a->count > 0) printf("first=%lld ", (long long)a->first);
    printf("instances=%lld mean_energy_per_spin=%.10g err=%.3g seconds=%.2f out=%s\n", (long long)report.done,
           report.mean_energy, report.mean_energy_err, report.seconds, a->out);
    /* Heuristic ground states searched twice: how often the two agree is
     * the evidence that they are ground states. */
    if (report.gs_compared > 0)
      fprintf(stderr, "eloss spingen: ground states: two independent searches agreed on %lld of %lld instances "
                      "(%.1f %%)\n", (long long)report.gs_agreed, (long long)report.gs_compared,
              100.0 * (double)report.gs_agreed / (double)report.gs_compared);
  }
  return 0;
}

const app_command app_spingen_command = {
    .name = "spingen",
    .summary = "spin-glass dataset: couplings, exact ground states, samples (HDF5)",
    .help = help,
    .long_running = 1,
    .size = sizeof(spingen_args),
    .options = spingen_options,
    .run = spingen_main,
};
