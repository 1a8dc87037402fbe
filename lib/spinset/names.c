/* The command-line vocabulary of the spinset module:
 * spinset_gs_method_names / spinset_gs_method_from_name: "exact", "pt"
 * (parallel tempering), "sa" (simulated annealing). The lookup is pure:
 * CORE_OK and the enum, or CORE_ERR_ARG with a message naming the string
 * and listing the allowed names. */
#include "eloss/spinset.h"

const char *const spinset_gs_method_names[SPINSET_GS_METHOD_COUNT] = {"exact", "pt", "sa"};

core_status spinset_gs_method_from_name(const char *name, spinset_gs_method *method) {
  int k = 0;
  CORE_CALL(core_name_lookup("ground-state method", spinset_gs_method_names, SPINSET_GS_METHOD_COUNT, name, &k));
  *method = (spinset_gs_method)k;
  return CORE_OK;
}
