/*
 * lower_stmt.c — statements and function calls during lowering.
 *
 * Blocks run in order; `for` and `if` run at compile time (their bounds and
 * conditions must be known then) and share their function's variables, like
 * Python; `scope` extends the weight-name prefix; `param` declares a weight
 * and checks it against the bound file; calls to `def` functions are inlined
 * with a fresh frame whose argument types are checked and whose free dim
 * names are bound from the arguments.
 */
#include "lower.h"

#include <stdio.h>
#include <string.h>

void frame_set(Lower *L, const char *name, Val v) {
    for (Binding *b = L->frame->vars; b; b = b->next)
        if (strcmp(b->name, name) == 0) {
            b->v = v;
            return;
        }
    Binding *b = arena_alloc(L->ar, sizeof *b);
    if (!b)
        return; /* out of memory: the arena says so */
    *b = (Binding){name, v, L->frame->vars};
    L->frame->vars = b;
}

/* Records an assignment that an extra output asks for: "var" matches any
 * variable of that name, "scope/var" one assigned under that weight scope. */
static void note_export(Lower *L, const char *name, Val v) {
    if (v.k != V_TENSOR || v.g != L->top)
        return;
    size_t plen = L->prefix ? strlen(L->prefix) - 1 : 0; /* without the trailing dot */
    for (int i = 0; i < L->nexports; i++) {
        const char *want = L->export_names[i], *slash = strrchr(want, '/');
        bool match = slash ? strcmp(slash + 1, name) == 0 && (size_t)(slash - want) == plen &&
                                 strncmp(want, L->prefix, plen) == 0
                           : strcmp(want, name) == 0;
        if (match)
            L->exports[i] = v;
    }
}

static void bind_target(Lower *L, const char *name, Val v) {
    note_export(L, name, v);
    frame_set(L, name, v);
}

static void assign(Lower *L, const Ast *s) {
    Val v = lower_expr(L, s->a);
    int n = s->list2.n;
    if (n == 1) {
        if (v.k == V_TUPLE && !v.assigned_at)
            v.assigned_at = s;
        bind_target(L, s->list2.items[0]->str, v);
        return;
    }
    if (v.k == V_ERR) {
        for (int i = 0; i < n; i++)
            frame_set(L, s->list2.items[i]->str, v);
        return;
    }
    if (v.k != V_TUPLE || v.n != n) {
        diag_error(L->diag, s->loc, "cannot unpack %s into %d names", val_describe(L, v), n);
        for (int i = 0; i < n; i++)
            frame_set(L, s->list2.items[i]->str, err_val());
        return;
    }
    for (int i = 0; i < n; i++)
        bind_target(L, s->list2.items[i]->str, v.items[i]);
}

bool report_whole_tuple(Lower *L, Val v, SrcLoc at_loc, const char *wanted) {
    if (v.k != V_TUPLE || !v.assigned_at)
        return false;
    const Ast *s = v.assigned_at, *e = s->a;
    const char *what = e->kind == A_SCAN ? "scan(...), its yielded values then its final states,"
                       : e->kind == A_CALL ? arena_printf(L->ar, "%s(...)", e->str) : "the expression";
    StrBuf names = {0};
    for (int i = 0; i < v.n; i++)
        sb_printf(&names, "%s%s_%d", i ? ", " : "", s->list2.items[0]->str, i + 1);
    diag_error(L->diag, s->loc, "'%s' is assigned all %d values of %s as one tuple; unpack them: %s = ...",
               s->list2.items[0]->str, v.n, what, sb_str(&names));
    sb_free(&names);
    diag_note(L->diag, at_loc, "%s", wanted);
    return true;
}

/* Solves an unset hyperparameter from a weight's dim when the declared dim is
 * that hyperparameter, or a constant multiple of it. */
static void solve_dim(Lower *L, const Dim *want, int64_t got) {
    int64_t k = 1;
    if (want->kind == DIM_MUL && want->b->kind == DIM_CONST) {
        k = want->b->value;
        want = want->a;
    }
    if (want->kind != DIM_SYM || want->sym >= 0 || k <= 0 || got % k)
        return;
    Hyper *h = &L->m->hypers[-1 - want->sym];
    if (h->set)
        return;
    h->set = h->from_weights = true;
    h->i = got / k;
    L->solved++;
}

/* The int hyperparameter whose value dim expression d is as it stands (a name
 * bound to it, directly or through arguments), or NULL. */
static Hyper *dim_hyper(Lower *L, const Ast *d) {
    if (d->kind != A_NAME)
        return NULL;
    Val v = lower_expr(L, d);
    return v.k == V_INT && v.hyper > 0 ? &L->m->hypers[v.hyper - 1] : NULL;
}

/* A declared dim that differs from the weight's: solved from the weight like
 * an unset hyperparameter when it is an int hyperparameter's default (the
 * next lowering uses the new value); otherwise a note naming the
 * hyperparameter, after the shape error, says what to set. */
static void dim_differs(Lower *L, const Ast *d, const char *key, int64_t declared, int64_t got) {
    Hyper *h = dim_hyper(L, d);
    if (!h)
        return;
    if (L->solve && h->from_default) {
        h->i = got;
        h->from_default = false;
        h->from_weights = true;
        L->solved++;
    } else if (L->final)
        diag_note(L->diag, h->decl->loc, "hyperparameter '%s' is %lld (%s), which the shape of '%s' contradicts: "
                  "the weights say %lld (--set %s=%lld)", h->name, (long long)declared,
                  h->from_weights ? "solved from another weight" : "as set", key, (long long)got, h->name, (long long)got);
}

static bool param_matches(Lower *L, const Ast *s, const char *key, const IrType *t, const Weight *w) {
    bool ok = w->t.rank == t->rank;
    int differs = -1; /* the first dim that differs */
    for (int i = 0; ok && i < t->rank; i++) {
        int64_t v;
        if (!dim_is_const(t->dims[i], &v)) {
            if (L->solve)
                solve_dim(L, t->dims[i], w->t.shape[i]);
            continue;
        }
        ok = v == w->t.shape[i];
        differs = ok ? -1 : i;
    }
    if (!ok && L->final) {
        char got[256] = "[", *p = got + 1;
        for (int i = 0; i < w->t.rank; i++)
            p += snprintf(p, (size_t)(got + sizeof got - p), "%s%lld", i ? ", " : "", (long long)w->t.shape[i]);
        snprintf(p, (size_t)(got + sizeof got - p), "]");
        diag_error(L->diag, s->loc, "weight '%s'%s in %s has shape %s, but the model declares %s", key,
                   weight_origin(w), L->m->weights_path, got, type_text(L, t));
    }
    if (differs >= 0) {
        int64_t declared;
        dim_is_const(t->dims[differs], &declared);
        dim_differs(L, s->type->list.items[differs], key, declared, w->t.shape[differs]);
    }
    return ok; /* a weight of another shape is not bound, even where only a final lowering reports it */
}

/* Which hyperparameters decide the declared weight keys: those read by a
 * `for` bound, an `if` condition, a scope or a key expression whose block or
 * param declares weights (for the note on unexpected weights, lower.c). A
 * KeyDeciders spans the evaluation of such an expression. */
typedef struct KeyDeciders {
    uint64_t outer_reads; /* the reads of the enclosing span */
    uint64_t reads;       /* read by this expression */
    int nparams;          /* params declared before the block */
} KeyDeciders;

static KeyDeciders key_deciders_begin(Lower *L) {
    KeyDeciders k = {.outer_reads = L->hypers_read};
    L->hypers_read = 0;
    return k;
}

/* Ends the expression's span: what it read also counts for the enclosing one. */
static void key_deciders_read(Lower *L, KeyDeciders *k) {
    k->reads = L->hypers_read;
    L->hypers_read |= k->outer_reads;
    k->nparams = L->nparams;
}

static bool list_may_declare(const Model *m, const AstList *l);

/* Whether n may declare a weight when run: a param, or a call of a definition
 * (which may hold one), anywhere in it. */
static bool may_declare(const Model *m, const Ast *n) {
    if (!n)
        return false;
    if (n->kind == S_PARAM || (n->kind == A_CALL && find_def(m, n->str)))
        return true;
    return may_declare(m, n->a) || may_declare(m, n->b) || may_declare(m, n->c) || list_may_declare(m, &n->list) ||
           list_may_declare(m, &n->body) || list_may_declare(m, &n->body2);
}

static bool list_may_declare(const Model *m, const AstList *l) {
    for (int i = 0; i < l->n; i++)
        if (may_declare(m, l->items[i]))
            return true;
    return false;
}

static void mark_key_deciders(Lower *L, uint64_t reads) {
    for (int i = 0; i < L->m->nhypers && i < 64; i++)
        if (reads & ((uint64_t)1 << i))
            L->m->hypers[i].decides_keys = true;
}

/* After the block: when it declared weights, the hyperparameters the
 * expression read decide keys. */
static void key_deciders_end(Lower *L, const KeyDeciders *k) {
    if (L->nparams != k->nparams)
        mark_key_deciders(L, k->reads);
}

static void declare_param(Lower *L, const Ast *s) {
    const char *local = s->str;
    const char *name = local;
    if (s->a) {
        KeyDeciders deciders = key_deciders_begin(L);
        Val k = lower_expr(L, s->a);
        key_deciders_read(L, &deciders);
        mark_key_deciders(L, deciders.reads);
        if (k.k != V_STR) {
            if (k.k != V_ERR)
                diag_error(L->diag, s->a->loc, "a weight key must be a string, got %s", val_describe(L, k));
            frame_set(L, local, err_val());
            return;
        }
        name = k.s;
    }
    const char *key = L->prefix ? arena_printf(L->ar, "%s%s", L->prefix, name) : name;
    IrType t;
    if (!lower_type(L, s->type, &t, false, NULL)) {
        frame_set(L, local, err_val());
        return;
    }
    for (int i = 0; i < t.rank; i++)
        if (t.dims[i]->kind != DIM_CONST && !(t.dims[i]->kind == DIM_SYM && t.dims[i]->sym < 0) &&
            !(t.dims[i]->kind == DIM_MUL && t.dims[i]->a->kind == DIM_SYM && t.dims[i]->a->sym < 0) && L->final) {
            diag_error(L->diag, s->loc, "weight '%s' has shape %s, which depends on a per-call dim", key, type_text(L, &t));
            frame_set(L, local, err_val());
            return;
        }
    /* the same key twice in one entry is one weight (shared), if the types agree */
    for (int i = 0; i < L->nparams; i++)
        if (strcmp(L->params[i].key, key) == 0) {
            bool same = L->params[i].type.rank == t.rank && L->params[i].type.dtype == t.dtype;
            for (int d = 0; same && d < t.rank; d++)
                same = dim_equal(L->params[i].type.dims[d], t.dims[d]);
            if (!same) {
                diag_error(L->diag, s->loc, "weight '%s' is declared again with type %s", key, type_text(L, &t));
                diag_note(L->diag, L->params[i].loc, "first declared here with type %s", type_text(L, &L->params[i].type));
            }
        }
    if (L->nparams == L->capparams) {
        L->capparams = L->capparams ? 2 * L->capparams : 16;
        ParamDecl *p = arena_alloc(L->ar, sizeof(ParamDecl) * (size_t)L->capparams);
        if (!p)
            return;
        if (L->nparams)
            memcpy(p, L->params, sizeof(ParamDecl) * (size_t)L->nparams);
        L->params = p;
    }
    L->params[L->nparams++] = (ParamDecl){key, t, s->loc};

    const Weight *w = model_weight(L->m, key);
    if (L->m->weights_path && !w) {
        if (L->final)
            diag_error(L->diag, s->loc, "weight '%s' is missing from %s", key, L->m->weights_path);
    } else if (w && w->t.dtype != t.dtype) {
        if (L->final)
            diag_error(L->diag, s->loc, "weight '%s'%s in %s has dtype %s, but the model declares %s", key,
                   weight_origin(w), L->m->weights_path, attn_dtype_name(w->t.dtype), type_text(L, &t));
        w = NULL;
    } else if (w && !param_matches(L, s, key, &t, w))
        w = NULL;
    else if (!w && L->final && !L->m->weights_later)
        diag_error(L->diag, s->loc, "weight '%s' is not bound (give a weights file)", key);
    char err[512];
    if (w && model_weight_load_early(w) && !model_weight_load(L->m, w, err, sizeof err)) {
        diag_error(L->diag, s->loc, "%s: %s", L->m->weights_path, err);
        w = NULL;
    }
    /* weights live in the top-level graph; scan bodies capture them */
    IrGraph *g = L->g;
    ScanCtx *sc = L->scan;
    L->g = L->top;
    L->scan = NULL;
    int id = ir_add(L->ar, L->g, OP_PARAM, NULL, 0, s->loc);
    L->g->nodes[id].type = t;
    L->g->nodes[id].name = key;
    L->g->nodes[id].value = w ? &w->t : NULL;
    Val v = tensor_val(L, id);
    L->g = g;
    L->scan = sc;
    frame_set(L, local, v);
}

static void for_stmt(Lower *L, const Ast *s) {
    int64_t lo, hi;
    KeyDeciders k = key_deciders_begin(L);
    bool bounds = val_to_int(L, lower_expr(L, s->a), s->a, &lo) && val_to_int(L, lower_expr(L, s->b), s->b, &hi);
    key_deciders_read(L, &k);
    if (!bounds)
        return;
    const Ast *outer = L->loop;
    L->loop = s;
    for (int64_t i = lo; i < hi && !L->returned && lower_step(L, s->loc); i++) {
        frame_set(L, s->str, (Val){.k = V_INT, .i = i});
        lower_block(L, &s->body);
    }
    L->loop = outer;
    key_deciders_end(L, &k);
}

static void scope_stmt(Lower *L, const Ast *s) {
    Val v = lower_expr(L, s->a);
    const char *piece;
    if (v.k == V_STR)
        piece = v.s;
    else if (v.k == V_INT)
        piece = arena_printf(L->ar, "%lld", (long long)v.i);
    else {
        if (v.k != V_ERR)
            diag_error(L->diag, s->a->loc, "scope needs a string or integer, got %s", val_describe(L, v));
        return;
    }
    const char *saved = L->prefix;
    Val prefix = string_concat(L, saved ? saved : "", piece, s->a->loc);
    if (prefix.k == V_ERR || (prefix = string_concat(L, prefix.s, ".", s->a->loc)).k == V_ERR)
        return;
    L->prefix = prefix.s;
    lower_block(L, &s->body);
    L->prefix = saved;
}

static Val tuple_of(Lower *L, const AstList *exprs) {
    if (exprs->n == 1)
        return lower_expr(L, exprs->items[0]);
    Val t = {.k = V_TUPLE, .n = exprs->n, .items = arena_alloc(L->ar, sizeof(Val) * (size_t)exprs->n)};
    if (!t.items)
        return err_val();
    for (int i = 0; i < exprs->n; i++)
        t.items[i] = lower_expr(L, exprs->items[i]);
    return t;
}

static void stmt(Lower *L, const Ast *s) {
    switch (s->kind) {
    case S_ASSIGN:
        assign(L, s);
        break;
    case S_PARAM:
        declare_param(L, s);
        break;
    case S_FOR:
        for_stmt(L, s);
        break;
    case S_IF: {
        bool c;
        KeyDeciders k = key_deciders_begin(L);
        bool known = val_to_bool(L, lower_expr(L, s->a), s->a, &c);
        key_deciders_read(L, &k);
        if (known)
            lower_block(L, c ? &s->body : &s->body2);
        key_deciders_end(L, &k);
        if (known && list_may_declare(L->m, c ? &s->body2 : &s->body)) /* the other value would */
            mark_key_deciders(L, k.reads);
        break;
    }
    case S_SCOPE:
        scope_stmt(L, s);
        break;
    case S_RETURN:
        if (L->scan && L->scan->g == L->g && L->call_depth == L->scan->call_depth) {
            diag_error(L->diag, s->loc, "return inside a scan body; use yield for per-step outputs");
            break;
        }
        L->ret = tuple_of(L, &s->list);
        L->ret_loc = s->loc;
        L->returned = true;
        break;
    case S_YIELD:
        if (!L->scan || L->scan->g != L->g) {
            diag_error(L->diag, s->loc, "yield outside a scan body");
            break;
        }
        if (L->scan->yielded) {
            diag_error(L->diag, s->loc, "a scan body yields once");
            break;
        }
        L->scan->yielded = true;
        L->scan->nyields = s->list.n;
        L->scan->yields = arena_alloc(L->ar, sizeof(Val) * (size_t)s->list.n);
        if (!L->scan->yields) {
            L->scan->nyields = 0;
            break;
        }
        for (int i = 0; i < s->list.n; i++)
            L->scan->yields[i] = lower_expr(L, s->list.items[i]);
        break;
    default:
        diag_error(L->diag, s->loc, "this is not a statement");
    }
}

void lower_block(Lower *L, const AstList *body) {
    for (int i = 0; i < body->n && !L->returned; i++)
        stmt(L, body->items[i]);
}

/* Binds the call's arguments (positional, then by name) to the def's parameters. */
static bool bind_args(Lower *L, const Ast *def, const Ast *call, Val *vals) {
    int nparams = def->list.n;
    bool *given = arena_alloc(L->ar, (size_t)nparams + 1);
    if (!given || !vals)
        return false;
    int pos = 0;
    for (int i = 0; i < call->list.n; i++) {
        const Ast *a = call->list.items[i];
        int slot = -1;
        if (a->kind == A_KWARG) {
            for (int j = 0; j < nparams; j++)
                if (strcmp(def->list.items[j]->str, a->str) == 0)
                    slot = j;
            if (slot < 0) {
                diag_error(L->diag, a->loc, "%s() has no parameter named '%s'", def->str, a->str);
                return false;
            }
        } else if ((slot = pos++) >= nparams) {
            diag_error(L->diag, a->loc, "%s() takes %d arguments, got %d", def->str, nparams, call->list.n);
            diag_note(L->diag, def->loc, "%s is defined here", def->str);
            return false;
        }
        if (given[slot]) {
            diag_error(L->diag, a->loc, "argument '%s' of %s() given twice", def->list.items[slot]->str, def->str);
            return false;
        }
        given[slot] = true;
        vals[slot] = lower_expr(L, a->kind == A_KWARG ? a->a : a);
    }
    for (int j = 0; j < nparams; j++)
        if (!given[j]) {
            diag_error(L->diag, call->loc, "%s() is missing argument '%s'", def->str, def->list.items[j]->str);
            diag_note(L->diag, def->loc, "%s is defined here", def->str);
            return false;
        }
    return true;
}

Val lower_call_def(Lower *L, const Ast *def, const Ast *call) {
    if (L->call_depth >= ATTN_LIMIT_CALL_DEPTH) {
        diag_error(L->diag, call->loc, "calls nested more than %d deep (is %s recursive?)", ATTN_LIMIT_CALL_DEPTH, def->str);
        return err_val();
    }
    Val *vals = arena_alloc(L->ar, sizeof(Val) * (size_t)(def->list.n + 1));
    if (!vals || !bind_args(L, def, call, vals)) /* out of memory: the phase reports it */
        return err_val();
    for (int j = 0; j < def->list.n; j++)
        if (vals[j].k == V_ERR)
            return err_val();
    Frame frame = {NULL, L->frame};
    while (frame.parent && frame.parent->parent) /* defs see globals only, not the caller's variables */
        frame.parent = frame.parent->parent;
    Frame *saved = L->frame;
    L->frame = &frame;
    L->call_depth++;
    bool ok = true;
    for (int j = 0; j < def->list.n && ok; j++) {
        const Ast *p = def->list.items[j];
        if (p->type) {
            const char *what = arena_printf(L->ar, "argument '%s' of %s()", p->str, def->str);
            ok = check_tensor_type(L, vals[j], p->type, what, call->list.items[j < call->list.n ? j : 0]);
        }
        frame_set(L, p->str, vals[j]);
    }
    bool was_returned = L->returned;
    Val was_ret = L->ret;
    SrcLoc was_ret_loc = L->ret_loc;
    L->returned = false;
    L->ret = (Val){.k = V_NONE};
    int errors_before = L->diag->errors;
    if (ok)
        lower_block(L, &def->body);
    /* point from the library line back to the user's, once per call site
       (a recursive call would repeat its note at every level) */
    SrcLoc l = L->last_note;
    if (L->diag->errors > errors_before && !(l.file == call->loc.file && l.line == call->loc.line && l.col == call->loc.col))
        diag_note(L->diag, call->loc, "in this call of %s()", def->str);
    if (L->diag->errors > errors_before)
        L->last_note = call->loc;
    Val r = ok ? L->ret : err_val();
    L->returned = was_returned;
    L->ret = was_ret;
    L->ret_loc = was_ret_loc;
    L->call_depth--;
    L->frame = saved;
    return r;
}
