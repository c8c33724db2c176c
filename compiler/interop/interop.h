/* interop.h — import from and export to other notations: Hugging Face config.json files and LCKV
 * layer strings (import.c, export.c), and the .mix writer that renders a Layout as compact text
 * (mixwriter.c). See docs/interop.md. */
#ifndef MIXC_INTEROP_H
#define MIXC_INTEROP_H

#include "mixc.h"

/* ---------------------------------------------------------------- mixwriter.c */

/* Appends the .mix text of `l` to `out`: the model header, attention kinds, then layer statements in
 * their most compact form (periodic patterns with `* N` runs, index sets with ranges and strides,
 * `default`, and `reads prev` / `reads -N` / `reads last` / `reads N`). `comment`, when not NULL, is
 * written first, each of its lines prefixed with "# ". The text parses back to the same layout. */
void mix_write(const Layout *l, const char *comment, Buf *out);

/* ---------------------------------------------------------------- mixwriter_header.c */

/* mix_write's parts: `model "name" { ... }` with every field that is not its default; the comment's
 * lines, each after "# "; a positive real in the shortest form that reads back to the same double. */
void mix_write_header(const ModelHeader *m, Buf *out);
void mix_write_comment(const char *comment, Buf *out);
void mix_write_real(double v, Buf *out);

/* ---------------------------------------------------------------- hf_import.c, import.c */

/* Options of the HF importer. */
typedef struct {
    const char *name;       /* model name; NULL = derived from the input */
    FILE *err;              /* warnings and errors */
    char **comment;         /* when not NULL: on success, the provenance comment of the written .mix
                               (the input, its model_type, the fields that gave the layout; malloc'd) */
    bool allow_unsupported; /* what mixc does not compute (hf_support.c) warns instead of failing */
    char **unsupported;     /* when not NULL: on success, one "unsupported: ..." line per thing
                               imported anyway, for the .mix's comment (malloc'd), or NULL when none */
} ImportOptions;

/* Reads an HF config.json into a layout. A config asking for a computation mixc does not do (a field
 * or a family, hf_support.c) is refused naming the field and its value, unless allow_unsupported.
 * Returns 0 ok (warnings allowed), 1 input errors, 2 when the file cannot be read. */
int import_hf_file(const char *path, const ImportOptions *opt, Layout *out);
/* The same from a parsed JSON object; `path` names the input in messages. */
int import_hf_json(const char *path, struct json_t *root, const ImportOptions *opt, Layout *out);

/* Builds the layer arrays of an LCKV string ("0_1s_1s_3s...": per layer, the layer whose KV it
 * reads; a trailing 's' marks a sliding layer of window `window`). Chains are resolved to their
 * owner with a warning. On success returns true with *nlayers, *window_out and *reads_out
 * (malloc'd, caller frees); on error prints it to `err` and returns false. */
/* A cache holds keys after RoPE: whether every layer that reads another's has its RoPE
 * (rope_sharing_mismatch, the rule check_rope_sharing reports in a .mix). An import's sharing (kv_reuse_group, an LCKV string) and its per-layer
 * RoPE (no_rope_layers) can disagree; found by fuzz_import. false with the reason in why. */
bool import_sharing_keeps_rope(const Layout *l, char *why, size_t n);
bool lckv_parse(const char *s, int64_t window, FILE *err, int *nlayers, int64_t **window_out, int **reads_out);

/* ---------------------------------------------------------------- export.c */

/* The HF config fragment of a layout: model dimensions, layer_types, sliding_window and
 * kv_sharing_target (null for owners). Layers with differing windows add "mixc_sliding_windows"
 * (per layer, null for global layers) and a warning to `err`. Chunked layers are "chunked_attention"
 * with one attention_chunk_size (Llama 4's); NULL, after an error on `err` naming the layer, when they
 * differ in size (HF has one). */
struct json_t *export_hf_json(const Layout *l, FILE *err);
/* The LCKV string of a layout (malloc'd). Warns on `err` when sliding windows differ (the string
 * cannot carry them); NULL after an error naming the first chunked layer, which it cannot say. */
char *export_lckv(const Layout *l, FILE *err);

/* ---------------------------------------------------------------- hf_export.c */

/* Whether the generated transformers model computes `l`: false with why naming the field that it
 * does not (an 8-bit KV cache). */
bool hf_model_refusal(const Layout *l, char *why, size_t n);
/* config.json of the generated model (model_type "mixc", auto_map to configuration_mixc.py and
 * modeling_mixc.py): the model dimensions and, under mixc_ names, every layer's window, cache owner
 * and RoPE, and every variation of the header. */
struct json_t *export_mixc_config(const Layout *l);
/* Writes DIR atomically: with builtin_if_exact, a built-in family's config.json where one computes
 * the layout exactly (llama, mistral, ministral), else the generated model (config.json and the two
 * Python files; a note on err says why). Returns 0 ok, 1 a refused layout or an unwritable DIR. */
int export_transformers_dir(const Layout *l, const char *dir, bool builtin_if_exact, FILE *err);
/* Writes the mixc-vllm plugin package as DIR (pyproject.toml with the vllm.general_plugins entry point,
 * mixc_vllm.py, mixc_vllm_model.py), after vLLM's rules for the layout: a reader has its owner's window;
 * with pp > 1 pipeline stages, each sharing group in one stage. 0 ok, 1 a refused layout (each reason
 * on err) or an unwritable DIR. */
int export_vllm_dir(const Layout *l, const char *dir, int pp, FILE *err);   /* pp: as vllm_layout_ok's */
/* vLLM's rules for a layout (`mixc check --target vllm`, `mixc export --vllm`): a reader has its
 * owner's attention type and window; with pp > 1 pipeline stages (split as vLLM splits them), each
 * sharing group lies in one stage; with yarn, the context fits the positions vLLM's yarn tabulates
 * (rope_original_context x rope_factor). Each violation on err with a hint; false when any. pp is
 * 1 to the layers: the commands refuse more stages first (pipeline_stages_fit, a usage error). */
bool vllm_layout_ok(const Layout *l, int pp, FILE *err);

/* ---------------------------------------------------------------- foundry.c */

/* The llm-foundry (MPT) model config of `l` as YAML: the header, and the layers as block_overrides
 * (order/repeat, overrides with sliding_window_size and relative reuse_kv_layer_idx). 1 when the
 * header has what an MPT config cannot say (each named on err), else 0. */
int export_foundry(const Layout *l, Buf *out, FILE *err);
/* Reads the `model:` of an llm-foundry YAML (the subset of yaml_subset.c) into a layout named `name`
 * (NULL: the file name without its extension). What mixc does not compute is refused naming the key
 * and its line. 0 ok, 1 input errors, 2 an unreadable file. */
int import_foundry_file(const char *path, const char *name, Layout *out, FILE *err);
/* The same from the file's text (len bytes, then a NUL); `path` names it in messages. 0 ok, 1 input
 * errors (a NUL byte among the len is one). */
int import_foundry_text(const char *path, const char *text, size_t len, const char *name, Layout *out, FILE *err);

#endif
