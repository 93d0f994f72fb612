/*
 * api.c — the public C API of attn.h over the compiler's Model and the
 * interpreter. A program keeps its model's core alive (reference count), so
 * it stays valid after attn_model_free; runs share nothing mutable, so one
 * program may run on several threads at once.
 */
#include "fuse.h"
#include "aot.h"
#include "attn.h"
#include "interp.h"
#include "ir_signature.h"
#include "jit_program.h"
#include "model.h"
#include "text.h"
#include "onnx_api.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct attn_model {
    Model *core;           /* the shared model */
    /* texts handed out by the introspection calls, one per hyperparameter and
       per declared weight, each replaced when asked for again */
    char **hyper_text; int nhyper_text;
    char **weight_text; int nweight_text;
    /* tensors bound one by one (names copied, data the caller's), handed to
       the model at the next compile when `tensors_changed` */
    attn_tensor *tensors; int ntensors, captensors;
    bool tensors_changed;
    bool compiled;         /* a program was compiled: the weights are in use */
};

/* The part of a model that programs share, freed with its last user. */
typedef struct Core {
    Model m;               /* must be first: a Model* is a Core* */
    atomic_int refs;       /* the model handle plus live programs */
} Core;

struct attn_program {
    Core *core;            /* keeps the graph and weights alive */
    const IrEntry *entry;  /* the entry point it runs */
    attn_backend backend;  /* which engine */
    JitProgram *jit;       /* native code (JIT backend) */
    Arena arena;           /* the signature's texts */
    attn_sig_tensor *ins, *outs; /* the signature, for attn_program_input_info */
};

static void core_release(Core *c) {
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        model_free(&c->m);
        free(c->m.settings);
        free(c->m.import_dirs);
        free(c);
    }
}

attn_model *attn_model_new(void) {
    attn_model *h = calloc(1, sizeof *h);
    Core *c = calloc(1, sizeof *c);
    if (!h || !c) {
        free(h);
        free(c);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->m.passes = pass_options_default();
    h->core = &c->m;
    return h;
}

static void free_texts(char **texts, int n) {
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
}

void attn_model_free(attn_model *m) {
    if (!m)
        return;
    core_release((Core *)m->core);
    free_texts(m->hyper_text, m->nhyper_text);
    free_texts(m->weight_text, m->nweight_text);
    for (int i = 0; i < m->ntensors; i++)
        free((char *)m->tensors[i].name);
    free(m->tensors);
    free(m);
}

/* The status of a failed call whose errors are in m->diag: a failed
 * allocation in the model's arena is out of memory even where no check on the
 * way noticed it. */
static attn_status failure(Model *m) {
    if (m->arena.failed)
        diag_nomem(&m->diag, NULL);
    static const attn_status status[] = {
        [DIAG_INPUT] = ATTN_ERR_INPUT, [DIAG_USAGE] = ATTN_ERR_USAGE, [DIAG_IO] = ATTN_ERR_IO,
        [DIAG_NOMEM] = ATTN_ERR_NOMEM, [DIAG_INTERNAL] = ATTN_ERR_INTERNAL,
    };
    return status[m->diag.kind];
}

/* The status of a compiler phase that returned rc (0 = success). */
static attn_status phase_status(Model *m, int rc) {
    return rc == 0 && !m->arena.failed ? ATTN_OK : failure(m);
}

/* A failed allocation of an API call before the compiler ran. */
static attn_status nomem(Model *m, const char *what) {
    diag_clear(&m->diag);
    diag_nomem(&m->diag, what);
    return ATTN_ERR_NOMEM;
}

__attribute__((format(printf, 2, 3))) static attn_status usage(Model *m, const char *fmt, ...) {
    diag_clear(&m->diag);
    va_list ap;
    va_start(ap, fmt);
    char *msg = attn_vformat(fmt, ap);
    va_end(ap);
    diag_fail(&m->diag, DIAG_USAGE, (SrcLoc){0}, "%s", msg ? msg : "API misuse");
    free(msg);
    return ATTN_ERR_USAGE;
}

attn_status attn_model_add_import_path(attn_model *h, const char *dir) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!dir)
        return usage(m, "attn_model_add_import_path: dir is NULL");
    const char **d = realloc(m->import_dirs, sizeof(char *) * (size_t)(m->nimport_dirs + 1));
    if (!d)
        return nomem(m, "for an import path");
    m->import_dirs = d;
    if (!(d[m->nimport_dirs] = arena_strdup(&m->arena, dir)))
        return nomem(m, "for an import path");
    m->nimport_dirs++;
    return ATTN_OK;
}

attn_status attn_model_set(attn_model *h, const char *name, const char *value) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!name || !value)
        return usage(m, "attn_model_set: name or value is NULL");
    if (m->loaded)
        return usage(m, "attn_model_set: hyperparameters are set before attn_model_load");
    Setting *s = realloc(m->settings, sizeof(Setting) * (size_t)(m->nsettings + 1));
    if (!s)
        return nomem(m, "for a hyperparameter setting");
    m->settings = s;
    const char *v = arena_strdup(&m->arena, value);
    if (!v)
        return nomem(m, "for a hyperparameter setting");
    for (int i = 0; i < m->nsettings; i++)
        if (strcmp(s[i].name, name) == 0) {
            s[i].value = v;
            return ATTN_OK;
        }
    const char *n = arena_strdup(&m->arena, name);
    if (!n)
        return nomem(m, "for a hyperparameter setting");
    s[m->nsettings++] = (Setting){n, v};
    return ATTN_OK;
}

static attn_status load(attn_model *h, const char *path, const char *src) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!path)
        return usage(m, "attn_model_load: path is NULL");
    if (m->loaded || m->path)
        return usage(m, "attn_model_load: a model is loaded once; make a new attn_model");
    diag_clear(&m->diag);
    return phase_status(m, model_load(m, path, src));
}

attn_status attn_model_load(attn_model *m, const char *path) { return load(m, path, NULL); }

attn_status attn_model_load_source(attn_model *m, const char *name, const char *src) {
    if (m && !src)
        return usage(m->core, "attn_model_load_source: src is NULL");
    return load(m, name, src);
}

attn_status attn_model_load_onnx(attn_model *h, const char *path) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!path)
        return usage(m, "attn_model_load_onnx: path is NULL");
    if (m->loaded || m->path)
        return usage(m, "attn_model_load_onnx: a model is loaded once; make a new attn_model");
    char *src, *weights, *err = NULL;
    attn_status s = onnx_import_for_model(path, &src, &weights, &err);
    if (s != ATTN_OK) {
        diag_clear(&m->diag);
        diag_take(&m->diag, err);
        return s;
    }
    char *name = attn_format("%s.attn", path); /* the text attnc import writes */
    s = name ? load(h, name, src) : nomem(m, "for the model's name");
    free(name);
    free(src);
    if (s == ATTN_OK && weights)
        s = attn_model_bind_weights(h, weights);
    if (weights) /* mapped by the bind; the name is no longer needed */
        unlink(weights);
    free(weights);
    return s;
}

/* Refuses a second source of weights: one file, one image, or tensors. */
static attn_status check_weights_unbound(attn_model *h, const char *fn) {
    Model *m = h->core;
    if (!m->loaded)
        return usage(m, "%s: load the model first", fn);
    if (h->ntensors)
        return usage(m, "%s: tensors are bound already; a model takes its weights from one file, one image "
                        "or tensors bound one by one", fn);
    if (m->weights_path) /* compiled programs may use the bound weights */
        return usage(m, "%s: weights are bound once; make a new attn_model", fn);
    return ATTN_OK;
}

static attn_status map_weights(attn_model *h, const char *fn, const char *path, const char *rules) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!path)
        return usage(m, "%s: %s is NULL", fn, rules ? "name" : "path");
    if (!m->loaded)
        return usage(m, "%s: load the model first", fn);
    if (m->weight_map)
        return usage(m, "%s: a model takes one weight map", fn);
    if (m->weights_path || h->ntensors)
        return usage(m, "%s: give the weight map before binding weights", fn);
    diag_clear(&m->diag);
    return phase_status(m, model_map_weights(m, path, rules));
}

attn_status attn_model_map_weights(attn_model *h, const char *path) {
    return map_weights(h, "attn_model_map_weights", path, NULL);
}

attn_status attn_model_map_weights_source(attn_model *h, const char *name, const char *rules) {
    if (h && !rules)
        return usage(h->core, "attn_model_map_weights_source: rules is NULL");
    return map_weights(h, "attn_model_map_weights_source", name, rules);
}

attn_status attn_model_bind_weights(attn_model *h, const char *path) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!path)
        return usage(m, "attn_model_bind_weights: path is NULL");
    attn_status st = check_weights_unbound(h, "attn_model_bind_weights");
    if (st != ATTN_OK)
        return st;
    diag_clear(&m->diag);
    return phase_status(m, model_bind_weights(m, path));
}

attn_status attn_model_bind_weights_memory(attn_model *h, const void *data, size_t len) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!data)
        return usage(m, "attn_model_bind_weights_memory: data is NULL");
    attn_status st = check_weights_unbound(h, "attn_model_bind_weights_memory");
    if (st != ATTN_OK)
        return st;
    diag_clear(&m->diag);
    return phase_status(m, model_bind_weights_memory(m, data, len));
}

/* Checks a caller's tensor as attn_program_run checks inputs' headers. */
static attn_status check_tensor(Model *m, const attn_tensor *t) {
    if (!t->name || !*t->name)
        return usage(m, "attn_model_bind_tensor: the tensor has no name (its name is the weight's key)");
    if ((unsigned)t->dtype > ATTN_BOOL || t->rank < 0 || t->rank > ATTN_MAX_RANK)
        return usage(m, "attn_model_bind_tensor: tensor '%s' has an unknown dtype or a rank outside 0..%d", t->name,
                     ATTN_MAX_RANK);
    int64_t n = attn_tensor_numel(t);
    if (n < 0 || n > (INT64_C(1) << ATTN_LIMIT_TENSOR_BYTES_SHIFT) / (int64_t)attn_dtype_size(t->dtype)) {
        diag_clear(&m->diag);
        diag_error(&m->diag, (SrcLoc){0}, "tensor '%s' has a negative dim or more than 2^%d bytes", t->name,
                   ATTN_LIMIT_TENSOR_BYTES_SHIFT);
        return ATTN_ERR_INPUT;
    }
    if (n > 0 && !t->data)
        return usage(m, "attn_model_bind_tensor: tensor '%s' has elements but its data is NULL", t->name);
    return ATTN_OK;
}

attn_status attn_model_bind_tensor(attn_model *h, const attn_tensor *t) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!t)
        return usage(m, "attn_model_bind_tensor: tensor is NULL");
    if (!m->loaded)
        return usage(m, "attn_model_bind_tensor: load the model first");
    if (m->weights_path && !h->ntensors)
        return usage(m, "attn_model_bind_tensor: weights are bound from %s already; a model takes its weights "
                        "from one file, one image or tensors bound one by one", m->weights_path);
    if (h->compiled)
        return usage(m, "attn_model_bind_tensor: bind every tensor before the first attn_model_compile that succeeds");
    attn_status st = check_tensor(m, t);
    if (st != ATTN_OK)
        return st;
    for (int i = 0; i < h->ntensors; i++)
        if (strcmp(h->tensors[i].name, t->name) == 0)
            return usage(m, "attn_model_bind_tensor: tensor '%s' is bound already", t->name);
    if (h->ntensors == h->captensors) {
        int cap = h->captensors ? 2 * h->captensors : 16;
        attn_tensor *ts = realloc(h->tensors, sizeof *ts * (size_t)cap);
        if (!ts)
            return nomem(m, "for a bound tensor");
        h->tensors = ts;
        h->captensors = cap;
    }
    attn_tensor copy = *t;
    if (!(copy.name = strdup(t->name)))
        return nomem(m, "for a bound tensor");
    h->tensors[h->ntensors++] = copy;
    h->tensors_changed = true;
    diag_clear(&m->diag);
    return ATTN_OK;
}

/* Hands the tensors bound since the last call to the model, which checks them. */
static attn_status sync_tensors(attn_model *h) {
    if (!h->tensors_changed)
        return ATTN_OK;
    attn_status st = phase_status(h->core, model_bind_tensors(h->core, h->tensors, h->ntensors));
    h->tensors_changed = st != ATTN_OK; /* checked again (and reported) at the next call */
    return st;
}

const char *attn_model_errors(const attn_model *m) { return m ? diag_text(&m->core->diag) : "attn: model is NULL\n"; }

int attn_model_entry_count(const attn_model *m) { return m ? m->core->nentries : 0; }

const char *attn_model_entry_name(const attn_model *m, int i) {
    return m && i >= 0 && i < m->core->nentries ? m->core->entries[i]->str : NULL;
}

attn_status attn_model_set_passes(attn_model *h, const PassOptions *opt) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!opt)
        return usage(m, "attn_model_set_passes: opt is NULL");
    if (m->loaded)
        return usage(m, "attn_model_set_passes: passes are chosen before attn_model_load");
    m->passes = *opt;
    m->passes.verify |= pass_options_default().verify;
    return ATTN_OK;
}

const char *attn_model_pass_dumps(const attn_model *h, const char *entry) {
    const IrEntry *e = h && entry ? model_entry(h->core, entry) : NULL;
    return e && e->dumps ? e->dumps : "";
}

static const IrEntry *find_entry(Model *m, const char *entry) {
    const IrEntry *e = entry ? model_entry(m, entry) : NULL;
    if (!e) {
        StrBuf names = {0};
        for (int i = 0; i < m->nentries; i++)
            sb_printf(&names, "%s%s", i ? ", " : "", m->entries[i]->str);
        diag_error(&m->diag, (SrcLoc){0}, "%s has no entry point named '%s' (entry points: %s)", m->path,
                   entry ? entry : "(null)", sb_str(&names));
        sb_free(&names);
    }
    return e;
}

attn_status attn_model_graph_text(attn_model *h, const char *entry, int format, char **out) {
    if (!h || !out)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    *out = NULL;
    if (!m->loaded)
        return usage(m, "attn_model_graph_text: load the model first");
    diag_clear(&m->diag);
    if (sync_tensors(h) != ATTN_OK)
        return failure(m);
    if (m->arena.failed) /* its graphs are not whole */
        return failure(m);
    const IrEntry *e = find_entry(m, entry);
    if (!e)
        return ATTN_ERR_USAGE;
    if (!e->graph || !e->graph->outputs) {
        diag_error(&m->diag, e->loc, "entry '%s' has errors; run check", e->name);
        return ATTN_ERR_INPUT;
    }
    StrBuf b = {0};
    if (format & 2) { /* the kernel graph */
        Arena ar = {0};
        const FusePlan *plan = fuse_plan_build(&ar, e->graph, format & 4 ? 0 : 1);
        if (plan && (format & 1))
            ir_print_dot_kernels(e, plan, &b);
        else if (plan)
            fuse_print(plan, e, &b);
        arena_free(&ar);
        if (!plan) {
            sb_free(&b);
            return ATTN_ERR_NOMEM;
        }
    } else
        (format & 1 ? ir_print_dot : ir_print)(e, &b);
    *out = b.s ? b.s : calloc(1, 1);
    return *out ? ATTN_OK : ATTN_ERR_NOMEM;
}

/* Refuses an entry whose native code would take too long to generate. */
static bool within_codegen_budget(Model *m, const IrEntry *e) {
    long cost = ir_codegen_cost(e->graph);
    if (cost <= ATTN_BUDGET_CODEGEN)
        return true;
    diag_error(&m->diag, e->loc, "entry '%s' is too large to compile to native code: %ld nodes and scans, "
               "ATTN_BUDGET_CODEGEN is %d (the interpreter backend runs it)", e->name, cost, ATTN_BUDGET_CODEGEN);
    return false;
}

/* Whether a weights dtype is one this build cannot store (the message says why). */
static bool weights_dtype_refused(Model *m, const char *fn, attn_weights_dtype dt) {
    switch (dt) {
    case ATTN_WEIGHTS_F32:
    case ATTN_WEIGHTS_BF16:
    case ATTN_WEIGHTS_INT8:
        return false;
    }
    usage(m, "%s: unknown weights dtype %d (ATTN_WEIGHTS_F32, _BF16 or _INT8)", fn, (int)dt);
    return true;
}

/* The JIT's hooks into the model's lazily read weights (JitWeights). */
static int jit_load_weight(void *ctx, const IrNode *param, bool keep, char **err) {
    Model *m = ctx;
    const Weight *w = model_weight_of(m, param->value);
    char msg[512];
    if (!w || (keep ? model_weight_pin : model_weight_load)(m, w, msg, sizeof msg))
        return 0;
    /* "PATH: KEY: out of memory ...", as st_open's messages: the kind follows a ": " */
    size_t len = strlen(m->weights_path) + strlen(msg) + sizeof ": ";
    if ((*err = malloc(len)))
        snprintf(*err, len, "%s: %s", m->weights_path, msg);
    return -1;
}

static void jit_release_weight(void *ctx, const IrNode *param) {
    Model *m = ctx;
    const Weight *w = model_weight_of(m, param->value);
    if (w)
        model_weight_release(m, w);
}

static const void *jit_bf16_weight(void *ctx, const IrNode *param, bool keep) {
    Model *m = ctx;
    const Weight *w = model_weight_of(m, param->value);
    return w ? model_weight_bf16(m, w, keep) : NULL;
}

/* The interpreter reads every weight of the entry as it is, for its lifetime. */
static bool pin_entry_weights(Model *m, const IrEntry *e) {
    const IrGraph *g = e->graph;
    for (int i = 0; i < g->n; i++) {
        const Weight *w = g->nodes[i].op == OP_PARAM ? model_weight_of(m, g->nodes[i].value) : NULL;
        char msg[512];
        if (w && !model_weight_pin(m, w, msg, sizeof msg)) {
            diag_fail(&m->diag, attn_message_status(msg) == ATTN_ERR_NOMEM ? DIAG_NOMEM : DIAG_INPUT, g->nodes[i].loc,
                      "%s: %s", m->weights_path, msg);
            return false;
        }
    }
    return true;
}

attn_status attn_model_compile(attn_model *h, const char *entry, const attn_compile_options *opt, attn_program **out) {
    if (!h || !out)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    *out = NULL;
    if (!m->loaded)
        return usage(m, "attn_model_compile: load the model first");
    diag_clear(&m->diag);
    if (sync_tensors(h) != ATTN_OK)
        return failure(m);
    if (m->arena.failed) /* its graphs are not whole */
        return failure(m);
    attn_backend backend = opt ? opt->backend : ATTN_BACKEND_JIT;
    if (backend != ATTN_BACKEND_JIT && backend != ATTN_BACKEND_INTERP)
        return usage(m, "attn_model_compile: unknown backend");
    if (opt && opt->threads < 0)
        return usage(m, "attn_model_compile: threads is negative");
    if (opt && opt->pool && opt->threads != 0)
        return usage(m, "attn_model_compile: give a pool or a thread count, not both");
    if (opt && weights_dtype_refused(m, "attn_model_compile", opt->weights_dtype))
        return ATTN_ERR_USAGE;
    if (!find_entry(m, entry))
        return ATTN_ERR_USAGE;
    if (opt && (opt->nextra_outputs < 0 || (opt->nextra_outputs > 0 && !opt->extra_outputs)))
        return usage(m, "attn_model_compile: extra_outputs is NULL or nextra_outputs is negative");
    int nextra = opt ? opt->nextra_outputs : 0;
    for (int i = 0; i < nextra; i++)
        if (!opt->extra_outputs[i])
            return usage(m, "attn_model_compile: an extra output name is NULL");
    m->export_names = nextra ? opt->extra_outputs : NULL; /* copied by the lowering that keeps them */
    m->nexports = nextra;
    int lowered = model_lower(m, true, entry);
    m->export_names = NULL;
    m->nexports = 0;
    if (phase_status(m, lowered) != ATTN_OK)
        return failure(m);
    if (backend == ATTN_BACKEND_JIT && !within_codegen_budget(m, model_entry(m, entry)))
        return failure(m);
    attn_program *p = calloc(1, sizeof *p);
    if (!p)
        return nomem(m, "for a program");
    if (backend == ATTN_BACKEND_INTERP && !pin_entry_weights(m, model_entry(m, entry))) {
        free(p);
        return failure(m);
    }
    if (backend == ATTN_BACKEND_JIT) {
        JitWeights hooks = {m, jit_load_weight, jit_release_weight, jit_bf16_weight};
        JitOptions jo = {.weights = &hooks};
        if (opt)
            jo = (JitOptions){opt->mcpu, opt->mattr, opt->threads, opt->pool, opt->emit_llvm, opt->emit_asm,
                              opt->no_fuse != 0, opt->profile != 0, opt->weights_dtype, &hooks};
        char *err = NULL;
        p->jit = jit_program_new(model_entry(m, entry), &jo, &err);
        if (!p->jit) {
            diag_take(&m->diag, err);
            free(p);
            return failure(m);
        }
    }
    if (ir_signature(model_entry(m, entry), &p->arena, &p->ins, &p->outs) != 0) {
        jit_program_free(p->jit);
        arena_free(&p->arena);
        free(p);
        return nomem(m, "for a program's signature");
    }
    Core *c = (Core *)m;
    atomic_fetch_add(&c->refs, 1);
    p->core = c;
    p->entry = model_entry(m, entry);
    p->backend = backend;
    h->compiled = true;
    *out = p;
    return ATTN_OK;
}

attn_status attn_model_compile_aot(attn_model *h, const char *entry, const char *out, const attn_aot_options *opt) {
    if (!h)
        return ATTN_ERR_USAGE;
    Model *m = h->core;
    if (!out || !*out)
        return usage(m, "attn_model_compile_aot: out is NULL or empty");
    if (!m->loaded)
        return usage(m, "attn_model_compile_aot: load the model first");
    diag_clear(&m->diag);
    if (sync_tensors(h) != ATTN_OK)
        return failure(m);
    if (m->arena.failed) /* its graphs are not whole */
        return failure(m);
    if (entry && !find_entry(m, entry))
        return ATTN_ERR_USAGE;
    if (opt && weights_dtype_refused(m, "attn_model_compile_aot", opt->weights_dtype))
        return ATTN_ERR_USAGE;
    if (m->nentries == 0) {
        diag_error(&m->diag, (SrcLoc){0}, "%s has no entry points to compile", m->path);
        return ATTN_ERR_INPUT;
    }
    m->weights_later = true;
    int lowered = model_lower(m, true, entry);
    m->weights_later = false;
    if (phase_status(m, lowered) != ATTN_OK)
        return failure(m);
    const IrEntry **es = calloc((size_t)m->nentries, sizeof *es);
    if (!es)
        return nomem(m, NULL);
    int n = 0;
    for (int i = 0; i < m->nentries; i++)
        if (!entry || strcmp(m->entries[i]->str, entry) == 0)
            es[n++] = model_entry(m, m->entries[i]->str);
    for (int i = 0; i < n; i++)
        if (!within_codegen_budget(m, es[i])) {
            free(es);
            return ATTN_ERR_INPUT;
        }
    AotOptions ao = {.out = out, .model_path = m->path, .all_entries = entry == NULL};
    if (opt)
        ao.mcpu = opt->mcpu, ao.mattr = opt->mattr, ao.emit_llvm = opt->emit_llvm, ao.emit_asm = opt->emit_asm, ao.no_fuse = opt->no_fuse != 0,
        ao.weights_dtype = opt->weights_dtype;
    char *err = NULL;
    int rc = aot_compile(es, n, &ao, &err);
    free(es);
    if (rc == 0)
        return ATTN_OK;
    diag_take(&m->diag, err);
    return failure(m);
}

static const IrNode *input_node(const attn_program *p, int i) {
    const IrGraph *g = p->entry->graph;
    for (int k = 0; k < g->n; k++)
        if (g->nodes[k].op == OP_INPUT && g->nodes[k].index == i)
            return &g->nodes[k];
    return NULL;
}

int attn_program_input_count(const attn_program *p) { return p ? p->entry->graph->ninputs : 0; }
int attn_program_output_count(const attn_program *p) { return p ? p->entry->graph->nout : 0; }

const char *attn_program_input_name(const attn_program *p, int i) {
    const IrNode *n = p && i >= 0 ? input_node(p, i) : NULL;
    return n ? n->name : NULL;
}

const char *attn_program_output_name(const attn_program *p, int i) {
    return p && i >= 0 && i < p->entry->graph->nout ? p->entry->graph->output_names[i] : NULL;
}

/* Fills *out from a type and its dims' texts; shape -1 where a dim is no number. */
static void tensor_info(const char *name, const IrType *t, const char *type_text, const char *const *dims,
                        attn_tensor_info *out) {
    *out = (attn_tensor_info){.name = name, .dtype = t->dtype, .rank = t->rank, .type_text = type_text};
    for (int d = 0; d < t->rank; d++) {
        if (!dim_is_const(t->dims[d], &out->shape[d]))
            out->shape[d] = -1;
        out->dims[d] = dims[d];
    }
}

static attn_status sig_info(const attn_program *p, bool input, int i, attn_tensor_info *out) {
    if (!p || !out || i < 0 || i >= (input ? attn_program_input_count(p) : attn_program_output_count(p)))
        return ATTN_ERR_USAGE;
    const IrGraph *g = p->entry->graph;
    const IrNode *n = input ? input_node(p, i) : &g->nodes[g->outputs[i]];
    const attn_sig_tensor *s = input ? &p->ins[i] : &p->outs[i];
    tensor_info(s->name, &n->type, s->type_text, s->dim_text, out);
    return ATTN_OK;
}

attn_status attn_program_input_info(const attn_program *p, int i, attn_tensor_info *out) {
    return sig_info(p, true, i, out);
}

attn_status attn_program_output_info(const attn_program *p, int i, attn_tensor_info *out) {
    return sig_info(p, false, i, out);
}

/* Makes room for n texts in *texts (keeping those there). */
static bool texts_reserve(char ***texts, int *have, int n) {
    if (n <= *have)
        return true;
    char **t = realloc(*texts, sizeof(char *) * (size_t)n);
    if (!t)
        return false;
    memset(t + *have, 0, sizeof(char *) * (size_t)(n - *have));
    *texts = t;
    *have = n;
    return true;
}

int attn_model_hyper_count(const attn_model *m) { return m ? m->core->nhypers : 0; }

attn_status attn_model_hyper_info(attn_model *h, int i, attn_hyper_info *out) {
    if (!h || !out || i < 0 || i >= h->core->nhypers)
        return ATTN_ERR_USAGE;
    const Hyper *y = &h->core->hypers[i];
    if (!texts_reserve(&h->hyper_text, &h->nhyper_text, h->core->nhypers))
        return ATTN_ERR_NOMEM;
    static const attn_hyper_type types[] = {[HK_INT] = ATTN_HYPER_INT, [HK_FLOAT] = ATTN_HYPER_FLOAT,
                                            [HK_BOOL] = ATTN_HYPER_BOOL, [HK_ENUM] = ATTN_HYPER_ENUM};
    *out = (attn_hyper_info){.name = y->name, .type = types[y->kind], .set = y->set, .from_weights = y->from_weights};
    free(h->hyper_text[i]);
    h->hyper_text[i] = NULL;
    if (!y->set)
        return ATTN_OK;
    out->int_value = y->i;
    out->float_value = y->kind == HK_FLOAT ? y->f : (double)y->i;
    char *text = NULL;
    switch (y->kind) {
    case HK_INT: text = attn_format("%lld", (long long)y->i); break;
    case HK_FLOAT: text = attn_format("%.9g", y->f); break;
    case HK_BOOL: text = attn_format("%s", y->i ? "true" : "false"); break;
    case HK_ENUM: text = attn_format("%s", y->decl->type->list.items[y->i]->str); break;
    }
    if (!text)
        return ATTN_ERR_NOMEM;
    out->value = h->hyper_text[i] = text;
    return ATTN_OK;
}

int attn_model_weight_count(const attn_model *m) { return m ? m->core->nparams : 0; }

attn_status attn_model_weight_info(attn_model *h, int i, attn_tensor_info *out) {
    if (!h || !out || i < 0 || i >= h->core->nparams)
        return ATTN_ERR_USAGE;
    const ParamDecl *w = &h->core->params[i];
    if (!texts_reserve(&h->weight_text, &h->nweight_text, h->core->nparams))
        return ATTN_ERR_NOMEM;
    /* one block: the type's text, then each dim's, NUL-terminated */
    char type[256], dims[ATTN_MAX_RANK][128];
    size_t bytes = 0;
    ir_type_format(&w->type, type, sizeof type);
    bytes += strlen(type) + 1;
    for (int d = 0; d < w->type.rank; d++) {
        dim_format(w->type.dims[d], dims[d], sizeof dims[d]);
        bytes += strlen(dims[d]) + 1;
    }
    char *block = malloc(bytes), *at = block;
    if (!block)
        return ATTN_ERR_NOMEM;
    free(h->weight_text[i]);
    h->weight_text[i] = block;
    const char *dim_text[ATTN_MAX_RANK];
    at = stpcpy(at, type) + 1;
    for (int d = 0; d < w->type.rank; d++) {
        dim_text[d] = at;
        at = stpcpy(at, dims[d]) + 1;
    }
    tensor_info(w->key, &w->type, block, dim_text, out);
    return ATTN_OK;
}

static char *dup_msg(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

attn_status attn_program_run(const attn_program *p, const attn_tensor *inputs, int ninputs, attn_tensor **outputs,
                             int *noutputs, char **error) {
    if (error)
        *error = NULL;
    if (outputs)
        *outputs = NULL;
    if (noutputs)
        *noutputs = 0;
    if (!p || !outputs || !noutputs || ninputs < 0 || (ninputs > 0 && !inputs)) {
        if (error)
            *error = dup_msg("error: attn_program_run: NULL program, inputs or outputs");
        return ATTN_ERR_USAGE;
    }
    if (p->jit)
        return jit_program_run(p->jit, inputs, ninputs, outputs, noutputs, error);
    char *err = NULL;
    attn_status st = interp_run(p->entry, inputs, ninputs, outputs, noutputs, &err) == 0 ? ATTN_OK
                                                                                         : attn_message_status(err);
    if (error)
        *error = err;
    else
        free(err);
    return st;
}

/* The interpreter's run into the caller's tensors: its own outputs, checked
 * and copied. */
static attn_status interp_run_into(const attn_program *p, const attn_tensor *inputs, int ninputs,
                                   attn_tensor *outputs, int noutputs, char **error) {
    attn_tensor *got = NULL;
    int ngot = 0;
    attn_status st = attn_program_run(p, inputs, ninputs, &got, &ngot, error);
    if (st != ATTN_OK)
        return st;
    st = attn_check_outputs(p->entry->name, got, ngot, outputs, noutputs, error);
    for (int i = 0; st == ATTN_OK && i < ngot; i++) {
        size_t bytes = (size_t)attn_tensor_numel(&got[i]) * attn_dtype_size(got[i].dtype);
        if (bytes)
            memcpy(outputs[i].data, got[i].data, bytes);
    }
    attn_tensors_free(got, ngot);
    return st;
}

attn_status attn_program_run_into(const attn_program *p, const attn_tensor *inputs, int ninputs,
                                  attn_tensor *outputs, int noutputs, char **error) {
    if (error)
        *error = NULL;
    if (!p || ninputs < 0 || (ninputs > 0 && !inputs) || noutputs < 0 || (noutputs > 0 && !outputs))
        return attn_error_out(error, ATTN_ERR_USAGE, "error: attn_program_run_into: NULL program, inputs or outputs");
    if (p->jit)
        return jit_program_run_into(p->jit, inputs, ninputs, outputs, noutputs, error);
    return interp_run_into(p, inputs, ninputs, outputs, noutputs, error);
}

attn_status attn_program_output_shapes(const attn_program *p, const attn_tensor *inputs, int ninputs,
                                       attn_tensor *outputs, int noutputs, char **error) {
    if (error)
        *error = NULL;
    if (!p || ninputs < 0 || (ninputs > 0 && !inputs) || noutputs < 0 || (noutputs > 0 && !outputs))
        return attn_error_out(error, ATTN_ERR_USAGE,
                              "error: attn_program_output_shapes: NULL program, inputs or outputs");
    if (!p->jit)
        return attn_error_out(error, ATTN_ERR_USAGE, "error: output shapes before a run need the JIT backend");
    return jit_program_output_shapes(p->jit, inputs, ninputs, outputs, noutputs, error);
}

attn_status attn_program_run_stats(const attn_program *p, const attn_tensor *inputs, int ninputs,
                                   attn_run_stats *stats, char **error) {
    if (error)
        *error = NULL;
    if (!p || !stats || ninputs < 0 || (ninputs > 0 && !inputs)) {
        if (error)
            *error = dup_msg("error: attn_program_run_stats: NULL program, inputs or stats");
        return ATTN_ERR_USAGE;
    }
    if (!p->jit) {
        if (error)
            *error = dup_msg("error: run statistics need the JIT backend");
        return ATTN_ERR_USAGE;
    }
    attn_status st = jit_program_stats(p->jit, inputs, ninputs, stats, error);
    if (st == ATTN_OK)
        model_weight_memory(&p->core->m, &stats->model_weight_bytes[0], &stats->model_weight_bytes[1]);
    return st;
}

attn_status attn_program_profile(const attn_program *p, const attn_kernel_profile **out, int *n) {
    if (!p || !out || !n || !p->jit)
        return ATTN_ERR_USAGE;
    *out = jit_program_profile(p->jit, n);
    return *out ? ATTN_OK : ATTN_ERR_USAGE;
}

attn_pool *attn_program_pool(const attn_program *p) { return p && p->jit ? jit_program_pool(p->jit) : NULL; }

void attn_program_free(attn_program *p) {
    if (!p)
        return;
    jit_program_free(p->jit);
    core_release(p->core);
    arena_free(&p->arena);
    free(p);
}
