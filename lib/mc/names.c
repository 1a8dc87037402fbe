/* The command-line vocabulary of the mc module: one table per enum that
 * options, decks and bindings name, and the lookup back to the enum.
 *
 * mc_algorithm_names / mc_algorithm_from_name: "metropolis", "heatbath".
 * mc_gs_method_names / mc_gs_method_from_name: "exact", "pt" (parallel
 *   tempering), "sa" (simulated annealing).
 * Both lookups are pure: CORE_OK and the enum, or CORE_ERR_ARG with a
 * message naming the string and listing the allowed names. */
#include <stdio.h>
#include <string.h>

#include "eloss/mc.h"

const char *const mc_algorithm_names[MC_ALGORITHM_COUNT] = {"metropolis", "heatbath"};
const char *const mc_gs_method_names[MC_GS_METHOD_COUNT] = {"exact", "pt", "sa"};

/* Index of name in a table of count names, or an error listing the table. */
static core_status name_lookup(const char *what, const char *const *names, int count, const char *name, int *index) {
  for (int k = 0; name && k < count; ++k)
    if (!strcmp(name, names[k])) {
      *index = k;
      return CORE_OK;
    }
  char list[256] = "";
  for (int k = 0; k < count; ++k) {
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", names[k]);
  }
  return CORE_ERROR(CORE_ERR_ARG, "unknown %s '%s': expected one of %s", what, name ? name : "", list);
}

core_status mc_algorithm_from_name(const char *name, mc_algorithm *algorithm) {
  int k = 0;
  CORE_CALL(name_lookup("algorithm", mc_algorithm_names, MC_ALGORITHM_COUNT, name, &k));
  *algorithm = (mc_algorithm)k;
  return CORE_OK;
}

core_status mc_gs_method_from_name(const char *name, mc_gs_method *method) {
  int k = 0;
  CORE_CALL(name_lookup("ground-state method", mc_gs_method_names, MC_GS_METHOD_COUNT, name, &k));
  *method = (mc_gs_method)k;
  return CORE_OK;
}
