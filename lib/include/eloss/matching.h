/* eloss matching: minimum-weight perfect matching of a sparse general
 * graph with integer weights (Edmonds' primal-dual blossom algorithm),
 * the solver behind exact planar spin-glass ground states (mc.h).
 *
 * Worked example:
 *
 *   int32_t ends[] = {0, 1,  1, 2,  2, 3,  3, 0};   // a 4-cycle
 *   int64_t weight[] = {1, 5, 1, 5};
 *   int32_t mate[4];
 *   int64_t total;
 *   matching_min_perfect(4, 4, ends, weight, mate, &total);
 *   // mate = {0, 0, 2, 2} (the edge matched at each vertex), total = 2
 */
#ifndef ELOSS_MATCHING_H
#define ELOSS_MATCHING_H

#include <signal.h>
#include <stdint.h>

#include "eloss/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest sum of |weight| over the edges accepted: it bounds every dual
 * value and slack (weights are quadrupled inside) well inside int64. */
#define MATCHING_WEIGHT_SUM_MAX ((int64_t)1 << 56)
/* Most edges accepted (and most vertices). */
#define MATCHING_EDGES_MAX (((int64_t)1 << 30) - 1)

/* A perfect matching of least total weight of the graph with n vertices
 * and m edges (both at most MATCHING_EDGES_MAX), edge e joining ends[2e]
 * and ends[2e + 1] (no loops; parallel edges allowed) at weight[e] (any
 * sign; the sum of |weight| at most MATCHING_WEIGHT_SUM_MAX). Writes
 * mate[v] = the edge matched at v and the total weight. Deterministic:
 * the same input gives the same matching. A graph without a perfect
 * matching is CORE_ERR_VALUE.
 *
 * Algorithm: Edmonds' blossom algorithm in its primal-dual form after a
 * greedy start. Every unmatched vertex roots an alternating tree and all
 * trees' duals change together by one lazy offset; the next event (an
 * edge becoming tight, a blossom's dual reaching zero) comes from a radix
 * heap of event times. From Kolmogorov's Blossom V (2009): each node's
 * list of boundary edges and blossom matchings laid out lazily; here a new
 * blossom also takes its largest child's list whole, so shrinking and
 * expanding cost the smaller children only, and no step looks up the
 * top-level node holding a vertex. Weights are quadrupled inside, which
 * keeps every dual an integer. Local. */
core_status matching_min_perfect(int32_t n, int64_t m, const int32_t *ends, const int64_t *weight,
                                 int32_t *mate, int64_t *total);

/* The same, giving up with CORE_ERR_STOPPED (mate and total unwritten)
 * once *stop is nonzero (a signal handler's flag; checked at every event;
 * NULL: never). Local. */
core_status matching_min_perfect_stoppable(int32_t n, int64_t m, const int32_t *ends, const int64_t *weight,
                                           volatile sig_atomic_t *stop, int32_t *mate, int64_t *total);

#ifdef __cplusplus
}
#endif

#endif
