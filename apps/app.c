/* Start-up, option checking and error reporting shared by the subcommands. */
#define _POSIX_C_SOURCE 200809L
#include "app.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dispatcher's table (eloss -help lists it in this order). */
const app_command *const app_commands[] = {
    &app_loss_command, &app_rigidity_command, &app_spingen_command, &app_spingen_merge_command,
    &app_clustergen_command, &app_mc_command, &app_gs_command, &app_spinloss_command,
    &app_train_command, &app_shapes_command, &app_eval_command,
    &app_molcheck_command, &app_sample_command,
};
const int app_command_count = sizeof app_commands / sizeof app_commands[0];

/* MPI and PETSc started with the subcommand's help. */
static PetscErrorCode initialize(const app_command *cmd, int *argc, char ***argv) {
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
    app_help_request(format && !strcmp(format, "man"), cmd->summary, cmd->help);
  }
  return 0;
}

static void catch_stop_signals(void);
static int finalize(int exit_code);

int app_main(const app_command *cmd, int argc, char **argv, int judge_only) {
  app_options_reset();
  /* A stop request that arrives while MPI and PETSc start is kept (the
   * first step sees it), not the default death by signal; PETSc installs
   * its own handlers on the way, so ours go back right after. */
  if (cmd->long_running && !judge_only) catch_stop_signals();
  if (initialize(cmd, &argc, &argv)) return 1;
  if (cmd->long_running && !judge_only) catch_stop_signals();
  void *opts = calloc(1, cmd->size);
  if (!opts) {
    fprintf(stderr, "eloss %s: error: out of memory\n", cmd->name);
    return finalize(1);
  }
  int exit_code = 0;
  PetscBool stop = PETSC_TRUE;
  if (cmd->options(opts) || app_options_check(cmd->name, &stop, &exit_code)) exit_code = 1, stop = PETSC_TRUE;
  if (!stop && !judge_only) exit_code = cmd->run(opts);
  free(opts);
  return finalize(exit_code);
}

int app_stopped(const char *command, const char *fmt, ...) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "eloss %s: stopped %s; run the same command with -resume to continue\n", command, what);
  }
  return 3;
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

static int finalize(int exit_code) {
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

static void catch_stop_signals(void) {
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
