/* kernel_params.c — the layout checks of the parameter structs as the cuda backend instantiates them
 * (kernel_params.h): its device pointers are CUdeviceptr, an unsigned long long. */
#define MIXC_DPTR(T) unsigned long long
#include "kernel_params.h"

#include <stddef.h>

#define FIELD(S, f) {#S, #f, offsetof(S, f)}
static const struct {
    const char *type, *field;
    size_t offset;
} param_fields[] = {
    FIELD(RmsNormParams, x), FIELD(RmsNormParams, weight), FIELD(RmsNormParams, out), FIELD(RmsNormParams, tokens),
    FIELD(SiluMulParams, gate), FIELD(SiluMulParams, up), FIELD(SiluMulParams, out), FIELD(SiluMulParams, n),
    FIELD(RopeParams, q), FIELD(RopeParams, k), FIELD(RopeParams, v), FIELD(RopeParams, k_cache),
        FIELD(RopeParams, v_cache), FIELD(RopeParams, pos), FIELD(RopeParams, seq), FIELD(RopeParams, inv_freq),
        FIELD(RopeParams, scale), FIELD(RopeParams, tokens), FIELD(RopeParams, temp_floor), FIELD(RopeParams, temp_scale),
        FIELD(RopeParams, paged),
    FIELD(MixcPagedKv, pages), FIELD(MixcPagedKv, pool_rows), FIELD(MixcPagedKv, table_pages),
    FIELD(PrefillParams, q), FIELD(PrefillParams, out), FIELD(PrefillParams, k_cache), FIELD(PrefillParams, v_cache),
        FIELD(PrefillParams, q_start), FIELD(PrefillParams, q_len), FIELD(PrefillParams, pos0),
        FIELD(PrefillParams, slot), FIELD(PrefillParams, tiles), FIELD(PrefillParams, scale),
        FIELD(PrefillParams, batch), FIELD(PrefillParams, ntiles), FIELD(PrefillParams, sinks), FIELD(PrefillParams, paged),
    FIELD(DecodeParams, q), FIELD(DecodeParams, k_cache), FIELD(DecodeParams, v_cache), FIELD(DecodeParams, pos),
        FIELD(DecodeParams, seq), FIELD(DecodeParams, o_part), FIELD(DecodeParams, ml_part),
        FIELD(DecodeParams, scale), FIELD(DecodeParams, batch), FIELD(DecodeParams, out), FIELD(DecodeParams, sinks),
        FIELD(DecodeParams, paged),
    FIELD(DecodeReduceParams, o_part), FIELD(DecodeReduceParams, ml_part), FIELD(DecodeReduceParams, out),
        FIELD(DecodeReduceParams, heads), FIELD(DecodeReduceParams, nsplit), FIELD(DecodeReduceParams, batch),
        FIELD(DecodeReduceParams, sinks),
    FIELD(EmbedParams, ids), FIELD(EmbedParams, table), FIELD(EmbedParams, out), FIELD(EmbedParams, tokens),
    FIELD(AddParams, a), FIELD(AddParams, b), FIELD(AddParams, out), FIELD(AddParams, n),
    FIELD(AddRmsNormParams, x), FIELD(AddRmsNormParams, addend), FIELD(AddRmsNormParams, weight),
        FIELD(AddRmsNormParams, out), FIELD(AddRmsNormParams, tokens),
    FIELD(BiasAddParams, x), FIELD(BiasAddParams, bias), FIELD(BiasAddParams, n),
    FIELD(MoeRouteParams, logits), FIELD(MoeRouteParams, route), FIELD(MoeRouteParams, tokens),
    FIELD(MoeGemmParams, x), FIELD(MoeGemmParams, route), FIELD(MoeGemmParams, weight), FIELD(MoeGemmParams, bias),
        FIELD(MoeGemmParams, out), FIELD(MoeGemmParams, tokens),
    FIELD(MoeCombineParams, x), FIELD(MoeCombineParams, route), FIELD(MoeCombineParams, out),
        FIELD(MoeCombineParams, tokens),
    FIELD(ArgmaxParams, logits), FIELD(ArgmaxParams, ids), FIELD(ArgmaxParams, rows),
};
#define SIZE(S) {#S, sizeof(S)}
static const struct {
    const char *type;
    size_t size;
} param_sizes[] = {SIZE(RmsNormParams), SIZE(SiluMulParams),       SIZE(RopeParams), SIZE(PrefillParams),
                   SIZE(DecodeParams),  SIZE(DecodeReduceParams), SIZE(EmbedParams), SIZE(AddParams),
                   SIZE(BiasAddParams), SIZE(MoeRouteParams), SIZE(MoeGemmParams), SIZE(MoeCombineParams),
                   SIZE(ArgmaxParams), SIZE(MixcPagedKv), SIZE(AddRmsNormParams)};

void kernel_params_asserts(Buf *out) {
    buf_puts(out, "\n/* Appended by runtime/cuda/kernel_params.c: the host layout of the parameter structs. */\n");
    for (size_t i = 0; i < sizeof param_fields / sizeof param_fields[0]; i++)
        buf_printf(out, "static_assert(offsetof(%s, %s) == %zu, \"templates/mixc_params.h: %s.%s differs on the host\");\n",
                   param_fields[i].type, param_fields[i].field, param_fields[i].offset, param_fields[i].type,
                   param_fields[i].field);
    for (size_t i = 0; i < sizeof param_sizes / sizeof param_sizes[0]; i++)
        buf_printf(out, "static_assert(sizeof(%s) == %zu, \"templates/mixc_params.h: %s differs in size on the host\");\n",
                   param_sizes[i].type, param_sizes[i].size, param_sizes[i].type);
}
