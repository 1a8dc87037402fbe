/* Shared plumbing of the eloss subcommands: start-up, the options-database
 * contract (every option listed by -help, unused options are errors) and
 * error reporting. Each subcommand is one file app_<name>.c defining one
 * app_command: its options are read into a struct by `options`, judged by
 * the shared prologue, and handed to `run`, which calls lib/. */
#ifndef ELOSS_APP_H
#define ELOSS_APP_H

#include <petscsys.h>
#include <signal.h>

#include "eloss/core.h"

/* A subcommand. app_main runs its life: stop signals caught (long-running
 * ones), MPI and PETSc started with `help`, `options` reads the options
 * into a zeroed struct of `size` bytes and checks them across each other
 * (app_option_error), app_options_check judges them (-help, refusals,
 * unused options: exit 0 or 2), `run` does the work and returns the exit
 * code (0; 1 through app_report; 3 through app_stopped), PETSc and MPI end. */
typedef struct {
  const char *name;    /* eloss <name> */
  const char *summary; /* one line: the dispatcher's table, the man page's NAME */
  const char *help;    /* what -help prints before the options */
  int long_running;    /* 1: SIGTERM, SIGINT, SIGUSR1 set app_stop_requested */
  size_t size;         /* bytes of the options struct */
  PetscErrorCode (*options)(void *opts);
  int (*run)(void *opts);
} app_command;

/* The subcommands, in the order `eloss -help` lists them. */
extern const app_command *const app_commands[];
extern const int app_command_count;

/* The whole life of one subcommand run; argv[0] is the program. With
 * judge_only set it stops after the options are judged (exit 0 for a
 * valid set, 2 for a refused one): what a test of refusals needs, in one
 * process (MPI must then be initialised by the caller, and stays so). */
int app_main(const app_command *cmd, int argc, char **argv, int judge_only);

/* A long job that stopped on request with its checkpoint written: one
 * line on rank 0, "eloss <command>: stopped <what>; run the same command
 * with -resume to continue". Returns the exit code 3. */
int app_stopped(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -help was given: app_options_check lists the options the subcommand
 * read (as text, or as a man page named `summary` when man is set) after
 * `description`, and stops. */
void app_help_request(int man, const char *summary, const char *description);


/* Reading option values (apps/app_options.c). Call between
 * PetscOptionsBegin and PetscOptionsEnd with po = PetscOptionsObject. Each
 * lists the option in -help with its default and what it allows, parses
 * the whole value strictly and, on a bad one, keeps *value, sets *set and
 * records "-name value: expected <what is allowed>" (the first error wins)
 * for app_options_check. Reals are finite, >= lo (> lo if lo_open) and
 * <= hi (pass -INFINITY / INFINITY for no bound). Lists: *count holds the
 * number of defaults in values on entry and of values given on return. */
PetscErrorCode app_opt_int(PetscOptionItems *po, const char *name, const char *help, PetscInt lo, PetscInt hi,
                           PetscInt *value, PetscBool *set);
PetscErrorCode app_opt_real(PetscOptionItems *po, const char *name, const char *help, double lo, double hi,
                            int lo_open, PetscReal *value, PetscBool *set);
PetscErrorCode app_opt_real_list(PetscOptionItems *po, const char *name, const char *help, double lo, double hi,
                                 int lo_open, PetscInt capacity, PetscReal *values, PetscInt *count, PetscBool *set);
PetscErrorCode app_opt_int_list(PetscOptionItems *po, const char *name, const char *help, PetscInt lo, PetscInt hi,
                                PetscInt capacity, PetscInt *values, PetscInt *count, PetscBool *set);
/* One of names[0 .. count - 1] (a library name table); *value is the index. */
PetscErrorCode app_opt_enum(PetscOptionItems *po, const char *name, const char *help, const char *const *names,
                            int count, PetscInt *value, PetscBool *set);
/* A non-empty string shorter than len; `what` says what it is ("a file name"). */
PetscErrorCode app_opt_string(PetscOptionItems *po, const char *name, const char *help, const char *what,
                              char *value, size_t len, PetscBool *set);
/* A bare flag, or true / false (also 1 / 0, yes / no, on / off). */
PetscErrorCode app_opt_bool(PetscOptionItems *po, const char *name, const char *help, PetscBool *value,
                            PetscBool *set);

/* Record an error about option `name` that checks across options find:
 * "-name <its value>: <why>". app_option_inapplicable does so when the
 * option was given (set) but means nothing in the chosen mode. */
void app_option_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void app_option_inapplicable(const char *name, PetscBool set, const char *why);
/* An option error on `name` when its file `out` is one of the inputs
 * (io_same_file: the same path or the same file under another name):
 * writing it would destroy the input before anything is computed. */
void app_output_not_input(const char *name, const char *out, const char *const *inputs, int count);
/* Option error (exit 2) if output `out` of option `name` has a name that
 * outputs' own files use: <file>.lock (a lock), <file>.tmp.<digits> (a
 * temporary, removed as stale by that file's next run); or is an options
 * file (-options_file) the run reads. */
void app_output_name(const char *name, const char *out);
/* Nonzero once a value was refused in this process. */
int app_options_failed(void);
/* Forget the recorded error and the -help request: for a process that
 * judges several option sets in turn (tests/fuzz/fuzz_options.c, app_main). */
void app_options_reset(void);

/* Refuse a stray word (one not an option's value) and an unreadable
 * -options_file in argv; records the error and returns nonzero. Called by
 * app_main before PetscInitialize. */
int app_argv_check(int argc, char **argv);

/* Call after the options block and the checks across options. Sets *stop
 * when the run must end before doing work: -help (*exit_code = 0, values
 * not judged), a refused value (*exit_code = 2, one error line on rank 0),
 * or an option set
 * but never read (*exit_code = 2, one line naming them). Collective on
 * MPI_COMM_WORLD. */
PetscErrorCode app_options_check(const char *command, PetscBool *stop, int *exit_code);

/* Largest inverse temperature any subcommand accepts (T >= 0.001 in units
 * of J): colder chains only freeze, and ground states have -gs. */
#define APP_BETA_MAX 1000.0

/* Report a library failure once (rank 0), naming the subcommand; returns the
 * exit code to use (1). `st` must already be agreed by every rank. */
int app_report(const char *command, core_status st);

/* Long jobs stop cleanly on SIGTERM, SIGINT and SIGUSR1 (Slurm preemption,
 * Ctrl-C, a batch script's forwarded signal): the handler only sets
 * app_stop_requested, which the library polls; SIGXFSZ is ignored so a
 * file-size limit is an I/O error, not a killed rank. */
extern volatile sig_atomic_t app_stop_requested;

extern const app_command app_loss_command, app_rigidity_command, app_spingen_command, app_spingen_merge_command,
    app_clustergen_command, app_mc_command, app_gs_command, app_spinloss_command, app_train_command,
    app_shapes_command, app_eval_command;
extern const app_command app_molcheck_command, app_sample_command;

#endif
