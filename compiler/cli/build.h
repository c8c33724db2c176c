/* build.h — `mixc build`'s two halves. build_cmd.c, in every build of mixc, reads the command line
 * and the layout, with the same errors and exit statuses everywhere; build_binary writes the
 * executable: build.c's with the CUDA toolkit, runtime/jit/no_toolkit.c's (exit 2, the toolkit is
 * needed) without it. */
#ifndef MIXC_CLI_BUILD_H
#define MIXC_CLI_BUILD_H

#include "mixc.h"
#include "options.h"

typedef struct {
    const char *input, *output, *arch;
    StringList sets;
    bool no_emu, verbose;
    int64_t page_tokens;
} BuildArgs;

/* Writes a->output for the checked layout l, whose text as read is text[0, len): 0; 1 when a compile,
 * the link or a write fails; 2 where this mixc cannot build (no toolkit). Says why on stderr. */
int build_binary(const BuildArgs *a, const Layout *l, const char *text, size_t len);

#endif
