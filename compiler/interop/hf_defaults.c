/* hf_defaults.c — what the transformers config classes (transformers 5: their class attributes and
 * __post_init__) give a field that a Hugging Face config omits, for the families mixc reads
 * (docs/interop.md, "What is read"). hf_import.c looks a field up in the config, then here. */
#include "hf_config.h"

#include <string.h>

/* The period of the family's default local:global alternation (layer i is global when
 * (i + 1) % period == 0), or 0 when the family has none. Values from the transformers config
 * classes (docs/interop.md). */
int64_t hf_default_pattern(const char *model_type) {
    static const struct { const char *type; int64_t period; } table[] = {
        {"gemma2", 2}, {"gpt_oss", 2}, {"gemma3", 6}, {"gemma3_text", 6}, {"cohere2", 4},
        {"gemma3n", 5}, {"gemma3n_text", 5},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(model_type, table[i].type) == 0) return table[i].period;
    return 0;
}

/* Defaults of the transformers config classes (transformers 5: the class attributes and
 * __post_init__) for every field mixc reads that a config may omit: the Gemma 3 4B/27B configs, for
 * one, give no vocab_size, head_dim or rope_theta in text_config. Fields that change the computation
 * are here too (hf_support.c sees them as if the config gave them: gpt-oss's attention_bias). A field
 * left out is one whose class default is mixc's (model_header_defaults: kv_heads = heads, head_dim =
 * hidden / heads, rope_theta 10000, rms_norm_eps 1e-5); tests/import/class_defaults.py (make
 * test-python) compares every computed family with its class. */
#define MISTRAL_SIZES "\"num_key_value_heads\": 8, \"intermediate_size\": 14336, \"max_position_embeddings\": 131072"
#define QWEN_SIZES "\"rms_norm_eps\": 1e-6, \"max_position_embeddings\": 32768, \"sliding_window\": 4096"
#define GEMMA2_COMPUTE "\"hidden_activation\": \"gelu_pytorch_tanh\", \"query_pre_attn_scalar\": 256, \"sliding_window\": 4096," \
    " \"intermediate_size\": 9216, \"head_dim\": 256, \"num_attention_heads\": 8, \"num_key_value_heads\": 4, \"rms_norm_eps\": 1e-6"
#define GEMMA3_DEFAULTS "{" GEMMA2_COMPUTE ", \"rope_local_base_freq\": 10000.0," \
    " \"rope_theta\": 1000000.0, \"max_position_embeddings\": 131072, \"vocab_size\": 262208}"
#define LLAMA4_DEFAULTS "{\"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0, \"head_dim\": 128, \"attention_chunk_size\": 8192," \
    " \"no_rope_layer_interval\": 4, \"interleave_moe_layer_step\": 1, \"intermediate_size_mlp\": 16384," \
    " \"use_qk_norm\": true, \"attn_temperature_tuning\": true, \"floor_scale\": 8192, \"attn_scale\": 0.1," \
    " \"num_experts_per_tok\": 1, \"num_local_experts\": 16, \"num_key_value_heads\": 8, \"intermediate_size\": 8192," \
    " \"max_position_embeddings\": 131072}"
json_t *hf_family_defaults(const char *model_type) {
    static const struct { const char *type, *json; } table[] = {
        {"llama", "{\"rms_norm_eps\": 1e-6, \"intermediate_size\": 11008, \"max_position_embeddings\": 2048}"},
        {"mistral", "{\"rms_norm_eps\": 1e-6, \"sliding_window\": 4096, " MISTRAL_SIZES "}"},
        {"smollm3", "{\"rms_norm_eps\": 1e-6, \"rope_theta\": 2000000.0, \"no_rope_layer_interval\": 4, \"num_key_value_heads\": 4,"
                    " \"intermediate_size\": 11008, \"max_position_embeddings\": 32768}"},
        {"ministral", "{\"rms_norm_eps\": 1e-6, \"sliding_window\": 4096, " MISTRAL_SIZES "}"},
        {"mixtral", "{\"rms_norm_eps\": 1e-5, \"num_local_experts\": 8, \"num_experts_per_tok\": 2, \"rope_theta\": 1000000.0, "
                    MISTRAL_SIZES "}"},
        {"qwen2", "{\"num_key_value_heads\": 32, \"intermediate_size\": 22016, " QWEN_SIZES "}"},
        {"qwen2_moe", "{\"num_experts\": 60, \"num_experts_per_tok\": 4}"},
        {"qwen3", "{\"num_key_value_heads\": 32, \"head_dim\": 128, \"intermediate_size\": 22016, " QWEN_SIZES "}"},
        {"qwen3_moe", "{\"num_experts\": 128, \"num_experts_per_tok\": 8, \"moe_intermediate_size\": 768, \"num_key_value_heads\": 4,"
                      " \"intermediate_size\": 6144, " QWEN_SIZES "}"},
        {"gpt_oss", "{\"num_local_experts\": 128, \"num_experts_per_tok\": 4, \"rope_scaling\": "
                    "{\"rope_type\": \"yarn\", \"factor\": 32.0, \"beta_fast\": 32.0, \"beta_slow\": 1.0, \"truncate\": false, "
                    "\"original_max_position_embeddings\": 4096}, \"rope_theta\": 150000.0, \"sliding_window\": 128,"
                    " \"attention_bias\": true, \"head_dim\": 64, \"num_key_value_heads\": 8, \"intermediate_size\": 2880,"
                    " \"max_position_embeddings\": 131072}"},
        {"gemma", "{\"hidden_activation\": \"gelu_pytorch_tanh\"}"},
        {"gemma2", "{\"rope_theta\": 10000.0, \"max_position_embeddings\": 8192, \"vocab_size\": 256000,"
                   " \"attn_logit_softcapping\": 50.0, \"final_logit_softcapping\": 30.0, " GEMMA2_COMPUTE "}"},
        {"gemma3", GEMMA3_DEFAULTS},
        {"gemma3_text", GEMMA3_DEFAULTS},
        {"gemma3n", "{\"head_dim\": 256, \"rms_norm_eps\": 1e-6, \"hidden_activation\": \"gelu_pytorch_tanh\"}"},
        {"gemma3n_text", "{\"head_dim\": 256, \"rms_norm_eps\": 1e-6, \"hidden_activation\": \"gelu_pytorch_tanh\"}"},
        {"cohere2", "{\"layer_norm_eps\": 1e-5, \"max_position_embeddings\": 8192, \"vocab_size\": 256000, \"logit_scale\": 0.0625}"},
        {"llama4", LLAMA4_DEFAULTS},
        {"llama4_text", LLAMA4_DEFAULTS},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(model_type, table[i].type) == 0) {
            json_t *d = json_loads(table[i].json, 0, NULL);
            if (!d) fatal("the defaults of model_type %s are not JSON", table[i].type);
            return d;
        }
    return NULL;
}

/* tie_word_embeddings when the config omits it: the config class's default (PretrainedConfig: true). */
bool hf_default_tie(const char *model_type) {
    static const char *const untied[] = {"llama", "mistral", "ministral", "mixtral", "qwen2", "qwen2_moe", "qwen3",
                                         "qwen3_moe", "gpt_oss", "hymba", "olmo3", "llama4", "llama4_text", NULL};
    for (size_t i = 0; untied[i]; i++)
        if (!strcmp(model_type, untied[i])) return false;
    return true;
}
