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

static void usage(FILE *out) {
  fprintf(out, "usage: eloss <command> [options]   (eloss <command> -help lists options)\n\ncommands:\n");
  for (int i = 0; i < app_command_count; ++i)
    fprintf(out, "  %-13s %s\n", app_commands[i]->name, app_commands[i]->summary);
}

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') {
    int asked = argc >= 2 && (!strcmp(argv[1], "-help") || !strcmp(argv[1], "--help") ||
                              !strcmp(argv[1], "-h"));
    usage(asked ? stdout : stderr);
    return asked ? 0 : 2;
  }
  for (int i = 0; i < app_command_count; ++i) {
    if (!strcmp(argv[1], app_commands[i]->name)) {
      /* The subcommand sees argv without its own name, as a PETSc main would. */
      argv[1] = argv[0];
      return app_main(app_commands[i], argc - 1, argv + 1, 0);
    }
  }
  fprintf(stderr, "eloss: error: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
