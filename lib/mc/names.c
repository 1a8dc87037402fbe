/* The command-line vocabulary of the mc module: one table per enum that
 * options, decks and bindings name, and the lookup back to the enum.
 *
 * mc_algorithm_names / mc_algorithm_from_name: "metropolis", "heatbath".
 * mc_ground_method_names / mc_ground_method_from_name: "tm", "matching".
 * The lookup is pure: CORE_OK and the enum, or CORE_ERR_ARG with a
 * message naming the string and listing the allowed names. */
#include <stdio.h>
#include <string.h>

#include "eloss/mc.h"

const char *const mc_algorithm_names[MC_ALGORITHM_COUNT] = {"metropolis", "heatbath"};


core_status mc_algorithm_from_name(const char *name, mc_algorithm *algorithm) {
  int k = 0;
  CORE_CALL(core_name_lookup("algorithm", mc_algorithm_names, MC_ALGORITHM_COUNT, name, &k));
  *algorithm = (mc_algorithm)k;
  return CORE_OK;
}

const char *const mc_ground_method_names[MC_GROUND_METHOD_COUNT] = {"tm", "matching"};

core_status mc_ground_method_from_name(const char *name, mc_ground_method *method) {
  int k = 0;
  CORE_CALL(core_name_lookup("ground-state method", mc_ground_method_names, MC_GROUND_METHOD_COUNT, name, &k));
  *method = (mc_ground_method)k;
  return CORE_OK;
}
