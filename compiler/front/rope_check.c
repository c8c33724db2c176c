/* rope_check.c — the checker's rules for RoPE scaling (docs/language.md, "RoPE"): each rope_*
 * parameter belongs to the scaling types that take it, the ones a type needs are given, and the
 * others get their defaults. */
#include "mixc.h"

#include <stdlib.h>
#include <string.h>

static const AstField *given_field(const Ast *ast, const char *key) {
    for (const AstField *f = ast->fields; f; f = f->next)
        if (strcmp(f->key, key) == 0) return f;
    return NULL;
}

static void check_nope_temperature(const Ast *ast, Diag *d, ModelHeader *m);

void check_rope_scaling(const Ast *ast, Diag *d, ModelHeader *m) {
    RopeScaling *s = &m->rope_scaling;
    const char *type = rope_scaling_name(s->type);
    bool given[16] = {0};
    for (int i = 0; i < rope_nparams; i++) {
        const RopeParam *p = &rope_params[i];
        const AstField *f = given_field(ast, p->key);
        given[i] = f != NULL;
        if (f && !(p->takes & (1u << s->type))) {
            if (s->type == ROPE_PLAIN)
                diag_at(d, DIAG_ERROR, f->loc, "'%s' is given, but no rope_scaling is", p->key);
            else
                diag_at(d, DIAG_ERROR, f->loc, "'%s' does not apply to rope_scaling %s", p->key, type);
            diag_hint(d, "rope_scaling linear takes rope_factor; llama3 also rope_low_freq_factor, "
                         "rope_high_freq_factor and rope_original_context; yarn rope_factor, rope_original_context, "
                         "rope_beta_fast, rope_beta_slow, rope_attention_factor and rope_truncate");
            rope_param_set(s, p, 0);
        } else if (!f && (p->needs & (1u << s->type)) && !ast->partial) {
            const AstField *at = given_field(ast, "rope_scaling");
            diag_at(d, DIAG_ERROR, at ? at->value.loc : ast->header_loc, "rope_scaling %s needs '%s'", type, p->key);
            diag_hint(d, "add '%s = N' to the model block", p->key);
        }
    }
    if (s->type == ROPE_LLAMA3 && s->low_freq_factor && s->high_freq_factor &&
        !(s->high_freq_factor >= s->low_freq_factor)) {
        const AstField *f = given_field(ast, "rope_high_freq_factor");
        diag_at(d, DIAG_ERROR, f ? f->value.loc : ast->header_loc, "rope_high_freq_factor (%g) must be at least rope_low_freq_factor (%g)",
                s->high_freq_factor, s->low_freq_factor);
        diag_hint(d, "llama3 scaling interpolates between the two wavelengths they define (equal: none between, as Llama 4's)");
    }
    rope_scaling_defaults(s, given);
    check_nope_temperature(ast, d, m);
}

/* nope_temperature_floor and nope_temperature_scale go together. */
static void check_nope_temperature(const Ast *ast, Diag *d, ModelHeader *m) {
    const AstField *floor = given_field(ast, "nope_temperature_floor"), *scale = given_field(ast, "nope_temperature_scale");
    if (floor && !scale) {
        diag_at(d, DIAG_ERROR, floor->loc, "nope_temperature_floor is given without nope_temperature_scale");
        diag_hint(d, "Llama 4's attention temperature needs both (its floor_scale and attn_scale)");
    } else if (scale && !floor) {
        diag_at(d, DIAG_ERROR, scale->loc, "nope_temperature_scale is given without nope_temperature_floor");
        diag_hint(d, "Llama 4's attention temperature needs both (its floor_scale and attn_scale)");
    }   /* a floor below 1 is the header field's own error */
    if (!floor || !scale || m->nope_temperature_floor < 1) m->nope_temperature_floor = 0, m->nope_temperature_scale = 0;
}

/* ------------------------------------------------------------------ kinds and sharing */

LayerRope check_kind_rope(Diag *d, const AstField *props, LayerRope rope) {
    const AstField *theta = NULL, *nope = NULL;
    for (const AstField *f = props; f; f = f->next) {
        bool is_theta = !strcmp(f->key, "rope_theta"), is_nope = !strcmp(f->key, "nope");
        const AstField **seen = is_theta ? &theta : is_nope ? &nope : NULL;
        if (!strcmp(f->key, "sinks") || is_kind_shape_prop(f->key)) continue;   /* check_kind_sinks, check_kind_shape */
        if (!seen) {
            diag_at(d, DIAG_ERROR, f->loc, "unknown attention property '%s'", f->key);
            diag_hint(d, "an attention kind takes 'rope_theta R' (its own RoPE base), 'nope' (no RoPE), 'sinks' "
                         "(a learned sink logit per head), 'kv_heads K' and 'head_dim D' (its own KV shape)");
        } else if (*seen) {
            diag_at(d, DIAG_ERROR, f->loc, "'%s' is given twice", f->key);
            diag_at(d, DIAG_NOTE, (*seen)->loc, "first given here");
        } else if (is_nope && f->value.kind != AV_BOOL) {
            diag_at(d, DIAG_ERROR, f->value.loc, "'nope' takes no value");
        } else if (is_theta && (f->value.kind == AV_BOOL || !(f->value.r > 0) || !real_value_ok(f->value.r))) {
            diag_at(d, DIAG_ERROR, f->value.kind == AV_BOOL ? f->loc : f->value.loc,
                    "'rope_theta' of an attention kind must be a positive number");
        } else {
            *seen = f;
        }
    }
    if (theta && nope) {
        diag_at(d, DIAG_ERROR, nope->loc, "an attention kind with 'nope' has no RoPE, so no 'rope_theta'");
        diag_at(d, DIAG_NOTE, theta->loc, "'rope_theta' is given here");
    }
    if (theta) rope = (LayerRope){.theta = theta->value.r};
    if (nope) rope = (LayerRope){.nope = true};
    return rope;
}

bool check_kind_sinks(Diag *d, const AstField *props, bool base) {
    const AstField *seen = NULL;
    for (const AstField *f = props; f; f = f->next) {
        if (strcmp(f->key, "sinks")) continue;
        if (seen) {
            diag_at(d, DIAG_ERROR, f->loc, "'sinks' is given twice");
            diag_at(d, DIAG_NOTE, seen->loc, "first given here");
        } else if (f->value.kind != AV_BOOL || !f->value.i) {
            diag_at(d, DIAG_ERROR, f->value.loc, "'sinks' takes no value");
            diag_hint(d, "its values are weights: one learned logit per query head, self_attn.sinks");
        }
        seen = seen ? seen : f;
    }
    return base || seen;
}

bool check_rope_sharing(Diag *d, const Layout *l) {
    bool ok = true, *reported = xcalloc((size_t)l->nlayers + 1, sizeof(bool));   /* one error per cache */
    char a[64], b[64];
    for (int i = rope_sharing_mismatch(l, 0, a, b); i >= 0; i = rope_sharing_mismatch(l, i + 1, a, b)) {
        const LayerInfo *r = &l->layer[i], *o = &l->layer[r->reads];
        if (reported[r->reads]) continue;
        reported[r->reads] = true;
        diag_at(d, DIAG_ERROR, r->loc, "layer %d (%s) reads the cache of layer %d (%s), whose keys were rotated with another RoPE",
                i, a, o->index, b);
        diag_at(d, DIAG_NOTE, o->loc, "layer %d is defined here", o->index);
        diag_hint(d, "a cache holds keys after RoPE: a reader's kind must have its owner's rope_theta (or nope)");
        ok = false;
    }
    free(reported);
    return ok;
}
