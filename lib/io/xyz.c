/* XYZ molecule files: one or more frames, each "count / comment / count
 * atom lines of 'Symbol x y z'", read into a padded batch.
 *
 * io_xyz_read(path, &mol): allocates; free with io_molecules_free. Local.
 * io_element_number(symbol): atomic number of H..Rn, 0 if unknown.
 *
 * Frames may differ in size (a batch of different molecules); the batch is
 * padded to the largest frame and natoms says how many rows are real, which
 * is the layout the atoms module takes. Extra columns after z (charges,
 * forces in extended XYZ) are ignored. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eloss/io.h"

/* At most size - 1 characters of text for a message, each byte outside
 * printable ASCII shown as '?' (a binary file's bytes would garble the
 * one error line). */
/* text for a message: the line's end (newline, carriage return, trailing
 * blanks) dropped, other unprintable bytes shown as '?'. */
static const char *printable(const char *text, char *out, size_t size) {
  size_t k = 0;
  for (; text[k] && k + 1 < size; ++k) out[k] = text[k] >= 0x20 && text[k] < 0x7f ? text[k] : '?';
  while (k > 0 && (text[k - 1] == '\n' || text[k - 1] == '\r' || text[k - 1] == ' ' || text[k - 1] == '\t')) --k;
  out[k] = '\0';
  return out;
}

static const char *const element_symbols[] = {
    "",   "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
    "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
    "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
    "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn"};
enum { ELEMENT_MAX = (int)(sizeof element_symbols / sizeof element_symbols[0]) - 1 };

int io_text_line(FILE *fp, char *buf, size_t size) {
  size_t n = 0;
  int c, nul = 0;
  while ((c = getc(fp)) != EOF) {
    if (n + 1 >= size) return IO_LINE_TOO_LONG;
    nul |= c == '\0';
    buf[n++] = (char)c;
    if (c == '\n') break;
  }
  buf[n] = '\0';
  return nul ? IO_LINE_NUL : n ? IO_LINE : IO_LINE_END;
}

int io_element_number(const char *symbol) {
  if (isdigit((unsigned char)symbol[0])) {
    int z = atoi(symbol);
    return z >= 1 && z <= ELEMENT_MAX ? z : 0;
  }
  for (int z = 1; z <= ELEMENT_MAX; ++z)
    if (!strcasecmp(symbol, element_symbols[z])) return z;
  return 0;
}

void io_molecules_free(io_molecules *mol) {
  if (!mol) return;
  free(mol->natoms);
  free(mol->element);
  free(mol->coords);
  memset(mol, 0, sizeof *mol);
}

/* The next line, or an error naming the line when it is too long for the
 * buffer or holds a NUL byte (*got = 0 at the end of the file). */
static core_status xyz_line(FILE *fp, const char *path, int64_t line_no, char *line, size_t size, int *got) {
  const int r = io_text_line(fp, line, size);
  *got = r == IO_LINE;
  CORE_CHECK(r != IO_LINE_TOO_LONG, CORE_ERR_FORMAT, "%s:%lld: a line longer than %zu characters: not an XYZ file?",
             path, (long long)line_no, size - 2);
  CORE_CHECK(r != IO_LINE_NUL, CORE_ERR_FORMAT, "%s:%lld: a NUL byte: not a text file", path, (long long)line_no);
  return CORE_OK;
}

/* Frames are read in two passes (count, then fill) so the padded arrays are
 * allocated once. */
core_status io_xyz_read(const char *path, io_molecules *mol) {
  memset(mol, 0, sizeof *mol);
  FILE *fp = fopen(path, "r");
  CORE_CHECK(fp, CORE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  char line[4096];
  core_status st = CORE_OK;
  int64_t frames = 0, max_atoms = 0, line_no = 0;
  for (int pass = 0; pass < 2; ++pass) {
    rewind(fp);
    line_no = 0;
    int64_t frame = 0;
    for (;;) {
      int got;
      if ((st = xyz_line(fp, path, line_no + 1, line, sizeof line, &got)) || !got) break;
      ++line_no;
      char *p = line;
      while (isspace((unsigned char)*p)) ++p;
      if (!*p) continue; /* blank lines between frames */
      char *end;
      long long n = strtoll(p, &end, 10);
      while (isspace((unsigned char)*end)) ++end;
      if (n == 0 && !*end) {
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s:%lld: a frame of 0 atoms", path, (long long)line_no);
        goto done;
      }
      if (n <= 0 || *end) {
        char shown[44];
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s:%lld: expected the atom count of a frame, found '%s'", path,
                        (long long)line_no, printable(p, shown, sizeof shown));
        goto done;
      }
      if ((st = xyz_line(fp, path, line_no + 1, line, sizeof line, &got))) goto done;
      if (!got) {
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: truncated: frame %lld has no comment line", path,
                        (long long)frame);
        goto done;
      }
      ++line_no;
      for (long long a = 0; a < n; ++a) {
        if ((st = xyz_line(fp, path, line_no + 1, line, sizeof line, &got))) goto done;
        if (!got) {
          st = CORE_ERROR(CORE_ERR_FORMAT, "%s: truncated: frame %lld promises %lld atoms, found %lld",
                          path, (long long)frame, n, a);
          goto done;
        }
        ++line_no;
        if (pass == 0) continue;
        char symbol[16];
        double x, y, z;
        int used = 0;
        /* z must end at a blank or the line's end: "1.5abc" is no number
         * (extra columns are fine, glued characters are not). */
        if (sscanf(line, "%15s %lf %lf %lf%n", symbol, &x, &y, &z, &used) != 4 ||
            (line[used] && !isspace((unsigned char)line[used]))) {
          st = CORE_ERROR(CORE_ERR_FORMAT, "%s:%lld: expected 'Symbol x y z'", path, (long long)line_no);
          goto done;
        }
        int Z = io_element_number(symbol);
        if (!Z) {
          st = CORE_ERROR(CORE_ERR_FORMAT, "%s:%lld: unknown element '%s'", path, (long long)line_no, symbol);
          goto done;
        }
        if (!isfinite(x) || !isfinite(y) || !isfinite(z)) {
          st = CORE_ERROR(CORE_ERR_VALUE, "%s:%lld: non-finite coordinate", path, (long long)line_no);
          goto done;
        }
        mol->element[frame * max_atoms + a] = Z;
        double *c = mol->coords + (frame * max_atoms + a) * 3;
        c[0] = x, c[1] = y, c[2] = z;
      }
      if (pass == 0) {
        if (n > max_atoms) max_atoms = n;
      } else {
        mol->natoms[frame] = n;
      }
      ++frame;
    }
    if (st) goto done;
    if (pass == 0) {
      if (frame == 0) {
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: no XYZ frames found", path);
        goto done;
      }
      frames = frame;
      mol->count = frames;
      mol->max_atoms = max_atoms;
      mol->natoms = calloc((size_t)frames, sizeof *mol->natoms);
      mol->element = calloc((size_t)(frames * max_atoms), sizeof *mol->element);
      mol->coords = calloc((size_t)(frames * max_atoms * 3), sizeof *mol->coords);
      if (!mol->natoms || !mol->element || !mol->coords) {
        st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate %lld frames", path, (long long)frames);
        goto done;
      }
    }
  }
done:
  fclose(fp);
  if (st) io_molecules_free(mol);
  return st;
}
