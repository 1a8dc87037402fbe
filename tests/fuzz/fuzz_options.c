/* libFuzzer harness: options decks (-options_file) and the option value
 * parsers of apps/app_options.c.
 *
 * The input is a deck. It goes the way a deck on the command line goes:
 *   1. app_argv_check on "eloss -options_file <deck>": eloss's own reading
 *      of the deck (PETSc's line rules, nested decks), which must refuse a
 *      malformed deck with one message before PETSc sees it;
 *   2. for a deck it accepts, PETSc's PetscOptionsInsertFile into a fresh
 *      options database (pushed as the default), then every app_opt_*
 *      value parser on a fixed set of option names (-i, -r, -il, -rl, -e,
 *      -s, -b), as a subcommand's PetscOptionsBegin block calls them;
 *   3. app_options_reset and the database destroyed for the next input.
 * PETSc's reader is PETSc's code; it is fuzzed here only as far as eloss
 * hands decks to it. PETSc errors are silenced (PetscIgnoreErrorHandler):
 * a refused deck is a correct answer. */
#include "fuzz_common.h"

#include "../../apps/app.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  int n = 1;
  char *args[] = {"fuzz_options", NULL}, **a = args;
  if (PetscInitialize(&n, &a, NULL, NULL)) abort();
  PetscPushErrorHandler(PetscIgnoreErrorHandler, NULL);
  fuzz_mpi_init();
  static const char warm[] = "-i 3\n-rl 0.5,1\n-e ce\n-b\n";
  LLVMFuzzerTestOneInput((const uint8_t *)warm, sizeof warm - 1);
  return 0;
}

static const char *const names[] = {"ce", "margin", "local", "true", "bond"};

static PetscErrorCode parse_values(void) {
  PetscInt i = 3, il[8] = {1, 2}, n_il = 2, e = 0;
  PetscReal r = 0.5, rl[8] = {0.25};
  PetscInt n_rl = 1;
  char s[64] = "default";
  PetscBool b = PETSC_FALSE, set;
  PetscOptionsBegin(PETSC_COMM_SELF, NULL, "fuzz options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_int(po, "-i", "an integer", 1, PETSC_MAX_INT, &i, &set));
  PetscCall(app_opt_int(po, "-i2", "a bounded integer", -5, 5, &i, &set));
  PetscCall(app_opt_real(po, "-r", "a real", 0.0, 1.0, 1, &r, &set));
  PetscCall(app_opt_real(po, "-r2", "any real", -INFINITY, INFINITY, 0, &r, &set));
  PetscCall(app_opt_int_list(po, "-il", "integers", 0, 100, 8, il, &n_il, &set));
  PetscCall(app_opt_real_list(po, "-rl", "reals", 0.0, INFINITY, 0, 8, rl, &n_rl, &set));
  PetscCall(app_opt_enum(po, "-e", "a name", names, 5, &e, &set));
  PetscCall(app_opt_string(po, "-s", "a string", "a file name", s, sizeof s, &set));
  PetscCall(app_opt_bool(po, "-b", "a flag", &b, &set));
  PetscOptionsEnd();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("deck", data, size);
  char *argv[] = {"eloss", "-options_file", (char *)path, NULL};
  app_options_reset();
  if (app_argv_check(3, argv) == 0) {
    PetscOptions options = NULL;
    if (!PetscOptionsCreate(&options)) {
      if (!PetscOptionsInsertFile(PETSC_COMM_SELF, options, path, PETSC_TRUE) && !PetscOptionsPush(options)) {
        (void)parse_values();
        (void)PetscOptionsPop();
      }
      (void)PetscOptionsDestroy(&options);
    }
  }
  app_options_reset();
  return 0;
}
