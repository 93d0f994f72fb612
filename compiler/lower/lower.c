/*
 * lower.c — lowering every entry point of a model to a graph (see lower.h),
 * solving unset hyperparameters from weight shapes, and checking the bound
 * weights against the parameters the entries declare.
 */
#include "lower.h"
#include "weight_map.h"
#include "attn_limits.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void eval_lets(Lower *L) {
    for (int i = 0; i < L->m->nlets; i++) {
        const Ast *d = L->m->lets[i];
        frame_set(L, d->str, lower_expr(L, d->a));
    }
}

/* Lowers entry e into out; false when it has errors. */
static bool lower_entry(Lower *L, const Ast *e, IrEntry *out) {
    Frame globals = {0}, frame = {NULL, &globals};
    out->name = e->str;
    out->loc = e->loc;
    out->graph = L->top = L->g = ir_graph_new(L->ar, NULL);
    L->frame = &globals;
    eval_lets(L);
    L->frame = &frame;
    L->entry = out;
    L->nsyms = L->capsyms = 0;
    L->syms = NULL;
    L->prefix = NULL;
    L->returned = false;
    L->ret = (Val){.k = V_NONE};
    bool ok = true;
    if (e->list.n > ATTN_LIMIT_INPUTS) { /* both runners bind inputs into arrays of this size */
        diag_error(L->diag, e->list.items[ATTN_LIMIT_INPUTS]->loc,
                   "entry '%s' has %d inputs, more than the limit of %d (ATTN_LIMIT_INPUTS)", e->str, e->list.n,
                   ATTN_LIMIT_INPUTS);
        return false;
    }
    for (int i = 0; i < e->list.n; i++) {
        const Ast *a = e->list.items[i];
        IrType t;
        for (int j = 0; j < i; j++)
            if (strcmp(e->list.items[j]->str, a->str) == 0) {
                diag_error(L->diag, a->loc, "entry '%s' has two inputs named '%s'", e->str, a->str);
                ok = false;
            }
        if (!a->type) {
            diag_error(L->diag, a->loc, "entry input '%s' needs a type, such as f32[B, T, 64]", a->str);
            ok = false;
            continue;
        }
        int syms_before = L->nsyms;
        if (!lower_type(L, a->type, &t, true, NULL)) {
            ok = false;
            continue;
        }
        if (L->nsyms > ATTN_LIMIT_CALL_SYMS && syms_before <= ATTN_LIMIT_CALL_SYMS) {
            diag_error(L->diag, a->type->loc, "entry '%s' has more than %d per-call dims (ATTN_LIMIT_CALL_SYMS)", e->str,
                       ATTN_LIMIT_CALL_SYMS);
            ok = false;
        }
        int id = ir_add(L->ar, L->g, OP_INPUT, NULL, 0, a->loc);
        L->g->nodes[id].type = t;
        L->g->nodes[id].name = a->str;
        L->g->nodes[id].index = L->g->ninputs++;
        frame_set(L, a->str, tensor_val(L, id));
    }
    int nout = e->list2.n;
    StrBuf outputs = {0};
    for (int i = 0; i < nout; i++) {
        const Ast *o = e->list2.items[i];
        sb_printf(&outputs, "%s%s", i ? ", " : "", o->str);
        for (int j = 0; j < i; j++)
            if (strcmp(e->list2.items[j]->str, o->str) == 0) {
                diag_error(L->diag, o->loc, "entry '%s' has two outputs named '%s'", e->str, o->str);
                ok = false;
            }
    }
    const char *output_list = arena_strdup(L->ar, sb_str(&outputs));
    sb_free(&outputs);
    if (!ok)
        return false;
    lower_block(L, &e->body);
    Val r = L->ret;
    if (r.k == V_ERR)
        return false;
    if (!L->returned) {
        diag_error(L->diag, e->loc, "entry '%s' has no return statement", e->str);
        return false;
    }
    Val *vals = r.k == V_TUPLE ? r.items : &r;
    int n = r.k == V_TUPLE ? r.n : 1;
    if (n != nout && nout == 1 &&
        report_whole_tuple(L, r, L->ret_loc, arena_printf(L->ar, "returned here as the one output of entry '%s'", e->str)))
        return false;
    if (n != nout) {
        diag_error(L->diag, L->ret_loc, "entry '%s' returns %d value%s, but declares %d output%s (%s)", e->str, n,
                   n == 1 ? "" : "s", nout, nout == 1 ? "" : "s", output_list);
        return false;
    }
    int outs[ATTN_LIMIT_OUTPUTS];
    const char **names = arena_alloc(L->ar, sizeof(char *) * (size_t)(nout + L->nexports + 1));
    if (!names)
        return false; /* out of memory: the arena says so */
    if (nout + L->nexports > ATTN_LIMIT_OUTPUTS) {
        diag_error(L->diag, e->loc, "entry '%s' has %d outputs, more than the limit of %d (ATTN_LIMIT_OUTPUTS)", e->str,
                   nout + L->nexports, ATTN_LIMIT_OUTPUTS);
        return false;
    }
    for (int i = 0; i < nout; i++) {
        const Ast *o = e->list2.items[i];
        names[i] = o->str;
        if (vals[i].k != V_TENSOR) {
            if (report_whole_tuple(L, vals[i], L->ret_loc, arena_printf(L->ar, "returned here as output '%s'", o->str)))
                return false;
            if (vals[i].k != V_ERR)
                diag_error(L->diag, L->ret_loc, "output '%s' must be a tensor, got %s", o->str, val_describe(L, vals[i]));
            return false;
        }
        if (o->type && !check_tensor_type(L, vals[i], o->type, arena_printf(L->ar, "output '%s'", o->str), o))
            return false;
        outs[i] = use(L, vals[i]);
    }
    for (int i = 0; i < L->nexports; i++) {
        if (L->exports[i].k != V_TENSOR) {
            diag_error(L->diag, e->loc, "entry '%s' assigns no tensor named '%s' (extra outputs name a variable, "
                       "or scope/variable for one assigned under a weight scope)", e->str, L->export_names[i]);
            return false;
        }
        names[nout] = L->export_names[i];
        outs[nout++] = L->exports[i].node;
    }
    ir_set_outputs(L->ar, L->g, outs, nout);
    L->g->output_names = names;
    out->nsyms = L->nsyms;
    out->sym_names = L->syms;
    return true;
}

/* Adds the params of one entry to the model's union. */
static void collect_params(Model *m, const Lower *L) {
    for (int i = 0; i < L->nparams; i++) {
        bool seen = false;
        for (int j = 0; j < m->nparams && !seen; j++)
            if ((seen = strcmp(m->params[j].key, L->params[i].key) == 0))
                m->params[j] = L->params[i]; /* the latest type: hyperparameters may have been solved since */
        if (seen)
            continue;
        ParamDecl *p = arena_alloc(&m->arena, sizeof(ParamDecl) * (size_t)(m->nparams + 1));
        if (!p)
            return;
        if (m->nparams)
            memcpy(p, m->params, sizeof(ParamDecl) * (size_t)m->nparams);
        p[m->nparams++] = L->params[i];
        m->params = p;
    }
}

/* Whether entry i's graph is a final lowering for the extra outputs now asked for. */
static bool lowered_already(const Model *m, int i) {
    const LoweredAs *as = m->ir_as ? &m->ir_as[i] : NULL;
    if (!as || !as->final || as->weights_later != m->weights_later || as->nexports != m->nexports)
        return false;
    for (int k = 0; k < m->nexports; k++)
        if (strcmp(as->exports[k], m->export_names[k]) != 0)
            return false;
    return true;
}

/* The extra outputs asked for, copied into the model (its graph keeps the names). */
static const char **copy_exports(Model *m) {
    const char **names = arena_alloc(&m->arena, sizeof(char *) * (size_t)(m->nexports + 1));
    for (int k = 0; names && k < m->nexports; k++)
        names[k] = arena_strdup(&m->arena, m->export_names[k]);
    return names;
}

/* One lowering of every entry (or only entry `only`, keeping the others'
 * graphs); returns the number of hyperparameters solved. */
static int lower_all(Model *m, bool final, bool solve, Diag *diag, const char *only) {
    LowerBudget budget = {0};
    IrEntry *ir = arena_alloc(&m->arena, sizeof(IrEntry) * (size_t)(m->nentries + 1));
    LoweredAs *as = arena_alloc(&m->arena, sizeof(LoweredAs) * (size_t)(m->nentries + 1));
    if (!ir || !as) {
        diag_error(diag, (SrcLoc){0}, "out of memory lowering %s", m->path);
        return 0;
    }
    int solved = 0;
    if (!only)
        m->nparams = 0;
    for (int i = 0; i < m->nentries; i++) {
        if (only && strcmp(m->entries[i]->str, only) != 0) {
            ir[i] = m->ir[i];
            as[i] = m->ir_as[i];
            continue;
        }
        Lower L = {.m = m, .ar = &m->arena, .diag = diag, .final = final, .solve = solve, .budget = &budget};
        if (only) { /* extra outputs apply to the entry being compiled */
            L.export_names = as[i].exports = copy_exports(m);
            L.nexports = as[i].nexports = m->nexports;
            L.exports = arena_alloc(&m->arena, sizeof(Val) * (size_t)(m->nexports + 1));
            if (!L.exports)
                break;
        }
        int before = diag->errors;
        bool ok = lower_entry(&L, m->entries[i], &ir[i]);
        if (!ok && diag->errors == before && !budget.over && !m->arena.failed) /* never fail silently */
            diag_error(diag, m->entries[i]->loc, "entry '%s' cannot be compiled, for a reason the compiler failed to report",
                       m->entries[i]->str);
        bool clean = ok && diag->errors == before;
        as[i].final = final && clean;
        as[i].weights_later = m->weights_later;
        if (ir[i].graph) {
            /* a graph with errors is dropped: not checked, not shown (nor one
               that only solves hyperparameters) */
            PassOptions po = {.skip = m->passes.skip, .dump_after = clean && !solve ? m->passes.dump_after : 0,
                              .verify = clean && m->passes.verify};
            if (!pass_run_all(&m->arena, &ir[i], &po, diag))
                as[i].final = false;
        }
        collect_params(m, &L);
        solved += L.solved;
    }
    m->ir = ir;
    m->ir_as = as;
    m->nir = m->nentries;
    return solved;
}

int model_lower(Model *m, bool final, const char *only) {
    int before = m->diag.errors;
    if (only && final)
        for (int i = 0; i < m->nir; i++)
            if (strcmp(m->ir[i].name, only) == 0 && lowered_already(m, i))
                return 0; /* compiled again: the graph is the same */
    /* hyperparameters solved from weights need another pass to take effect;
     * they stay solved (weights are bound once) */
    for (int round = 0; m->weights_path && !m->hypers_solved && round < 4; round++) {
        Diag scratch = {0};
        int solved = lower_all(m, false, true, &scratch, NULL);
        diag_free(&scratch);
        if (!solved)
            break;
    }
    m->hypers_solved = m->weights_path != NULL;
    lower_all(m, final, false, &m->diag, only);
    if (m->weights_path && !only && m->diag.errors == before)
        report_unexpected_weights(m);
    return m->diag.errors > before ? -1 : 0;
}

static attn_dtype weight_dtype(StDtype d) {
    switch (d) {
    case ST_F16: case ST_BF16: case ST_F32: case ST_F64: return ATTN_F32;
    case ST_BOOL: return ATTN_BOOL;
    default: return ATTN_I64;
    }
}

/* Frees w's converted copy. */
static void free_copy(Weight *w) {
    if (w->pages)
        munmap(w->t.data, w->pages);
    else
        free(w->t.data);
    w->t.data = NULL;
    w->pages = 0;
}

static void free_weights(Model *m) {
    for (int i = 0; i < m->nweights; i++)
        if (m->weights[i].src && !m->weights[i].in_place) /* converted from the file; a bound tensor's
                                                              data is the caller's */
            free_copy(&m->weights[i]);
    free(m->weights);
    st_close(m->weights_file);
    m->weights_file = NULL;
    m->weights = NULL;
    m->nweights = 0;
    m->weights_path = NULL;
}

bool model_weight_load(Model *m, const Weight *w, char *err, size_t errlen) {
    if (w->t.data || !w->src)
        return true;
    Weight *own = &m->weights[w - m->weights];
    const void *in_place = st_in_place(own->src, own->t.dtype);
    if (in_place) {
        own->t.data = (void *)in_place; /* read-only: nothing writes a param */
        own->in_place = true;
        return true;
    }
    if (st_convert_pages(own->src, own->t.dtype, &own->t.data, &own->pages, err, errlen) != 0)
        return false;
    if (!own->bf16_read) /* the copy is read from now on */
        st_release(m->weights_file, own->src->data, own->src->nbytes);
    return true;
}

const void *model_weight_bf16(Model *m, const Weight *w, bool keep) {
    if (!w->src || w->src->dtype != ST_BF16 || w->t.dtype != ATTN_F32 || !w->src->nbytes ||
        (uintptr_t)w->src->data % 2)
        return NULL;
    if (keep)
        m->weights[w - m->weights].bf16_read = true;
    return w->src->data;
}

bool model_weight_load_early(const Weight *w) {
    return !w->src || st_in_place(w->src, w->t.dtype) ||
           !(w->src->dtype == ST_F16 || w->src->dtype == ST_BF16 || w->src->dtype == ST_F32);
}

bool model_weight_pin(Model *m, const Weight *w, char *err, size_t errlen) {
    if (!model_weight_load(m, w, err, errlen))
        return false;
    m->weights[w - m->weights].pinned = true;
    return true;
}

static int64_t weight_data_bytes(const Weight *w) {
    return w->t.data ? attn_tensor_numel(&w->t) * (int64_t)attn_dtype_size(w->t.dtype) : 0;
}

void model_weight_release(Model *m, const Weight *w) {
    Weight *own = &m->weights[w - m->weights];
    if (own->pinned || !own->src || !own->t.data)
        return;
    if (own->in_place) {
        st_release(m->weights_file, own->t.data, (size_t)weight_data_bytes(own));
        return;
    }
    free_copy(own);
}

const Weight *model_weight_of(const Model *m, const attn_tensor *value) {
    for (int i = 0; i < m->nweights; i++)
        if (&m->weights[i].t == value)
            return &m->weights[i];
    return NULL;
}

void model_weight_memory(const Model *m, int64_t *copies, int64_t *in_place) {
    *copies = *in_place = 0;
    for (int i = 0; i < m->nweights; i++) {
        const Weight *w = &m->weights[i];
        if (w->src && !w->in_place)
            *copies += weight_data_bytes(w);
        else if (w->in_place && w->pinned)
            *in_place += weight_data_bytes(w);
        if (w->bf16_read)
            *in_place += (int64_t)w->src->nbytes;
    }
}

/* Records the tensors of an open file or image f (taking it) as the model's
 * weights, named `label` in messages; the lowering that checks them against
 * the params converts the wanted ones. */
static int bind_file(Model *m, StFile *f, const char *label) {
    int n = st_count(f);
    m->weights = calloc((size_t)(n ? n : 1), sizeof(Weight));
    if (!m->weights) {
        st_close(f);
        diag_nomem(&m->diag, "for the weights");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        Weight *w = &m->weights[m->nweights];
        w->key = arena_strdup(&m->arena, t->name);
        w->t.name = w->key;
        w->t.dtype = weight_dtype(t->dtype);
        w->t.rank = t->rank;
        memcpy(w->t.shape, t->shape, sizeof t->shape);
        if (!w->key) {
            diag_nomem(&m->diag, "binding weights");
            continue;
        }
        w->src = t;
        m->nweights++;
    }
    m->weights_file = f;
    m->weights_path = arena_strdup(&m->arena, label);
    if (m->diag.errors || m->arena.failed || weight_map_apply(m, m->weights, m->nweights))
        return -1;
    return model_lower(m, false, NULL);
}

int model_bind_weights(Model *m, const char *path) {
    char err[512];
    free_weights(m);
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        diag_message(&m->diag, err);
        return -1;
    }
    return bind_file(m, f, path);
}

int model_bind_weights_memory(Model *m, const void *data, size_t len) {
    char err[512];
    free_weights(m);
    StFile *f = st_open_memory(data, len, MODEL_WEIGHTS_MEMORY, err, sizeof err);
    if (!f) {
        diag_message(&m->diag, err);
        return -1;
    }
    return bind_file(m, f, MODEL_WEIGHTS_MEMORY);
}

int model_bind_tensors(Model *m, const attn_tensor *ts, int n) {
    free_weights(m);
    m->hypers_solved = false; /* solve again from the whole set */
    m->weights = calloc((size_t)(n ? n : 1), sizeof(Weight));
    if (!m->weights) {
        diag_nomem(&m->diag, "for the weights");
        return -1;
    }
    for (int i = 0; i < n; i++)
        m->weights[i] = (Weight){.key = ts[i].name, .t = ts[i]}; /* data borrowed: src stays NULL */
    m->nweights = n;
    m->weights_path = MODEL_WEIGHTS_TENSORS;
    if (weight_map_apply(m, m->weights, n))
        return -1;
    return model_lower(m, false, NULL);
}

void model_free(Model *m) {
    free_weights(m);
    weight_map_free(m);
    diag_free(&m->diag);
    arena_free(&m->arena);
}
