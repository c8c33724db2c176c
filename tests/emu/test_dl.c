/* Loads an emulated kernels.so from plain C11 through runtime/emu/emu_api.h and launches it.
 * Usage: test_dl path/to/kernels_so.so */
#include <stdio.h>
#include <string.h>

#include "emu_api.h"

struct SaxpyParams {
    int n;
    float a;
    const float *x;
    float *y;
};

static int failures;

static void report(const char *name, int ok, const char *detail) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (!ok && detail && *detail) printf("    %s\n", detail);
    failures += !ok;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_dl KERNELS_SO\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char err[512] = "";
    void *missing = mixc_emu_dlopen_kernels("/nonexistent/kernels.so", err, sizeof err);
    report("dl_missing_file_reported", !missing && strstr(err, "cannot load emulated kernels '/nonexistent/kernels.so'") != NULL, err);

    void *h = mixc_emu_dlopen_kernels(argv[1], err, sizeof err);
    report("dl_open", h != NULL, err);
    if (!h) return 1;
    MixcEmuEntry saxpy = (MixcEmuEntry)mixc_emu_find_kernel(h, "emu_saxpy");
    report("dl_find_kernel", saxpy != NULL, "emu_saxpy_emu_entry not found");
    report("dl_find_missing_kernel_is_null", mixc_emu_find_kernel(h, "no_such_kernel") == NULL, "");

    enum { N = 200 };
    float x[N], y[N], want[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = (float)(3 * i % 17);
    }
    for (int b = 0; b < 4; b++)
        for (int t = 0; t < 64; t++) {
            int j = b * 64 + (63 - t), i = b * 64 + t;
            if (j < N) want[j] = i < N ? 2.0f * x[i] + y[i] : 0.0f;
        }
    struct SaxpyParams p = {N, 2.0f, x, y};
    EmuDim3 grid = {4, 1, 1}, block = {64, 1, 1};
    int rc = saxpy ? mixc_emu_launch_c(saxpy, &p, grid, block, 0, err, sizeof err) : -1;
    report("dl_launch_c_runs", rc == 0, err);
    report("dl_launch_c_result", rc == 0 && memcmp(y, want, sizeof y) == 0, "wrong y");

    MixcEmuEntry diverge = (MixcEmuEntry)mixc_emu_find_kernel(h, "emu_diverge");
    EmuDim3 one = {1, 1, 1}, b32 = {32, 1, 1};
    rc = diverge ? mixc_emu_launch_c(diverge, &p, one, b32, 0, err, sizeof err) : 0;
    report("dl_launch_c_reports_divergence", rc != 0 && strstr(err, "threads 16-31 exited") != NULL, err);

    MixcEmuStats st;
    mixc_emu_get_stats(&st);
    report("dl_stats_count_launches", st.launches == 2 && st.blocks == 5, "");
    mixc_emu_dlclose(h);
    mixc_emu_release();
    return failures ? 1 : 0;
}
