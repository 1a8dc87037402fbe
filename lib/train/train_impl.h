/* Internals shared by the files of lib/train (not installed). */
#ifndef ELOSS_TRAIN_IMPL_H
#define ELOSS_TRAIN_IMPL_H

#include "eloss/atoms.h"

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

#endif
