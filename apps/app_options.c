/* Option values of every eloss subcommand, read and checked in one place.
 *
 * Each helper app_opt_<kind>(po, name, help, <allowed>, &value, &set) is
 * called between PetscOptionsBegin and PetscOptionsEnd with po =
 * PetscOptionsObject, the PetscOptionItems that PetscOptionsBegin declares.
 * It reads the option as text through PetscOptionsString, so that
 *   - -help lists it as "-name <now v : formerly default>: help (allowed)",
 *     with its default and what values it takes;
 *   - the option counts as used (app_options_check refuses unused ones);
 *   - a bad value never reaches PETSc's own parser, whose refusal is a
 *     30-line traceback and an exit code of 62-83.
 * The text is then parsed here, strictly: the whole string must be a
 * decimal integer in range, a finite real in range, one of a library name
 * table (spin_coupling_names, mc_algorithm_names, ...), a comma-separated
 * list of such values, a non-empty string, or a boolean. A bad value leaves
 * *value at its default, sets *set, and records one error line,
 *   "-instances 5.5: expected an integer >= 1",
 * naming the option, the value given and what is allowed. Only the first
 * error is kept. app_option_error records errors of the same shape for
 * checks across options (an option meaningless in the chosen mode, a
 * minimum above a maximum).
 *
 * app_argv_check, run by app_main before PetscInitialize, refuses
 * what PETSc would silently drop or turn into a traceback: a stray word
 * that is no option's value (the "2" of "-sample_betas 0.5 2", which PETSc
 * skips), an -options_file that cannot be read, and a deck line PETSc's
 * reader refuses (naming the file and line).
 *
 * app_options_check reports the recorded error once, on rank 0, and every
 * rank stops with exit code 2 (with -help it only stops, with 0); the
 * ranks agree by one MPI_Allreduce, so the call is collective on
 * MPI_COMM_WORLD. Nothing here allocates. */
#include "app.h"
#include "eloss/io.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* The first refused value of this process: one line without the
 * "eloss <command>: error: " prefix. */
static char pending[1024];
static int failed;
/* Options listed under -help (below). */
static int help_count, help_mode; /* help_mode 0: none, 1: text, 2: man */

static void record(const char *fmt, ...) {
  if (failed) return;
  failed = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pending, sizeof pending, fmt, ap);
  va_end(ap);
}

int app_options_failed(void) { return failed; }

void app_options_reset(void) {
  failed = 0;
  pending[0] = '\0';
  help_mode = 0, help_count = 0;
}

/* ---- -help: the options as this subcommand reads them ---------------------- */

/* With -help, every option read through read_text is kept here, and
 * app_options_check prints them (text) or a man page (roff, under
 * ELOSS_HELP_FORMAT=man): one table serves both, so the man pages never
 * drift from -help. */
typedef struct {
  char name[48], help[640], allowed[320], value[320];
} help_item;
enum { HELP_MAX = 96 };
static help_item help_items[HELP_MAX];
static const char *help_description = "", *help_summary = NULL;

void app_help_request(int man, const char *summary, const char *description) {
  help_mode = man ? 2 : 1;
  help_summary = summary;
  help_description = description ? description : "";
}

static void help_keep(const char *name, const char *help, const char *allowed, const char *value) {
  if (!help_mode || help_count >= HELP_MAX) return;
  for (int k = 0; k < help_count; ++k)
    if (!strcmp(help_items[k].name, name)) return;
  help_item *h = &help_items[help_count++];
  snprintf(h->name, sizeof h->name, "%s", name);
  snprintf(h->help, sizeof h->help, "%s", help);
  snprintf(h->allowed, sizeof h->allowed, "%s", allowed);
  snprintf(h->value, sizeof h->value, "%s", value);
}

/* roff text: backslashes and hyphens escaped, no line opening with a
 * control character. */
static void roff(FILE *out, const char *text) {
  int at_start = 1;
  for (const char *c = text; *c; ++c) {
    if (at_start && (*c == '.' || *c == '\'')) fputs("\\&", out);
    if (*c == '\\') fputs("\\e", out);
    else if (*c == '-') fputs("\\-", out);
    else fputc(*c, out);
    at_start = *c == '\n';
  }
}

static void help_print(const char *command) {
  if (help_mode == 1) {
    printf("%s\noptions of eloss %s (the value shown is the default):\n", help_description, command);
    for (int k = 0; k < help_count; ++k) {
      const help_item *h = &help_items[k];
      if (h->value[0]) printf("  %s <%s>: %s (%s)\n", h->name, h->value, h->help, h->allowed);
      else printf("  %s: %s (%s)\n", h->name, h->help, h->allowed);
    }
    return;
  }
  char upper[64];
  size_t n = 0;
  for (; command[n] && n + 1 < sizeof upper; ++n) upper[n] = (char)(command[n] >= 'a' && command[n] <= 'z' ? command[n] - 32 : command[n]);
  upper[n] = '\0';
  /* NAME: the dispatcher's summary, else the description's first line
   * after "eloss <command>: ". */
  char first[512];
  const char *d = help_description, *colon = strstr(d, ": ");
  const char *start = colon && colon < d + strcspn(d, "\n") ? colon + 2 : d;
  if (help_summary) snprintf(first, sizeof first, "%s", help_summary);
  else snprintf(first, sizeof first, "%.*s", (int)strcspn(start, "\n"), start);
  printf(".TH ELOSS\\-%s 1 \"\" \"eloss\" \"eloss manual\"\n.SH NAME\neloss\\-", upper);
  roff(stdout, command);
  fputs(" \\- ", stdout);
  roff(stdout, first);
  printf("\n.SH SYNOPSIS\n.B eloss ");
  roff(stdout, command);
  printf("\n[\\fIoptions\\fR]\n.br\n.B mpirun \\-n\n.I P\n.B eloss ");
  roff(stdout, command);
  printf("\n[\\fIoptions\\fR]\n.SH DESCRIPTION\n");
  roff(stdout, help_description);
  printf("\n.SH OPTIONS\nEvery option also reads from a deck (\\fB\\-options_file\\fR \\fIfile\\fR); an option this "
         "command does not use is an error.\n");
  for (int k = 0; k < help_count; ++k) {
    const help_item *h = &help_items[k];
    printf(".TP\n.B ");
    roff(stdout, h->name);
    printf("\n");
    roff(stdout, h->help);
    printf(" (");
    roff(stdout, h->allowed);
    printf(").");
    if (h->value[0]) {
      printf(" Default: ");
      roff(stdout, h->value);
      printf(".");
    }
    printf("\n");
  }
  printf(".SH SEE ALSO\n\\fBeloss \\-help\\fR lists the subcommands; the guides in docs/ of the source tree "
         "(docs/README.md, docs/options.md).\n");
}

/* "-name value" as the user wrote it; "-name (no value)" when none was
 * given to an option that needs one. */
static void option_text(char *buf, size_t len, const char *name, const char *value) {
  if (value && value[0]) snprintf(buf, len, "%s %s", name, value);
  else snprintf(buf, len, "%s (no value)", name);
}

void app_option_error(const char *name, const char *fmt, ...) {
  if (failed) return;
  const char *value = NULL;
  PetscBool found = PETSC_FALSE;
  if (PetscOptionsFindPair(NULL, NULL, name, &value, &found) || !found) value = NULL;
  char head[512], why[512];
  /* A bare flag (-split) is named alone. */
  if (found && value && value[0]) snprintf(head, sizeof head, "%s %s", name, value);
  else snprintf(head, sizeof head, "%s", name);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  record("%s: %s", head, why);
}

void app_option_inapplicable(const char *name, PetscBool set, const char *why) {
  if (set) app_option_error(name, "%s", why);
}

void app_output_not_input(const char *name, const char *out, const char *const *inputs, int count) {
  for (int k = 0; out && out[0] && k < count; ++k)
    if (inputs[k] && inputs[k][0] && io_same_file(out, inputs[k])) {
      app_option_error(name, "is the input %s: choose another file (it would be overwritten)", inputs[k]);
      return;
    }
}

void app_output_name(const char *name, const char *out) {
  const char *reserved = io_output_name_reserved(out);
  const char *deck = out && out[0] ? io_input_registered(out) : NULL;
  if (reserved) app_option_error(name, "%s: choose another file", reserved);
  else if (deck) app_option_error(name, "is the options file %s read: choose another file", deck);
}

/* ---- the command line before PETSc sees it ---------------------------------- */

/* PETSc's rule for an option name (PetscOptionsValidKey): '-' or '--',
 * then a letter, and not a number such as -1 or -nan or -inf. Anything
 * else after an option is that option's value. */
static int is_key(const char *s) {
  if (!s || s[0] != '-') return 0;
  if (s[1] == '-') ++s;
  if (!((s[1] >= 'a' && s[1] <= 'z') || (s[1] >= 'A' && s[1] <= 'Z'))) return 0;
  char *end;
  (void)strtod(s, &end);
  if (end != s && !(*end == '_' || (*end >= '0' && *end <= '9') || (*end >= 'a' && *end <= 'z') ||
                    (*end >= 'A' && *end <= 'Z')))
    return 0;
  return 1;
}

static int deck_check(const char *path, int depth);

/* Where each option of a deck was read, so that an unknown one is named
 * with its deck and line (PETSc reports only the name). */
enum { DECK_KEYS_MAX = 512 };
static struct {
  char key[64];
  char where[300];
} deck_keys[DECK_KEYS_MAX];
static int n_deck_keys;

static void deck_key_note(const char *key, const char *path, int line) {
  if (n_deck_keys == DECK_KEYS_MAX) return;
  snprintf(deck_keys[n_deck_keys].key, sizeof deck_keys[n_deck_keys].key, "%s", key + 1);
  snprintf(deck_keys[n_deck_keys].where, sizeof deck_keys[n_deck_keys].where, "%s line %d", path, line);
  ++n_deck_keys;
}

/* The deck and line of option `name` (without its '-'), or NULL; the last
 * deck wins, as in PETSc. */
static const char *deck_key_where(const char *name) {
  for (int i = n_deck_keys - 1; i >= 0; --i)
    if (!strcasecmp(deck_keys[i].key, name)) return deck_keys[i].where;
  return NULL;
}

/* A readable regular file, or record why not. */
static int deck_readable(const char *path) {
  struct stat sb;
  FILE *f = NULL;
  if (stat(path, &sb) != 0) {
    record("-options_file %s: cannot read the deck (%s)", path, strerror(errno));
    return 0;
  }
  if (!S_ISREG(sb.st_mode)) {
    record("-options_file %s: cannot read the deck (not a regular file)", path);
    return 0;
  }
  if (!(f = fopen(path, "r"))) {
    record("-options_file %s: cannot read the deck (%s)", path, strerror(errno));
    return 0;
  }
  fclose(f);
  return 1;
}

/* The line rules of PETSc's PetscOptionsInsertFile, checked here so that a
 * malformed deck gives one line naming the file and line instead of a
 * traceback: '#', '!' and '%' start comments; a line is empty, an "alias"
 * line, or one option followed by at most one value ("..." quotes a value
 * with blanks). A deck may name further decks with -options_file. Returns
 * 0 after recording the first problem. */
static int deck_check(const char *path, int depth) {
  if (!deck_readable(path)) return 0;
  io_input_register(path);
  if (depth > 8) {
    record("-options_file %s: decks nested more than 8 deep", path);
    return 0;
  }
  FILE *f = fopen(path, "r");
  char line[4096];
  int ok = 1;
  for (int number = 1; ok; ++number) {
    const int got = io_text_line(f, line, sizeof line);
    if (got == IO_LINE_TOO_LONG || got == IO_LINE_NUL) {
      record("-options_file %s: line %d: %s", path, number,
             got == IO_LINE_NUL ? "a NUL byte: not a text file" : "longer than 4094 characters");
      ok = 0;
    }
    if (got != IO_LINE) break;
    line[strcspn(line, "#!%\r\n")] = '\0';
    char *tok[3] = {NULL, NULL, NULL};
    int n = 0;
    for (char *p = line; n < 3;) {
      while (*p == ' ' || *p == '\t') ++p;
      if (!*p) break;
      char *start = p;
      if (*p == '"') {
        start = ++p;
        while (*p && *p != '"') ++p;
      } else {
        while (*p && *p != ' ' && *p != '\t') ++p;
      }
      if (*p) *p++ = '\0';
      tok[n++] = start;
    }
    if (n == 0 || !strcmp(tok[0], "alias")) continue;
    if (!is_key(tok[0])) {
      record("-options_file %s: line %d: '%s' is not an option (options are written -name value)", path, number,
             tok[0]);
      ok = 0;
    } else if ((n >= 2 && is_key(tok[1])) || (n == 3 && is_key(tok[2]))) {
      record("-options_file %s: line %d: two options on one line (%s %s); give each its own line", path, number,
             tok[0], is_key(tok[1]) ? tok[1] : tok[2]);
      ok = 0;
    } else if (n == 3) {
      record("-options_file %s: line %d: %s %s %s: expected one value after %s (a list is comma-separated, without "
             "spaces)", path, number, tok[0], tok[1], tok[2], tok[0]);
      ok = 0;
    } else if (!strcmp(tok[0], "-options_file")) {
      if (n < 2) {
        record("-options_file %s: line %d: -options_file needs the file name of a deck", path, number);
        ok = 0;
      } else {
        char nested[4096];
        snprintf(nested, sizeof nested, "%s", tok[1]);
        ok = deck_check(nested, depth + 1);
      }
    } else {
      deck_key_note(tok[0], path, number);
    }
  }
  fclose(f);
  return ok;
}

int app_argv_check(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!is_key(argv[i])) {
      if (i > 1 && is_key(argv[i - 2]) && !is_key(argv[i - 1]))
        record("%s %s %s: expected one value after %s (a list is comma-separated, without spaces)", argv[i - 2],
               argv[i - 1], argv[i], argv[i - 2]);
      else
        record("%s: stray argument; options are written -name value", argv[i]);
      return 1;
    }
    const char *value = i + 1 < argc && !is_key(argv[i + 1]) ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "-options_file")) {
      if (!value) {
        record("-options_file (no value): expected the file name of a deck");
        return 1;
      }
      if (!deck_check(value, 0)) return 1;
    }
    if (value) ++i;
  }
  return 0;
}

/* ---- values ---------------------------------------------------------------- */

/* Read the option's text into buf (preset to the default text, shown by
 * -help); help_allowed is "help (allowed)". */
static PetscErrorCode read_text(PetscOptionItems *po, const char *name, const char *help, const char *allowed,
                                const char *default_text, char *buf, size_t len, PetscBool *set) {
  char line[1024];
  snprintf(line, sizeof line, "%s (%s)", help, allowed);
  snprintf(buf, len, "%s", default_text);
  help_keep(name, help, allowed, default_text);
  PetscCall(PetscOptionsString_Private(po, name, line, NULL, default_text, buf, len, set));
  return 0;
}

/* Strict decimal integer: the whole string, no blanks, within long long. */
static int parse_int(const char *s, long long *v) {
  if (!s[0] || s[0] == ' ') return 0;
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return *end == '\0' && errno == 0;
}

/* Strict finite real: the whole string. */
static int parse_real(const char *s, double *v) {
  if (!s[0] || s[0] == ' ') return 0;
  char *end;
  *v = strtod(s, &end);
  return *end == '\0' && isfinite(*v);
}

static void int_allowed(char *buf, size_t len, PetscInt lo, PetscInt hi, int plural) {
  const char *what = plural ? "integers" : "an integer";
  if (hi == PETSC_MAX_INT) snprintf(buf, len, "%s >= %lld", what, (long long)lo);
  else snprintf(buf, len, "%s from %lld to %lld", what, (long long)lo, (long long)hi);
}

PetscErrorCode app_opt_int(PetscOptionItems *po, const char *name, const char *help, PetscInt lo, PetscInt hi,
                           PetscInt *value, PetscBool *set) {
  char allowed[128], def[32], buf[256];
  int_allowed(allowed, sizeof allowed, lo, hi, 0);
  snprintf(def, sizeof def, "%lld", (long long)*value);
  PetscCall(read_text(po, name, help, allowed, def, buf, sizeof buf, set));
  if (!*set) return 0;
  long long v;
  if (!parse_int(buf, &v) || v < lo || v > hi) {
    char head[320];
    option_text(head, sizeof head, name, buf);
    /* An integer beyond PetscInt, or beyond long long, is out of range:
     * say the bound. */
    const size_t sign = buf[0] == '-' || buf[0] == '+';
    const int digits = buf[sign] && strspn(buf + sign, "0123456789") == strlen(buf + sign);
    if (hi == PETSC_MAX_INT && ((parse_int(buf, &v) && v > hi) || (!parse_int(buf, &v) && digits)))
      snprintf(allowed, sizeof allowed, "an integer from %lld to %lld", (long long)lo, (long long)hi);
    record("%s: expected %s", head, allowed);
    return 0;
  }
  *value = (PetscInt)v;
  return 0;
}

/* The shortest text of v that reads back as v: a bound shown as 6.28319
 * would refuse the 6.28319 a user copies from it, when the bound is 2 pi. */
static void shortest_real(char *buf, size_t len, double v) {
  for (int digits = 6; digits <= 17; ++digits) {
    snprintf(buf, len, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) return;
  }
}

static void real_allowed(char *buf, size_t len, double lo, double hi, int lo_open, int plural) {
  const char *what = plural ? "finite real numbers" : "a finite real number";
  char l[32], h[32];
  shortest_real(l, sizeof l, lo), shortest_real(h, sizeof h, hi);
  if (isinf(lo) && isinf(hi)) snprintf(buf, len, "%s", what);
  else if (isinf(hi)) snprintf(buf, len, "%s %s %s", what, lo_open ? ">" : ">=", l);
  else snprintf(buf, len, "%s %s %s and <= %s", what, lo_open ? ">" : ">=", l, h);
}

static int real_ok(double v, double lo, double hi, int lo_open) {
  return (lo_open ? v > lo : v >= lo) && v <= hi;
}

PetscErrorCode app_opt_real(PetscOptionItems *po, const char *name, const char *help, double lo, double hi,
                            int lo_open, PetscReal *value, PetscBool *set) {
  char allowed[128], def[64], buf[256];
  real_allowed(allowed, sizeof allowed, lo, hi, lo_open, 0);
  shortest_real(def, sizeof def, (double)*value);
  PetscCall(read_text(po, name, help, allowed, def, buf, sizeof buf, set));
  if (!*set) return 0;
  double v;
  if (!parse_real(buf, &v) || !real_ok(v, lo, hi, lo_open)) {
    char head[320];
    option_text(head, sizeof head, name, buf);
    record("%s: expected %s", head, allowed);
    return 0;
  }
  *value = v;
  return 0;
}

/* Split a comma-separated list in place; returns the item count, or -1 for
 * an empty item ("1,,2", "1,") or more than capacity items. */
static int split_list(char *s, char **items, int capacity) {
  int n = 0;
  for (char *p = s;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!p[0] || n == capacity) return -1;
    items[n++] = p;
    if (!comma) return n;
    p = comma + 1;
  }
}

/* Shared by the real and integer lists: text of the default list. */
static void list_default(char *buf, size_t len, const PetscReal *r, const PetscInt *i, PetscInt count) {
  buf[0] = '\0';
  for (PetscInt k = 0; k < count; ++k) {
    size_t used = strlen(buf);
    if (r) snprintf(buf + used, len - used, "%s%g", k ? "," : "", (double)r[k]);
    else snprintf(buf + used, len - used, "%s%lld", k ? "," : "", (long long)i[k]);
  }
}

enum { LIST_MAX = 256 };

PetscErrorCode app_opt_real_list(PetscOptionItems *po, const char *name, const char *help, double lo, double hi,
                                 int lo_open, PetscInt capacity, PetscReal *values, PetscInt *count, PetscBool *set) {
  char allowed[192], what[128], def[1024], buf[4096], copy[4096];
  real_allowed(what, sizeof what, lo, hi, lo_open, 1);
  snprintf(allowed, sizeof allowed, "comma-separated %s, at most %lld", what, (long long)capacity);
  list_default(def, sizeof def, values, NULL, *count);
  PetscCall(read_text(po, name, help, allowed, def, buf, sizeof buf, set));
  if (!*set) return 0;
  snprintf(copy, sizeof copy, "%s", buf);
  char *items[LIST_MAX];
  int n = split_list(copy, items, capacity < LIST_MAX ? (int)capacity : LIST_MAX);
  char head[4200];
  option_text(head, sizeof head, name, buf);
  if (n < 0) {
    record("%s: expected %s", head, allowed);
    return 0;
  }
  double parsed[LIST_MAX];
  for (int k = 0; k < n; ++k)
    if (!parse_real(items[k], &parsed[k]) || !real_ok(parsed[k], lo, hi, lo_open)) {
      record("%s: expected %s (%s is not)", head, allowed, items[k]);
      return 0;
    }
  for (int k = 0; k < n; ++k) values[k] = parsed[k];
  *count = n;
  return 0;
}

PetscErrorCode app_opt_int_list(PetscOptionItems *po, const char *name, const char *help, PetscInt lo, PetscInt hi,
                                PetscInt capacity, PetscInt *values, PetscInt *count, PetscBool *set) {
  char allowed[192], what[128], def[1024], buf[4096], copy[4096];
  int_allowed(what, sizeof what, lo, hi, 1);
  snprintf(allowed, sizeof allowed, "comma-separated %s, at most %lld", what, (long long)capacity);
  list_default(def, sizeof def, NULL, values, *count);
  PetscCall(read_text(po, name, help, allowed, def, buf, sizeof buf, set));
  if (!*set) return 0;
  snprintf(copy, sizeof copy, "%s", buf);
  char *items[LIST_MAX];
  int n = split_list(copy, items, capacity < LIST_MAX ? (int)capacity : LIST_MAX);
  char head[4200];
  option_text(head, sizeof head, name, buf);
  if (n < 0) {
    record("%s: expected %s", head, allowed);
    return 0;
  }
  long long parsed[LIST_MAX];
  for (int k = 0; k < n; ++k)
    if (!parse_int(items[k], &parsed[k]) || parsed[k] < lo || parsed[k] > hi) {
      record("%s: expected %s (%s is not)", head, allowed, items[k]);
      return 0;
    }
  for (int k = 0; k < n; ++k) values[k] = (PetscInt)parsed[k];
  *count = n;
  return 0;
}

PetscErrorCode app_opt_enum(PetscOptionItems *po, const char *name, const char *help, const char *const *names,
                            int count, PetscInt *value, PetscBool *set) {
  char allowed[256] = "one of ", buf[256];
  for (int k = 0; k < count; ++k) {
    size_t used = strlen(allowed);
    snprintf(allowed + used, sizeof allowed - used, "%s%s", k ? ", " : "", names[k]);
  }
  PetscCall(read_text(po, name, help, allowed, names[*value], buf, sizeof buf, set));
  if (!*set) return 0;
  for (int k = 0; k < count; ++k)
    if (!strcmp(buf, names[k])) {
      *value = k;
      return 0;
    }
  char head[320];
  option_text(head, sizeof head, name, buf);
  record("%s: expected %s", head, allowed);
  return 0;
}

PetscErrorCode app_opt_string(PetscOptionItems *po, const char *name, const char *help, const char *what,
                              char *value, size_t len, PetscBool *set) {
  char buf[PETSC_MAX_PATH_LEN + 2];
  PetscCall(read_text(po, name, help, what, value, buf, sizeof buf, set));
  if (!*set) return 0;
  char head[PETSC_MAX_PATH_LEN + 64];
  option_text(head, sizeof head, name, buf);
  if (!buf[0]) record("%s: expected %s", head, what);
  else if (strlen(buf) >= len) record("%s: expected %s of at most %zu characters", head, what, len - 1);
  else snprintf(value, len, "%s", buf);
  return 0;
}

PetscErrorCode app_opt_bool(PetscOptionItems *po, const char *name, const char *help, PetscBool *value,
                            PetscBool *set) {
  static const char *const yes[] = {"", "1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
  char buf[256];
  PetscCall(read_text(po, name, help, "bare flag, or true / false", *value ? "true" : "false", buf, sizeof buf,
                      set));
  if (!*set) return 0;
  char lower[256];
  size_t k = 0;
  for (; buf[k] && k + 1 < sizeof lower; ++k) lower[k] = (char)(buf[k] >= 'A' && buf[k] <= 'Z' ? buf[k] + 32 : buf[k]);
  lower[k] = '\0';
  for (size_t j = 0; j < sizeof yes / sizeof yes[0]; ++j)
    if (!strcmp(lower, yes[j])) {
      *value = PETSC_TRUE;
      return 0;
    }
  for (size_t j = 0; j < sizeof no / sizeof no[0]; ++j)
    if (!strcmp(lower, no[j])) {
      *value = PETSC_FALSE;
      return 0;
    }
  record("%s %s: expected nothing (the flag alone), true or false", name, buf);
  return 0;
}

/* ---- the verdict ------------------------------------------------------------ */

PetscErrorCode app_options_check(const char *command, PetscBool *stop, int *exit_code) {
  int rank = 0, any = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  PetscCallMPI(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  *stop = PETSC_FALSE;
  *exit_code = 0;
  /* -help only lists the options: values are not judged then. */
  if (help_mode) {
    if (rank == 0) help_print(command);
    fflush(stdout);
    *stop = PETSC_TRUE;
    return 0;
  }
  if (any) {
    if (rank == 0)
      fprintf(stderr, "eloss %s: error: %s\n", command, failed ? pending : "an option value was refused on another rank");
    *stop = PETSC_TRUE;
    *exit_code = 2;
    return 0;
  }
  PetscInt n_left = 0;
  char **names = NULL, **values = NULL;
  PetscCall(PetscOptionsLeftGet(NULL, &n_left, &names, &values));
  if (n_left > 0) {
    char list[1024] = "";
    for (PetscInt i = 0; i < n_left; ++i) {
      size_t used = strlen(list);
      const char *where = deck_key_where(names[i]);
      snprintf(list + used, sizeof list - used, "%s-%s%s%s%s", i ? ", " : "", names[i], where ? " (-options_file " : "",
               where ? where : "", where ? ")" : "");
    }
    if (rank == 0)
      fprintf(stderr, "eloss %s: error: unknown or unused option%s %s (run 'eloss %s -help' for the list)\n",
              command, n_left > 1 ? "s" : "", list, command);
    *stop = PETSC_TRUE;
    *exit_code = 2;
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n_left, &names, &values));
  return 0;
}
