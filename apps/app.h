/* Shared plumbing of the eloss subcommands: start-up, the options-database
 * contract (every option listed by -help, unused options are errors) and
 * error reporting. Each subcommand is one file app_<name>.c with an entry
 * point int app_<name>(int argc, char **argv). */
#ifndef ELOSS_APP_H
#define ELOSS_APP_H

#include <petscsys.h>

#include "eloss/core.h"

/* Initialise MPI and PETSc with the subcommand's help text. */
PetscErrorCode app_initialize(int *argc, char ***argv, const char *help);

/* Call after the PetscOptionsBegin/End block. Sets *stop when the run must
 * end before doing work: -help was given (*exit_code = 0) or an option was
 * set but never read (*exit_code = 2, one error line naming the options). */
PetscErrorCode app_options_check(const char *command, PetscBool *stop, int *exit_code);

/* Report a library failure once (rank 0), naming the subcommand; returns the
 * exit code to use (1). `st` must already be agreed by every rank. */
int app_report(const char *command, core_status st);

/* Finalise PETSc and MPI, return exit_code. */
int app_finalize(int exit_code);

int app_loss(int argc, char **argv);
int app_rigidity(int argc, char **argv);
int app_gs(int argc, char **argv);
int app_mc(int argc, char **argv);
int app_spingen(int argc, char **argv);

#endif
