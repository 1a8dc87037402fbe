/* Internals shared by the files of lib/train (not installed). */
#ifndef ELOSS_TRAIN_IMPL_H
#define ELOSS_TRAIN_IMPL_H

#include "eloss/atoms.h"
#include "eloss/train.h"

/* The loss plan of a shard of the atomistic tasks (shapes, denoise): on
 * MPI_COMM_SELF (the trainer reduces across ranks), for n structures of N
 * atoms in d dimensions with reference ref (n, N, d) and atom counts
 * natoms (n; NULL: all N). *cache is reused through
 * atoms_plan_set_reference when it has that shape, else replaced by a new
 * plan; either way the plan's numbers are those of a fresh plan for ref.
 * opt must be the same at every call with one cache (a task's loss
 * options). The caller destroys *cache at the end. Local. */
core_status train_loss_plan(atoms_plan **cache, const atoms_options *opt, int64_t n, int64_t N, int d,
                            const double *ref, const int64_t *natoms);

/* One OpenBLAS thread in this process: the ranks are the parallelism (a
 * second BLAS thread per rank oversubscribes the cores, and an idle one
 * spins in sched_yield: 40 % of a denoise step's cycles on this 2-core
 * machine), and a GEMM's bits must not depend on how many threads
 * OpenBLAS starts. What the spin task does at creation, for the MLP tasks
 * (shapes, denoise: training and eval alike). Process-wide. */
void train_blas_one_thread(void);

/* Test items that are also training items make "test" metrics training
 * metrics. Candidates by CRC-32 (a sorted copy of the training CRCs,
 * binary search, every training item of an equal CRC tried), confirmed by
 * same(ctx, training index, test index). *shared = how many test items
 * have an equal training item; the first such pair in *first_test,
 * *first_train (-1 when none). Local. */
core_status train_find_shared(int64_t n_train, const uint32_t *train_crc, int64_t n_test, const uint32_t *test_crc,
                              int (*same)(const void *ctx, int64_t train, int64_t test), const void *ctx,
                              int64_t *shared, int64_t *first_test, int64_t *first_train);

/* The diffusion task (diffusion_task.c) and its sampler
 * (diffusion_sample.c): per-atom features (one-hot H, C, N, O, F) and the
 * stream of a sample's atom count (CORE_PURPOSE_DIFFUSION | stream << 8). */
enum { DIFFUSION_FEATURES = 5, DIFFUSION_STREAM_SIZE = 4 };
/* The model file's config line (what a load compares). */
void train_diffusion_config(char *config, train_diffusion_network network, int width, int layers, int steps);
/* The network, for forwards of up to max_atoms atoms in molecules of up
 * to N atoms. Local. */
core_status train_diffusion_network_create(train_diffusion_network network, int width, int layers, int64_t max_atoms,
                                           int64_t N, uint64_t seed, nn_model **model);

/* The shapes task's two models share their data and their quality. Every
 * shapes task's ctx begins with its train_shapes_options, so the public
 * functions of shapes_task.c can tell the two apart. */

/* Radius and rotation of shapes sample (or evaluation shape) index i, from
 * the stream (seed, CORE_PURPOSE_SHAPES, i). Pure. */
void train_shapes_draw(const train_shapes_options *o, uint64_t i, double *r, double *phi);
/* Vertices xy (N, 2) of the regular N-gon of radius r turned by phi:
 * vertex k at r (cos(2 pi k / N + phi), sin(...)). Pure. */
void train_shapes_polygon(int N, double r, double phi, double *xy);
/* Shapes as the CSV of eloss shapes -out (rows shape, radius, vertex, x,
 * y, quality), atomically: shape i's vertices at xy + i stride, its
 * radius at radius[i stride] or (NULL) its own (train_shapes_radius).
 * One process. */
core_status train_shapes_write_csv(const char *path, int N, int64_t count, const double *xy, int64_t stride,
                                   const double *radius);
/* The diffusion model (lib/train/shapes_diffusion.c). Local. */
core_status train_shapes_diffusion_create(const train_shapes_options *o, train_task **task);
/* Its generated shapes as shapes_task.c's CSV. Collective. */
core_status train_shapes_diffusion_write(train_task *task, MPI_Comm comm, const char *path);

#endif
