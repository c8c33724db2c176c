/* mixwriter_header.c — the .mix writer's model header (mix_write_header): every field the layout
 * holds, those equal to their default (Llama's) left out, and the writer's real and size forms. */
#include "interop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The shortest decimal form of a positive real that reads back to the same double: integral values
 * as integers ("1000000"), others as "1e-6" or "0.25" (the lexer wants a digit before '.' or 'e'). */
void mix_write_real(double v, Buf *out) {
    char s[48];
    if (v == floor(v) && v < 1e15) {
        buf_printf(out, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v) break;
    }
    /* "1e-05" -> "1e-5", "1e+20" -> "1e20". */
    char *e = strchr(s, 'e');
    if (e) {
        char *d = e + 1, *src = e + 1;
        if (*src == '-') *d++ = *src++;
        else if (*src == '+') src++;
        while (*src == '0' && src[1]) src++;
        memmove(d, src, strlen(src) + 1);
    }
    buf_puts(out, s);
}

static void write_size(int64_t v, Buf *out) {
    if (v >= 1024 && v % (1024 * 1024) == 0)
        buf_printf(out, "%lldM", (long long)(v / (1024 * 1024)));
    else if (v >= 1024 && v % 1024 == 0)
        buf_printf(out, "%lldK", (long long)(v / 1024));
    else
        buf_printf(out, "%lld", (long long)v);
}

static void write_name(const char *name, Buf *out) {
    buf_puts(out, "\"");
    for (const char *p = name && *name ? name : "model"; *p; p++)
        buf_printf(out, "%c", (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p);
    buf_puts(out, "\"");
}

void mix_write_header(const ModelHeader *m, Buf *out) {
    buf_puts(out, "model ");
    write_name(m->name, out);
    buf_puts(out, " {\n");
#define KEY(k) buf_printf(out, "    %-14s = ", k)
    KEY("layers"), buf_printf(out, "%lld\n", (long long)m->layers);
    KEY("hidden"), buf_printf(out, "%lld\n", (long long)m->hidden);
    KEY("heads"), buf_printf(out, "%lld\n", (long long)m->heads);
    if (m->kv_heads != m->heads) KEY("kv_heads"), buf_printf(out, "%lld\n", (long long)m->kv_heads);
    if (m->heads == 0 || m->hidden % m->heads != 0 || m->head_dim != m->hidden / m->heads)
        KEY("head_dim"), buf_printf(out, "%lld\n", (long long)m->head_dim);
    KEY("ffn"), buf_printf(out, "%lld\n", (long long)m->ffn);
    KEY("vocab"), buf_printf(out, "%lld\n", (long long)m->vocab);
    if (m->dtype != DT_BF16) KEY("dtype"), buf_printf(out, "%s\n", dtype_name(m->dtype));
    if (m->kv_dtype != m->dtype) KEY("kv_dtype"), buf_printf(out, "%s\n", dtype_name(m->kv_dtype));
    KEY("rope_theta"), mix_write_real(m->rope_theta, out), buf_puts(out, "\n");
    KEY("norm_eps"), mix_write_real(m->norm_eps, out), buf_puts(out, "\n");
    KEY("context"), write_size(m->context, out), buf_puts(out, "\n");
    int64_t default_chunk = m->context < 512 ? m->context : 512;
    if (m->chunk != default_chunk) KEY("chunk"), write_size(m->chunk, out), buf_puts(out, "\n");
    KEY("tie_embeddings"), buf_printf(out, "%s\n", m->tie_embeddings ? "true" : "false");
    if (m->qkv_bias) KEY("qkv_bias"), buf_puts(out, "true\n");
    if (m->o_bias) KEY("o_bias"), buf_puts(out, "true\n");
    if (m->rope_scaling.type != ROPE_PLAIN) {
        KEY("rope_scaling"), buf_printf(out, "%s\n", rope_scaling_name(m->rope_scaling.type));
        for (int i = 0; i < rope_nparams; i++) {
            const RopeParam *p = &rope_params[i];
            if (!(p->takes & (1u << m->rope_scaling.type))) continue;
            double v = rope_param_get(&m->rope_scaling, p);
            KEY(p->key);
            if (p->type == ROPE_PARAM_BOOL)
                buf_puts(out, v ? "true\n" : "false\n");
            else if (p->type == ROPE_PARAM_INT)   /* exactly: a double holds 53 bits */
                buf_printf(out, "%lld\n", (long long)rope_param_int(&m->rope_scaling, p));
            else
                mix_write_real(v, out), buf_puts(out, "\n");
        }
    }
    /* the families' variations, each only when it is not Llama's */
    if (m->activation != ACT_SILU) KEY("activation"), buf_printf(out, "%s\n", activation_name(m->activation));
    if (m->swiglu_limit) KEY("swiglu_limit"), mix_write_real(m->swiglu_limit, out), buf_puts(out, "\n");
    if (m->swiglu_alpha) KEY("swiglu_alpha"), mix_write_real(m->swiglu_alpha, out), buf_puts(out, "\n");
    if (m->norm != NORM_RMS) KEY("norm"), buf_printf(out, "%s\n", norm_kind_name(m->norm));
    if (m->qk_norm) KEY("qk_norm"), buf_puts(out, "true\n");
    if (m->qk_l2_norm) KEY("qk_l2_norm"), buf_puts(out, "true\n");
    if (m->rope_interleaved) KEY("rope_interleaved"), buf_puts(out, "true\n");
    if (m->nope_temperature_floor) {
        KEY("nope_temperature_floor"), buf_printf(out, "%lld\n", (long long)m->nope_temperature_floor);
        KEY("nope_temperature_scale"), mix_write_real(m->nope_temperature_scale, out), buf_puts(out, "\n");
    }
    if (m->sandwich_norms) KEY("sandwich_norms"), buf_puts(out, "true\n");
    if (m->embed_scale) KEY("embed_scale"), buf_puts(out, "true\n");
    if (m->attn_softcap) KEY("attn_softcap"), mix_write_real(m->attn_softcap, out), buf_puts(out, "\n");
    if (m->logit_softcap) KEY("logit_softcap"), mix_write_real(m->logit_softcap, out), buf_puts(out, "\n");
    if (m->query_pre_attn_scalar)
        KEY("query_pre_attn_scalar"), mix_write_real(m->query_pre_attn_scalar, out), buf_puts(out, "\n");
    if (m->experts) {   /* a mixture of experts: ffn above is each expert's width */
        KEY("experts"), buf_printf(out, "%lld\n", (long long)m->experts);
        KEY("experts_per_token"), buf_printf(out, "%lld\n", (long long)m->experts_per_token);
        if (m->router != ROUTER_TOPK_SOFTMAX) KEY("router"), buf_printf(out, "%s\n", router_kind_name(m->router));
        if (m->shared_expert_ffn) KEY("shared_expert_ffn"), buf_printf(out, "%lld\n", (long long)m->shared_expert_ffn);
        if (m->moe_bias) KEY("moe_bias"), buf_puts(out, "true\n");
        if (m->moe_step > 1) {   /* the experts on every moe_step-th layer, dense MLPs of dense_ffn between */
            KEY("moe_step"), buf_printf(out, "%lld\n", (long long)m->moe_step);
            KEY("dense_ffn"), buf_printf(out, "%lld\n", (long long)m->dense_ffn);
        }
    }
#undef KEY
    buf_puts(out, "}\n");
}

void mix_write_comment(const char *comment, Buf *out) {
    if (!comment) return;
    const char *p = comment;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        buf_printf(out, "# %.*s\n", (int)len, p);
        p += len + (nl != NULL);
    }
}
