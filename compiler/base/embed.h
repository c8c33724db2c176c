/* embed.h — a file of the repository assembled into the binary at build time (.incbin, the path
 * relative to the repository root where make runs), NUL-terminated: the kernel templates
 * (compiler/kernels/codegen.c) and the Python model (compiler/interop/hf_export.c). The object that
 * embeds a file is made to depend on it in mk/ (mk/codegen.mk, mk/hf.mk). */
#ifndef MIXC_EMBED_H
#define MIXC_EMBED_H

#define EMBED(sym, path)                                                                           \
    __asm__(".section .rodata\n.global " #sym "\n.type " #sym ", @object\n.balign 16\n" #sym      \
            ":\n.incbin \"" path "\"\n.byte 0\n.previous\n");                                      \
    extern const char sym[];

#endif
