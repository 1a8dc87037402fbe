/* The training losses on atomic structures by name: one table that
 * shapes, denoise and the bindings read.
 *
 * atoms_preset_table, atoms_preset_names: constant.
 * atoms_preset_from_name, atoms_preset_options: pure.
 *
 * "sparse" is the energy loss on random 2d-regular graphs (d = 2 or 3, the
 * paper's choice of a globally rigid graph with O(N) edges, Sec. 4.1),
 * redrawn every step so that every pair is seen over training. */
#include "eloss/atoms.h"

const atoms_preset_info atoms_preset_table[ATOMS_PRESET_COUNT] = {
    [ATOMS_PRESET_MSE] = {"mse", "mean squared error of the coordinates", ATOMS_LOSS_MSE, ATOMS_EDGES_COMPLETE, 0, 0},
    [ATOMS_PRESET_ENERGY] = {"energy", "the paper's energy loss on every pair (Eq. 7)", ATOMS_LOSS_ENERGY,
                             ATOMS_EDGES_COMPLETE, 1, 0},
    [ATOMS_PRESET_KABSCH] = {"kabsch", "mean squared error after the optimal rotation (Kabsch)", ATOMS_LOSS_KABSCH,
                             ATOMS_EDGES_COMPLETE, 0, 0},
    [ATOMS_PRESET_SPARSE] = {"sparse", "the energy loss on random 2d-regular graphs, redrawn every step",
                             ATOMS_LOSS_ENERGY, ATOMS_EDGES_REGULAR, 1, 1},
};

const char *const atoms_preset_names[ATOMS_PRESET_COUNT] = {"mse", "energy", "kabsch", "sparse"};

core_status atoms_preset_from_name(const char *name, atoms_preset *preset) {
  int k = 0;
  CORE_CALL(core_name_lookup("loss", atoms_preset_names, ATOMS_PRESET_COUNT, name, &k));
  *preset = (atoms_preset)k;
  return CORE_OK;
}

void atoms_preset_options(atoms_preset preset, atoms_coeff_law coeff, uint64_t seed, atoms_options *opt) {
  atoms_options_default(opt);
  const atoms_preset_info *p = &atoms_preset_table[preset];
  opt->loss = p->loss;
  opt->edges = p->edges;
  if (p->uses_coeff) opt->coeff = coeff;
  opt->seed = seed;
}
