/*
 * attnc.c — the attnc command-line driver.
 *
 * attnc checks an .attn model (and its weights), prints the graph IR of an
 * entry point, runs an entry point on inputs from a safetensors file, or
 * compiles entry points ahead of time into an object file and a C header:
 *
 *     attnc check MODEL.attn [--set NAME=VALUE]... [--weights W] [-I DIR]...
 *     attnc graph MODEL.attn [--entry E] [--set ...] [--weights W] [--dot] [-I DIR]...
 *               [--passes LIST] [--disable-pass NAME]... [--dump-after PASS] [--verify-ir]
 *     attnc run MODEL.attn [--entry E] [--set ...] [--weights W] --inputs IN
 *               [--outputs OUT] [--backend jit|interp] [--repeat N] [--time] [--stats]
 *               [--threads N] [--mcpu CPU] [--mattr F] [--emit-llvm F] [--emit-asm F] [-I DIR]...
 *               [--weights-dtype f32|bf16|int8]
 *     attnc compile MODEL.attn [--entry E] [--set ...] [--weights W] [-o NAME]
 *               [--mcpu CPU] [--mattr F] [--emit-llvm F] [--emit-asm F] [-I DIR]...
 *               [--weights-dtype f32|bf16|int8]
 *     attnc MODEL.attn [OPTIONS]...         (the same as attnc compile MODEL.attn)
 *     attnc weights MODEL.attn [--set ...] [--weights W] [-I DIR]...
 *     attnc import MODEL.onnx [-o NAME]
 *     attnc heatmap OUTPUTS.safetensors --tensor NAME [--index I]... [--rows FILE]
 *               [--cols FILE] [--svg OUT.svg]
 *
 * Options take their value as --opt VALUE or --opt=VALUE (getopt_long); a
 * misspelt option or command gets the nearest one suggested. Steps that run
 * over a second show a status line on stderr when it is a terminal.
 * Everything goes through the public API (attn.h); the tensor files are
 * handled by cli_tensors.c. Exit status: 0 success, 1 an error in the user's
 * model, weights or inputs (the library's diagnostics are printed verbatim),
 * 2 a usage error (a message and the command's usage line on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "attn.h"
#include "cli_tensors.h"
#include "attn_passes.h"


enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2 };

typedef enum {
    OPT_ENTRY, OPT_SET, OPT_WEIGHTS, OPT_MAP_WEIGHTS, OPT_INPUTS, OPT_OUTPUTS, OPT_DOT, OPT_BACKEND,
    OPT_REPEAT, OPT_TIME, OPT_STATS, OPT_PROFILE, OPT_THREADS, OPT_INCLUDE, OPT_TENSOR, OPT_INDEX, OPT_ROWS, OPT_COLS,
    OPT_SVG, OPT_EXTRA, OPT_OUT, OPT_MCPU, OPT_MATTR, OPT_EMIT_LLVM, OPT_EMIT_ASM, OPT_FUSED, OPT_NO_FUSE,
    OPT_PASSES, OPT_DISABLE_PASS, OPT_DUMP_AFTER, OPT_VERIFY_IR, OPT_WEIGHTS_DTYPE, OPT_HELP
} OptionId;

#define BIT(id) (UINT64_C(1) << (id))

/* A command-line option; the table order is the order of the usage lines. */
typedef struct {
    OptionId id;
    const char *name;     /* "--entry" */
    const char *alias;    /* "-s", or NULL */
    const char *metavar;  /* the value's placeholder; NULL for flags */
    const char *synopsis; /* as shown in usage lines; NULL to leave out */
    const char *help;
    int repeatable;
} Option;

static const Option options[] = {
    {OPT_ENTRY, "--entry", NULL, "E", "[--entry E]",
     "entry point (default: forward, or the only one)", 0},
    {OPT_SET, "--set", "-s", "NAME=VALUE", "[--set NAME=VALUE]...",
     "set hyperparameter NAME (repeatable)", 1},
    {OPT_WEIGHTS, "--weights", NULL, "W", "[--weights W.safetensors]",
     "bind weights from the safetensors file W", 0},
    {OPT_MAP_WEIGHTS, "--map-weights", NULL, "MAP", "[--map-weights MAP]",
     "rename W's keys by the rules of MAP, one FROM=TO per line: a key, a prefix ending in "
     "'.' (W_w.=word_proj.) or a regular expression starting with '^' (^model\\.=)", 0},
    {OPT_INPUTS, "--inputs", NULL, "IN", "--inputs IN.safetensors",
     "read the inputs from the safetensors file IN", 0},
    {OPT_OUTPUTS, "--outputs", NULL, "OUT", "[--outputs OUT.safetensors]",
     "write the outputs to the safetensors file OUT", 0},
    {OPT_DOT, "--dot", NULL, NULL, "[--dot]", "print Graphviz DOT instead of the IR text", 0},
    {OPT_BACKEND, "--backend", NULL, "interp|jit", "[--backend interp|jit]",
     "engine to run on (default: jit, or $ATTN_BACKEND)", 0},
    {OPT_REPEAT, "--repeat", NULL, "N", "[--repeat N]", "run N times (default: 1)", 0},
    {OPT_TIME, "--time", NULL, NULL, "[--time]", "print load, compile and run times to stderr", 0},
    {OPT_STATS, "--stats", NULL, NULL, "[--stats]",
     "print to stderr the kernels run, the workspace (with and without reuse) and the bytes "
     "moved for these inputs' dims (jit), and the process's peak RSS", 0},
    {OPT_PROFILE, "--profile", NULL, NULL, "[--profile]",
     "JIT: time every kernel and print a table of time per kernel to stderr", 0},
    {OPT_THREADS, "--threads", NULL, "N", "[--threads N]",
     "worker threads (default: 0 = one per core)", 0},
    {OPT_INCLUDE, "-I", NULL, "DIR", "[-I DIR]...", "search DIR for imports (repeatable)", 1},
    {OPT_TENSOR, "--tensor", NULL, "NAME", "--tensor NAME", "the tensor to draw", 0},
    {OPT_INDEX, "--index", NULL, "I", "[--index I]...",
     "fix the next leading dim at I (repeatable; e.g. the batch item)", 1},
    {OPT_ROWS, "--rows", NULL, "FILE", "[--rows FILE]", "row labels, one per line", 0},
    {OPT_COLS, "--cols", NULL, "FILE", "[--cols FILE]", "column labels, one per line", 0},
    {OPT_SVG, "--svg", NULL, "OUT", "[--svg OUT.svg]", "also write the heatmap as SVG to OUT", 0},
    {OPT_EXTRA, "--extra-output", NULL, "NAME", "[--extra-output NAME]...",
     "also output the intermediate tensor assigned to variable NAME (or SCOPE/NAME, e.g. "
     "self_attn/weights); repeatable", 1},
    {OPT_OUT, "-o", NULL, "NAME", "[-o NAME]",
     "write NAME.o and NAME.h (compile), NAME.attn and NAME.safetensors (import); default: the model's base name", 0},
    {OPT_MCPU, "--mcpu", NULL, "CPU", "[--mcpu CPU]",
     "generate code for LLVM CPU name CPU (default: the host's, or $ATTN_MCPU)", 0},
    {OPT_MATTR, "--mattr", NULL, "FEATURES", "[--mattr FEATURES]",
     "LLVM target features, e.g. +avx2,+fma (default: the host's, or $ATTN_MATTR)", 0},
    {OPT_EMIT_LLVM, "--emit-llvm", NULL, "FILE", "[--emit-llvm FILE]",
     "write the optimised LLVM IR of the entry (one function per kernel) to FILE", 0},
    {OPT_EMIT_ASM, "--emit-asm", NULL, "FILE", "[--emit-asm FILE]",
     "write the generated assembly (one function per kernel) to FILE", 0},
    {OPT_FUSED, "--fused", NULL, NULL, "[--fused]",
     "print the kernel graph: the nodes each generated kernel computes (with --dot: as clusters)", 0},
    {OPT_NO_FUSE, "--no-fuse", "-O0", NULL, "[--no-fuse]",
     "no operator fusion: every graph node its own kernel (same results; for comparing)", 0},
    {OPT_PASSES, "--passes", NULL, "LIST", "[--passes LIST]",
     "run only the optimisation passes of LIST (comma-separated; empty: none), e.g. fold,cse,dce", 0},
    {OPT_DISABLE_PASS, "--disable-pass", NULL, "NAME", "[--disable-pass NAME]...",
     "leave the optimisation pass NAME out (repeatable)", 1},
    {OPT_DUMP_AFTER, "--dump-after", NULL, "PASS", "[--dump-after PASS]",
     "print the graph after each run of PASS (a comma-separated list, or all), then the final graph", 0},
    {OPT_VERIFY_IR, "--verify-ir", NULL, NULL, "[--verify-ir]",
     "check the graph IR after lowering and after every pass (an invalid graph is an internal error)", 0},
    {OPT_WEIGHTS_DTYPE, "--weights-dtype", NULL, "f32|bf16|int8", "[--weights-dtype f32|bf16|int8]",
     "store the matrix products' constant weights as DTYPE (default: f32; docs/PRECISION.md)", 0},
    {OPT_HELP, "--help", "-h", NULL, NULL, "show this help", 0},
};
#define NOPTIONS ((int)(sizeof options / sizeof options[0]))
_Static_assert(NOPTIONS <= 64, "a command's options are a 64-bit set of BIT(OptionId)");

typedef enum { CMD_CHECK, CMD_GRAPH, CMD_RUN, CMD_COMPILE, CMD_WEIGHTS, CMD_IMPORT, CMD_HEATMAP } CommandId;

typedef struct {
    CommandId id;
    const char *name;
    const char *operand; /* the file it takes: "MODEL.attn" */
    const char *summary;
    const char *description;
    uint64_t options; /* BIT(OptionId) of each option it takes */
} Command;

#define JIT_OPTS                                                                                                       \
    (BIT(OPT_MCPU) | BIT(OPT_MATTR) | BIT(OPT_EMIT_LLVM) | BIT(OPT_EMIT_ASM) | BIT(OPT_NO_FUSE) | BIT(OPT_WEIGHTS_DTYPE))
#define PASS_OPTS (BIT(OPT_PASSES) | BIT(OPT_DISABLE_PASS) | BIT(OPT_VERIFY_IR))
#define MODEL_OPTS (BIT(OPT_SET) | BIT(OPT_WEIGHTS) | BIT(OPT_MAP_WEIGHTS) | BIT(OPT_INCLUDE) | PASS_OPTS | BIT(OPT_HELP))

static const Command commands[] = {
    {CMD_CHECK, "check", "MODEL.attn", "parse and check a model, and its weights when given",
     "Parses and checks MODEL.attn, and the weights against it when --weights is\n"
     "given (each entry point, or the one --entry names, is compiled against\n"
     "them), and prints \"MODEL.attn: ok (N entry points: ...)\".\n",
     MODEL_OPTS | BIT(OPT_ENTRY)},
    {CMD_GRAPH, "graph", "MODEL.attn", "print the graph IR of an entry point",
     "Prints the graph IR of an entry point after the optimisation passes, as\n"
     "text or, with --dot, as Graphviz DOT.\n",
     MODEL_OPTS | BIT(OPT_ENTRY) | BIT(OPT_DOT) | BIT(OPT_FUSED) | BIT(OPT_NO_FUSE) | BIT(OPT_DUMP_AFTER)},
    {CMD_RUN, "run", "MODEL.attn", "run an entry point on inputs from a safetensors file",
     "Runs an entry point on the tensors of IN.safetensors, which must hold one\n"
     "tensor named after each input and nothing else (floats are read as f32,\n"
     "integers as i64, BOOL and U8 as bool), then prints the outputs or writes\n"
     "them to OUT.safetensors. --weights may be left out when the model has no\n"
     "parameters.\n",
     MODEL_OPTS | BIT(OPT_ENTRY) | BIT(OPT_INPUTS) | BIT(OPT_OUTPUTS) | BIT(OPT_BACKEND) |
         BIT(OPT_REPEAT) | BIT(OPT_TIME) | BIT(OPT_STATS) | BIT(OPT_PROFILE) | BIT(OPT_THREADS) | BIT(OPT_EXTRA) | JIT_OPTS},
    {CMD_COMPILE, "compile", "MODEL.attn", "compile entry points ahead of time into NAME.o and NAME.h",
     "Compiles every entry point of MODEL.attn, or the one --entry names, into\n"
     "the object file NAME.o and the C header NAME.h, for the host CPU or the\n"
     "one --mcpu/--mattr name. The header declares, per entry point E, a\n"
     "function NAME_E and the shapes of its inputs and outputs, and\n"
     "NAME_load_weights, which loads and checks the weights from a safetensors\n"
     "file when the program runs. The object needs no LLVM; link it with the\n"
     "runtime library: cc main.c NAME.o -lattnrt -lcjson -lpthread -lm\n"
     "(docs/AOT.md). Every hyperparameter must be set with --set or solved from\n"
     "the shapes of --weights, which are also checked. `attnc MODEL.attn` is\n"
     "short for `attnc compile MODEL.attn`.\n",
     MODEL_OPTS | BIT(OPT_ENTRY) | BIT(OPT_OUT) | JIT_OPTS},
    {CMD_WEIGHTS, "weights", "MODEL.attn", "list the weights a model declares: key, dtype, shape",
     "Prints the weights the entry points of MODEL.attn declare, one per line:\n"
     "the full state_dict key, the dtype and the shape, e.g.\n"
     "\"weight_ih_l0 f32 [96, 16]\". A dim that depends on a hyperparameter not\n"
     "set with --set (nor solved from --weights) is shown as its expression,\n"
     "\"[hidden_size*3, input_size]\". Export exactly these keys.\n",
     MODEL_OPTS},
    {CMD_IMPORT, "import", "MODEL.onnx", "turn an ONNX model into NAME.attn and NAME.safetensors",
     "Imports MODEL.onnx (opsets 7 to 18; docs/ONNX.md): writes NAME.attn, one\n"
     "entry `forward` with the graph's inputs and outputs (names made identifiers,\n"
     "the ONNX names in comments; dynamic axes named after their dim_params), a\n"
     "statement per node grouped by the exporter's name scopes, shape computations\n"
     "folded into the dims they compute; and NAME.safetensors, the initializers\n"
     "(keys = their ONNX names: for torch exports, the state_dict keys). Run it\n"
     "with attnc run NAME.attn --weights NAME.safetensors --inputs IN.\n",
     BIT(OPT_OUT) | BIT(OPT_HELP)},
    {CMD_HEATMAP, "heatmap", "OUTPUTS.safetensors", "draw a [rows, cols] tensor as a heatmap",
     "Draws tensor NAME of a safetensors file (such as the outputs of attnc run)\n"
     "as a heatmap on the terminal, coloured when stdout is one (unless NO_COLOR\n"
     "is set), and with --svg also as an SVG image. The tensor must have rank 2,\n"
     "or more with an --index for each leading dim: --index 0 of an attention\n"
     "f32[B, M, S] draws the [M, S] weights of batch item 0. Labels come from\n"
     "--rows and --cols, one per line, as many as the rows and columns (else the\n"
     "indices).\n",
     BIT(OPT_TENSOR) | BIT(OPT_INDEX) | BIT(OPT_ROWS) | BIT(OPT_COLS) | BIT(OPT_SVG) |
         BIT(OPT_HELP)},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

#define TOP_USAGE                                                                \
    "usage: attnc check|graph|run|compile|weights|help MODEL.attn [OPTIONS]...\n" \
    "       attnc MODEL.attn [OPTIONS]...   (compile)\n"                          \
    "       attnc import MODEL.onnx [-o NAME]\n"                                  \
    "       attnc heatmap OUTPUTS.safetensors --tensor NAME [OPTIONS]...\n"       \
    "       attnc --version\n"

/* The parsed command line of one command. */
typedef struct {
    const Command *cmd;
    const char *model;             /* the operand: MODEL.attn, or heatmap's OUTPUTS */
    const char **sets, **includes, **extras; /* argv strings; argc slots each */
    int nsets, nincludes, nextras;
    long *indexes;                 /* --index values; argc slots */
    int nindexes;
    const char *entry, *weights, *map_weights, *inputs, *outputs;
    const char *tensor, *rows, *cols, *svg;
    const char *mcpu, *mattr, *emit_llvm, *emit_asm, *out;
    int dot, time, stats, profile, repeat, threads, fused, no_fuse;
    attn_weights_dtype weights_dtype;
    attn_backend backend;
    PassOptions passes; /* --passes, --disable-pass, --dump-after, --verify-ir */
    uint64_t seen; /* BIT(OptionId) of each option given */
} Args;

/* ---- usage and help ------------------------------------------------------ */

/* Help and usage lines fit a terminal this wide. */
#define HELP_COLUMNS 80
/* An option's help text starts at this column: "  " SPEC (24 wide) " ". */
#define HELP_TEXT_COLUMN 27

/* Prints item[0..n) after a space, or on a new line starting at column
 * indent when it would pass HELP_COLUMNS; *col is the current column. */
static void put_item(FILE *f, const char *item, int n, int indent, int *col)
{
    if (*col > indent && *col + 1 + n > HELP_COLUMNS) {
        fprintf(f, "\n%*s", indent, "");
        *col = indent;
    } else {
        fputc(' ', f);
        (*col)++;
    }
    fwrite(item, 1, (size_t)n, f);
    *col += n;
}

/* Prints the words of text with put_item. */
static void put_words(FILE *f, const char *text, int indent, int *col)
{
    for (text += strspn(text, " "); *text; text += strspn(text, " ")) {
        int n = (int)strcspn(text, " ");
        put_item(f, text, n, indent, col);
        text += n;
    }
}

static void print_synopsis(FILE *f, const Command *c)
{
    int col = fprintf(f, "usage: attnc %s", c->name);
    int indent = col + 1;
    put_item(f, c->operand, (int)strlen(c->operand), indent, &col);
    for (int i = 0; i < NOPTIONS; i++)
        if ((c->options & BIT(options[i].id)) && options[i].synopsis)
            put_item(f, options[i].synopsis, (int)strlen(options[i].synopsis), indent, &col);
    fputc('\n', f);
}

static void print_command_help(const Command *c)
{
    print_synopsis(stdout, c);
    printf("\n%s\nOptions:\n", c->description);
    for (int i = 0; i < NOPTIONS; i++) {
        const Option *o = &options[i];
        if (!(c->options & BIT(o->id)))
            continue;
        char spec[64];
        snprintf(spec, sizeof spec, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "",
                 o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        int col = printf("  %-*s", HELP_TEXT_COLUMN - 3, spec);
        put_words(stdout, o->help, HELP_TEXT_COLUMN, &col);
        putchar('\n');
    }
}

static void print_top_help(void)
{
    printf(TOP_USAGE "\nCommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        printf("  %-8s %s\n", commands[i].name, commands[i].summary);
    printf("  %-8s %s\n", "help", "show the options of a command: attnc help COMMAND");
    printf("\nAn option's value follows it (--entry E) or an '=' (--entry=E); a long\n"
           "option may be shortened to a prefix no other option of the command has.\n"
           "\nExit status: 0 success, 1 error in the model, weights or inputs, 2 usage error.\n");
}

/* Reports a usage error of command c (NULL: of attnc itself); returns EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
static int usage_error(const Command *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "attnc%s%s: ", c ? " " : "", c ? c->name : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (c)
        print_synopsis(stderr, c);
    else
        fputs(TOP_USAGE, stderr);
    return EXIT_USAGE;
}

/* ---- argument parsing ---------------------------------------------------- */

static const Command *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

/* Whether s equals arg[0..len). */
static bool same(const char *s, const char *arg, size_t len)
{
    return s && strlen(s) == len && !strncmp(s, arg, len);
}

/* The option spelled arg[0..len) (by name or alias), of any command. */
static const Option *find_option(const char *arg, size_t len)
{
    for (int i = 0; i < NOPTIONS; i++)
        if (same(options[i].name, arg, len) || same(options[i].alias, arg, len))
            return &options[i];
    return NULL;
}

/* ---- suggestions --------------------------------------------------------- */

/* Words longer than this get no suggestion. */
#define SUGGEST_MAX_LEN 32

/* The number of single-character insertions, deletions, substitutions and
 * swaps of neighbours that turn a[0..na) into b[0..nb) (both at most
 * SUGGEST_MAX_LEN long). */
static int edit_distance(const char *a, int na, const char *b, int nb)
{
    int d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];
    for (int i = 0; i <= na; i++)
        for (int j = 0; j <= nb; j++) {
            if (i == 0 || j == 0) {
                d[i][j] = i + j;
                continue;
            }
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

/* Whether candidate is near enough to word[0..len) to be what was meant:
 * leading dashes aside, at most one edit per three characters of the word.
 * *best is the distance of the nearest candidate so far (updated). */
static bool nearer(const char *word, size_t len, const char *candidate, int *best)
{
    size_t skip = strspn(word, "-");
    const char *w = word + (skip < len ? skip : len), *c = candidate + strspn(candidate, "-");
    int nw = (int)(len - (size_t)(w - word)), nc = (int)strlen(c);
    if (nw > SUGGEST_MAX_LEN || nc > SUGGEST_MAX_LEN)
        return false;
    int d = edit_distance(w, nw, c, nc);
    if (3 * d > nw + 1 || d >= *best)
        return false;
    *best = d;
    return true;
}

/* The option of command c nearest to arg[0..len), or NULL if none is near. */
static const char *nearest_option(const Command *c, const char *arg, size_t len)
{
    const char *near = NULL;
    int best = INT_MAX;
    for (int i = 0; i < NOPTIONS; i++) {
        const Option *o = &options[i];
        if (!(c->options & BIT(o->id)))
            continue;
        if (nearer(arg, len, o->name, &best))
            near = o->name;
        if (o->alias && nearer(arg, len, o->alias, &best))
            near = o->alias;
    }
    return near;
}

/* The command nearest to name ("help", "--version" and "--help" included),
 * or NULL if none is near. */
static const char *nearest_command(const char *name)
{
    static const char *const others[] = {"help", "--version", "--help"};
    const char *near = NULL;
    int best = INT_MAX;
    size_t len = strlen(name);
    for (int i = 0; i < NCOMMANDS; i++)
        if (nearer(name, len, commands[i].name, &best))
            near = commands[i].name;
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (nearer(name, len, others[i], &best))
            near = others[i];
    return near;
}

/* Parses s as a decimal integer in [lo, hi]; returns 0 or -1. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    if (*s < '0' || *s > '9') /* no sign, no space */
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Applies --passes, --disable-pass or --dump-after (id), spelled `arg`, with
 * the pass list val. Returns 0, or EXIT_USAGE after reporting. */
static int apply_pass_option(Args *a, OptionId id, const char *arg, const char *val)
{
    unsigned set;
    char err[256];
    if (!pass_parse_list(val, id == OPT_DUMP_AFTER, &set, err, sizeof err))
        return usage_error(a->cmd, "option '%s': %s", arg, err);
    if (id == OPT_PASSES)
        a->passes.skip |= PASS_ALL & ~set;
    else if (id == OPT_DISABLE_PASS)
        a->passes.skip |= set;
    else
        a->passes.dump_after = set;
    return 0;
}

/* Applies option o, spelled `arg`, with value val (NULL for flags). Returns
 * 0, or EXIT_USAGE after reporting. */
static int apply_option(Args *a, const Option *o, const char *arg, const char *val)
{
    const Command *c = a->cmd;
    switch (o->id) {
    case OPT_ENTRY: a->entry = val; return 0;
    case OPT_WEIGHTS: a->weights = val; return 0;
    case OPT_MAP_WEIGHTS: a->map_weights = val; return 0;
    case OPT_INPUTS: a->inputs = val; return 0;
    case OPT_OUTPUTS: a->outputs = val; return 0;
    case OPT_DOT: a->dot = 1; return 0;
    case OPT_FUSED: a->fused = 1; return 0;
    case OPT_NO_FUSE: a->no_fuse = 1; return 0;
    case OPT_TIME: a->time = 1; return 0;
    case OPT_STATS: a->stats = 1; return 0;
    case OPT_PROFILE: a->profile = 1; return 0;
    case OPT_INCLUDE: a->includes[a->nincludes++] = val; return 0;
    case OPT_TENSOR: a->tensor = val; return 0;
    case OPT_ROWS: a->rows = val; return 0;
    case OPT_COLS: a->cols = val; return 0;
    case OPT_SVG: a->svg = val; return 0;
    case OPT_INDEX: {
        int v;
        if (parse_int(val, 0, INT_MAX, &v))
            return usage_error(c, "option '%s' needs a non-negative integer, got '%s'", arg, val);
        a->indexes[a->nindexes++] = v;
        return 0;
    }
    case OPT_HELP: return 0;
    case OPT_EXTRA:
        a->extras[a->nextras++] = val;
        return 0;
    case OPT_SET:
        if (val[0] == '=' || !strchr(val, '='))
            return usage_error(c, "option '%s' needs NAME=VALUE, got '%s'", arg, val);
        a->sets[a->nsets++] = val;
        return 0;
    case OPT_BACKEND:
        if (strcmp(val, "interp") && strcmp(val, "jit"))
            return usage_error(c, "option '%s' needs interp or jit, got '%s'", arg, val);
        a->backend = strcmp(val, "jit") ? ATTN_BACKEND_INTERP : ATTN_BACKEND_JIT;
        return 0;
    case OPT_WEIGHTS_DTYPE:
        for (int d = ATTN_WEIGHTS_F32; d <= ATTN_WEIGHTS_INT8; d++)
            if (!strcmp(val, attn_weights_dtype_name((attn_weights_dtype)d))) {
                a->weights_dtype = (attn_weights_dtype)d;
                return 0;
            }
        return usage_error(c, "option '%s' needs f32, bf16 or int8, got '%s'", arg, val);
    case OPT_OUT: a->out = val; return 0;
    case OPT_MCPU: a->mcpu = val; return 0;
    case OPT_MATTR: a->mattr = val; return 0;
    case OPT_EMIT_LLVM: a->emit_llvm = val; return 0;
    case OPT_EMIT_ASM: a->emit_asm = val; return 0;
    case OPT_REPEAT:
        if (parse_int(val, 1, INT_MAX, &a->repeat))
            return usage_error(c, "option '%s' needs a positive integer, got '%s'", arg, val);
        return 0;
    case OPT_THREADS:
        if (parse_int(val, 0, INT_MAX, &a->threads))
            return usage_error(c, "option '%s' needs a non-negative integer, got '%s'", arg, val);
        return 0;
    case OPT_PASSES:
    case OPT_DISABLE_PASS:
    case OPT_DUMP_AFTER:
        return apply_pass_option(a, o->id, arg, val);
    case OPT_VERIFY_IR: a->passes.verify = true; return 0;
    }
    return 0;
}

/* getopt_long returns LONG_BASE + i for options[i] spelled long. */
enum { LONG_BASE = 256 };

/* The one-dash spelling of o ("-s", "-I", "-O0"), or NULL. A spelling longer
 * than a letter is the letter with a fixed value: "-O0" is -O with value 0. */
static const char *short_spelling(const Option *o)
{
    return o->name[1] == '-' ? o->alias : o->name;
}

/* Builds getopt_long's tables for the options of command c: longs (ending in
 * a zero entry, NOPTIONS + 1 slots) and shorts (2 * NOPTIONS + 3 bytes). */
static void getopt_tables(const Command *c, struct option *longs, char *shorts)
{
    int nl = 0;
    /* '-': operands come back in order as 1; ':': a missing value as ':' */
    *shorts++ = '-';
    *shorts++ = ':';
    for (int i = 0; i < NOPTIONS; i++) {
        const Option *o = &options[i];
        if (!(c->options & BIT(o->id)))
            continue;
        if (o->name[1] == '-')
            longs[nl++] = (struct option){o->name + 2, o->metavar ? required_argument : no_argument, NULL,
                                          LONG_BASE + i};
        const char *sh = short_spelling(o);
        if (sh) {
            *shorts++ = sh[1];
            if (o->metavar || sh[2])
                *shorts++ = ':';
        }
    }
    longs[nl] = (struct option){0};
    *shorts = '\0';
}

/* The option of command c that getopt_long's result ch stands for, and in
 * *spelled how it was written ("--set", "-s"); NULL if none. */
static const Option *option_of(const Command *c, int ch, const char **spelled)
{
    if (ch >= LONG_BASE && ch < LONG_BASE + NOPTIONS) {
        *spelled = options[ch - LONG_BASE].name;
        return &options[ch - LONG_BASE];
    }
    for (int i = 0; i < NOPTIONS; i++) {
        const char *sh = short_spelling(&options[i]);
        if ((c->options & BIT(options[i].id)) && sh && sh[1] == ch) {
            *spelled = sh;
            return &options[i];
        }
    }
    return NULL;
}

/* Reports option `spelled` (its value val, NULL for flags) of command a->cmd
 * and applies it. Returns 0, or EXIT_USAGE after reporting. */
static int take_option(Args *a, const Option *o, const char *spelled, const char *val)
{
    if (spelled[1] != '-' && spelled[2]) { /* "-O0": the letter's value is fixed */
        if (strcmp(val, spelled + 2))
            return usage_error(a->cmd, "unknown option '%.2s%s'", spelled, val);
        val = NULL;
    }
    if (!o->repeatable && (a->seen & BIT(o->id)))
        return usage_error(a->cmd, "option '%s' given twice", spelled);
    a->seen |= BIT(o->id);
    return apply_option(a, o, spelled, val);
}

/* Reports arg[0..len), an argument that is no option of command c: an option
 * of another command, a prefix of several, or unknown, then with the nearest
 * option when one is near. Returns EXIT_USAGE. */
static int unknown_option(const Command *c, const char *arg, size_t len)
{
    int n = (int)len;
    if (find_option(arg, len))
        return usage_error(c, "option '%.*s' does not apply to %s", n, arg, c->name);
    char several[256] = "";
    int matches = 0;
    for (int i = 0; i < NOPTIONS && len > 2 && arg[1] == '-'; i++)
        if ((c->options & BIT(options[i].id)) && !strncmp(options[i].name, arg, len)) {
            size_t used = strlen(several);
            snprintf(several + used, sizeof several - used, "%s%s", matches++ ? ", " : "", options[i].name);
        }
    if (matches > 1)
        return usage_error(c, "option '%.*s' is ambiguous (%s)", n, arg, several);
    const char *near = nearest_option(c, arg, len);
    if (near)
        return usage_error(c, "unknown option '%.*s'; did you mean '%s'?", n, arg, near);
    return usage_error(c, "unknown option '%.*s'", n, arg);
}

/* Reports what getopt_long refused in element elem (the argument it was
 * reading): '?' for an unknown option or a flag given a value, ':' for a
 * missing value. Returns EXIT_USAGE. */
static int refused_option(const Command *c, int ch, const char *elem)
{
    const char *spelled = NULL;
    const Option *o = option_of(c, optopt, &spelled);
    if (ch == ':' && o && o->metavar)
        return usage_error(c, "option '%s' needs a value (%s)", spelled, o->metavar);
    if (o && optopt >= LONG_BASE)
        return usage_error(c, "option '%s' takes no value, got '%s'", spelled, elem);
    if (elem[1] == '-')
        return unknown_option(c, elem, strcspn(elem, "="));
    return unknown_option(c, elem, strlen(elem));
}

/* Parses the arguments argv[1..argc) of command a->cmd (argv[0] names it)
 * into a, options as --opt VALUE, --opt=VALUE or -o VALUE. Returns 0, or
 * EXIT_USAGE after reporting; --help stops parsing with a->seen holding
 * BIT(OPT_HELP). */
static int parse_args(Args *a, int argc, char **argv)
{
    struct option longs[NOPTIONS + 1];
    char shorts[2 * NOPTIONS + 3];
    getopt_tables(a->cmd, longs, shorts);
    opterr = 0;
    optind = 0; /* glibc: start afresh */
    for (;;) {
        const char *elem = argv[optind ? optind : 1];
        int ch = getopt_long(argc, argv, shorts, longs, NULL);
        if (ch == -1)
            break;
        int rc = 0;
        const char *spelled = NULL;
        const Option *o = ch == '?' || ch == ':' || ch == 1 ? NULL : option_of(a->cmd, ch, &spelled);
        if (ch == 1 && !a->model)
            a->model = optarg;
        else if (ch == 1)
            rc = usage_error(a->cmd, "unexpected argument '%s'", optarg);
        else if (o)
            rc = take_option(a, o, spelled, optarg);
        else
            rc = refused_option(a->cmd, ch, elem);
        if (rc || (a->seen & BIT(OPT_HELP)))
            return rc;
    }
    for (; optind < argc; optind++) /* after "--" */
        if (a->model)
            return usage_error(a->cmd, "unexpected argument '%s'", argv[optind]);
        else
            a->model = argv[optind];
    if (!a->model)
        return usage_error(a->cmd, "missing %s", a->cmd->operand);
    if ((a->cmd->options & BIT(OPT_INPUTS)) && !a->inputs)
        return usage_error(a->cmd, "missing --inputs IN.safetensors");
    if (a->map_weights && !a->weights)
        return usage_error(a->cmd, "--map-weights renames the keys of --weights, which is missing");
    if ((a->cmd->options & BIT(OPT_TENSOR)) && !a->tensor)
        return usage_error(a->cmd, "missing --tensor NAME");
    return 0;
}

/* ---- shared steps -------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *status_text(attn_status s)
{
    switch (s) {
    case ATTN_OK: return "ok";
    case ATTN_ERR_INPUT: return "invalid input";
    case ATTN_ERR_USAGE: return "API misuse";
    case ATTN_ERR_NOMEM: return "out of memory";
    case ATTN_ERR_IO: return "I/O error";
    case ATTN_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

/* Prints text to stderr, ending it with a newline if it lacks one. */
static void print_message(const char *text)
{
    size_t n = strlen(text);
    fputs(text, stderr);
    if (n && text[n - 1] != '\n')
        fputc('\n', stderr);
}

/* ---- progress on a terminal -------------------------------------------- */

/* A step running longer than this shows a status line on a terminal... */
#define PROGRESS_DELAY_MS 1000
/* ...whose time is redrawn this often. */
#define PROGRESS_PERIOD_MS 100

/* A one-line status on stderr, "compiling forward... 1.4 s", drawn in place
 * by a thread while a long step runs, and only when stderr is a terminal:
 * logs and pipes get none of it. */
typedef struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char what[HELP_COLUMNS];
    struct timespec start;
    bool running, done;
    int shown; /* columns of the status on screen; 0 when none */
} Progress;

static struct timespec after_ms(struct timespec t, long ms)
{
    t.tv_sec += ms / 1000;
    t.tv_nsec += ms % 1000 * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static void *progress_main(void *arg)
{
    Progress *p = arg;
    pthread_mutex_lock(&p->lock);
    struct timespec next = after_ms(p->start, PROGRESS_DELAY_MS);
    while (!p->done) {
        if (pthread_cond_timedwait(&p->wake, &p->lock, &next) != ETIMEDOUT || p->done)
            continue;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double s = (double)(now.tv_sec - p->start.tv_sec) + (double)(now.tv_nsec - p->start.tv_nsec) / 1e9;
        char line[HELP_COLUMNS];
        int n = snprintf(line, sizeof line, "%s... %.1f s", p->what, s);
        n = n < (int)sizeof line ? n : (int)sizeof line - 1;
        fprintf(stderr, "\r%s%*s", line, p->shown > n ? p->shown - n : 0, "");
        p->shown = p->shown > n ? p->shown : n;
        next = after_ms(next, PROGRESS_PERIOD_MS);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts the status of the step that fmt names ("compiling %s") when stderr
 * is a terminal. */
__attribute__((format(printf, 2, 3)))
static void progress_start(Progress *p, const char *fmt, ...)
{
    *p = (Progress){.running = false};
    if (!isatty(STDERR_FILENO))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->what, sizeof p->what, fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->lock, NULL);
    p->running = pthread_create(&p->thread, NULL, progress_main, p) == 0;
    if (!p->running) { /* no status then; the step runs as it would */
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
    }
}

/* Ends the step: the status, if shown, is wiped before anything else is
 * printed. */
static void progress_stop(Progress *p)
{
    if (!p->running)
        return;
    pthread_mutex_lock(&p->lock);
    p->done = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    if (p->shown)
        fprintf(stderr, "\r%*s\r", p->shown, "");
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    p->running = false;
}

/* Reports failure s of a call on m (the model's diagnostics, else a line
 * naming `what`); returns EXIT_INPUT. */
static int report(const attn_model *m, attn_status s, const char *what)
{
    const char *errors = attn_model_errors(m);
    if (errors && *errors)
        print_message(errors);
    else
        fprintf(stderr, "attnc: %s: %s\n", what, status_text(s));
    return EXIT_INPUT;
}

/* Applies the --set options to m; returns 0 or EXIT_INPUT after reporting. */
static int apply_sets(attn_model *m, const Args *a)
{
    for (int i = 0; i < a->nsets; i++) {
        const char *eq = strchr(a->sets[i], '=');
        char *name = strndup(a->sets[i], (size_t)(eq - a->sets[i]));
        if (!name) {
            fputs("attnc: out of memory\n", stderr);
            return EXIT_INPUT;
        }
        attn_status s = attn_model_set(m, name, eq + 1);
        free(name);
        if (s != ATTN_OK)
            return report(m, s, a->sets[i]);
    }
    return 0;
}

/* Creates m, applies -I and --set, loads the model and binds the weights;
 * *load_ms gets the time of load and bind. Returns 0 or EXIT_INPUT. */
static int open_model(const Args *a, attn_model **out, double *load_ms)
{
    attn_model *m = *out = attn_model_new();
    if (!m) {
        fputs("attnc: out of memory\n", stderr);
        return EXIT_INPUT;
    }
    for (int i = 0; i < a->nincludes; i++) {
        attn_status s = attn_model_add_import_path(m, a->includes[i]);
        if (s != ATTN_OK)
            return report(m, s, a->includes[i]);
    }
    int rc = apply_sets(m, a);
    if (rc)
        return rc;
    attn_status ps = attn_model_set_passes(m, &a->passes);
    if (ps != ATTN_OK)
        return report(m, ps, "--passes");
    Progress progress;
    progress_start(&progress, "loading %s", a->model);
    double t0 = now_ms();
    const char *failed = a->model;
    attn_status s = attn_model_load(m, a->model);
    if (s == ATTN_OK && a->map_weights) {
        failed = a->map_weights;
        s = attn_model_map_weights(m, a->map_weights);
    }
    if (s == ATTN_OK && a->weights) {
        failed = a->weights;
        s = attn_model_bind_weights(m, a->weights);
    }
    *load_ms = now_ms() - t0;
    progress_stop(&progress);
    return s == ATTN_OK ? 0 : report(m, s, failed);
}

/* Prints the entry point names of m, comma-separated. */
static void print_entries(FILE *f, const attn_model *m)
{
    for (int i = 0; i < attn_model_entry_count(m); i++)
        fprintf(f, "%s%s", i ? ", " : "", attn_model_entry_name(m, i));
}

static int has_entry(const attn_model *m, const char *name)
{
    for (int i = 0; i < attn_model_entry_count(m); i++)
        if (!strcmp(attn_model_entry_name(m, i), name))
            return 1;
    return 0;
}

/* Sets *entry to --entry, else "forward" if m has it, else m's only entry
 * point. Returns 0, EXIT_INPUT or EXIT_USAGE after reporting. */
static int pick_entry(const Args *a, const attn_model *m, const char **entry)
{
    int n = attn_model_entry_count(m);
    if (a->entry)
        *entry = a->entry;
    else if (has_entry(m, "forward"))
        *entry = "forward";
    else
        *entry = n == 1 ? attn_model_entry_name(m, 0) : NULL;
    if (*entry && has_entry(m, *entry))
        return 0;
    if (n == 0) {
        fprintf(stderr, "error: %s: the model has no entry points\n", a->model);
        return EXIT_INPUT;
    }
    if (!*entry) {
        fprintf(stderr, "attnc %s: %s has %d entry points; choose one with --entry (", a->cmd->name,
                a->model, n);
        print_entries(stderr, m);
        fputs(")\n", stderr);
        print_synopsis(stderr, a->cmd);
        return EXIT_USAGE;
    }
    fprintf(stderr, "error: %s: no entry point named '%s' (entry points: ", a->model, *entry);
    print_entries(stderr, m);
    fputs(")\n", stderr);
    return EXIT_INPUT;
}

/* attn_model_compile with a status line on a terminal while it runs. */
static attn_status compile_entry(attn_model *m, const char *entry, const attn_compile_options *opt,
                                 attn_program **p)
{
    Progress progress;
    progress_start(&progress, "compiling %s", entry);
    attn_status s = attn_model_compile(m, entry, opt, p);
    progress_stop(&progress);
    return s;
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_check(const Args *a, attn_model *m)
{
    int n = attn_model_entry_count(m);
    if (a->entry && !has_entry(m, a->entry)) {
        fprintf(stderr, "error: %s: no entry point named '%s' (entry points: ", a->model, a->entry);
        print_entries(stderr, m);
        fputs(")\n", stderr);
        return EXIT_INPUT;
    }
    /* with weights, compile each entry (or the one named): that checks every
       weight an entry uses for presence, shape and dtype */
    for (int i = 0; a->weights && i < n; i++) {
        const char *name = attn_model_entry_name(m, i);
        if (a->entry && strcmp(a->entry, name) != 0)
            continue;
        attn_program *p = NULL;
        attn_status s = compile_entry(m, name, NULL, &p);
        attn_program_free(p);
        if (s != ATTN_OK)
            return report(m, s, name);
    }
    printf("%s: ok (%d entry point%s%s", a->model, n, n == 1 ? "" : "s", n ? ": " : "");
    print_entries(stdout, m);
    printf(")\n");
    return EXIT_OK;
}

static int cmd_weights(const Args *a, attn_model *m)
{
    for (int i = 0; i < attn_model_weight_count(m); i++) {
        attn_tensor_info w;
        attn_status s = attn_model_weight_info(m, i, &w);
        if (s != ATTN_OK)
            return report(m, s, a->model);
        printf("%s %s [", w.name, attn_dtype_name(w.dtype));
        for (int d = 0; d < w.rank; d++)
            printf("%s%s", d ? ", " : "", w.dims[d]);
        printf("]\n");
    }
    return EXIT_OK;
}

static int cmd_graph(const Args *a, attn_model *m)
{
    const char *entry;
    int rc = pick_entry(a, m, &entry);
    if (rc)
        return rc;
    char *text = NULL;
    attn_status s = attn_model_graph_text(m, entry, (a->dot ? 1 : 0) | (a->fused ? a->no_fuse ? 6 : 2 : 0), &text);
    if (s != ATTN_OK)
        return report(m, s, entry);
    if (a->passes.dump_after) {
        fputs(attn_model_pass_dumps(m, entry), stdout);
        fputs("# final graph\n", stdout);
    }
    size_t len = strlen(text);
    fputs(text, stdout);
    if (len && text[len - 1] != '\n')
        putchar('\n');
    attn_string_free(text);
    return EXIT_OK;
}

static int compare_doubles(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Prints "run: median ..." for the n run times ms (sorted in place). */
static void print_run_times(double *ms, int n)
{
    qsort(ms, (size_t)n, sizeof *ms, compare_doubles);
    double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    fprintf(stderr, "run: median %.3f ms over %d run%s (min %.3f, max %.3f)\n", median, n,
            n == 1 ? "" : "s", ms[0], ms[n - 1]);
}

/* Runs p a->repeat times on in, keeping the last outputs in *out and *nout and
 * each run's wall time in ms. Returns 0 or EXIT_INPUT after reporting. */
static int run_repeatedly(const Args *a, const attn_program *p, const attn_tensor *in, int nin,
                          attn_tensor **out, int *nout, double *ms)
{
    for (int r = 0; r < a->repeat; r++) {
        attn_tensors_free(*out, *nout);
        *out = NULL;
        *nout = 0;
        char *error = NULL;
        double t0 = now_ms();
        attn_status s = attn_program_run(p, in, nin, out, nout, &error);
        ms[r] = now_ms() - t0;
        if (s != ATTN_OK) {
            if (error && *error)
                print_message(error);
            else
                fprintf(stderr, "attnc: %s: run failed: %s\n", a->model, status_text(s));
            attn_string_free(error);
            return EXIT_INPUT;
        }
    }
    return 0;
}

/* Writes the outputs to --outputs, or prints them. */
static int emit_outputs(const Args *a, const attn_tensor *out, int nout)
{
    if (a->outputs)
        return cli_write_tensors(a->outputs, out, nout, stderr) ? EXIT_INPUT : EXIT_OK;
    for (int i = 0; i < nout; i++)
        cli_print_tensor(stdout, &out[i]);
    return EXIT_OK;
}

/* Prints a byte count as "N bytes (X.Y KiB)", in KiB, MiB or GiB. */
static void print_bytes(int64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB"};
    double v = (double)bytes / 1024.0;
    int u = 0;
    for (; u < 2 && v >= 1024.0; u++)
        v /= 1024.0;
    fprintf(stderr, "%" PRId64 " bytes (%.1f %s)", bytes, v, units[u]);
}

/* Prints what a run of p on in does (--stats). */
static void print_stats(const Args *a, const attn_program *p, const attn_tensor *in, int nin)
{
    if (a->backend != ATTN_BACKEND_JIT) {
        fputs("stats: --stats needs --backend jit\n", stderr);
        return;
    }
    attn_run_stats st;
    char *error = NULL;
    if (attn_program_run_stats(p, in, nin, &st, &error) != ATTN_OK) {
        fprintf(stderr, "stats: %s\n", error ? error : "out of memory");
        attn_string_free(error);
        return;
    }
    fprintf(stderr, "stats: kernels %" PRId64 ", kernel calls %" PRId64 "\n", st.kernels, st.kernel_calls);
    fprintf(stderr, "stats: workspace ");
    print_bytes(st.workspace_bytes);
    fprintf(stderr, ", without reuse ");
    print_bytes(st.workspace_bytes_no_reuse);
    fprintf(stderr, "\nstats: bytes moved ");
    print_bytes(st.bytes_moved);
    fprintf(stderr, "\nstats: weights held: f32 ");
    print_bytes(st.weight_bytes[ATTN_WEIGHTS_F32]);
    fprintf(stderr, ", bf16 ");
    print_bytes(st.weight_bytes[ATTN_WEIGHTS_BF16]);
    fprintf(stderr, ", int8 ");
    print_bytes(st.weight_bytes[ATTN_WEIGHTS_INT8]);
    fprintf(stderr, "\nstats: model weights: copies ");
    print_bytes(st.model_weight_bytes[0]);
    fprintf(stderr, ", read in place from the file ");
    print_bytes(st.model_weight_bytes[1]);
    fprintf(stderr, "\n");
}

static int by_time(const void *x, const void *y) {
    double a = ((const attn_kernel_profile *)x)->ms, b = ((const attn_kernel_profile *)y)->ms;
    return (a < b) - (a > b);
}

/* Prints the time per kernel over all runs, longest first (--profile). */
static void print_profile(const Args *a, const attn_program *p)
{
    const attn_kernel_profile *t;
    int n;
    if (a->backend != ATTN_BACKEND_JIT || attn_program_profile(p, &t, &n) != ATTN_OK) {
        fputs("profile: --profile needs --backend jit\n", stderr);
        return;
    }
    attn_kernel_profile *rows = malloc(sizeof *rows * (size_t)(n ? n : 1));
    if (!rows)
        return;
    memcpy(rows, t, sizeof *rows * (size_t)n);
    qsort(rows, (size_t)n, sizeof *rows, by_time);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += rows[i].ms;
    fprintf(stderr, "profile: %d kernels, %.3f ms in kernels over %d run%s\n", n, total, a->repeat, a->repeat == 1 ? "" : "s");
    fprintf(stderr, "%10s %6s %10s %10s  %s\n", "ms/run", "%", "calls/run", "us/call", "kernel");
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%10.3f %6.1f %10.0f %10.2f  %s\n", rows[i].ms / a->repeat, total > 0 ? 100 * rows[i].ms / total : 0,
                (double)rows[i].calls / a->repeat, rows[i].calls ? 1e3 * rows[i].ms / (double)rows[i].calls : 0, rows[i].name);
    free(rows);
}

/* The process's resident set size now in KiB (VmRSS of /proc/self/status), or -1. */
static long current_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* Prints the process's resident set size once the program was compiled (its
 * weights bound and packed) and its peak (Linux counts ru_maxrss in KiB). */
static void print_rss(long compiled_kib)
{
    struct rusage ru;
    if (compiled_kib >= 0)
        fprintf(stderr, "RSS after compiling: %.1f MiB\n", (double)compiled_kib / 1024.0);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        fprintf(stderr, "peak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
}

/* Loads the inputs, runs p and emits the outputs; compiled_kib: the RSS after compiling. */
static int run_program(const Args *a, const char *entry, const attn_program *p, long compiled_kib)
{
    attn_tensor *in = NULL, *out = NULL;
    int nin = attn_program_input_count(p), nout = 0;
    if (cli_load_inputs(a->inputs, p, entry, stderr, &in))
        return EXIT_INPUT;
    double *ms = malloc((size_t)a->repeat * sizeof *ms);
    int rc = ms ? run_repeatedly(a, p, in, nin, &out, &nout, ms) : EXIT_INPUT;
    if (!ms)
        fputs("attnc: out of memory\n", stderr);
    if (!rc)
        rc = emit_outputs(a, out, nout);
    if (!rc && a->time)
        print_run_times(ms, a->repeat);
    if (!rc && a->stats)
        print_stats(a, p, in, nin);
    if (!rc && a->profile)
        print_profile(a, p);
    if (!rc && (a->time || a->stats))
        print_rss(compiled_kib);
    free(ms);
    attn_tensors_free(out, nout);
    cli_free_inputs(in, nin);
    return rc;
}

static int cmd_run(const Args *a, attn_model *m, double load_ms)
{
    const char *entry;
    int rc = pick_entry(a, m, &entry);
    if (rc)
        return rc;
    attn_compile_options opt = {.backend = a->backend, .threads = a->threads,
                                .mcpu = a->mcpu, .mattr = a->mattr, .no_fuse = a->no_fuse, .profile = a->profile,
                                .emit_llvm = a->emit_llvm, .emit_asm = a->emit_asm,
                                .extra_outputs = a->extras, .nextra_outputs = a->nextras,
                                .weights_dtype = a->weights_dtype};
    attn_program *p = NULL;
    double t0 = now_ms();
    attn_status s = compile_entry(m, entry, &opt, &p);
    double compile_ms = now_ms() - t0;
    long compiled_kib = current_rss_kib();
    if (s != ATTN_OK) {
        char what[256];
        snprintf(what, sizeof what, "cannot compile entry %s", entry);
        return report(m, s, what);
    }
    if (a->time)
        fprintf(stderr, "load: %.3f ms, compile: %.3f ms\n", load_ms, compile_ms);
    rc = run_program(a, entry, p, compiled_kib);
    attn_program_free(p);
    return rc;
}

/* ---- compile ------------------------------------------------------------ */

/* The default output name: the model's base name without ".attn". */
static char *default_out(const char *model)
{
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".attn"))
        n -= 5;
    return strndup(base, n);
}

static int cmd_compile(const Args *a, attn_model *m)
{
    if (a->entry && !has_entry(m, a->entry)) {
        fprintf(stderr, "error: %s: no entry point named '%s' (entry points: ", a->model, a->entry);
        print_entries(stderr, m);
        fputs(")\n", stderr);
        return EXIT_INPUT;
    }
    if (attn_model_entry_count(m) == 0) {
        fprintf(stderr, "error: %s: the model has no entry points\n", a->model);
        return EXIT_INPUT;
    }
    char *out = a->out ? strdup(a->out) : default_out(a->model);
    if (!out || !*out) {
        fprintf(stderr, "%s\n", out ? "error: -o needs a non-empty NAME" : "attnc: out of memory");
        free(out);
        return EXIT_INPUT;
    }
    attn_aot_options opt = {.mcpu = a->mcpu, .mattr = a->mattr, .no_fuse = a->no_fuse, .emit_llvm = a->emit_llvm,
                            .emit_asm = a->emit_asm, .weights_dtype = a->weights_dtype};
    Progress progress;
    progress_start(&progress, "compiling %s ahead of time", a->model);
    attn_status s = attn_model_compile_aot(m, a->entry, out, &opt);
    progress_stop(&progress);
    int rc = EXIT_OK;
    if (s != ATTN_OK) {
        char what[256];
        snprintf(what, sizeof what, "cannot compile %s", a->model);
        rc = report(m, s, what);
    } else {
        printf("%s: wrote %s.o and %s.h (", a->model, out, out);
        if (a->entry)
            printf("%s", a->entry);
        else
            print_entries(stdout, m);
        printf(")\n");
    }
    free(out);
    return rc;
}

/* ---- heatmap ------------------------------------------------------------- */

/* Reads the lines of `path` (without their "\n" or "\r\n") into *out, *n of
 * them; returns 0, or EXIT_INPUT after reporting. */
static int read_labels(const char *path, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "error: %s: %s\n", path, strerror(errno));
        return EXIT_INPUT;
    }
    char *line = NULL, **labels = NULL;
    size_t cap = 0;
    int count = 0, room = 0, rc = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (count == room) {
            room = room ? 2 * room : 64;
            char **more = room < INT_MAX / 2 ? realloc(labels, (size_t)room * sizeof *labels) : NULL;
            if (!more) {
                rc = EXIT_INPUT;
                break;
            }
            labels = more;
        }
        if (!(labels[count] = strdup(line))) {
            rc = EXIT_INPUT;
            break;
        }
        count++;
    }
    if (rc)
        fprintf(stderr, "attnc: out of memory\n");
    else if (ferror(f)) {
        fprintf(stderr, "error: %s: %s\n", path, strerror(errno));
        rc = EXIT_INPUT;
    }
    free(line);
    fclose(f);
    *out = labels;
    *n = count;
    return rc;
}

static void free_labels(char **labels, int n)
{
    for (int i = 0; i < n; i++)
        free(labels[i]);
    free(labels);
}

/* Reads the labels of `path` (none when NULL) and checks that there are
 * `want`, the `what` ("rows") of the tensor. Returns 0 or EXIT_INPUT. */
static int load_labels(const Args *a, const char *path, int want, const char *what,
                       char ***labels, int *n)
{
    *labels = NULL;
    *n = 0;
    if (!path)
        return 0;
    int rc = read_labels(path, labels, n);
    if (!rc && *n != want) {
        fprintf(stderr, "error: %s: %d label%s for the %d %s of '%s'\n", path, *n,
                *n == 1 ? "" : "s", want, what, a->tensor);
        rc = EXIT_INPUT;
    }
    return rc;
}

static int cmd_heatmap(const Args *a)
{
    float *v = NULL;
    int rows, cols, nr = 0, nc = 0;
    char **rl = NULL, **cl = NULL;
    if (cli_load_matrix(a->model, a->tensor, a->indexes, a->nindexes, stderr, &v, &rows, &cols))
        return EXIT_INPUT;
    int rc = load_labels(a, a->rows, rows, "rows", &rl, &nr);
    if (!rc)
        rc = load_labels(a, a->cols, cols, "columns", &cl, &nc);
    if (!rc) {
        const char *no_color = getenv("NO_COLOR");
        int color = isatty(STDOUT_FILENO) && !(no_color && *no_color);
        printf("%s", a->tensor);
        for (int i = 0; i < a->nindexes; i++)
            printf("%s%ld", i ? ", " : "[", a->indexes[i]);
        printf("%s: [%d, %d]\n", a->nindexes ? "]" : "", rows, cols);
        char *err = NULL;
        if (attn_heatmap_text(stdout, v, rows, cols, (const char *const *)rl, (const char *const *)cl, color,
                              &err) != ATTN_OK) {
            fprintf(stderr, "%s\n", err ? err : attn_status_string(ATTN_ERR_NOMEM));
            rc = EXIT_INPUT;
        }
        attn_string_free(err);
    }
    char *err = NULL;
    if (!rc && a->svg &&
        attn_heatmap_svg(a->svg, v, rows, cols, (const char *const *)rl, (const char *const *)cl, &err) != ATTN_OK) {
        fprintf(stderr, "%s\n", err ? err : attn_status_string(ATTN_ERR_NOMEM));
        rc = EXIT_INPUT;
    }
    attn_string_free(err);
    free_labels(rl, nr);
    free_labels(cl, nc);
    free(v);
    return rc;
}

/* ---- import --------------------------------------------------------------- */

/* NAME of -o, else the model's path without its .onnx. */
static char *import_base(const Args *a)
{
    if (a->out)
        return strdup(a->out);
    size_t n = strlen(a->model);
    if (n > 5 && !strcmp(a->model + n - 5, ".onnx"))
        n -= 5;
    char *base = malloc(n + 1);
    if (base) {
        memcpy(base, a->model, n);
        base[n] = 0;
    }
    return base;
}

static int cmd_import(const Args *a)
{
    attn_onnx_import *r = NULL;
    char *err = NULL;
    attn_status s = attn_import_onnx(a->model, NULL, 0, &r, &err);
    if (s != ATTN_OK) {
        fprintf(stderr, "%s\n", err ? err : "error: out of memory");
        attn_string_free(err);
        return s == ATTN_ERR_USAGE ? EXIT_USAGE : EXIT_INPUT;
    }
    int rc = EXIT_INPUT;
    char *base = import_base(a);
    size_t n = base ? strlen(base) + 16 : 0;
    char *src_path = base ? malloc(n) : NULL, *st_path = base ? malloc(n) : NULL;
    if (!src_path || !st_path) {
        fputs("attnc: out of memory\n", stderr);
        goto done;
    }
    snprintf(src_path, n, "%s.attn", base);
    snprintf(st_path, n, "%s.safetensors", base);
    FILE *f = fopen(src_path, "w");
    int werr = !f || fputs(r->source, f) < 0;
    if ((f && fclose(f)) || werr) {
        fprintf(stderr, "error: cannot write %s: %s\n", src_path, strerror(errno));
        goto done;
    }
    if (cli_write_tensors(st_path, r->weights, r->nweights, stderr))
        goto done;
    printf("%s: %d inputs, %d outputs, %d weights -> %s, %s\n", a->model, r->ninputs, r->noutputs, r->nweights,
           src_path, st_path);
    rc = EXIT_OK;
done:
    free(src_path);
    free(st_path);
    free(base);
    attn_onnx_import_free(r);
    return rc;
}

/* Runs the parsed command. */
static int dispatch(const Args *a)
{
    if (a->cmd->id == CMD_HEATMAP)
        return cmd_heatmap(a);
    if (a->cmd->id == CMD_IMPORT)
        return cmd_import(a);
    attn_model *m = NULL;
    double load_ms = 0;
    int rc = open_model(a, &m, &load_ms);
    if (!rc) {
        switch (a->cmd->id) {
        case CMD_CHECK: rc = cmd_check(a, m); break;
        case CMD_GRAPH: rc = cmd_graph(a, m); break;
        case CMD_RUN: rc = cmd_run(a, m, load_ms); break;
        case CMD_COMPILE: rc = cmd_compile(a, m); break;
        case CMD_WEIGHTS: rc = cmd_weights(a, m); break;
        case CMD_IMPORT:
        case CMD_HEATMAP: break; /* handled above */
        }
    }
    attn_model_free(m);
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

/* Reports name, which is no command, with the nearest one when one is near;
 * returns EXIT_USAGE. */
static int unknown_command(const char *name)
{
    const char *near = nearest_command(name);
    if (near)
        return usage_error(NULL, "unknown command '%s'; did you mean '%s'?", name, near);
    return usage_error(NULL, "unknown command '%s'", name);
}

/* attnc help [COMMAND] */
static int help(int argc, char **argv)
{
    if (argc == 0) {
        print_top_help();
        return EXIT_OK;
    }
    if (argc > 1)
        return usage_error(NULL, "help takes at most one command, got '%s'", argv[1]);
    const Command *c = find_command(argv[0]);
    if (!c)
        return unknown_command(argv[0]);
    print_command_help(c);
    return EXIT_OK;
}

/* Parses and runs command c with arguments argv[1..argc) (argv[0] names it). */
static int command(const Command *c, int argc, char **argv)
{
    Args a = {.cmd = c, .repeat = 1, .backend = ATTN_BACKEND_JIT};
    const char *env_backend = getenv("ATTN_BACKEND");
    if (env_backend && strcmp(env_backend, "interp") == 0)
        a.backend = ATTN_BACKEND_INTERP;
    a.sets = calloc((size_t)argc + 1, sizeof *a.sets);
    a.includes = calloc((size_t)argc + 1, sizeof *a.includes);
    a.extras = calloc((size_t)argc + 1, sizeof *a.extras);
    a.indexes = calloc((size_t)argc + 1, sizeof *a.indexes);
    int rc;
    if (!a.sets || !a.includes || !a.extras || !a.indexes) {
        fputs("attnc: out of memory\n", stderr);
        rc = EXIT_INPUT;
    } else if ((rc = parse_args(&a, argc, argv)) == 0) {
        if (a.seen & BIT(OPT_HELP))
            print_command_help(c);
        else
            rc = dispatch(&a);
    }
    free(a.sets);
    free(a.includes);
    free(a.extras);
    free(a.indexes);
    return rc;
}

/* Whether `name`, not a command, is the model of `attnc MODEL.attn`: an .attn
 * path or an existing file. */
static int is_model_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".attn")) || access(name, F_OK) == 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error(NULL, "missing command");
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        return help(0, NULL);
    if (!strcmp(name, "--version")) {
        printf("attnc: %s\n", attn_version());
        return EXIT_OK;
    }
    if (!strcmp(name, "help"))
        return help(argc - 2, argv + 2);
    const Command *c = find_command(name);
    if (!c && name[0] != '-' && is_model_file(name)) /* attnc MODEL.attn: compile */
        return command(find_command("compile"), argc, argv);
    if (!c)
        return unknown_command(name);
    return command(c, argc - 1, argv + 1);
}
