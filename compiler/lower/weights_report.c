/*
 * weights_report.c — what binding says about weights the model does not
 * declare: each unexpected key beside the declared key it most likely stands
 * for (a scope mistake keeps the key's last components; a misspelling is a
 * few edits away), the declared keys the file lacks, and, when some
 * hyperparameter changes the declared keys, which ones and their values.
 */
#include "lower.h"
#include "spell.h"

#include <limits.h>
#include <string.h>

/* Declared keys the file lacks: indices into m->params. */
typedef struct Missing {
    int *index;
    int n;
} Missing;

static Missing missing_params(Model *m) {
    Missing ms = {arena_alloc(&m->arena, sizeof(int) * (size_t)(m->nparams + 1)), 0};
    for (int j = 0; ms.index && j < m->nparams; j++)
        if (!model_weight(m, m->params[j].key))
            ms.index[ms.n++] = j;
    return ms;
}

/* Whether `shorter` is `longer` without some leading components: a.b.c in x.a.b.c. */
static bool component_suffix(const char *shorter, const char *longer) {
    size_t ns = strlen(shorter), nl = strlen(longer);
    return ns < nl && longer[nl - ns - 1] == '.' && strcmp(longer + nl - ns, shorter) == 0;
}

/* The declared key the file lacks that `key` most likely stands for: the one
 * sharing the longest run of final components (at least two, or the whole of
 * the shorter key), else the nearest by edit distance; -1 when none is near.
 * *scope tells which of the two it was. */
static int nearest_missing(const Model *m, const Missing *ms, const char *key, bool *scope) {
    int best = -1, best_suffix = 0;
    for (int i = 0; i < ms->n; i++) {
        const char *declared = m->params[ms->index[i]].key;
        int suffix = spell_common_suffix(key, declared);
        bool whole = component_suffix(key, declared) || component_suffix(declared, key);
        bool two = suffix > 0 && memchr(key + strlen(key) - suffix, '.', (size_t)suffix) != NULL;
        if ((whole || two) && suffix > best_suffix) {
            best = ms->index[i];
            best_suffix = suffix;
        }
    }
    *scope = best >= 0;
    if (best >= 0)
        return best;
    int distance = INT_MAX;
    for (int i = 0; i < ms->n; i++)
        if (spell_nearer(key, m->params[ms->index[i]].key, &distance))
            best = ms->index[i];
    return best;
}

/* w's key follows its origin when a weight map renamed it ("(from 'x' by rule map.txt:3)"). */
static void report_one(Model *m, const Missing *ms, const Weight *w) {
    bool scope;
    int near = nearest_missing(m, ms, w->key, &scope);
    if (near < 0) {
        diag_error(&m->diag, (SrcLoc){0}, "%s: unexpected weight '%s'%s: no entry of %s declares it", m->weights_path,
                   w->key, weight_origin(w), m->path);
        return;
    }
    const ParamDecl *p = &m->params[near];
    diag_error(&m->diag, (SrcLoc){0},
               "%s: unexpected weight '%s'%s; the model declares '%s' at %s:%d:%d, which the file lacks (%s?)",
               m->weights_path, w->key, weight_origin(w), p->key, p->loc.file ? p->loc.file->path : m->path, p->loc.line, p->loc.col,
               scope ? "a scope mistake" : "a misspelling");
}

/* "the model declares N weights the file lacks: a, b, ... and K more" */
static void note_missing(Model *m, const Missing *ms) {
    StrBuf b = {0};
    sb_printf(&b, "%s declares %d weight%s that %s lacks: ", m->path, ms->n, ms->n == 1 ? "" : "s", m->weights_path);
    for (int i = 0; i < ms->n && i < ATTN_LIMIT_LISTED_KEYS; i++)
        sb_printf(&b, "%s'%s'", i ? ", " : "", m->params[ms->index[i]].key);
    if (ms->n > ATTN_LIMIT_LISTED_KEYS)
        sb_printf(&b, " and %d more", ms->n - ATTN_LIMIT_LISTED_KEYS);
    diag_note(&m->diag, (SrcLoc){0}, "%s", sb_str(&b));
    sb_free(&b);
}

/* The hyperparameters whose values changed which keys were declared. */
static void note_key_deciders(Model *m) {
    StrBuf b = {0};
    int n = 0;
    for (int i = 0; i < m->nhypers; i++) {
        const Hyper *h = &m->hypers[i];
        if (!h->decides_keys || !h->set)
            continue;
        sb_printf(&b, "%s%s = ", n++ ? ", " : "", h->name);
        switch (h->kind) {
        case HK_INT: sb_printf(&b, "%lld", (long long)h->i); break;
        case HK_FLOAT: sb_printf(&b, "%g", h->f); break;
        case HK_BOOL: sb_printf(&b, "%s", h->i ? "true" : "false"); break;
        case HK_ENUM: sb_printf(&b, "%s", h->decl->type->list.items[h->i]->str); break;
        }
    }
    if (n)
        diag_note(&m->diag, (SrcLoc){0}, "the hyperparameter%s %s decide%s which weights %s declares; are they the "
                  "ones the weights were trained with (--set)?", n == 1 ? "" : "s", sb_str(&b), n == 1 ? "s" : "",
                  m->path);
    sb_free(&b);
}

int report_unexpected_weights(Model *m) {
    Missing ms = missing_params(m);
    int unexpected = 0;
    for (int i = 0; i < m->nweights; i++) {
        bool used = false;
        for (int j = 0; j < m->nparams && !used; j++)
            used = strcmp(m->params[j].key, m->weights[i].key) == 0;
        if (used)
            continue;
        if (unexpected++ < ATTN_LIMIT_LISTED_KEYS)
            report_one(m, &ms, &m->weights[i]);
    }
    if (!unexpected)
        return 0;
    if (unexpected > ATTN_LIMIT_LISTED_KEYS)
        diag_error(&m->diag, (SrcLoc){0}, "%s: %d more unexpected weights", m->weights_path,
                   unexpected - ATTN_LIMIT_LISTED_KEYS);
    if (ms.n)
        note_missing(m, &ms);
    note_key_deciders(m);
    return unexpected;
}
