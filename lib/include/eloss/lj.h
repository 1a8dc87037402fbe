/* eloss lj: Lennard-Jones clusters: the energy and its
 * gradient, local minimisation, Metropolis Monte Carlo in a containing
 * sphere with parallel tempering, basin hopping for the global minimum,
 * and the dataset generator behind `eloss clustergen`.
 *
 * Reduced units throughout: epsilon = sigma = 1, k_B = 1, so energies,
 * temperatures and lengths are plain numbers. Coordinates are (n, 3)
 * row-major doubles.
 *
 * Worked example (global minimum of LJ13 by basin hopping):
 *
 *   lj_basin *b;
 *   lj_basin_create(13, lj_default_radius(13), 0.4, 0.8, &b);
 *   double *walk = malloc(sizeof(double) * lj_walk_size(13));
 *   lj_basin_start(b, seed, 0, walk);              // walk 0: a quenched random start
 *   for (uint64_t chunk = 0; chunk < 50; ++chunk)  // the caller owns the loop
 *     lj_basin_steps(b, seed, 0, chunk, walk);      // LJ_BASIN_CHUNK steps
 *   printf("%.6f\n", walk[LJ_WALK_BEST_ENERGY]);    // -44.326801
 *   lj_basin_destroy(&b);
 *
 * Randomness: every stream is (seed, CORE_PURPOSE_LJ | what << 8, index)
 * with `what` one of the lj_stream values and the index naming the
 * temperature or walk and the cycle, so no result depends on which rank
 * computes it. */
#ifndef ELOSS_LJ_H
#define ELOSS_LJ_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "eloss/core.h"
#include "eloss/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest cluster the module accepts: the O(n^2) kernels stay in cache and
 * the walk rows (6n + 2 doubles) stay small. */
enum { LJ_MAX_N = 4096 };

/* ---- energy ------------------------------------------------------------- */

/* E = 4 sum_{i<j} (r_ij^-12 - r_ij^-6) of n particles at x (n, 3); if grad
 * is not NULL it receives dE/dx (n, 3) (overwritten). `work` holds 6n
 * doubles of scratch (structure-of-arrays copies), so the call allocates
 * nothing. Two coincident particles give +inf. Local, pure. */
double lj_energy_gradient(int n, const double *x, double *grad, double *work);

/* The energy of particle i at position p (3) with the others at
 * (xs, ys, zs) (n each, structure of arrays; entry i is skipped):
 * 4 sum_{j != i} (r^-12 - r^-6). The Metropolis move's Delta E is
 * lj_particle_energy(new) - lj_particle_energy(old). Local, pure. */
double lj_particle_energy(int n, int i, const double *p, const double *xs, const double *ys, const double *zs);

/* Default radius of the containing sphere: 2.5 for n <= 13, growing as
 * n^(1/3) beyond (the cluster's volume grows as n). */
double lj_default_radius(int n);

/* ---- local minimisation ------------------------------------------------ */

typedef struct lj_minimiser lj_minimiser;

/* GSL's BFGS (vector_bfgs2) on 3n coordinates; workspace for one n.
 * Local. */
core_status lj_minimiser_create(int n, lj_minimiser **m);
/* Minimise x (n, 3) in place until |grad| <= gtol (2-norm) or max_iter
 * iterations or no further progress; *energy receives E(x). Returns
 * CORE_ERR_NUMERIC if E is not finite. Local. */
core_status lj_minimise(lj_minimiser *m, double *x, double gtol, int max_iter, double *energy);
void lj_minimiser_destroy(lj_minimiser **m);

/* Random start: n points uniform in the ball of radius `ball` around the
 * origin, no two closer than 0.8 (so the energy is finite and moderate),
 * drawn from rng. CORE_ERR_ARG if the ball is too small to place them. */
core_status lj_random_start(int n, double ball, core_rng *rng, double *x);

/* Move the centre of mass to the origin; return the largest distance of a
 * particle from it. */
double lj_center(int n, double *x);

/* ---- Monte Carlo with parallel tempering -------------------------------- */

/* Streams of the module (the `what` of the header comment). */
enum { LJ_STREAM_START = 0, LJ_STREAM_MOVES = 1, LJ_STREAM_EXCHANGE = 2, LJ_STREAM_BASIN = 3 };

/* A replica row: energy, step size, then the coordinates (n, 3). Rows are
 * plain doubles so a rank can gather them and a checkpoint can save them. */
enum { LJ_ROW_ENERGY = 0, LJ_ROW_STEP = 1, LJ_ROW_X = 2 };
static inline int64_t lj_row_size(int n) { return 2 + 3 * (int64_t)n; }

typedef struct lj_sampler lj_sampler;

/* Workspace of the Metropolis chains of n particles in a sphere of
 * `radius` around the origin. Local. */
core_status lj_sampler_create(int n, double radius, lj_sampler **s);
/* Start row of temperature index t: a random configuration (stream
 * START, index t) quenched by lj_minimise, step size 0.1. Local. */
core_status lj_sampler_start(lj_sampler *s, uint64_t seed, int t, double *row);
/* Temperature t's first row at the given structure x (n, 3), centred;
 * refused if it does not fit the container. Local. */
core_status lj_sampler_start_at(lj_sampler *s, int t, const double *x, double *row);
/* One cycle of temperature index t at `temperature`: `sweeps` sweeps, each
 * a displacement attempt of every particle in order, uniform in a cube of
 * half-side row[LJ_ROW_STEP], rejected if it leaves the sphere, accepted
 * with probability min(1, exp(-dE / T)) (Metropolis). Draws come from the
 * stream (MOVES, t << 32 | cycle). With `adapt` the step size is then
 * scaled by 1.1 or 1/1.1 toward 50 % acceptance (equilibration only: a
 * fixed step keeps detailed balance while sampling). row[LJ_ROW_ENERGY]
 * is recomputed from scratch at the end. *accepted gets the fraction
 * accepted. Returns CORE_ERR_STOPPED if *stop is set between sweeps.
 * Local. */
core_status lj_sampler_cycle(lj_sampler *s, uint64_t seed, int t, uint64_t cycle, double temperature, int sweeps,
                             int adapt, double *row, double *accepted, volatile sig_atomic_t *stop);
void lj_sampler_destroy(lj_sampler **s);

/* Replica exchange of cycle `cycle` over rows (n_temps rows of
 * lj_row_size(n)) ordered by ascending temperatures: pairs (t, t + 1) with
 * t = cycle mod 2, 4, ... swap configurations (energy and coordinates;
 * the step size stays with its temperature) with probability
 * min(1, exp((1/T_t - 1/T_t+1)(E_t - E_t+1))), decided from the stream
 * (EXCHANGE, cycle). accepted and tried (n_temps - 1) are incremented.
 * Local, pure: every rank holding the same rows makes the same swaps. */
void lj_exchange(int n, int n_temps, const double *temperatures, uint64_t seed, uint64_t cycle, double *rows,
                 double *accepted, double *tried);

/* ---- basin hopping ------------------------------------------------------- */

/* A walk row: current and best minimum (energies, then coordinates). */
enum { LJ_WALK_ENERGY = 0, LJ_WALK_BEST_ENERGY = 1, LJ_WALK_X = 2 };
static inline int64_t lj_walk_size(int n) { return 2 + 6 * (int64_t)n; }
static inline double *lj_walk_best(double *walk, int n) { return walk + LJ_WALK_X + 3 * (int64_t)n; }

/* Basin-hopping steps per lj_basin_steps call (one stream each). */
enum { LJ_BASIN_CHUNK = 10 };

typedef struct lj_basin lj_basin;

/* Basin hopping (Wales and Doye, J. Phys. Chem. A 101, 5111 (1997)):
 * perturb every coordinate by U[-step, step], minimise, accept the new
 * minimum with probability min(1, exp(-dE / temperature)); a minimum with
 * a particle farther than `radius` from the centre of mass (evaporated) is
 * rejected. Local. */
core_status lj_basin_create(int n, double radius, double step, double temperature, lj_basin **b);
/* Walk `walk`'s first minimum: a random start (stream START, 2^32 + walk)
 * minimised; current = best. Local. */
core_status lj_basin_start(lj_basin *b, uint64_t seed, uint64_t walk, double *row);
/* LJ_BASIN_CHUNK steps of walk `walk` from the stream (BASIN, walk << 32 |
 * chunk). The best minimum is kept, re-minimised to |grad| <= 1e-10.
 * Local. */
core_status lj_basin_steps(lj_basin *b, uint64_t seed, uint64_t walk, uint64_t chunk, double *row);
void lj_basin_destroy(lj_basin **b);

/* ---- datasets (eloss clustergen) ---------------------------------------- */

typedef struct {
  int n;                       /* particles */
  int n_temps;                 /* temperatures, strictly ascending */
  const double *temperatures;  /* (n_temps) */
  int samples;                 /* K conformations per temperature (0: none) */
  int therm;                   /* cycles before the first sample (step sizes adapt meanwhile) */
  int sweeps;                  /* sweeps per cycle: between samples and exchanges */
  double radius;               /* containing sphere */
  int walks;                   /* independent basin-hopping walks */
  int bh_steps;                /* steps per walk (rounded up to LJ_BASIN_CHUNK) */
  double bh_step, bh_temperature;
  uint64_t seed;
  double checkpoint_seconds;   /* at most this long between checkpoints */
  int resume, force;
  const char *out;             /* HDF5 file; <out>.ckpt and <out>.partial meanwhile */
  const char *xyz;             /* NULL, or an XYZ file for the global minimum */
  const double *start;         /* NULL: each chain starts from a quenched random start; else (n, 3): every
                                  chain starts here, so all samples share its atom labels (-start) */
  const char *start_name;      /* the file start was read from, recorded with its CRC-32 */
} lj_cluster_options;

/* The options that shape the data as one canonical line, the file's
 * `options` attribute and the run's identity: "-n 13 -seed 1 ...", reals
 * in %.17g, then "-start <name> -start_crc32 <CRC-32 of start>" with a
 * start. Pure; cut at size - 1 bytes. */
void lj_cluster_options_text(const lj_cluster_options *opt, char *text, size_t size);
/* The CRC-32 of the start's coordinates ((n, 3) doubles), -1 without a
 * start: the file's `start_crc32` attribute. Pure. */
int64_t lj_cluster_start_crc(const lj_cluster_options *opt);

typedef struct {
  double global_min_energy;    /* lowest minimum found by any walk */
  int interrupted;             /* stopped by *stop; a checkpoint was written */
  int64_t cycles, cycles_total;
  double seconds;
  double *exchange_rates;      /* (n_temps - 1) accepted fractions, owned by the caller; may be NULL */
} lj_cluster_report;

/* The -start structure of a run of n atoms: an XYZ file of exactly one
 * frame of n atoms, read into *mol (io_molecules_free frees); errors name
 * the file and what it holds. Local. */
core_status lj_cluster_start_read(const char *path, int n, io_molecules *mol);

/* Generate a cluster dataset (layout in lib/lj/cluster.c and docs/clustergen.md):
 * parallel tempering samples, then basin hopping. Temperatures and walks
 * are sharded over the ranks of comm; the file is identical for any rank
 * count. Rank 0 holds <out>.lock for the run; checkpoints go to
 * <out>.ckpt; when *stop becomes non-zero on any rank, all ranks
 * checkpoint at the end of the cycle and return with report->interrupted.
 * Collective. */
core_status lj_cluster_generate(MPI_Comm comm, const lj_cluster_options *opt, volatile sig_atomic_t *stop,
                                FILE *progress, lj_cluster_report *report);

/* The checksum of temperature t's rows of a cluster dataset, as its
 * crc32 dataset stores it: CRC-32 of positions (K, N, 3), then energies
 * (K), then the temperature, as little-endian doubles. Pure. */
uint32_t lj_cluster_row_crc(int64_t K, int N, const double *positions, const double *energies, double temperature);

/* A cluster dataset read back: every row checked against its checksum and
 * every energy against the LJ energy of its positions (1e-8), then the
 * positions broadcast to every rank of comm. */
typedef struct {
  int64_t T, K;        /* temperatures, samples each */
  int N;               /* particles */
  double *positions;   /* (T, K, N, 3) */
  int64_t start_crc;   /* the file's start_crc32: -1 without a -start */
  uint32_t crc;        /* CRC-32 of the T row checksums: the data's fingerprint */
} lj_cluster_data;
/* Collective; errors name the file and the row. */
core_status lj_cluster_load(MPI_Comm comm, const char *path, lj_cluster_data *data);
/* Accepts a zeroed struct. */
void lj_cluster_data_free(lj_cluster_data *data);

#ifdef __cplusplus
}
#endif
#endif
