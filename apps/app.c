/* Start-up, option checking and error reporting shared by the subcommands. */
#define _POSIX_C_SOURCE 200809L
#include "app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PetscErrorCode app_initialize(int *argc, char ***argv, const char *help) {
  /* PETSc's own -help lists dozens of library-wide options, its viewers
   * among them, and adds "(None)" to every line: take -help out of argv,
   * start quietly, and list the subcommand's options ourselves
   * (app_options.c, after the options are read). */
  int asked = 0;
  for (int i = 1; i < *argc; ++i)
    if (!strcmp((*argv)[i], "-help") || !strcmp((*argv)[i], "--help") || !strcmp((*argv)[i], "-h")) {
      asked = 1;
      for (int j = i; j + 1 < *argc; ++j) (*argv)[j] = (*argv)[j + 1];
      --*argc, --i;
    }
  /* A stray word or an unreadable deck would make PETSc drop the word
   * silently or stop with a traceback: refuse them here, start PETSc on the
   * program name alone, and let app_options_check report the one error. */
  if (app_argv_check(*argc, *argv)) {
    int just_name = 1;
    asked = 0;
    PetscCall(PetscInitialize(&just_name, argv, NULL, NULL));
  } else {
    PetscCall(PetscInitialize(argc, argv, NULL, NULL));
  }
  /* Tests inject failures on one rank through the environment (core.h). */
  if (core_fault_configure(getenv("ELOSS_FAULT")) != CORE_OK)
    fprintf(stderr, "eloss: warning: %s; no fault injected\n", core_error_message());
  if (asked) {
    const char *format = getenv("ELOSS_HELP_FORMAT");
    app_help_request(format && !strcmp(format, "man"), help);
  }
  return 0;
}

int app_report(const char *command, core_status st) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0)
    fprintf(stderr, "eloss %s: error: %s\n", command, core_error_message());
  (void)st;
  return 1;
}

static int stop_signals_caught = 0;

int app_finalize(int exit_code) {
  /* The work is done (or failed) and its outputs are written: a stop
   * request from now on has nothing left to save. PETSc's finalize puts
   * the default handlers back, under which it would kill the process
   * (exit 143) and hide this exit code from a batch script; block it. */
  if (stop_signals_caught) {
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM), sigaddset(&stops, SIGINT), sigaddset(&stops, SIGUSR1);
    sigprocmask(SIG_BLOCK, &stops, NULL);
  }
  PetscErrorCode ierr = PetscFinalize();
  if (ierr && exit_code == 0) exit_code = 1;
  return exit_code;
}

volatile sig_atomic_t app_stop_requested = 0;

static void on_stop_signal(int sig) {
  (void)sig;
  app_stop_requested = 1;
}

void app_catch_stop_signals(void) {
  stop_signals_caught = 1;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  /* mpirun forwards SIGUSR1 to every rank on every node; batch scripts
   * turn Slurm's SIGTERM into it (jobs/spingen.sbatch). */
  sigaction(SIGUSR1, &action, NULL);
  /* Past a file-size limit (ulimit -f) a write must fail with EFBIG and be
   * reported, not kill the rank with SIGXFSZ. */
  signal(SIGXFSZ, SIG_IGN);
}
