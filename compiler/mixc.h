/* mixc.h — every compiler stage's interface.
 *
 * The pipeline (see main.c):  source --parse--> Ast --check--> Layout --plan--> Plan --codegen--> kernels
 * Each stage takes and returns plain structs; a verifier runs after each pass.
 */
#ifndef MIXC_H
#define MIXC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MIXC_VERSION "0.1.0"
#define MIXC_MAX_LAYERS 100000
#define MIXC_MAX_VALUE (INT64_C(1) << 62)
#define MIXC_MAX_BATCH (1 << 16)        /* sequences a run holds at once: the plan's batch (--batch, --max-seqs, --prompts) */
#define MIXC_MAX_POOL_PAGES (1 << 24)   /* a paged run's pool (page ids are int32 in the block tables) */
/* A macro's value as a string literal: a default the code uses and --help prints, written once. */
#define MIXC_STR(x) MIXC_STR_(x)
#define MIXC_STR_(x) #x

/* ---------------------------------------------------------------- util.c */

/* A bump allocator: every AST node and string lives in one arena freed in one call. */
typedef struct ArenaBlock ArenaBlock;
typedef struct {
    ArenaBlock *head;
} Arena;

void *arena_alloc(Arena *a, size_t size);      /* zeroed, 16-byte aligned; aborts on OOM */
void *arena_array(Arena *a, size_t n, size_t size);   /* n elements: arena_alloc, aborts on overflow */
char *arena_strndup(Arena *a, const char *s, size_t n);
void arena_free(Arena *a);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);   /* s[0, n) and a NUL */
/* free() of every pointer listed (FREE_ALL(a, b, ...)): a struct's owned buffers in one statement. */
void free_each(void *const *ptrs, size_t n);
#define FREE_ALL(...) free_each((void *[]){__VA_ARGS__}, sizeof((void *[]){__VA_ARGS__}) / sizeof(void *))
/* Whether the path holds none of the characters an assembler string or a shell command would misread
 * (mixc build embeds its files with .incbin and passes them to the compiler). */
bool path_is_plain(const char *p);
/* Whether the NULL-ended list of names has s. */
bool str_listed(const char *const *list, const char *s);
/* The running program's name (mixc, mixrun, a built binary's own): the prefix of the messages that
 * shared code prints on its behalf. */
const char *prog_name(void);
/* Text from an input as a message quotes it (a key, a token, jansson's "near '...'"): its control
 * characters (C0, DEL, C1) as the \u00XX escapes JSON writes them with, each byte that is not UTF-8
 * as \xNN, at most SHOWN_BYTES of it (then "...", on a character's boundary), into out: a message
 * stays one line of UTF-8, and no byte of the input reaches the terminal as a control sequence
 * ("\u001b[2J" in a key cleared the screen). */
#define SHOWN_BYTES 100
#define SHOWN_MAX (SHOWN_BYTES * 6 + 3 + 3 + 1)   /* each byte at most \u00XX, 3 more of a character, "..." */
const char *shown_text(const char *text, size_t len, char out[SHOWN_MAX]);
/* "PROG: message" on stderr, exit 2. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole file ("-" = stdin) of at most READ_FILE_LIMIT bytes (read_file_limited: `limit`);
 * returns NULL and sets errno on failure (EFBIG past the limit, found while reading). */
#define READ_FILE_LIMIT ((size_t)256 << 20)
char *read_file(const char *path, size_t *len);
char *read_file_limited(const char *path, size_t limit, size_t *len);
/* A text file read whole for reading line by line (next_text_line): NULL, with "PROG: 'PATH': why"
 * on stderr, when it cannot be read or holds a NUL byte. */
char *read_text_file(const char *prog, const char *path);
/* The next line at *cursor that holds a character outside `blank`, terminated in place; *cursor
 * moves past it and *line_no counts every line passed (blank ones too). NULL at the end. */
char *next_text_line(char **cursor, const char *blank, int64_t *line_no);
/* output.c: the one writer of every output file. "-" is stdout; a device or FIFO (after following
 * symlinks) is written in place; a regular file is replaced atomically (exclusive temporary beside
 * it, fsync, rename, directory fsync): nothing half-written on failure. false with errno set. */
bool write_file_atomic(const char *path, const char *data, size_t len);
/* The same for a file made of pieces written one after the other (no copy of the whole). */
typedef struct {
    const void *data;
    size_t len;
} OutPiece;
bool write_pieces_atomic(const char *path, const OutPiece *pieces, int npieces);
/* The same for a program: a new file gets mode 0777 less the umask. */
bool write_executable_atomic(const char *path, const char *data, size_t len);
/* Writes the n files names[i] (contents data[i], lens[i] bytes) as the directory dir: a new or
 * emptied-by-us directory is built as a temporary sibling and renamed (or atomically exchanged)
 * into place, so readers see the old set or the new one; a directory that also holds other files
 * gets the files one by one, atomically each, under an exclusive lock on the directory. false with
 * errno set; nothing is left half-written. */
bool write_dir_atomic(const char *dir, const char *const *names, const char *const *data, const size_t *lens,
                      int n);
/* Whether path can be written (its directory exists and is writable, or it is a writable device),
 * checked before long work; false with a message "cannot write 'P': ..." in err. */
bool output_path_usable(const char *path, char *err, size_t errlen);
/* Whether writing the output `path` would replace the file `other` names (an input, or another
 * output): the same regular file once symlinks are followed (same device and inode), or, neither
 * there yet, the same name in the same directory. "-", devices and FIFOs never do. */
bool output_replaces(const char *path, const char *other);
/* At exit: whether everything printed on standard output reached it (flushed, no write failed on the
 * way: a full disk, a closed descriptor); else "PROG: cannot write the output: why" on stderr. */
bool stdout_written(const char *prog);
/* Until called again with n 0 (calls nest, up to 4): should SIGINT, SIGTERM, SIGHUP or SIGQUIT end
 * the program, the files and then the empty directories paths[0..n-1] name ("" skipped; read when
 * the signal comes) are removed first, the innermost list first. A signal the program ignores stays
 * ignored. */
void remove_on_signal(const char *const *paths, int n);
/* Removes them so (unlink, else rmdir), in order. */
void remove_paths(const char *const *paths, int n);
/* Removes every list given to remove_on_signal now, innermost first (async-signal-safe: for a handler
 * that ends the program otherwise, as safetensors.c's for a file shortened under its mapping). */
void remove_registered_paths(void);
/* Hold those signals (one that comes meanwhile takes effect at signals_release) from before a temporary
 * is made until its paths are given to remove_on_signal: none can end the program between the two and
 * leave the temporary behind. */
void signals_hold(sigset_t *old);
void signals_release(const sigset_t *old);
/* Runs `sh -c cmd` (a compiler) as system() does and returns its wait status (-1 with errno when it
 * cannot run), but in a process group of its own with TMPDIR=WORKSPACE/tmp (made here, emptied and
 * removed when it ends): should a signal remove_on_signal handles come meanwhile, it is passed on to
 * the whole group, and once none of the group is left, that directory, then the registered lists are
 * removed and the signal ends the program. So a killed compile leaves none of its files. Not being the
 * terminal's foreground group, it reads /dev/null and runs with SIGTTOU ignored (its output goes to
 * ours, even on a `tostop` terminal). */
int run_in_own_group(const char *cmd, const char *workspace);
/* For remove_on_signal's handler (async-signal-safe): passes sig on to run_in_own_group's child and
 * returns true while one runs. */
bool child_group_forward(int sig);

/* A growable string, for building output before it is written in one go. */
typedef struct {
    char *data;
    size_t len, cap;
} Buf;
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_puts(Buf *b, const char *s);
void buf_append(Buf *b, const char *data, size_t n);
void buf_shell_quote(Buf *b, const char *s);   /* s as one single-quoted shell word */
void buf_free(Buf *b);

/* json_out.c: JSON streamed into a Buf, byte-identical to jansson's json_dumps(j, JSON_INDENT(2) |
 * JSON_PRESERVE_ORDER) for the same values; for outputs too large for a jansson tree. Members are
 * a jw_key then a value (jw_member_* do both). A string that is not valid UTF-8 sets `failed`
 * (jansson refuses it too): the caller then discards the text. */
typedef struct {
    Buf *out;
    int depth;
    bool empty;             /* the open container has no member yet */
    bool after_key;         /* a key was written: its value follows on the same line */
    bool failed;
} JsonWriter;
void jw_init(JsonWriter *w, Buf *out);
void jw_object_begin(JsonWriter *w);
void jw_object_end(JsonWriter *w);
void jw_array_begin(JsonWriter *w);
void jw_array_end(JsonWriter *w);
void jw_key(JsonWriter *w, const char *key);
void jw_string(JsonWriter *w, const char *s);
void jw_int(JsonWriter *w, int64_t v);
void jw_real(JsonWriter *w, double v);
void jw_bool(JsonWriter *w, bool v);
void jw_null(JsonWriter *w);
void jw_member_int(JsonWriter *w, const char *key, int64_t v);
void jw_member_string(JsonWriter *w, const char *key, const char *s);
void jw_member_bool(JsonWriter *w, const char *key, bool v);
/* Integer members in order: JW_INT_MEMBERS(w, {"bytes", total}, {"tensors", n}). */
typedef struct {
    const char *key;
    int64_t value;
} JsonIntMember;
void jw_int_members(JsonWriter *w, const JsonIntMember *members, size_t n);
#define JW_INT_MEMBERS(w, ...)                                        \
    jw_int_members((w), (const JsonIntMember[]){__VA_ARGS__},         \
                   sizeof((const JsonIntMember[]){__VA_ARGS__}) / sizeof(JsonIntMember))

/* A real header value (rope_theta, norm_eps) mixc takes: positive, at most MIXC_MAX_REAL and not
 * below the smallest normal double (the scanner refuses what strtod cannot read back exactly). */
#define MIXC_MAX_REAL 1e300
bool real_value_ok(double r);

/* Checked arithmetic on the 2^62 value range: false on overflow. */
bool mul_ok(int64_t a, int64_t b, int64_t *out);
bool add_ok(int64_t a, int64_t b, int64_t *out);

/* A count as the command line and --set write it: digits with '_' separators after the first and an
 * optional K, M or G suffix (x1024). true with the value when all of s is one below MIXC_MAX_VALUE;
 * false otherwise, with *out = -1 when s is a count but too large, else 0. */
bool parse_count(const char *s, int64_t *out);

/* UTF-8: the length (1..4) of the well-formed sequence at s (n bytes available), 0 if malformed
 * (overlong forms, surrogates and code points past U+10FFFF are malformed); its code point in *cp. */
int utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp);
bool utf8_valid(const char *s, size_t n);
/* The code points of n bytes of valid UTF-8 (the bytes that are not continuation bytes), as Python's
 * len counts them. */
int64_t utf8_chars(const char *s, size_t n);

/* This machine's physical memory in bytes (0 when unknown). */
int64_t host_memory_bytes(void);
/* Human-readable byte counts: "1.50 GiB". Returns a pointer into one of 8 rotating static buffers. */
const char *fmt_bytes(double bytes);
/* "s" after a count other than 1: "%d sequence%s", n, plural_s(n). */
static inline const char *plural_s(int64_t n) { return n == 1 ? "" : "s"; }

/* ---------------------------------------------------------------- diag.c */

typedef struct {
    int line, col;          /* 1-based; line 0 = no location */
    int end_line, end_col;  /* inclusive end, for the underline */
} SrcLoc;

typedef struct {
    const char *path;       /* as given on the command line */
    const char *text;       /* whole source, NUL-terminated */
    size_t len;
} SourceFile;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE, DIAG_HINT } DiagLevel;

/* At most this many errors are shown; the next one prints "too many errors; stopping", and the
 * scanner then ends the input (the run fails as with any error). */
#define DIAG_MAX_ERRORS 20
/* A source line wider than this (display columns) is shown clipped around the location. */
#define DIAG_MAX_COLUMNS 120

typedef struct {
    const SourceFile *src;
    FILE *out;              /* stderr by default */
    bool color;
    int errors, warnings;
    bool stopped;           /* DIAG_MAX_ERRORS passed: every later diagnostic is dropped */
    /* The start of the line found last: lines are looked up forward from it, so diagnostics in
     * source order cost one pass over the text in all (not one pass each). */
    int cursor_line;
    size_t cursor_offset;
} Diag;

void diag_init(Diag *d, const SourceFile *src, FILE *out);
/* error/warning/note: "file:line:col: level: message", the source line and a caret underline.
 * hint: "  hint: message" without a location. */
void diag_at(Diag *d, DiagLevel lvl, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_hint(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Input that is not text: the offset of its first NUL byte, or of its first byte that is not
 * UTF-8 when there are more than a few; what was found in *what. false for text (a few bad bytes
 * are left to the scanner, which reports each where it stands). */
bool source_is_binary(const char *text, size_t len, size_t *offset, const char **what);

/* ---------------------------------------------------------------- ast (parse.y) */

/* The language's dtypes end at DT_COUNT (also "not given" while checking). DT_FP32 and DT_INT32 are
 * plan and run options only (the cpu backend's fp32 tensors, fp32 logits and partials, int32 token
 * ids): a layout cannot name them. */
typedef enum { DT_BF16, DT_FP16, DT_FP8, DT_INT8, DT_COUNT, DT_FP32, DT_INT32 } DType;
const char *dtype_name(DType t);
int dtype_bytes(DType t);
/* Formats a one-line message into err (errlen bytes) and returns false: `return errorf(...)`. */
bool errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* int8 and fp8: 8-bit KV codes with one fp32 scale per token per KV head (docs/model.md). */
bool dtype_quantized(DType t);
/* The dtype named `name`: the language's only, or also fp32 and int32 when run_only_too. */
bool dtype_from_name(const char *name, bool run_only_too, DType *out);

typedef enum {
    AV_INT, AV_REAL, AV_IDENT, AV_BOOL
} AstValueKind;

typedef struct {
    AstValueKind kind;
    int64_t i;              /* AV_INT, AV_BOOL */
    double r;               /* AV_REAL (and AV_INT converted) */
    const char *ident;      /* AV_IDENT */
    SrcLoc loc;
} AstValue;

typedef struct AstField {
    const char *key;
    AstValue value;
    SrcLoc loc;             /* of the key */
    struct AstField *next;
} AstField;

/* An attention: a named kind, or inline global / window W / chunked C. */
typedef enum { ATTN_NAMED, ATTN_GLOBAL, ATTN_WINDOW, ATTN_CHUNKED } AttnSyntax;
typedef struct {
    AttnSyntax syntax;
    const char *name;       /* ATTN_NAMED */
    int64_t window;         /* ATTN_WINDOW */
    int64_t chunked;        /* ATTN_CHUNKED */
    SrcLoc loc;
} AstAttn;

typedef enum { REF_NONE, REF_ABS, REF_REL, REF_LAST } RefKind;
typedef struct {
    RefKind kind;
    int64_t n;              /* REF_ABS: index; REF_REL: how many layers back (prev = 1) */
    SrcLoc loc;
} AstRef;

typedef struct AstElem {    /* one element of a pattern, or the single body of a plain statement */
    AstAttn attn;
    AstRef ref;
    int64_t repeat;         /* "* N", 1 when absent */
    SrcLoc loc;
    struct AstElem *next;
} AstElem;

typedef struct AstSetItem { /* lo..hi step s; a single index has lo == hi, step 1 */
    int64_t lo, hi, step;
    SrcLoc loc;
    struct AstSetItem *next;
} AstSetItem;

typedef enum { STMT_KIND, STMT_LAYERS, STMT_DEFAULT } StmtKind;
typedef struct AstStmt {
    StmtKind kind;
    SrcLoc loc;
    /* STMT_KIND */
    const char *name;
    SrcLoc name_loc;
    AstAttn attn;
    AstField *props;        /* its properties: rope_theta R, nope */
    /* STMT_LAYERS / STMT_DEFAULT */
    AstSetItem *set;        /* NULL for default */
    bool is_pattern;
    AstElem *elems;         /* one element unless is_pattern */
    struct AstStmt *next;
} AstStmt;

typedef struct {
    const char *name;       /* model "NAME" */
    SrcLoc name_loc;
    SrcLoc header_loc;
    bool has_header;
    bool partial;           /* syntax errors dropped statements: the checker skips "missing" errors */
    bool kinds_lost;        /* a dropped statement may have declared an attention kind */
    int errors;             /* errors reported while parsing (a layout with any is never accepted) */
    AstField *fields;
    AstStmt *stmts;
} Ast;

/* parse.y: parses src into an AST allocated in arena. Syntax errors go to diag;
 * returns false if any were reported (the AST is then partial but well-formed, ast->partial set,
 * and the checker can still run on it to report the file's other errors in the same run). */
bool parse_source(const SourceFile *src, Arena *arena, Diag *diag, Ast *out);
void dump_ast(const Ast *ast, FILE *out);

/* ---------------------------------------------------------------- ir/layout.c: the Layout */

/* RoPE scaling (docs/model.md, "RoPE"): how the inverse frequencies derive from rope_theta, as
 * transformers' modeling_rope_utils computes them. Fields a type does not use stay 0. */
typedef enum { ROPE_PLAIN, ROPE_LINEAR, ROPE_LLAMA3, ROPE_YARN, ROPE_SCALING_COUNT } RopeScalingType;
typedef struct {
    RopeScalingType type;
    double factor;                              /* linear, llama3, yarn */
    double low_freq_factor, high_freq_factor;   /* llama3 */
    int64_t original_context;                   /* llama3, yarn: original_max_position_embeddings */
    double beta_fast, beta_slow;                /* yarn */
    double attention_factor;                    /* yarn: multiplies cos and sin */
    bool truncate;                              /* yarn: the ramp's bounds floored and ceiled (default) */
} RopeScaling;

/* The gated MLP's activation: silu(g)·u, gelu_tanh(g)·u, or gpt-oss's clamped SwiGLU
 * (min(g, L)·sigmoid(α·min(g, L))·(clamp(u, −L, L) + 1), L = swiglu_limit, α = swiglu_alpha). */
typedef enum { ACT_SILU, ACT_GELU_TANH, ACT_CLAMPED_SWIGLU, ACT_COUNT } Activation;
typedef enum { NORM_RMS, NORM_RMS_PLUS_ONE, NORM_COUNT } NormKind;
/* How a mixture of experts weighs the experts it picks from the router's logits (docs/model.md). */
typedef enum { ROUTER_TOPK_SOFTMAX, ROUTER_SOFTMAX_TOPK, ROUTER_SIGMOID_INPUT, ROUTER_COUNT } RouterKind;
const char *activation_name(Activation a);     /* "silu", "gelu_tanh", "clamped_swiglu" */
const char *router_kind_name(RouterKind r);    /* "topk_softmax", "softmax_topk", "sigmoid_input" */
const char *norm_kind_name(NormKind k);        /* "rms", "rms_plus_one" */

typedef struct {
    char *name;
    int64_t layers, hidden, heads, kv_heads, head_dim, ffn, vocab;
    DType dtype, kv_dtype;
    double rope_theta, norm_eps;
    int64_t context, chunk;
    bool tie_embeddings;
    bool qkv_bias;          /* q, k and v projections add a bias (Qwen2) */
    bool o_bias;            /* the o projection adds a bias (HF's attention_bias, with qkv_bias) */
    RopeScaling rope_scaling;   /* of the layers whose kind has no rope_theta of its own */
    /* The families' variations (docs/model.md); each default is Llama's computation. */
    Activation activation;  /* of the gated MLP */
    NormKind norm;          /* every RMSNorm's weight: w, or 1 + w (Gemma) */
    bool qk_norm;           /* an RMSNorm per query and key head before RoPE (Qwen3, Gemma 3) */
    bool qk_l2_norm;        /* each query and key head divided by its RMS, no weight, on the layers with RoPE
                             * (Llama 4's use_qk_norm, Llama4TextL2Norm); not with qk_norm */
    /* Llama 4's attn_temperature_tuning: on the NoPE layers q at position p is multiplied by
     * 1 + nope_temperature_scale * ln(1 + floor((p + 1) / nope_temperature_floor)); floor 0: none */
    int64_t nope_temperature_floor;
    double nope_temperature_scale;
    bool rope_interleaved;  /* RoPE rotates adjacent pairs (2i, 2i+1) (Llama 4): computed as rotate_half on
                             * q/k projection rows permuted at load (docs/model.md, "RoPE") */
    bool sandwich_norms;    /* norms on the attention and MLP outputs, before the residual adds (Gemma 2/3) */
    bool embed_scale;       /* the embedding rows times sqrt(hidden), rounded to dtype (Gemma) */
    double attn_softcap;    /* attention scores c * tanh(s / c) before the mask; 0: none (Gemma 2) */
    double logit_softcap;   /* the same on the final logits; 0: none */
    double query_pre_attn_scalar;   /* the attention scale is its -1/2 power; 0: head_dim (Gemma) */
    /* A mixture of experts in every layer instead of the dense MLP (docs/model.md): `experts` gated
     * MLPs of width ffn, experts_per_token of them chosen per token by the router; 0: dense. */
    int64_t experts, experts_per_token;
    int64_t shared_expert_ffn;  /* an ungated expert of this width every token runs too; 0: none */
    RouterKind router;
    bool moe_bias;          /* the router and every expert's projections add a bias (gpt-oss) */
    /* Experts on some layers only (Llama 4's interleave_moe_layer_step, Qwen3-MoE's decoder_sparse_step):
     * with moe_step S > 1, layers S-1, 2S-1, ... route to the experts and the others are a dense MLP of
     * width dense_ffn (model_layer_moe; layer_model gives each layer's FFN). 0: every layer. */
    int64_t moe_step, dense_ffn;
    double swiglu_limit, swiglu_alpha;  /* activation clamped_swiglu's L and α; 0 otherwise */
} ModelHeader;

/* Whether layer i's feed forward is the mixture of experts: every layer with experts and no moe_step,
 * else layers moe_step - 1, 2 moe_step - 1, ...; false without experts. */
bool model_layer_moe(const ModelHeader *m, int64_t i);
/* How many of the header's layers route to experts (0 without experts), and the first (-1 without). */
int64_t model_moe_layer_count(const ModelHeader *m);
int64_t model_first_moe_layer(const ModelHeader *m);

/* The header's fields beyond Llama's, as the .mix writes them ("activation gelu_tanh, qk_norm, ..."),
 * into buf; "" when the header has none. */
const char *model_variation_text(const ModelHeader *m, char *buf, size_t n);
/* What embed_scale multiplies the embedding rows by: sqrt(hidden) rounded to the model dtype (as
 * transformers' torch.tensor(hidden ** 0.5, dtype) is); 1 without embed_scale. */
float model_embed_scale(const ModelHeader *m);
/* The attention scores' scale: query_pre_attn_scalar^-1/2, or head_dim^-1/2 without one. */
double model_attention_scale(const ModelHeader *m);
/* logit_softcap on n fp32 logits in place, c * tanh(x / c) as every backend applies it; nothing
 * without one. */
void model_softcap_logits(const ModelHeader *m, float *logits, int64_t n);

/* The RoPE of a layer: the header's (rope_theta and rope_scaling; all zero), its kind's own base
 * (plain RoPE at that theta), or none (NoPE: q and k are not rotated). */
typedef struct {
    bool nope;
    double theta;           /* 0: the header's */
} LayerRope;

typedef struct {
    int index;
    int64_t window;         /* 0 = global; else sliding window W >= 1 */
    int64_t chunked;        /* 0, or chunked attention over aligned chunks of C >= 1 tokens (window 0):
                             * the query at p sees keys [floor(p / C) * C, p] (docs/model.md) */
    int reads;              /* owner of the cache this layer reads; == index for owners */
    int cache;              /* cache id (dense, in owner order) */
    const char *kind_name;  /* attention kind name as written (owned, freed by layout_free), or NULL */
    LayerRope rope;         /* its kind's RoPE */
    bool sinks;             /* its kind's `sinks`: a learned logit per query head joins the softmax's
                             * denominator (gpt-oss; weights self_attn.sinks [heads]) */
    int64_t kv_heads, head_dim; /* its kind's own KV shape (`kv_heads K head_dim D`); 0: the header's.
                             * layer_model gives the effective values */
    SrcLoc loc;             /* where the layer was defined */
} LayerInfo;

typedef struct {
    int id;
    int owner;
    int nreaders;           /* layers other than the owner that read it */
    int *readers;           /* ascending */
    int64_t retention;      /* 0 = unbounded (some user is global); else the largest layer_history */
} CacheInfo;

typedef struct {
    ModelHeader model;
    int nlayers;
    LayerInfo *layer;
    int ncaches;
    CacheInfo *cache;
} Layout;

/* An attention as every message and view writes it: "global", "window W" or "chunked C" (chunked
 * when chunked > 0, else window W when window > 0). Returns buf. */
#define ATTN_TEXT_MAX 32
const char *attn_text(int64_t window, int64_t chunked, char buf[ATTN_TEXT_MAX]);
/* The tokens of history a layer's mask can reach, its own included: W for window W, C for chunked C
 * (the query at p sees back to floor(p / C) * C >= p - C + 1), 0 for global (unbounded). A cache
 * keeps the largest over its owner and readers (CacheInfo.retention). */
int64_t layer_history(const LayerInfo *li);
/* A cache's retention as text: "unbounded", or prefix followed by the token count. */
const char *retention_text(const CacheInfo *ci, const char *prefix, char *buf, size_t n);
/* "G global, S sliding" and ", C chunked" when there are any: the layers' attentions (only the
 * caches' owners when owners_only), as the layout and the report count them. Returns buf. */
const char *layer_kinds_text(const Layout *l, bool owners_only, char *buf, size_t n);
/* Fills `l` with `nlayers` layers from window[], chunked[] (NULL: none chunked) and reads[] (reads[i]
 * == i for an owner; every reads[i] <= i and names an owner), builds the caches, and takes ownership
 * of `header`'s name. */
void layout_from_arrays(Layout *l, const ModelHeader *header, int nlayers, const int64_t *window,
                        const int64_t *chunked, const int *reads);
/* The header as layer i computes with it: kv_heads and head_dim its kind's when it has its own; a
 * dense layer of a model with moe_step has no experts (experts 0, ...) and ffn = dense_ffn. */
ModelHeader layer_model(const Layout *l, int i);
/* The first layer whose kv_heads or head_dim differs from the header's, or -1: the exports refuse a
 * layout with per-layer shapes by it (no format they write can say them), the report marks them. */
int layout_first_own_shape(const Layout *l);
/* vLLM's pipeline split of `nlayers` layers over `pp` stages (vllm.distributed.utils.get_pp_indices):
 * nlayers / pp each, the remainder one more each on the stages before the last, counted from the
 * end. The layer that ends stage s (exclusive), and the stage holding a layer: the report's --pp and
 * the vLLM checks both split with these. */
int pipeline_stage_end(int nlayers, int pp, int stage);
int pipeline_stage_of(int nlayers, int pp, int layer);
/* --pp N against the layout: false with "--pp N exceeds the L layers" when N > the layers. */
bool pipeline_stages_fit(const Layout *l, int64_t pp, char *err, size_t errlen);
/* The largest kv_heads x head_dim and heads x head_dim over the layers (the arena's widest rows). */
void layout_widest_rows(const Layout *l, int64_t *kv_row, int64_t *q_row);
/* Builds caches[] from layer[].reads (layout_from_arrays calls it). */
void layout_build_caches(Layout *l);
/* Structural invariants (owners precede readers, ids dense, ...); prints the first violation. */
bool verify_layout(const Layout *l, FILE *err);
void layout_free(Layout *l);
/* Text forms: the normalized layout (mixc check) and the sharing graph (--dump=graph). */
void print_layout(const Layout *l, FILE *out);
void dump_graph(const Layout *l, FILE *out);
/* The normalized layout as JSON {model, layers[], caches[]} (see docs/report-schema.md):
 * layout_json_members writes the three members into an open object (the report adds its own),
 * layout_json the whole document and a newline. false when the name is not valid UTF-8. */
void layout_json_members(const Layout *l, JsonWriter *w);
bool layout_json(const Layout *l, Buf *out);
/* ---------------------------------------------------------------- ir/rope.c: RoPE tables */

/* The one computation of RoPE's parameters (docs/model.md, "RoPE"), which every backend takes as a
 * table: inv_freq[k] for the head_dim / 2 rotated pairs of a layer, and *scale, the factor cos and
 * sin are multiplied by. false for a NoPE layer (nothing written). */
bool rope_table(const ModelHeader *m, const LayerRope *r, float *inv_freq, float *scale);
/* nope_temperature_*: the factor q of a NoPE layer at position pos is multiplied by, in fp32 as
 * transformers computes it (1 without the fields); and whether any NoPE layer's factor differs from 1
 * at a position below `context` (context >= nope_temperature_floor). */
float model_nope_temperature(const ModelHeader *m, int64_t pos);
/* Every layer's table, as the backends hold them: inv_freq [nlayers][half], scale [nlayers]. */
typedef struct {
    int64_t half;           /* head_dim / 2 */
    float *inv_freq, *scale;
    bool *rotated;          /* false: a NoPE layer */
} RopeTables;
void rope_tables(const Layout *l, RopeTables *t);
void rope_tables_free(RopeTables *t);
/* Layer i's inv_freq, NULL for a NoPE layer. */
const float *rope_layer_table(const RopeTables *t, int i);
bool rope_equal(const LayerRope *a, const LayerRope *b);
/* "rope_theta 10000", "nope" or "" (the header's): a kind's RoPE as the language writes it. */
const char *rope_text(const LayerRope *r, char *buf, size_t n);
/* A cache holds keys after RoPE, so a layer must have the RoPE of the layer whose cache it reads: the
 * first layer at or after `from` that has not (-1: none), with the two RoPEs for a message (rope_text,
 * or "the header's RoPE"). The checker (check_rope_sharing) and the importers refuse such layouts. */
int rope_sharing_mismatch(const Layout *l, int from, char mine[64], char owners[64]);
/* The scaling parameters, each once: its header key, transformers' rope_scaling key, where it is
 * kept, its type, and which scaling types take it (bit 1 << type) and need it. */
typedef enum { ROPE_PARAM_REAL, ROPE_PARAM_INT, ROPE_PARAM_BOOL } RopeParamType;
typedef struct {
    const char *key, *hf_key;
    size_t offset;              /* into RopeScaling: a double, the int64_t original_context or the bool truncate */
    RopeParamType type;
    unsigned takes, needs;
} RopeParam;
extern const RopeParam rope_params[];
extern const int rope_nparams;
double rope_param_get(const RopeScaling *s, const RopeParam *p);   /* a bool: 0 or 1 */
int64_t rope_param_int(const RopeScaling *s, const RopeParam *p);  /* ROPE_PARAM_INT's value, exactly */
void rope_param_set(RopeScaling *s, const RopeParam *p, double v);
/* Fills the parameters a type takes but were not given (yarn: beta_fast 32, beta_slow 1,
 * attention_factor 0.1 ln(factor) + 1 when factor > 1, else 1, truncate true); given[i] says which were. */
void rope_scaling_defaults(RopeScaling *s, const bool *given);
bool rope_scaling_equal(const RopeScaling *a, const RopeScaling *b);
/* "llama3 (factor 8, ...)": the scaling as the layout views print it. */
void rope_scaling_text(const RopeScaling *s, char *buf, size_t n);
/* Scaling type names as the language writes them ("linear", "llama3", "yarn"; "none" for plain). */
const char *rope_scaling_name(RopeScalingType t);

/* jansson's value, which the importers (interop.h) take parsed. */
struct json_t;

/* ---------------------------------------------------------------- check.c: Ast -> Layout */

void model_header_defaults(ModelHeader *m);  /* all defaults, required fields 0 */
/* Checks the AST and builds the normalized layout. Returns false when errors were reported. */
bool check_ast(const Ast *ast, Diag *diag, Layout *out);
/* header_check.c: the header's fields into m (defaults first), then their relations; and where a
 * field was given (the header's location when it was not). */
void check_header(const Ast *ast, Diag *diag, ModelHeader *m);
void check_header_relations(const Ast *ast, Diag *diag, ModelHeader *m);
SrcLoc header_field_loc(const Ast *ast, const char *key);
/* rope_check.c: the rope_* header fields against rope_scaling's type, then its defaults. */
void check_rope_scaling(const Ast *ast, Diag *diag, ModelHeader *m);
/* moe_check.c: the FFN's fields go together: experts_per_token with experts, ..., swiglu_limit and
 * swiglu_alpha with activation clamped_swiglu. */
void check_experts(const Ast *ast, Diag *diag, ModelHeader *m);
void check_swiglu(const Ast *ast, Diag *diag, ModelHeader *m);
/* The gated activation of one element, as every backend and the reference compute it. */
float model_gated_activation(const ModelHeader *m, float gate, float up);
/* A kind's properties (rope_theta R, nope) as its layers' RoPE, from `base` (an alias's kind's). */
LayerRope check_kind_rope(Diag *diag, const AstField *props, LayerRope base);
/* A kind's `sinks` property (no value, at most once), or `base` (an alias's kind's) without it. */
bool check_kind_sinks(Diag *diag, const AstField *props, bool base);
/* shape_check.c: a kind's own `kv_heads K` and `head_dim D` (0: the header's; a value equal to the
 * header's is stored as 0), from `base` (an alias's kind's); `nope`: the kind has no RoPE (an odd D
 * is then allowed). */
typedef struct {
    int64_t kv_heads, head_dim;
} KindShape;
KindShape check_kind_shape(Diag *diag, const AstField *props, const ModelHeader *m, bool nope, KindShape base);
bool is_kind_shape_prop(const char *key);
/* Every reader has its owner's kv_heads and head_dim; false after reporting each that does not. */
bool check_shape_sharing(Diag *diag, const Layout *l);
/* Every reader uses the RoPE its owner's cache was written with (keys are stored rotated); false
 * after reporting each that does not. */
bool check_rope_sharing(Diag *diag, const Layout *l);

/* ---------------------------------------------------------------- load.c: text -> Layout */

/* How to load: every field may be 0 (and the options pointer NULL). */
typedef struct {
    const char *prog;           /* prefix of the loader's own messages; NULL: prog_name() */
    const char *const *sets;    /* header overrides "key=value" (any header field; "window=N" replaces */
    int nsets;                  /*   every sliding window, "chunked=N" every chunk size), applied between
                                 *   parsing and checking */
    int64_t pp;                 /* pipeline stages the command splits the layout into (0: none): more
                                 *   than its layers is a usage error (2, "PROG: 'FILE': ...") */
    Arena *arena;               /* with ast: the AST is kept in arena (for --dump=ast); the caller */
    Ast *ast;                   /*   frees the arena */
    char **text;                /* load_layout_file: when not NULL, hands over the file's text (and its */
    size_t *len;                /*   length) for the caller to free, whatever the result */
} LoadOptions;

/* The one loader: parses .mix text, applies the overrides, checks. Diagnostics go to diag_out.
 * Returns 0 ok, 1 errors in the layout, 2 a malformed override or too many pipeline stages (reported
 * as "PROG: message"). */
int load_layout_text(const char *name, const char *text, size_t len, const LoadOptions *opt, Layout *out,
                     FILE *diag_out);
/* The same from a file ("-" = stdin); 2 also when it cannot be read, 1 when it is over READ_FILE_LIMIT. */
int load_layout_file(const char *path, const LoadOptions *opt, Layout *out, FILE *diag_out);
int load_layout(const char *path, Layout *out, FILE *diag_out);   /* no options */

/* ---------------------------------------------------------------- commands (main.c dispatches)
 * Each takes argv[0] = the command name, parses its options with options.h (which prints --help and
 * reports usage errors), and returns the exit status: 0 ok, 1 errors in the input, 2 usage errors
 * or an unreadable input file. */
int cmd_check(int argc, char **argv);    /* check.c     */
int cmd_report(int argc, char **argv);   /* report.c    */
int cmd_compare(int argc, char **argv);  /* report.c    */
int cmd_import(int argc, char **argv);   /* import.c    */
int cmd_export(int argc, char **argv);   /* export.c    */
int cmd_emit(int argc, char **argv);     /* emit.c      */
int cmd_build(int argc, char **argv);    /* build_cmd.c (build.h) */

#endif

/* The later stages' interfaces, so that including mixc.h gives the whole pipeline. Each includes
 * this header first; the guards make the order irrelevant. */
#include "plan.h"
#include "codegen.h"
#include "interop.h"
