/* eloss mc: ground states and Monte Carlo of spin systems: the exact
 * ground-state solvers of open square lattices (a transfer matrix, and
 * minimum-weight perfect matching on the dual graph for any size),
 * Metropolis and heat-bath chains over many replicas, and error bars for
 * their observables.
 *
 * Worked example (sampling):
 *
 *   mc_chain *ch;
 *   mc_chain_create(&lat, J, 0.0, 0, replicas, MC_METROPOLIS, seed, instance, &ch);
 *   mc_chain_set_beta(ch, 0.44);
 *   for (int t = 0; t < sweeps; ++t) {
 *     mc_chain_sweep(ch);                        // the caller owns the loop
 *     for (r ...) e[t] += mc_chain_energy(ch, r);
 *   }
 *   mc_estimate_mean(e, sweeps, 32, &mean, &err); // blocked jackknife
 *   mc_chain_destroy(&ch);
 *
 * Worked example (what eloss mc measures, replicas first .. first + mine - 1
 * of `replicas` on this rank, pairs kept whole):
 *
 *   mc_series *ser;
 *   mc_series_create(MPI_COMM_WORLD, &lat, sweeps, replicas, first, mine, &ser);
 *   for (int t = 0; t < sweeps; ++t) {
 *     mc_chain_sweep(ch);
 *     mc_series_add_chain(ser, ch, ov);          // E, m, overlaps of local pairs
 *     mc_series_next(ser);                       // collective every 256 sweeps
 *   }
 *   mc_estimate est[MC_SERIES_ESTIMATES];
 *   int count;
 *   mc_series_estimate(ser, 20, est, &count);    // same bits on any rank count
 *   mc_series_destroy(&ser);
 *
 * Worked example (exact ground states, the faster solver for the size):
 *
 *   mc_ground *g;
 *   mc_ground_create(64, mc_ground_method_default(64), &g);  // matching
 *   for (instance ...) {
 *     spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, seed, instance, J);
 *     double e;
 *     mc_ground_solve(g, J, spins, &e);         // spins: (4096) int8, s_0 = +1
 *   }
 *   mc_ground_destroy(&g);
 */
#ifndef ELOSS_MC_H
#define ELOSS_MC_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "eloss/core.h"
#include "eloss/spin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest width the transfer-matrix solver accepts: 2^20 boundary states
 * need 8 MB of energies and 2^20 / 8 bytes of choices per site (50 MB for
 * a 20 x 20 lattice). */
enum { MC_EXACT_MAX_L = 20 };

typedef struct mc_exact mc_exact;

/* Workspace for exact ground states of open L x L square lattices,
 * 2 <= L <= MC_EXACT_MAX_L. Memory: 8 * 2^L bytes of energies plus
 * L^2 * 2^L / 8 bytes of choices. Local. */
core_status mc_exact_create(int L, mc_exact **ex);

/* Ground state of the open L x L Edwards-Anderson lattice with couplings J
 * (spin.h layout; bonds leaving the lattice are ignored) and no field:
 * min-plus transfer matrix over the 2^L states of the last L spins, one site
 * at a time, then backtracking. Writes the spins (L * L, +-1) in canonical
 * sign, spins[0] = +1 (the global flip of a ground state is a ground state),
 * and the energy. Time: about L^2 2^L steps (16 x 16: a few ms). Local. */
core_status mc_exact_solve(mc_exact *ex, const double *J, int8_t *spins, double *energy);

void mc_exact_destroy(mc_exact **ex);

/* Largest lattice the matching solver accepts (its graph has about 12
 * edges per site and int32 vertex numbers). */
#define MC_PLANAR_MAX_SITES ((int64_t)1 << 26)

typedef struct mc_planar mc_planar;

/* Workspace for exact ground states of open rows x cols square lattices
 * by matching, rows, cols >= 2, rows * cols <= MC_PLANAR_MAX_SITES.
 * Memory while solving: about 2 kB per site (512 x 512: 525 MB peak
 * resident for the whole process). Local. */
core_status mc_planar_create(int rows, int cols, mc_planar **pl);

/* Ground state of the open rows x cols Edwards-Anderson lattice without
 * field, couplings H (rows, cols-1): H[r, c] couples (r, c)-(r, c+1), and
 * V (rows-1, cols): V[r, c] couples (r, c)-(r+1, c): minimum-weight perfect
 * matching of the frustrated faces on the dual graph (Bieche et al. 1980,
 * Barahona 1982; lib/mc/planar.c). Writes the spins (row-major, +-1) in
 * canonical sign, spins[0] = +1, and the energy summed from them. Exact for
 * couplings that are integers or dyadic rationals; otherwise the matching
 * runs on |J| rounded to 2^-55 of their sum. Deterministic: ties (+-J)
 * give the same configuration every time. Time: near-linear in the sites
 * in practice (docs/spingen.md has the measured times). Local. */
core_status mc_planar_solve_hv(mc_planar *pl, const double *H, const double *V, int8_t *spins, double *energy);

/* The same for a square workspace (rows == cols == L) and couplings J in
 * spin.h's layout, spins as mc_exact_solve's. Local. */
core_status mc_planar_solve(mc_planar *pl, const double *J, int8_t *spins, double *energy);

/* Solves end early with CORE_ERR_STOPPED once *stop is nonzero (a signal
 * handler's flag; NULL, the default: never). Local. */
void mc_planar_set_stop(mc_planar *pl, volatile sig_atomic_t *stop);

void mc_planar_destroy(mc_planar **pl);

/* ---- exact ground states, either solver --------------------------------- */

/* The two exact solvers of open square lattices: the transfer matrix
 * (mc_exact_*, L <= MC_EXACT_MAX_L) and matching (mc_planar_*, any L up to
 * MC_PLANAR_MAX_SITES sites). Both give the same energy; with degenerate
 * ground states (+-J couplings) they may store different configurations,
 * each a deterministic function of the instance. */
typedef enum { MC_GROUND_TM, MC_GROUND_MATCHING } mc_ground_method;
enum { MC_GROUND_METHOD_COUNT = MC_GROUND_MATCHING + 1 };
/* Command-line names ("tm", "matching"); name -> enum (pure). */
extern const char *const mc_ground_method_names[MC_GROUND_METHOD_COUNT];
core_status mc_ground_method_from_name(const char *name, mc_ground_method *method);
/* One line saying what the method is (for files' attributes). */
const char *mc_ground_method_text(mc_ground_method method);

/* The faster solver for an open L x L lattice: the transfer matrix up to
 * L = 11, matching from L = 12 on (bench/planar_bench: equal at L = 12,
 * matching 18x faster at L = 16). Pure. */
mc_ground_method mc_ground_method_default(int L);

/* Whether method solves open L x L lattices: CORE_ERR_UNSUPPORTED with the
 * limit otherwise. Pure. */
core_status mc_ground_check(int L, mc_ground_method method);

typedef struct mc_ground mc_ground;

/* Workspace of method for open L x L lattices. Local. */
core_status mc_ground_create(int L, mc_ground_method method, mc_ground **g);
/* mc_exact_solve's contract with either solver; the energy is
 * spin_energy of the spins (so both solvers give the same bytes when they
 * find the same state). Local. */
core_status mc_ground_solve(mc_ground *g, const double *J, int8_t *spins, double *energy);
/* The bytes a solve by method needs for L x L, measured: the transfer
 * matrix 8 2^L + L^2 2^L / 8; matching about 1.9 kB per spin (peak
 * resident at L = 512 and 1 024, Gaussian couplings; couplings spread over
 * many decades need up to three times more). Pure. */
int64_t mc_ground_memory(int L, mc_ground_method method);
/* mc_planar_set_stop for the matching solver; the transfer matrix (at most
 * about a second) always finishes. Local. */
void mc_ground_set_stop(mc_ground *g, volatile sig_atomic_t *stop);
void mc_ground_destroy(mc_ground **g);

/* ---- Monte Carlo chains ---------------------------------------------------- */

typedef enum { MC_METROPOLIS, MC_HEATBATH } mc_algorithm;

/* Command-line names ("metropolis", "heatbath"), indexed by mc_algorithm;
 * name -> enum, CORE_ERR_ARG listing the names otherwise (pure). */
enum { MC_ALGORITHM_COUNT = MC_HEATBATH + 1 };
extern const char *const mc_algorithm_names[MC_ALGORITHM_COUNT];
core_status mc_algorithm_from_name(const char *name, mc_algorithm *algorithm);

typedef struct mc_chain mc_chain;

/* Replicas first_replica .. first_replica + replicas - 1 (global numbers,
 * so ranks can each own a block) of independent chains of one instance
 * (couplings J in spin.h layout, copied) with a uniform field, at most
 * 2^24 sites. Replica r is a pure function of (seed, instance, r): its
 * start is independent random spins from (seed, CORE_PURPOSE_INIT |
 * instance << 8, r), and in sweep t its moves draw from a xoshiro128+
 * generator seeded from (seed, CORE_PURPOSE_MC_LANES | instance << 8,
 * r << 40 | t), one draw per update; so results depend neither on the rank
 * that runs a chain nor on how many replicas share it. Replicas are the SIMD lanes of the sweep
 * (16 per group): run at least 16 for full speed. Sweeps use float32
 * arithmetic (couplings and beta rounded once); energies are exact
 * (double). Local. */
core_status mc_chain_create(const spin_lattice *lat, const double *J, double field, int first_replica,
                            int replicas, mc_algorithm algorithm, uint64_t seed, uint64_t instance,
                            mc_chain **chain);

/* Chains of several instances at once: chain l (local index l) is replica
 * replica[l] of instance instance[l], with couplings J[l] (spin.h layout;
 * lanes of one instance may share a pointer), exactly the chain
 * mc_chain_create would make of it. What fills the SIMD lanes when each
 * instance needs only a few chains (a dataset's equilibrium samples).
 * Couplings are stored per lane when the pointers differ. Local. */
core_status mc_chain_create_lanes(const spin_lattice *lat, int count, const double *const *J,
                                  const uint64_t *instance, const int *replica, double field, mc_algorithm algorithm,
                                  uint64_t seed, mc_chain **chain);

/* Replace replica r's spins (n_sites values of +-1), e.g. a cold start. */
void mc_chain_set_spins(mc_chain *chain, int replica, const int8_t *spins);

/* Inverse temperature of every replica (default 1), or of one (local index). */
void mc_chain_set_beta(mc_chain *chain, double beta);
void mc_chain_set_replica_beta(mc_chain *chain, int replica, double beta);

/* One sweep of every replica: sites of the even sublattice, then of the odd
 * one (checkerboard; on a periodic lattice of odd L, where the colouring
 * breaks, plain site order), each visited once. Metropolis accepts a flip
 * with probability min(1, exp(-beta dE)); heat bath sets s_i = +1 with
 * probability 1 / (1 + exp(-2 beta (h_i + field))). Both satisfy detailed
 * balance for the Boltzmann weight exp(-beta E), up to float32 rounding
 * (exp to ~2 ulp, uniforms on a 2^-23 grid). */
void mc_chain_sweep(mc_chain *chain);

/* The number of the sweep's rules (lib/mc/chain.c): a chain is
 * reproducible to the bit only under the same rules, so datasets record
 * it and checkpoints and merges of parts refuse another. 1: exp by a
 * degree-5 polynomial (before 2026-11-30); 2: 2^y by a 16-entry table and
 * a cubic, and energies summed per lattice direction (tempering decides on
 * them). */
enum { MC_SWEEP_RULES = 2 };

int64_t mc_chain_sweeps(const mc_chain *chain);
/* Observables of the chain's local replica index 0 .. replicas - 1,
 * computed on demand (at most once per sweep; the energy costs about half
 * a sweep). The spins pointer stays valid until the next sweep. */
const int8_t *mc_chain_spins(const mc_chain *chain, int replica); /* (n_sites) */
double mc_chain_energy(const mc_chain *chain, int replica);       /* E(s), field included */
double mc_chain_magnetization(const mc_chain *chain, int replica); /* sum_i s_i / n_sites */
void mc_chain_destroy(mc_chain **chain);

/* ---- parallel tempering over ranks -------------------------------------- */

typedef struct mc_pt mc_pt;

/* Parallel tempering of one instance with a uniform field (as
 * mc_chain_create): n_temps replicas on a geometric
 * ladder between beta_min and beta_max, replicas sharded over the ranks of
 * comm in blocks (replica r uses mc_chain replica r's streams). Exchanges
 * move temperatures, not spins: every rank gathers all replicas' energies
 * (field term included) and magnetisations, takes the same decisions from
 * the stream (seed, CORE_PURPOSE_EXCHANGE | instance << 8, step), and
 * retunes its own replicas, so results do not depend on the number of
 * ranks. Collective. */
core_status mc_pt_create(MPI_Comm comm, const spin_lattice *lat, const double *J, double field, int n_temps,
                         double beta_min, double beta_max, mc_algorithm algorithm, uint64_t seed, uint64_t instance,
                         mc_pt **pt);
/* One sweep of every local replica. Local. */
void mc_pt_sweep(mc_pt *pt);
/* Gather energies and attempt exchanges between neighbouring temperatures
 * (even pairs on even steps, odd pairs on odd steps). Collective. */
core_status mc_pt_exchange(mc_pt *pt);
/* Feedback towards equal exchange acceptance: from the acceptance A_k of
 * each neighbour pair since the last adapt, each gap gets a length
 * erfc^-1(A_k) (additive along beta when energy histograms are Gaussian),
 * and the inner temperatures move half way to where the cumulative length
 * is equally spaced (ends kept; see tempering.c); then the acceptance
 * counts restart. A ladder with an unmeasured pair is only restarted.
 * The same ladder on every rank; the status is agreed across ranks.
 * Collective. */
core_status mc_pt_adapt(mc_pt *pt);
/* Ladder (n_temps), acceptance of each pair since the last adapt
 * (n_temps - 1), and the energy, magnetisation per spin and global replica
 * index at ladder position k after the last exchange. */
const double *mc_pt_betas(const mc_pt *pt);
void mc_pt_rates(const mc_pt *pt, double *rates);
double mc_pt_energy_at(const mc_pt *pt, int position);
double mc_pt_magnetization_at(const mc_pt *pt, int position);
int mc_pt_replica_at(const mc_pt *pt, int position);
/* The local chain (replicas first .. first + count - 1) and its range. */
mc_chain *mc_pt_chain(mc_pt *pt, int *first, int *count);
void mc_pt_destroy(mc_pt **pt);

/* ---- one lattice split across ranks (PETSc DMDA) --------------------------- */

typedef struct mc_split mc_split;

/* Replicas first_replica .. first_replica + replicas - 1 of one instance
 * (square or cubic; open, or periodic with even L) whose sites are split
 * across the ranks of comm: slabs along the last axis (y in 2D, z in 3D),
 * sized as fftw3-mpi wants them, in a PETSc DMDA with one degree of
 * freedom per replica and ghost width 1. Each rank computes only its own
 * couplings, initial spins (mc_chain's start of each replica) and random
 * numbers: site i of sweep t of replica r uses the i-th uniform of the
 * Philox stream (seed, CORE_PURPOSE_MC | instance << 8, r << 40 | t),
 * reached by seeking. Sweeps go in checkerboard order with one halo
 * exchange per colour for all replicas, in double precision: the run is
 * the same spin for spin whatever the number of ranks, and samples the
 * same distribution as mc_chain (a different chain: mc_chain's generators
 * are sequential). Every rank needs at least one slab. PETSc must be
 * initialised. On failure every rank returns the same error with *split =
 * NULL and nothing left allocated. Collective; this and the collective
 * calls below agree on a status across the ranks before each collective
 * step, so a local failure on one rank cannot hang the others. */
core_status mc_split_create(MPI_Comm comm, const spin_lattice *lat, spin_coupling_law law, uint64_t seed,
                            uint64_t instance, int first_replica, int replicas, mc_algorithm algorithm,
                            mc_split **split);
void mc_split_set_beta(mc_split *split, double beta);
/* One sweep of every replica: two colours, each after a ghost update.
 * Collective. */
core_status mc_split_sweep(mc_split *split);
/* E(s) and sum_i s_i / N of every replica (replicas values each; either
 * may be NULL), on every rank. Collective. */
core_status mc_split_measure(mc_split *split, double *energy, double *magnetization);
/* Overlap q of replicas a and b and the structure factor of their overlap
 * field at k_min (as mc_overlap_measure), from an fftw3-mpi transform of
 * the distributed field; on every rank. Collective. */
core_status mc_split_overlap(mc_split *split, int a, int b, double *q, double *chi_kmin);
/* Spins of one replica (n_sites, site order) on rank 0 (others pass NULL).
 * Collective. */
core_status mc_split_gather(mc_split *split, int replica, int8_t *spins);
void mc_split_destroy(mc_split **split);

/* ---- ground states by sampling ---------------------------------------------- */

/* mc_chain replica numbers below this belong to the ground-state searches
 * (all their streams); the dataset generator's equilibrium samples use the
 * numbers from here up, so the two never share a random stream. */
enum { MC_SEARCH_REPLICA_LIMIT = 1 << 19 };

typedef struct {
  int replicas;            /* annealing: independent runs; tempering: temperatures */
  int sweeps;              /* sweeps of each run */
  double beta_min, beta_max; /* annealing: schedule from beta_min to beta_max;
                                tempering: range of the temperature ladder */
  mc_algorithm algorithm;
  int stream;              /* independent searches of one instance: stream k
                              draws from streams disjoint from every other k
                              (default 0) */
  volatile sig_atomic_t *stop; /* if not NULL: checked every sweep; once non-zero
                              the search returns CORE_ERR_STOPPED at once
                              (default NULL) */
  int houdayer;            /* tempering: 1 = two replicas per temperature and
                              Houdayer cluster moves between them in the
                              colder half of the ladder (default), 0 = one */
} mc_search_options;

/* Defaults. Annealing: 48 runs of 1500 sweeps, beta 0.5 to 5 geometric
 * (~10 ms per 10 x 10 instance). Tempering: 16 temperatures in [0.3, 6]
 * geometric, two replicas per temperature (houdayer = 1), 3000 sweeps,
 * after each sweep a Houdayer cluster move between the two replicas of
 * each temperature of the colder half and an exchange attempt between
 * neighbours in each ladder. Measured (bench/mc_search_bench, docs/performance.md):
 * both find the exact ground state of >= 95% of random 10 x 10 open EA
 * instances (tested against the transfer matrix); on 16 x 16 periodic
 * instances with uniform couplings, where the earlier default (12
 * temperatures, 3000 sweeps, no cluster moves) made two independent
 * searches agree on only ~30%, tempering's streams 0 and 1 agree on
 * >= 98% and a search 10 times longer never found lower, in about 0.1 s
 * per search on one core. */
void mc_search_options_anneal(mc_search_options *opt);
void mc_search_options_tempering(mc_search_options *opt);

/* Simulated annealing: each run follows beta_k = beta_min (beta_max /
 * beta_min)^(k / (sweeps - 1)) for sweeps k; the lowest-energy state
 * visited in the last third of the sweeps (always including the final
 * sweep) is returned (canonical sign s_0 = +1) with its energy. Run r of
 * stream k uses the streams of mc_chain replica k * replicas + r of (seed,
 * instance); search replicas stay below 2^19, which the dataset generator
 * keeps for its samples (a larger stream is refused). Returns
 * CORE_ERR_STOPPED when opt->stop is set before a sweep. Local. */
core_status mc_anneal(const spin_lattice *lat, const double *J, const mc_search_options *opt, uint64_t seed,
                      uint64_t instance, int8_t *best, double *best_energy);

/* Parallel tempering: `replicas` temperatures on a geometric ladder (one
 * ladder, or two with houdayer); after every sweep, neighbouring
 * temperatures (alternately even and odd pairs) try to exchange
 * configurations with probability min(1, exp((beta_i - beta_j)(E_i -
 * E_j))), drawn from the stream (seed, CORE_PURPOSE_EXCHANGE | instance <<
 * 8, index << 40 | sweep). Ladder c of stream k is mc_chain replicas
 * (copies k + c) replicas + r and exchange index copies k + c, copies = 1
 * or 2 (houdayer); cluster moves draw from the same purpose with index
 * 2^63 | k << 40 | sweep. So stream 0 without houdayer is the search of
 * earlier versions, bit for bit. Returns the lowest-energy state visited
 * (canonical sign) and, if swap_rates is not NULL, the accepted fraction
 * of each neighbour pair of the first ladder (replicas - 1). Returns
 * CORE_ERR_STOPPED when opt->stop is set before a sweep. Local. */
core_status mc_tempering(const spin_lattice *lat, const double *J, const mc_search_options *opt, uint64_t seed,
                         uint64_t instance, int8_t *best, double *best_energy, double *swap_rates);

/* ---- overlaps and the spin-glass correlation length ---------------------- */

typedef struct mc_overlap mc_overlap;

/* FFTW plan and buffers for the overlap field of a lattice. Local. */
core_status mc_overlap_create(const spin_lattice *lat, mc_overlap **ov);

/* Overlap of two configurations: q = (1/N) sum_x a_x b_x, and the
 * spin-glass structure factor at the smallest non-zero wave vector,
 * chi(k_min) = (1/N) |sum_x a_x b_x e^{i k_min . x}|^2 averaged over the
 * lattice directions, from an FFTW transform of the overlap field (which
 * also gives chi(0) = N q^2). Local. */
void mc_overlap_measure(mc_overlap *ov, const int8_t *a, const int8_t *b, double *q, double *chi_kmin);

void mc_overlap_destroy(mc_overlap **ov);

/* Second-moment correlation length from chi(0) = N <q^2> and chi(k_min):
 * xi = sqrt(chi(0) / chi(k_min) - 1) / (2 sin(pi / L)) (0 if the ratio is
 * below 1). Pure. */
double mc_correlation_length(int L, double chi0, double chi_kmin);

/* ---- error bars ------------------------------------------------------------ */

/* Mean of a time series x (n) and its error from a jackknife over `blocks`
 * equal blocks (blocks >= 2; blocks longer than the autocorrelation time
 * make the error honest). */
core_status mc_estimate_mean(const double *x, int64_t n, int blocks, double *mean, double *err);

/* Binder ratio U = 1 - <m^4> / (3 <m^2>^2) from series of m^2 and m^4, with
 * a blocked jackknife error (also for the overlap: pass q^2 and q^4). */
core_status mc_estimate_binder(const double *m2, const double *m4, int64_t n, int blocks, double *binder,
                               double *err);

/* Correlation length xi from series of chi(0) and chi(k_min), with a
 * blocked jackknife error. */
core_status mc_estimate_xi(int L, const double *chi0, const double *chik, int64_t n, int blocks, double *xi,
                           double *err);

/* Exact internal energy per spin of the 2D Ising ferromagnet (J = 1) on a
 * periodic L x L torus at inverse temperature beta, from Kaufman's
 * finite-lattice partition function (Phys. Rev. 76, 1232 (1949); in the
 * form of Ferdinand and Fisher, Phys. Rev. 185, 832 (1969)). The energy is
 * -d ln Z / d beta / N, differentiated numerically. Local, pure. */
double mc_ising2d_exact_energy(int L, double beta);

/* ---- measurement series (what eloss mc prints) ---------------------------- */

typedef struct mc_series mc_series;

/* Sweeps gathered at a time, and the most estimates a series gives. */
enum { MC_SERIES_CHUNK = 256, MC_SERIES_ESTIMATES = 8 };

/* One estimate: name ("energy_per_spin", ...; static storage), value and
 * its blocked-jackknife error. */
typedef struct {
  const char *name;
  double value, err;
} mc_estimate;

/* Per-sweep observables of replicas 0 .. replicas - 1 over `sweeps`
 * measured sweeps, averaged over the replicas: E/N, |m|, m^2, m^4, and of
 * the overlap pairs (2p, 2p + 1), p < replicas / 2: |q|, q^2, q^4,
 * chi(0) = N q^2 and chi(k_min). The ranks of comm own consecutive blocks
 * of replicas in rank order (this rank: first .. first + mine - 1, first
 * even so that a pair stays on one rank); rank 0 of comm sums them in
 * replica order every MC_SERIES_CHUNK sweeps, so the sums and the
 * estimates are the same bits on any number of ranks. When every rank
 * knows every replica's values (a lattice split across ranks, tempering's
 * coldest temperature), pass MPI_COMM_SELF, first = 0, mine = replicas.
 * Memory: 9 sweeps doubles on rank 0 of comm, MC_SERIES_CHUNK values per
 * sweep and local replica on each rank, owned by the series. On failure
 * every rank of comm returns the same error with *series = NULL
 * (fault-injection site "mc.measure": the buffers). Collective on comm. */
core_status mc_series_create(MPI_Comm comm, const spin_lattice *lat, int64_t sweeps, int replicas, int first,
                             int mine, mc_series **series);
/* This sweep's values: of local replica `replica` (E, the total energy,
 * and m, the magnetisation per spin), of local pair `pair` (overlap q and
 * chi(k_min), as mc_overlap_measure gives them), or of every local replica
 * of a chain (its replicas 0 .. mine - 1, local indices) and, if ov is not
 * NULL, of its pairs (0, 1), (2, 3), ... Each value is added once per
 * sweep. Local. */
void mc_series_add(mc_series *series, int replica, double energy, double magnetization);
void mc_series_add_pair(mc_series *series, int pair, double q, double chi_kmin);
void mc_series_add_chain(mc_series *series, const mc_chain *chain, mc_overlap *ov);
/* Close the sweep; every MC_SERIES_CHUNK sweeps and after the last one,
 * gather the values to rank 0 of comm. Every rank returns the same
 * status. Collective on comm. */
core_status mc_series_next(mc_series *series);
/* After the last sweep: the estimates from a jackknife over `blocks`
 * blocks, energy_per_spin, abs_m, m2, binder and, with at least one pair,
 * abs_q, q2, binder_q (of q^2, q^4) and xi_sg (mc_estimate_xi); *count
 * is 4 or 8. Computed on rank 0 of comm and broadcast: the same on every
 * rank, and so is the status. Once per series (a second call is
 * refused: the sums have become averages). Collective on comm. */
core_status mc_series_estimate(mc_series *series, int blocks, mc_estimate est[MC_SERIES_ESTIMATES], int *count);
/* Local; accepts NULL and nulls the handle. */
void mc_series_destroy(mc_series **series);

/* ---- measurement runs (lib/mc/run.c): the modes of eloss mc ------------- */

/* One instance, how to sample it and how long to measure. */
typedef struct {
  const spin_lattice *lat;
  spin_coupling_law law;
  uint64_t seed, instance;  /* the couplings are those of (seed, instance) */
  mc_algorithm algorithm;
  double beta;              /* tempering: the coldest, where it measures */
  double field;             /* uniform field (0 for split runs) */
  int64_t therm, sweeps;    /* sweeps discarded, then measured */
  int blocks;               /* jackknife blocks, 2 .. sweeps */
  FILE *progress;           /* the progress line's stream, or NULL (give it on one rank) */
} mc_run_options;

typedef struct {
  mc_estimate est[MC_SERIES_ESTIMATES]; /* as mc_series_estimate gives them */
  int count;
  double ns_per_update;     /* core time per single-spin update of the measured sweeps */
} mc_run_result;

/* Independent replica chains 0 .. replicas - 1, ranks owning whole
 * overlap pairs (2p, 2p+1); cold: every replica starts all up.
 * Collective; *res the same on every rank. */
core_status mc_run_replicas(MPI_Comm comm, const mc_run_options *opt, int replicas, int cold, mc_run_result *res);
/* Parallel tempering (mc_pt) of temps temperatures from beta_min to
 * opt->beta over the ranks, the ladder retuned every `adapt`
 * thermalisation sweeps (0: fixed) and once at their end; observables of
 * the coldest. betas (temps) and rates (temps - 1): the final ladder and
 * its exchange rates over the measurement. Collective; all on every rank. */
core_status mc_run_tempering(MPI_Comm comm, const mc_run_options *opt, int temps, double beta_min, int adapt,
                             mc_run_result *res, double *betas, double *rates);
/* Split lattices (mc_split): replicas 0 .. replicas - 1, each spread over
 * every rank; overlaps of pairs (2p, 2p+1). Collective; *res the same on
 * every rank. */
core_status mc_run_split(MPI_Comm comm, const mc_run_options *opt, int replicas, mc_run_result *res);

#ifdef __cplusplus
}
#endif
#endif
