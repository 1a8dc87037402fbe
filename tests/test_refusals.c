/* TAP test: option refusals of every subcommand, judged in one process.
 *
 * Each case runs a subcommand's whole option stage (app_main with
 * judge_only: PETSc started on the case's argv, the options read and
 * checked across each other, app_options_check) and expects what a user
 * sees on the command line: exit code 2 and exactly one line on stderr,
 * "eloss <command>: error: ...", containing the case's text, nothing on
 * stdout, no PETSc traceback. One MPI start for ~100 cases: the end-to-end
 * checks of the same contract (2 ranks, decks, output files, -help) stay
 * in test_options.sh. Decks the cases name are written to a fresh
 * directory under $TMPDIR first, removed at the end. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../apps/app.h"
#include "tap.h"

typedef struct {
  const char *command, *needle;
  const char *args[24];
} refusal;

static const refusal cases[] = {
    {"loss", "-loss energi: expected one of energy, mse, mae, kabsch", {"-pred", "pred.npy", "-ref", "ref.npy", "-loss", "energi", "-grad_out", "out.npy"}},
    {"spingen", "-instances 5.5: expected an integer >= 1", {"-instances", "5.5", "-out", "out.h5"}},
    {"spingen", "-options_file nothere.opts: cannot read the deck", {"-options_file", "nothere.opts", "-out", "out.h5"}},
    {"loss", "-options_file nothere.opts: cannot read the deck", {"-options_file", "nothere.opts", "-grad_out", "out.npy"}},
    {"spingen", "-options_file (no value)", {"-options_file", "-out", "out.h5"}},
    {"spingen", "-sample_betas -1,0,1e9,nan: expected comma-separated finite real numbers > 0", {"-samples", "2", "-sample_betas", "-1,0,1e9,nan", "-out", "out.h5"}},
    {"spingen", "-sample_betas 0.5,-1: ", {"-samples", "2", "-sample_betas", "0.5,-1", "-out", "out.h5"}},
    {"spingen", "-sample_betas 0: ", {"-samples", "2", "-sample_betas", "0", "-out", "out.h5"}},
    {"spingen", "-sample_betas 2,1e9: ", {"-samples", "2", "-sample_betas", "2,1e9", "-out", "out.h5"}},
    {"spingen", "-sample_betas 1,nan: ", {"-samples", "2", "-sample_betas", "1,nan", "-out", "out.h5"}},
    {"spingen", "-sample_betas 1,,2: ", {"-samples", "2", "-sample_betas", "1,,2", "-out", "out.h5"}},
    {"spingen", "-sample_betas 0.5 2: expected one value after -sample_betas", {"-samples", "2", "-sample_betas", "0.5", "2", "-out", "out.h5"}},
    {"spingen", "-gs_sweeps -5: expected an integer >= 1", {"-gs", "sa", "-gs_sweeps", "-5", "-out", "out.h5"}},
    {"spingen", "-gs_replicas 0: expected an integer >= 1", {"-gs", "sa", "-gs_replicas", "0", "-out", "out.h5"}},
    {"spingen", "-gs_replicas 1: expected an integer >= 2", {"-gs", "pt", "-gs_replicas", "1", "-out", "out.h5"}},
    {"spinloss", "-h0 inf: expected a finite real number", {"-loss", "local", "-h0", "inf", "-grad_out", "out.npy"}},
    {"spinloss", "-T -0.5: expected a finite real number >= 0", {"-options_file", "spinloss.opts", "-grad_out", "out.npy"}},
    {"spingen", "-instances 5.5: expected an integer >= 1", {"-options_file", "bad.opts", "-out", "out.h5"}},
    {"spingen", "-options_file stray.opts: line 2: -sample_betas 0.5 2: expected one value after -sample_betas", {"-options_file", "stray.opts", "-out", "out.h5"}},
    {"spingen", "unknown or unused option -instnces (-options_file typo.opts line 3)", {"-options_file", "typo.opts", "-out", "out.h5"}},
    {"mc", "-options_file nodash.opts: line 1: 'L' is not an option", {"-options_file", "nodash.opts"}},
    {"spingen", "-options_file two.opts: line 1: two options on one line (-L -instances)", {"-options_file", "two.opts", "-out", "out.h5"}},
    {"spingen", "-options_file nul.opts: line 1: a NUL byte: not a text file", {"-options_file", "nul.opts", "-out", "out.h5"}},
    {"spingen", "-options_file long.opts: line 1: longer than 4094 characters", {"-options_file", "long.opts", "-out", "out.h5"}},
    {"mc", "-options_file adir: cannot read the deck (not a regular file)", {"-options_file", "adir"}},
    {"mc", "-beta nan: expected a finite real number >= 0 and <= 1000", {"-beta", "nan"}},
    {"mc", "-beta inf: expected a finite real number", {"-beta", "inf"}},
    {"mc", "-beta -1: expected a finite real number >= 0", {"-beta", "-1"}},
    {"mc", "-beta 1e9: expected a finite real number >= 0 and <= 1000", {"-beta", "1e9"}},
    {"mc", "-beta 0.4x: ", {"-beta", "0.4x"}},
    {"mc", "-field -inf: expected a finite real number", {"-field", "-inf"}},
    {"mc", "-L -3: expected an integer >= 2", {"-L", "-3"}},
    {"mc", "-L 99999999999: expected an integer from 2 to 2147483647", {"-L", "99999999999"}},
    {"mc", "-L 1e3: expected an integer >= 2", {"-L", "1e3"}},
    {"mc", "-replicas 0: expected an integer >= 1", {"-replicas", "0"}},
    {"mc", "-therm -1: expected an integer >= 0", {"-therm", "-1"}},
    {"mc", "-blocks 1: expected an integer >= 2", {"-blocks", "1"}},
    {"mc", "-seed -2: expected an integer >= 0", {"-seed", "-2"}},
    {"mc", "-pt_temperatures 1: expected 0 (off) or an integer >= 2", {"-pt_temperatures", "1"}},
    {"mc", "-algorithm gibbs: expected one of metropolis, heatbath", {"-algorithm", "gibbs"}},
    {"mc", "-couplings (no value): expected one of uniform, gaussian, pm, ferro", {"-couplings"}},
    {"mc", "-cold maybe: expected nothing (the flag alone), true or false", {"-cold", "maybe"}},
    {"spingen", "-L -4: expected an integer >= 2", {"-L", "-4", "-out", "out.h5"}},
    {"spingen", "-instances 99999999999: expected an integer from 1 to 2147483647", {"-instances", "99999999999", "-out", "out.h5"}},
    {"spingen", "-instances inf: expected an integer >= 1", {"-instances", "inf", "-out", "out.h5"}},
    {"spingen", "-instances -3: expected an integer >= 1", {"-instances", "-3", "-out", "out.h5"}},
    {"spingen", "-checkpoint_seconds 0: expected a finite real number > 0", {"-checkpoint_seconds", "0", "-out", "out.h5"}},
    {"spingen", "-checkpoint_seconds nan: ", {"-checkpoint_seconds", "nan", "-out", "out.h5"}},
    {"spingen", "-chunk 0: expected an integer >= 1", {"-chunk", "0", "-out", "out.h5"}},
    {"spingen", "-lattice (no value): expected one of square, cubic", {"-lattice", "", "-out", "out.h5"}},
    {"spingen", "-couplings gauss: expected one of uniform, gaussian, pm, ferro", {"-couplings", "gauss", "-out", "out.h5"}},
    {"spingen", "-gs ilp: expected one of auto, exact, pt, sa", {"-gs", "ilp", "-out", "out.h5"}},
    {"spingen", "-resume maybe: expected nothing (the flag alone), true or false", {"-resume", "maybe", "-out", "out.h5"}},
    {"spingen", "-gs_beta_min nan: ", {"-gs", "pt", "-gs_beta_min", "nan", "-out", "out.h5"}},
    {"spingen", "-out: required", {"-L", "4"}},
    {"spingen", "-out (no value): expected a file name", {"-out"}},
    {"loss", "-coeff exp: expected one of constant, exp_dist, inv_dist, inv_dist2, lj", {"-pred", "pred.npy", "-ref", "ref.npy", "-coeff", "exp", "-grad_out", "out.npy"}},
    {"loss", "-k0 nan: expected a finite real number > 0", {"-pred", "pred.npy", "-ref", "ref.npy", "-k0", "nan", "-grad_out", "out.npy"}},
    {"loss", "-k0 -1: expected a finite real number > 0", {"-pred", "pred.npy", "-ref", "ref.npy", "-k0", "-1", "-grad_out", "out.npy"}},
    {"loss", "-coeff_dmin 0: expected a finite real number > 0", {"-pred", "pred.npy", "-ref", "ref.npy", "-coeff_dmin", "0", "-grad_out", "out.npy"}},
    {"loss", "-repeat -1: expected an integer >= 0", {"-pred", "pred.npy", "-ref", "ref.npy", "-repeat", "-1", "-grad_out", "out.npy"}},
    {"loss", "-repeat 99999999999: expected an integer from 0 to 2147483647", {"-pred", "pred.npy", "-ref", "ref.npy", "-repeat", "99999999999", "-grad_out", "out.npy"}},
    {"loss", "-precision quad: expected one of double, single", {"-pred", "pred.npy", "-ref", "ref.npy", "-precision", "quad", "-grad_out", "out.npy"}},
    {"loss", "-edges foo: expected complete, regular, bonds or an (E,2) int .npy file", {"-pred", "pred.npy", "-ref", "ref.npy", "-edges", "foo", "-grad_out", "out.npy"}},
    {"loss", "-pool 0: expected an integer >= 1", {"-pred", "pred.npy", "-ref", "ref.npy", "-edges", "regular", "-pool", "0", "-grad_out", "out.npy"}},
    {"loss", "-pred: required", {"-ref", "ref.npy", "-grad_out", "out.npy"}},
    {"loss", "foo: stray argument; options are written -name value", {"foo", "-pred", "pred.npy", "-ref", "ref.npy", "-grad_out", "out.npy"}},
    {"loss", "-ref ref.npy foo: expected one value after -ref", {"-pred", "pred.npy", "-ref", "ref.npy", "foo", "-grad_out", "out.npy"}},
    {"rigidity", "-d 4: expected an integer from 1 to 3", {"-edges", "k4.npy", "-d", "4"}},
    {"rigidity", "-survey_d 2,5: expected comma-separated integers from 1 to 3", {"-survey_d", "2,5"}},
    {"rigidity", "-survey_n 10,,20: ", {"-survey_n", "10,,20"}},
    {"rigidity", "-samples 0: expected an integer >= 1", {"-samples", "0"}},
    {"gs", "-jh (no value): expected a file name", {"-jh", "-out", "out.npy"}},
    {"mc", "-beta 0: Metropolis below beta = 0.01", {"-beta", "0"}},
    {"mc", "-field 1e308: expected a finite real number >= -1000 and <= 1000", {"-field", "1e308"}},
    {"mc", "-pt_adapt 100: the ladder is retuned every N thermalisation sweeps, so N must be <= -therm (20)", {"-pt_temperatures", "4", "-pt_beta_min", "0.2", "-pt_adapt", "100", "-therm", "20"}},
    {"spingen", "-L 70000: expected an integer from 2 to 32768 for a square lattice", {"-L", "70000", "-bc", "periodic", "-gs", "sa", "-out", "out.h5"}},
    {"spingen", "-sample_betas 0.5,0.001: beta 0.001: Metropolis below beta = 0.01", {"-samples", "2", "-sample_betas", "0.5,0.001", "-out", "out.h5"}},
    {"mc", "-pt_adapt 10: applies only to parallel tempering", {"-pt_adapt", "10"}},
    {"mc", "-pt_temperatures 4: does not combine with -replicas", {"-pt_temperatures", "4", "-replicas", "4"}},
    {"mc", "-pt_beta_min 0.9: needs -pt_beta_min <= -beta", {"-pt_temperatures", "4", "-beta", "0.5", "-pt_beta_min", "0.9"}},
    {"mc", "-split: does not combine with -cold", {"-split", "-cold"}},
    {"mc", "-sweeps 10: needs -sweeps >= -blocks", {"-sweeps", "10", "-blocks", "20"}},
    {"mc", "-bc open: cubic lattices are periodic only", {"-lattice", "cubic", "-bc", "open", "-L", "4"}},
    {"spingen", "-gs_sweeps 100: tunes the -gs pt and -gs sa searches, but these ground states are exact", {"-gs_sweeps", "100", "-out", "out.h5"}},
    {"spingen", "-gs_replicas 4: tunes the -gs pt and -gs sa searches, not -gs exact", {"-gs", "exact", "-gs_replicas", "4", "-out", "out.h5"}},
    {"spingen", "-sample_therm 10: applies only to equilibrium samples; add -samples S", {"-sample_therm", "10", "-out", "out.h5"}},
    {"spingen", "-algorithm heatbath: applies only to equilibrium samples", {"-algorithm", "heatbath", "-out", "out.h5"}},
    {"spingen", "-sample_betas 0.5: applies only to equilibrium samples", {"-sample_betas", "0.5", "-out", "out.h5"}},
    {"spingen", "-gs_beta_min 5: needs -gs_beta_min <= -gs_beta_max", {"-gs", "sa", "-gs_beta_min", "5", "-gs_beta_max", "1", "-out", "out.h5"}},
    {"spingen", "-bc open: cubic lattices are periodic only; give -bc periodic or leave -bc out", {"-lattice", "cubic", "-bc", "open", "-L", "4", "-out", "out.h5"}},
    {"spingen", "-gs exact: needs -lattice square -bc open; use -gs pt or -gs sa", {"-gs", "exact", "-lattice", "cubic", "-L", "4", "-out", "out.h5"}},
    {"loss", "-degree 3: applies only to -edges regular", {"-pred", "pred.npy", "-ref", "ref.npy", "-degree", "3", "-grad_out", "out.npy"}},
    {"loss", "-bond_tolerance 0.3: applies only to -edges bonds", {"-pred", "pred.npy", "-ref", "ref.npy", "-bond_tolerance", "0.3", "-grad_out", "out.npy"}},
    {"loss", "-coeff lj: applies only to -loss energy (this run: -loss mse)", {"-pred", "pred.npy", "-ref", "ref.npy", "-loss", "mse", "-coeff", "lj", "-grad_out", "out.npy"}},
    {"loss", "-per_atom: applies only to -loss energy (this run: -loss kabsch)", {"-pred", "pred.npy", "-ref", "ref.npy", "-loss", "kabsch", "-per_atom", "-grad_out", "out.npy"}},
    {"rigidity", "-samples 5: belongs to the survey; it cannot be combined with -edges", {"-edges", "k4.npy", "-d", "2", "-samples", "5"}},
    {"rigidity", "-n 4: applies to one graph given with -edges", {"-n", "4"}},
    /* The subcommands test_options.sh never covered. */
    {"train", "-flip_invariant: is for -loss ce and margin only", {"-train", "a.h5", "-out", "m.ckpt", "-loss", "local", "-flip_invariant"}},
    {"train", "-test: required for -task denoise", {"-task", "denoise", "-train", "a.h5", "-out", "m.ckpt"}},
    {"train", "-batch 10: expected a multiple of -shards 4", {"-train", "a.h5", "-out", "m.ckpt", "-batch", "10"}},
    {"train", "-force: contradicts -resume", {"-train", "a.h5", "-out", "m.ckpt", "-resume", "-force"}},
    {"train", "-depth 3: expected an even number", {"-train", "a.h5", "-out", "m.ckpt", "-depth", "3"}},
    {"train", "-noise 0.1,0.1: level 0.1 is given twice", {"-task", "denoise", "-train", "a.h5", "-test", "b.h5", "-out", "m.ckpt", "-noise", "0.1,0.1"}},
    {"train", "-conv direct: applies to -task spin", {"-task", "denoise", "-train", "a.h5", "-test", "b.h5", "-out", "m.ckpt", "-conv", "direct"}},
    {"train", "-out: required", {"-train", "a.h5"}},
    {"eval", "-model: required", {"-test", "t.h5"}},
    {"eval", "-chunk -1: expected an integer from 0 to 65536", {"-model", "m.ckpt", "-test", "t.h5", "-chunk", "-1"}},
    {"spingen", "unknown or unused option -batch", {"-batch", "4", "-out", "out.h5"}},
    {"shapes", "-vertices 4: -loss sparse draws 4-regular graphs", {"-loss", "sparse", "-vertices", "4"}},
    {"shapes", "-eval_every 10: writes into -metrics", {"-eval_every", "10"}},
    {"clustergen", "-temperatures 0.2,0.1: must be strictly ascending", {"-out", "c.h5", "-temperatures", "0.2,0.1"}},
    {"clustergen", "-start s.xyz: applies only to samples", {"-out", "c.h5", "-samples", "0", "-start", "s.xyz"}},
    {"spingen-merge", "-parts: required", {"-out", "m.h5"}},
    {"sample", "-model: required", {"-out", "g.xyz"}},
    {"sample", "-out m.ckpt: is the input m.ckpt", {"-model", "m.ckpt", "-out", "m.ckpt"}},
    {"sample", "-n 0: expected an integer from 1", {"-model", "m.ckpt", "-n", "0", "-out", "g.xyz"}},
    {"train", "-layers 0: -model egnn needs at least one block",
     {"-task", "diffusion", "-model", "egnn", "-layers", "0", "-train", "a.xyz", "-test", "b.xyz", "-out", "m.ckpt"}},
    {"sample", "-force: contradicts -resume", {"-model", "m.ckpt", "-out", "g.xyz", "-resume", "-force"}},
    {"sample", "-checkpoint_seconds 0: expected", {"-model", "m.ckpt", "-out", "g.xyz", "-checkpoint_seconds", "0"}},
    {"train", "-layers 3: applies to -task diffusion", {"-train", "a.h5", "-out", "m.ckpt", "-layers", "3"}},
    {"loss", "-loss mae: contradicts -preset mse", {"-pred", "p.npy", "-ref", "r.npy", "-preset", "mse", "-loss", "mae"}},
    {"loss", "-edges complete: contradicts -preset sparse", {"-pred", "p.npy", "-ref", "r.npy", "-preset", "sparse", "-edges", "complete"}},
    {"loss", "-coeff lj: applies only to -loss energy (this run: -loss kabsch)", {"-pred", "p.npy", "-ref", "r.npy", "-preset", "kabsch", "-coeff", "lj"}},
    {"spingen-merge", "-parts ,: an empty item", {"-parts", ",", "-out", "m.h5"}},
    {"spingen-merge", "-parts p1.h5,,p0.h5: an empty item", {"-parts", "p1.h5,,p0.h5", "-out", "m.h5"}},
    {"spingen-merge", "-out p0.h5: is the input p0.h5", {"-parts", "p1.h5,p0.h5", "-out", "p0.h5"}},
    {"spingen", "-split a b: expected one word", {"-split", "a b", "-out", "s.h5"}},
    {"clustergen", "-therm 50: applies only to samples", {"-out", "c.h5", "-samples", "0", "-therm", "50"}},
    {"clustergen", "-xyz c.h5: is also the -out file", {"-out", "c.h5", "-xyz", "c.h5"}},
    {"gs", "-jv: required", {"-jh", "H.npy"}},
    {"shapes", "larger than the 100 training samples", {"-samples", "100", "-epochs", "1"}},
    {"shapes", "-diffusion_steps 100: applies to -model diffusion", {"-diffusion_steps", "100"}},
    {"shapes", "-ema 0.99: applies to -model diffusion", {"-model", "regression", "-ema", "0.99"}},
    {"shapes", "-predict x: applies to -model diffusion", {"-predict", "x"}},
    {"shapes", "-model diffuse: expected one of regression, diffusion", {"-model", "diffuse"}},
    {"shapes", "-predict noise: expected one of eps, x", {"-model", "diffusion", "-predict", "noise"}},
    {"shapes", "-diffusion_steps 0: expected an integer from 1", {"-model", "diffusion", "-diffusion_steps", "0"}},
    {"shapes", "-ema 1: expected a finite real number >= 0 and <= 0.999999", {"-model", "diffusion", "-ema", "1"}},
};

/* Option sets the stage accepts (exit 0): the refusals above are not
 * simply everything refused. */
static const refusal accepted[] = {
    {"mc", "", {"-L", "8", "-beta", "0.3"}},
    {"spingen", "", {"-L", "4", "-instances", "2", "-out", "x.h5"}},
    {"train", "", {"-train", "a.h5", "-out", "m.ckpt", "-loss", "local", "-T", "0.5"}},
    {"train", "", {"-task", "denoise", "-train", "a.h5", "-test", "b.h5", "-out", "m.ckpt", "-loss", "energy"}},
    {"eval", "", {"-model", "m.ckpt", "-test", "t.h5"}},
    {"loss", "", {"-pred", "p.npy", "-ref", "r.npy", "-edges", "regular", "-degree", "2"}},
    {"loss", "", {"-pred", "p.npy", "-ref", "r.npy", "-preset", "sparse", "-degree", "2"}},
    {"shapes", "", {"-model", "diffusion", "-loss", "kabsch", "-diffusion_steps", "200", "-ema", "0", "-predict", "x"}},
};

static void write_file(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(text, 1, n, f) != n || fclose(f)) {
    perror(path);
    exit(1);
  }
}

static void write_decks(void) {
  static const char spinloss[] = "-loss local   # fine\n-T -0.5       # negative\n";
  static const char bad[] = "-L 8          # fine\n-instances 5.5  # not an integer\n";
  static const char stray[] = "-samples 2\n-sample_betas 0.5 2   # a stray 2\n";
  static const char typo[] = "-L 8\n# a typo\n-instnces 5\n";
  static const char nodash[] = "L 16\n";
  static const char two[] = "-L 4 -instances 2\n";
  static const char nul[] = "-L 5\0-instances 9\n";
  write_file("spinloss.opts", spinloss, sizeof spinloss - 1);
  write_file("bad.opts", bad, sizeof bad - 1);
  write_file("stray.opts", stray, sizeof stray - 1);
  write_file("typo.opts", typo, sizeof typo - 1);
  write_file("nodash.opts", nodash, sizeof nodash - 1);
  write_file("two.opts", two, sizeof two - 1);
  write_file("nul.opts", nul, sizeof nul - 1);
  char long_line[5008];
  memset(long_line, '#', 5000);
  memcpy(long_line + 5000, "\n-L 5\n", 6);
  write_file("long.opts", long_line, 5006);
  mkdir("adir", 0755);
}

static const app_command *command_named(const char *name) {
  for (int i = 0; i < app_command_count; ++i)
    if (!strcmp(app_commands[i]->name, name)) return app_commands[i];
  return NULL;
}

/* The whole text of a file (at most size - 1 bytes). */
static void slurp(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, size - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
}

/* Run one case with stdout and stderr to files; returns the exit code. */
static int judge(const refusal *c, char *out, char *err, size_t size) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "eloss";
  for (int k = 0; c->args[k]; ++k) argv[argc++] = (char *)c->args[k];
  argv[argc] = NULL;
  fflush(stdout), fflush(stderr);
  const int saved_out = dup(1), saved_err = dup(2);
  const int fo = open("case.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int fe = open("case.err", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fo, 1), dup2(fe, 2);
  close(fo), close(fe);
  const int rc = app_main(command_named(c->command), argc, argv, 1);
  fflush(stdout), fflush(stderr);
  dup2(saved_out, 1), dup2(saved_err, 2);
  close(saved_out), close(saved_err);
  slurp("case.out", out, size);
  slurp("case.err", err, size);
  return rc;
}

static const char *const made[] = {"spinloss.opts", "bad.opts", "stray.opts", "typo.opts", "nodash.opts",
                                   "two.opts", "nul.opts", "long.opts", "case.out", "case.err"};

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/eloss_refusals.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (!mkdtemp(dir) || chdir(dir)) {
    perror(dir);
    return 1;
  }
  write_decks();
  const int n = (int)(sizeof cases / sizeof cases[0]), n_ok = (int)(sizeof accepted / sizeof accepted[0]);
  tap_plan(n + n_ok + 1);
  int known = 1;
  for (int i = 0; i < n; ++i) known &= command_named(cases[i].command) != NULL;
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; ++i) known &= command_named(accepted[i].command) != NULL;
  tap_ok(known, "every case names a subcommand of the dispatcher's table");
  static char out[1 << 16], err[1 << 16];
  for (int i = 0; i < n; ++i) {
    const refusal *c = &cases[i];
    const int rc = command_named(c->command) ? judge(c, out, err, sizeof out) : -1;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "eloss %s: error: ", c->command);
    const char *nl = strchr(err, '\n');
    const int one_line = nl && nl[1] == '\0';
    const int good = rc == 2 && one_line && !strncmp(err, prefix, strlen(prefix)) && strstr(err, c->needle) &&
                     out[0] == '\0' && !strstr(err, "PETSC ERROR");
    if (nl && one_line) *(char *)nl = '\0';
    char args[512] = "";
    for (int k = 0; c->args[k]; ++k)
      snprintf(args + strlen(args), sizeof args - strlen(args), "%s%s", k ? " " : "", c->args[k]);
    if (good) tap_ok(1, "%s %s: %s", c->command, args, err);
    else tap_ok(0, "%s %s: rc=%d, want '%s': %.300s", c->command, args, rc, c->needle, err);
  }
  for (int i = 0; i < n_ok; ++i) {
    const int rc = judge(&accepted[i], out, err, sizeof out);
    tap_ok(rc == 0 && err[0] == '\0' && out[0] == '\0', "%s accepts %s %s ...: rc=%d %.200s", accepted[i].command,
           accepted[i].args[0], accepted[i].args[1], rc, err);
  }
  for (size_t k = 0; k < sizeof made / sizeof made[0]; ++k) unlink(made[k]);
  rmdir("adir");
  if (chdir("/") == 0) rmdir(dir);
  MPI_Finalize();
  return tap_done();
}
