/* bench/lj_plain.c: the plain double loop (energy, gradient (n, 3)). */
double lj_plain_energy_gradient(int n, const double *x, double *g);
