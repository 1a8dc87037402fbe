/* Internals shared by the files of lib/mc. */
#ifndef ELOSS_MC_IMPL_H
#define ELOSS_MC_IMPL_H

#include "eloss/mc.h"

/* mc_pt_create with the streams of an independent search (mc_search_options
 * stream): replica r uses mc_chain replica first_replica + r, and exchange
 * step t draws from the exchange stream's index exchange_index << 40 | t.
 * mc_pt_create is this with 0, 0. Collective. */
core_status mc_pt_create_streams(MPI_Comm comm, const spin_lattice *lat, const double *J, double field, int n_temps,
                                 double beta_min, double beta_max, mc_algorithm algorithm, uint64_t seed,
                                 uint64_t instance, int first_replica, uint64_t exchange_index, mc_pt **pt);

#endif
