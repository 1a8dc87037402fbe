/* eloss spinset: spin-glass datasets. Per instance of a split: the
 * couplings (a pure function of seed, split and index), the ground state
 * (exact on open square lattices, by the transfer matrix or matching;
 * else two independent searches of lib/mc), optional equilibrium samples, and a CRC-32 per row; one HDF5
 * file per split, the same datasets for any number of ranks, generated
 * with checkpoints and -resume (spinset_generate, lib/io's job
 * lifecycle), joined from parts (spinset_merge) and read back with every
 * row checked (spinset_load). The file layout: lib/spinset/generate.c and
 * docs/spingen.md.
 *
 * Worked example (what eloss spingen does):
 *
 *   spinset_options opt = {.kind = SPIN_SQUARE, .bc = SPIN_OPEN, .L = 16,
 *                          .law = SPIN_COUPLING_UNIFORM, .method = SPINSET_GS_EXACT,
 *                          .instances = 1000, .seed = 1, .split = "train", .chunk = 16,
 *                          .checkpoint_seconds = 5, .out = "train.h5"};
 *   mc_search_options_tempering(&opt.search);
 *   spinset_report rep;
 *   spinset_generate(MPI_COMM_WORLD, &opt, &stop_flag, stderr, &rep);
 *   spinset_data d;
 *   spinset_load(MPI_COMM_WORLD, "train.h5", &d);   // every row checked
 *   spinset_data_free(&d);
 */
#ifndef ELOSS_SPINSET_H
#define ELOSS_SPINSET_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "eloss/core.h"
#include "eloss/mc.h"
#include "eloss/spin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SPINSET_GS_EXACT, SPINSET_GS_TEMPERING, SPINSET_GS_ANNEAL } spinset_gs_method;

/* Command-line names ("exact", "pt", "sa"), indexed by spinset_gs_method;
 * name -> enum, CORE_ERR_ARG listing the names otherwise (pure). */
enum { SPINSET_GS_METHOD_COUNT = SPINSET_GS_ANNEAL + 1 };
extern const char *const spinset_gs_method_names[SPINSET_GS_METHOD_COUNT];
core_status spinset_gs_method_from_name(const char *name, spinset_gs_method *method);

typedef struct {
  spin_lattice_kind kind;    /* square or cubic */
  spin_boundary bc;          /* open or periodic (cubic: periodic) */
  int L;                     /* linear size (exact: open square lattices) */
  spin_coupling_law law;     /* couplings of instance i: function of (seed, i) */
  spinset_gs_method method;       /* how ground states are found */
  mc_ground_method exact_method;  /* exact: transfer matrix or matching (mc_ground_method_default) */
  mc_search_options search;  /* settings of tempering / annealing */
  int64_t instances;         /* of the split */
  int64_t first, count;      /* count > 0: a part, holding only instances [first, first + count)
                                of the split (spinset_merge joins parts); 0, 0: all */
  uint64_t seed;
  const char *split;         /* name recorded in the file ("train", "test") */
  int n_betas;               /* equilibrium samples at these inverse temperatures */
  const double *betas;       /* (n_betas) */
  int samples;               /* samples per beta and instance (0: none) */
  int sample_therm;          /* sweeps before the first sample */
  int sample_sweeps;         /* sweeps between samples */
  mc_algorithm algorithm;    /* sampler of the equilibrium samples */
  int chunk;                 /* instances per rank between progress and stop checks */
  double checkpoint_seconds; /* at most this long between checkpoints */
  int resume;                /* continue from <out>.ckpt if it matches */
  int force;                 /* replace an existing finished <out> */
  int dry_run;               /* every refusal of a run, no work, no files */
  const char *out;           /* final file; <out>.partial and <out>.ckpt meanwhile */
} spinset_options;

/* The options that shape the data, as one canonical line (stored as the
 * file's `options` attribute; with the sweep's rules and a part's range
 * it is the run's identity): "-lattice square -bc open -L 12 ...". Reals
 * in %.17g. Pure; the line is cut at size - 1 bytes. */
void spinset_options_text(const spinset_options *opt, char *text, size_t size);

typedef struct {
  int64_t done;              /* instances in the file */
  int interrupted;           /* stopped by *stop before the end */
  double seconds;            /* this run's wall time */
  double mean_energy;        /* ground-state energy per spin over all instances */
  double mean_energy_err;    /* its standard error */
  int64_t gs_compared;       /* heuristic ground states: instances searched twice */
  int64_t gs_agreed;         /* ... whose two independent searches found the same energy */
} spinset_report;

/* Generate a spin-glass dataset: instances sharded over the ranks of comm
 * in consecutive batches; per instance the couplings, the ground state
 * (exact, or the best state tempering / annealing found; canonical sign
 * s_0 = +1) and its energy, and optional equilibrium
 * samples; all written collectively to one HDF5 file (see docs/spingen.md for the
 * layout). The data of instance i depend only on (options, i): the file's
 * datasets are identical for any number of ranks. Finished instances are
 * checkpointed at least every checkpoint_seconds; when *stop becomes
 * non-zero on any rank (SIGTERM), all ranks abandon the current batch (at
 * the next sweep or matching event), write a checkpoint and return with
 * report->interrupted = 1. The final file
 * appears by rename only when every instance is in. Collective. */
core_status spinset_generate(MPI_Comm comm, const spinset_options *opt, volatile sig_atomic_t *stop,
                                FILE *progress, spinset_report *report);

/* An estimate of the bytes each of `ranks` ranks needs for spinset_generate
 * of opt: its batch buffers (-chunk instances) and the exact solver's
 * workspace (mc_ground_memory; not the heuristic searches' chains, which
 * are small); 0 for options that do not make a lattice. Pure. */
int64_t spinset_memory(const spinset_options *opt, int ranks);

/* Join the parts of one split (files of spinset_generate with count
 * > 0) into `out`, which then equals, dataset for dataset and attribute
 * for attribute, the file of one run over all instances with the same
 * options. Every part is checked first: the same `options` attribute
 * (every option but the range), the same dataset shapes apart from the
 * rows, ranges that tile [0, instances) with no gap and no overlap (in
 * any order on the command line), and every row against its crc32. The
 * merged file is written to <out>.partial, reread and checked, then
 * renamed; <out>.lock keeps out a second merge; an existing out is
 * replaced only with force, and out may not be one of the parts.
 * Collective on comm (rank 0 does the file I/O, every rank checks its
 * share of the rows); *instances (may be NULL) gets the merged count. */
core_status spinset_merge(MPI_Comm comm, int n_parts, const char *const *parts, const char *out, int force,
                             int64_t *instances);

/* A dataset written by spinset_generate, read back whole (for training
 * and evaluation; lib/spinset/load.c). */
typedef struct {
  spin_lattice lat;   /* from the datasets' shapes */
  int64_t count;      /* instances */
  double *J;          /* (count, bond slots) couplings in spin.h's layout */
  int8_t *gs;         /* (count, n_sites) ground states, +-1 */
  double *energy;     /* (count) their energies */
  uint32_t *crc;      /* (count) each instance's verified CRC-32 (a fingerprint) */
  char split[64];     /* the file's split attribute */
} spinset_data;

/* Read the dataset at path on every rank of comm, after checking every
 * instance on rank 0: its crc32 against its rows, spins +-1, and the
 * stored energy equal to the ground state's energy. A damaged, foreign or
 * incomplete file is CORE_ERR_FORMAT naming the file and the instance; no
 * rank keeps anything on failure. Collective; *data owned by the caller. */
core_status spinset_load(MPI_Comm comm, const char *path, spinset_data *data);
/* Accepts a zeroed or freed struct. */
void spinset_data_free(spinset_data *data);

#ifdef __cplusplus
}
#endif
#endif
