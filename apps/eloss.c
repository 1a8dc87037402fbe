/* eloss: one program, one subcommand per file of apps/.
 *
 *   eloss <command> [-option value ...] [-options_file deck.opts]
 *
 * The dispatcher only picks the subcommand; each subcommand initialises
 * PETSc with its own help text so `eloss <command> -help` lists its options
 * with their defaults. */
#include <stdio.h>
#include <string.h>

#include "app.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"loss", app_loss, "atomistic loss + gradient on .npy/.xyz arrays (Eq. 7 and baselines)"},
    {"rigidity", app_rigidity, "rigidity of a graph; Fig. 5 random regular graph survey"},
    {"spingen", app_spingen, "spin-glass dataset: couplings, exact ground states, samples (HDF5)"},
    {"spingen-merge", app_spingen_merge, "join the parts of a split (spingen -first -count) into one file"},
    {"clustergen", app_clustergen, "Lennard-Jones clusters: tempering samples, basin-hopping global minimum (HDF5)"},
    {"mc", app_mc, "Metropolis / heat-bath Monte Carlo of a spin system, replicas over ranks"},
    {"gs", app_gs, "exact ground state of an open L x L Edwards-Anderson instance"},
    {"spinloss", app_spinloss, "spin loss + gradient on logits (ce, margin, local Eq. 15-16, true, bond)"},
    {"train", app_train, "train a model with an energy loss or a baseline, data-parallel, bit-reproducible"},
    {"shapes", app_shapes, "regular shapes (paper Sec. 6.1): train an MLP with MSE, energy, Kabsch or sparse loss"},
    {"eval", app_eval, "evaluate a trained model on a test set (energy gap, exact fraction, accuracy)"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: eloss <command> [options]   (eloss <command> -help lists options)\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
    fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') {
    int asked = argc >= 2 && (!strcmp(argv[1], "-help") || !strcmp(argv[1], "--help") ||
                              !strcmp(argv[1], "-h"));
    usage(asked ? stdout : stderr);
    return asked ? 0 : 2;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i) {
    if (!strcmp(argv[1], commands[i].name)) {
      /* The subcommand sees argv without its own name, as a PETSc main would. */
      app_summary = commands[i].summary;
      argv[1] = argv[0];
      return commands[i].run(argc - 1, argv + 1);
    }
  }
  fprintf(stderr, "eloss: error: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
