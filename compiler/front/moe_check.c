/* moe_check.c — the checker's rules for the FFN's fields (docs/language.md): a mixture of experts
 * (`experts` asks for one, `experts_per_token` says how many a token runs, and the other fields
 * describe it, so none of them means anything without `experts`), and the clamped SwiGLU's
 * parameters, which only `activation = clamped_swiglu` takes. */
#include "mixc.h"

#include <string.h>

static const AstField *given_field(const Ast *ast, const char *key) {
    for (const AstField *f = ast->fields; f; f = f->next)
        if (strcmp(f->key, key) == 0) return f;
    return NULL;
}

/* The fields that describe the experts: an error each, in the file's order, when there are none. */
static void check_no_expert_fields(const Ast *ast, Diag *d) {
    static const char *const keys[] = {"experts_per_token", "shared_expert_ffn", "router", "moe_bias", "moe_step",
                                       "dense_ffn"};
    for (const AstField *f = ast->fields; f; f = f->next)
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            if (strcmp(f->key, keys[i])) continue;
            diag_at(d, DIAG_ERROR, f->loc, "'%s' is given, but no experts are", keys[i]);
            diag_hint(d, "a mixture of experts needs 'experts = N' (N >= 2) and 'experts_per_token = K'");
        }
}

/* moe_step and dense_ffn, with experts: which layers route to them and the others' dense MLP. */
static void check_moe_layers(const Ast *ast, Diag *d, ModelHeader *m) {
    const AstField *step = given_field(ast, "moe_step"), *dense = given_field(ast, "dense_ffn");
    if (step && m->moe_step > 1 && m->layers && m->moe_step > m->layers) {
        diag_at(d, DIAG_ERROR, step->value.loc, "moe_step (%lld) is more than layers (%lld): no layer routes to the experts",
                (long long)m->moe_step, (long long)m->layers);
        diag_at(d, DIAG_NOTE, header_field_loc(ast, "layers"), "layers is given here");
        diag_hint(d, "layers moe_step-1, 2 moe_step-1, ... route to the experts: give a moe_step of at most %lld, "
                     "or remove 'experts' for a dense model", (long long)m->layers);
        m->moe_step = 0;
    } else if (step && m->moe_step > 1 && !dense && !ast->partial) {
        diag_at(d, DIAG_ERROR, step->value.loc, "'moe_step' needs 'dense_ffn'");
        diag_hint(d, "add 'dense_ffn = N': the width of the dense MLP of the layers between the experts' "
                     "(Llama 4's intermediate_size_mlp)");
        m->moe_step = 0;
    }
    if (dense && step && m->moe_step == 1) {
        diag_at(d, DIAG_ERROR, dense->loc, "'dense_ffn' is given, but every layer routes to the experts (moe_step 1)");
        diag_at(d, DIAG_NOTE, step->value.loc, "moe_step is given here");
        diag_hint(d, "give 'moe_step = S' (S >= 2) for experts on layers S-1, 2S-1, ..., or remove 'dense_ffn'");
    } else if (dense && !step) {
        diag_at(d, DIAG_ERROR, dense->loc, "'dense_ffn' is given, but every layer routes to the experts (no 'moe_step')");
        diag_hint(d, "add 'moe_step = S' (S >= 2) for experts on layers S-1, 2S-1, ... and dense MLPs between, or "
                     "remove 'dense_ffn'");
    }
    if (!m->experts || m->moe_step <= 1 || !m->dense_ffn) m->moe_step = m->dense_ffn = 0;   /* every layer */
}

void check_experts(const Ast *ast, Diag *d, ModelHeader *m) {
    const AstField *experts = given_field(ast, "experts");
    if (!experts) {
        check_no_expert_fields(ast, d);
        m->moe_step = m->dense_ffn = 0;
        return;
    }
    bool ok = m->experts != 0;  /* 0: set_field reported the value */
    if (m->experts == 1) {
        diag_at(d, DIAG_ERROR, experts->value.loc, "'experts' must be at least 2");
        diag_hint(d, "one expert is a dense MLP: remove 'experts' and give its width as 'ffn'");
        ok = false;
    }
    const AstField *per_token = given_field(ast, "experts_per_token");
    if (!per_token && !ast->partial && m->experts != 1) {
        diag_at(d, DIAG_ERROR, experts->value.loc, "'experts' needs 'experts_per_token'");
        diag_hint(d, "add 'experts_per_token = K': how many experts each token runs");
        ok = false;
    } else if (ok && m->experts_per_token > m->experts) {
        diag_at(d, DIAG_ERROR, per_token->value.loc, "experts_per_token (%lld) is more than experts (%lld)",
                (long long)m->experts_per_token, (long long)m->experts);
        ok = false;
    }
    if (!ok || m->experts_per_token == 0) m->experts = m->experts_per_token = 0;
    check_moe_layers(ast, d, m);
}

void check_swiglu(const Ast *ast, Diag *d, ModelHeader *m) {
    const AstField *limit = given_field(ast, "swiglu_limit"), *alpha = given_field(ast, "swiglu_alpha");
    if (m->activation != ACT_CLAMPED_SWIGLU) {
        for (const AstField *f = ast->fields; f; f = f->next)
            if (f == limit || f == alpha) {
                diag_at(d, DIAG_ERROR, f->loc, "'%s' is given, but the activation is not clamped_swiglu", f->key);
                diag_hint(d, "add 'activation = clamped_swiglu' (gpt-oss's experts), or remove '%s'", f->key);
            }
        m->swiglu_limit = m->swiglu_alpha = 0;
        return;
    }
    if (!limit && !ast->partial) {
        const AstField *act = given_field(ast, "activation");
        diag_at(d, DIAG_ERROR, act ? act->value.loc : ast->header_loc, "activation clamped_swiglu needs 'swiglu_limit'");
        diag_hint(d, "add 'swiglu_limit = L' (gpt-oss: 7)");
    }
    if (!alpha) m->swiglu_alpha = 1.702;    /* gpt-oss's, transformers' default */
}
