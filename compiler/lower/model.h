/*
 * model.h — a loaded model: its sources, declarations, hyperparameters,
 * weights and the graphs of its entry points. The public attn_model wraps one.
 */
#ifndef ATTN_MODEL_H
#define ATTN_MODEL_H

#include "ast.h"
#include "ir.h"

/* Kind of value a hyperparameter holds. */
typedef enum HyperKind { HK_INT, HK_FLOAT, HK_BOOL, HK_ENUM } HyperKind;

typedef struct Hyper {
    const char *name;    /* as declared */
    const Ast *decl;     /* its D_HYPER */
    HyperKind kind;      /* declared type */
    bool set;            /* has a value (default, --set or solved from weights) */
    bool from_weights;   /* the value was solved from a weight's shape */
    bool from_default;   /* the value is the declared default (weights may overrule it) */
    bool decides_keys;   /* a lowering read it in a `for` bound, an `if` condition, a scope
                            or a key around a param: its value changes the declared keys */
    int64_t i;           /* HK_INT, HK_BOOL (0/1), HK_ENUM (member index) */
    double f;            /* HK_FLOAT */
} Hyper;

/* A weight some entry point declares with `param`. */
typedef struct ParamDecl {
    const char *key;     /* full state_dict key */
    IrType type;         /* declared dtype and shape */
    SrcLoc loc;          /* the param statement */
} ParamDecl;

/* A weight of the bound file or image. Its data is read in place from the
 * mapping when the file stores it as attn reads it (aligned F32), and is
 * otherwise converted to the dtype attn reads it as only once something wants
 * it, so a file's unexpected or mismatched tensors cost nothing, and a BF16
 * weight a program only reads packed is widened only while it is packed
 * (model_weight_release); a BF16 embedding table a JIT program reads only by
 * gathers is not widened at all (model_weight_bf16). A tensor bound by the caller
 * (attn_model_bind_tensor) is used as it is. */
typedef struct Weight {
    const char *key;     /* full key */
    attn_tensor t;       /* dtype and shape; data: the mapping's (in_place), owned, NULL until
                            wanted (file), or the caller's (src NULL) */
    const struct StTensor *src; /* the tensor in the bound file, or NULL for a caller's tensor */
    bool in_place;       /* t.data points into the file's mapping (not owned) */
    size_t pages;        /* an owned copy in pages of its own: their length (munmap), else 0 (free) */
    bool pinned;         /* something reads t.data for the model's lifetime (an interpreter
                            program, an unpacked JIT param): never released */
    bool bf16_read;      /* a JIT program reads the file's BF16 bits where they lie (an
                            embedding table, model_weight_bf16): its pages are never released */
    /* when a weight map (weight_map.h) renamed it: */
    const char *file_key;   /* the key in the file, else NULL */
    const char *renamed_by; /* "rule map.txt:3", "rules map.txt:1, map.txt:3" */
    const char *origin;     /* " (from 'W_w.weight' by rule map.txt:3)", for messages; else NULL */
    SrcLoc rule;            /* the last rule that renamed it */
} Weight;

/* " (from 'KEY' by rule FILE:LINE)" when a weight map renamed w, else "". */
static inline const char *weight_origin(const Weight *w) { return w->origin ? w->origin : ""; }

/* What messages call weights that come from no file. */
#define MODEL_WEIGHTS_MEMORY "<memory>"   /* a safetensors image in memory */
#define MODEL_WEIGHTS_TENSORS "<tensors>" /* tensors bound one by one */

/* A hyperparameter value given before the model was loaded. */
typedef struct Setting {
    const char *name, *value;
} Setting;

/* How the graph of an entry was lowered: a final lowering asked for again
 * (the same entry compiled again) is reused, so recompiling never grows the model. */
typedef struct LoweredAs {
    bool final;          /* a final lowering, without errors */
    bool weights_later;  /* ... for ahead-of-time compilation */
    const char **exports; int nexports; /* ... with these extra outputs */
} LoweredAs;

typedef struct Model {
    Arena arena;         /* AST, graphs, strings */
    Diag diag;           /* diagnostics of the last call */
    SrcFile *files;      /* every source read (for carets) */
    const char **import_dirs; int nimport_dirs; /* extra import search path */
    Setting *settings; int nsettings;           /* --set values */
    const char *path;    /* the main file */
    /* declarations, from the main file and its imports */
    const Ast **defs; int ndefs;                /* D_DEF */
    const Ast **lets; int nlets;                /* D_LET */
    const Ast **entries; int nentries;          /* D_ENTRY (main file only) */
    Hyper *hypers; int nhypers;
    /* weights */
    const char *weights_path;                   /* bound file, or NULL */
    struct StFile *weights_file;                /* ... open while the model lives */
    Weight *weights; int nweights;
    ParamDecl *params; int nparams;             /* union over entries */
    struct WeightMap *weight_map;               /* renames the bound weights' keys, or NULL */
    /* graphs of the entries, after the last successful lowering */
    IrEntry *ir; int nir;
    LoweredAs *ir_as;                           /* how each of ir was lowered */
    bool hypers_solved;                         /* hyperparameters were solved from the bound weights */
    const char *const *export_names; int nexports; /* extra outputs of the entry being compiled (the
                                                   caller's; copied when a lowering keeps them) */
    bool loaded;         /* load succeeded */
    bool weights_later;  /* a final lowering may leave params unbound (ahead-of-time
                            compilation: the program loads its weights when it runs) */
    PassOptions passes;  /* how lowerings run the optimisation passes */
} Model;

/* Reads, parses and imports `path` (or `src` text) and records declarations. */
int model_load(Model *m, const char *path, const char *src);
/* Lowers every entry point (or only entry `only`) to a graph. `final` demands
 * every hyperparameter set and every weight bound (compile); otherwise unset
 * hyperparameters become symbols and params without weights stay unbound
 * (check, bind: a weights file may hold only the weights of the entry that
 * will be compiled). */
int model_lower(Model *m, bool final, const char *only);
/* Reads the weight map at `path` (or the rules `text` named `path`) that
 * renames the keys of the weights bound afterwards (weight_map.h). */
int model_map_weights(Model *m, const char *path, const char *text);
/* Binds a safetensors file; checks it against the params the entries declare. */
int model_bind_weights(Model *m, const char *path);
/* The same for a safetensors image data[0..len) (borrowed while the model lives). */
int model_bind_weights_memory(Model *m, const void *data, size_t len);
/* Binds n tensors (keys and data borrowed while the model lives) in place of
 * any bound before, and checks them as a file's. */
int model_bind_tensors(Model *m, const attn_tensor *ts, int n);
const Weight *model_weight(const Model *m, const char *key);
/* Gives w data when it has none yet: read in place, or converted; false with
 * a message in err. */
bool model_weight_load(Model *m, const Weight *w, char *err, size_t errlen);
/* Whether the lowering loads w now: when reading it costs nothing (in place)
 * or converting it can fail (its message belongs at the param). F16 and BF16
 * widen without fail and wait for a reader (model_weight_load). */
bool model_weight_load_early(const Weight *w);
/* model_weight_load, and w is kept for the model's lifetime. */
bool model_weight_pin(Model *m, const Weight *w, char *err, size_t errlen);
/* Tells the model that no reader of w's data remains but pinned ones: an
 * unpinned converted copy is freed (converted again if wanted again), the
 * pages of an unpinned weight read in place are handed back (st_release). */
void model_weight_release(Model *m, const Weight *w);
/* The BF16 bits the file stores for w, where they lie in the mapping (read-only,
 * valid while the model lives), or NULL when it stores none there (another
 * dtype, a caller's tensor, data not 2-byte aligned, no elements). `keep`: a
 * program reads them for its lifetime (counted read in place). */
const void *model_weight_bf16(Model *m, const Weight *w, bool keep);
/* The weight whose tensor is `value` (an IrNode's), or NULL. */
const Weight *model_weight_of(const Model *m, const attn_tensor *value);
/* Bytes of weight data the model holds: copies it made (converted or
 * unaligned) and pinned weights read in place from the file (BF16 bits
 * programs read as they are among them). */
void model_weight_memory(const Model *m, int64_t *copies, int64_t *in_place);
const IrEntry *model_entry(const Model *m, const char *name);
void model_free(Model *m);

#endif
