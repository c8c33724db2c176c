/* logitcmp.c — compares two logits dumps of mixrun (--dump-logits: float32 .npy [rows, vocab]).
 *
 *   logitcmp [--got-from ROW] REF.npy GOT.npy ATOL RTOL [PROMPT_LEN]
 *
 * --got-from ROW compares REF against GOT's rows ROW .. ROW + rows(REF) - 1 (one sequence of a
 * `mixrun --prompts` dump, which holds every sequence's rows one after the other).
 * Every element must satisfy |got - ref| <= ATOL * rms(ref row) + RTOL * |ref|: the absolute part is
 * relative to the row's scale, since a logit is a dot product whose rounding error follows the size
 * of its terms, not of the result (a logit near 0 has as large an error as any other of its row).
 * The first mismatches are printed.
 * Greedy decoding picks argmax of each row from row PROMPT_LEN - 1 on (default: every row is
 * checked): where the two argmaxes differ, the reference's margin (top1 - top2) must be unclear,
 * i.e. at most twice the tolerance at top1, or it is a failure; after an unclear divergence the
 * runs feed different tokens, so the later rows are not compared.
 * Prints one summary line (rows, max abs and relative errors, the largest |ref|); exits 0 when
 * everything matches, 1 on a mismatch, 2 on a bad file or usage.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long rows, cols;
    float *data;
} Npy;

/* Reads a version 1.0 '<f4' C-order 2-D .npy; false with a message on stderr. */
static bool npy_read(const char *path, Npy *out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "logitcmp: cannot open '%s'\n", path);
        return false;
    }
    unsigned char pre[10];
    char header[4096];
    bool ok = fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY\x01\x00", 8) == 0;
    size_t hlen = ok ? (size_t)(pre[8] | pre[9] << 8) : 0;
    ok = ok && hlen < sizeof header && fread(header, 1, hlen, f) == hlen;
    if (ok) header[hlen] = '\0';
    ok = ok && strstr(header, "'descr': '<f4'") && strstr(header, "'fortran_order': False");
    const char *shape = ok ? strstr(header, "'shape': (") : NULL;
    ok = shape && sscanf(shape, "'shape': (%ld, %ld)", &out->rows, &out->cols) == 2 && out->rows > 0 &&
         out->cols > 0 && out->rows < (1L << 20) && out->cols < (1L << 24);
    if (ok) {
        size_t n = (size_t)out->rows * (size_t)out->cols;
        out->data = malloc(n * sizeof(float));
        ok = out->data && fread(out->data, sizeof(float), n, f) == n;
    }
    fclose(f);
    if (!ok) fprintf(stderr, "logitcmp: '%s' is not a 2-D float32 .npy\n", path);
    return ok;
}

/* Index of the largest value (the first on ties, as greedy decoding) and the runner-up's value. */
static long argmax(const float *x, long n, float *second) {
    long best = 0;
    for (long i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    float s = -INFINITY;
    for (long i = 0; i < n; i++)
        if (i != best && x[i] > s) s = x[i];
    *second = s;
    return best;
}

int main(int argc, char **argv) {
    long got_from = 0;
    bool from_given = argc > 2 && strcmp(argv[1], "--got-from") == 0;
    if (from_given) {
        char *end;
        got_from = strtol(argv[2], &end, 10);
        if (*end || got_from < 0) {
            fprintf(stderr, "logitcmp: --got-from needs a row >= 0, not '%s'\n", argv[2]);
            return 2;
        }
        argc -= 2;
        argv += 2;
    }
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: logitcmp [--got-from ROW] REF.npy GOT.npy ATOL RTOL [PROMPT_LEN]\n");
        return 2;
    }
    Npy ref = {0}, got = {0};
    if (!npy_read(argv[1], &ref) || !npy_read(argv[2], &got)) return 2;
    if (ref.cols != got.cols || got_from + ref.rows > got.rows || (!from_given && ref.rows != got.rows)) {
        fprintf(stderr, "logitcmp: shapes differ: (%ld, %ld) and (%ld, %ld)%s\n", ref.rows, ref.cols, got.rows,
                got.cols, from_given ? " from the row given" : "");
        return 1;
    }
    const double a_tol = atof(argv[3]), r_tol = atof(argv[4]);
    const long first_greedy = argc == 6 ? atol(argv[5]) - 1 : 0;
    long bad = 0, compared = ref.rows;
    double max_abs = 0, max_rel = 0, max_ref = 0;
    int rc = 0;
    for (long r = 0; r < ref.rows; r++) {
        const float *a = ref.data + r * ref.cols, *b = got.data + (got_from + r) * ref.cols;
        double ss = 0;
        for (long c = 0; c < ref.cols; c++) ss += (double)a[c] * a[c];
        const double rms = sqrt(ss / (double)ref.cols), row_atol = a_tol * rms;
        for (long c = 0; c < ref.cols; c++) {
            double d = fabs((double)b[c] - a[c]), lim = row_atol + r_tol * fabs(a[c]);
            if (fabs(a[c]) > max_ref) max_ref = fabs(a[c]);
            if (d > max_abs) max_abs = d;
            if (rms > 0 && d / rms > max_rel) max_rel = d / rms;
            if (!(d <= lim) && bad++ < 5)
                printf("    row %ld col %ld: ref %.6g got %.6g (|diff| %.3g > %.3g)\n", r, c, a[c], b[c], d, lim);
        }
        if (r < first_greedy) continue;
        float s1, s2;
        long t1 = argmax(a, ref.cols, &s1), t2 = argmax(b, ref.cols, &s2);
        if (t1 == t2) continue;
        double margin = a[t1] - s1, clear = 2 * (row_atol + r_tol * fabs(a[t1]));
        printf("    row %ld: greedy token %ld (ref) vs %ld, ref margin %.3g %s %.3g\n", r, t1, t2, margin,
               margin > clear ? ">" : "<=", clear);
        if (margin > clear) rc = 1;
        compared = r + 1;   /* the runs continue from different tokens */
        break;
    }
    if (bad) {
        printf("    %ld elements out of tolerance\n", bad);
        rc = 1;
    }
    printf("    %ld of %ld rows compared: max |diff| %.3g, max |diff|/rms(row) %.3g, max |ref| %.3g\n", compared,
           ref.rows, max_abs, max_rel, max_ref);
    free(ref.data);
    free(got.data);
    return rc;
}
