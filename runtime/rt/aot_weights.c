/*
 * aot_weights.c — loading the weights of an ahead-of-time compiled object
 * and running its entry points (see aot_weights.h). The checks and their
 * messages are those of binding weights to a model (compiler/lower/lower.c).
 */
#include "aot_weights.h"
#include "pack.h"
#include "safetensors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct attn_aot_weights {
    const attn_aot_table *table;
    void **data;      /* nweights converted weights (NULL where only packed copies are read), then npacked copies */
    void ***params;   /* per entry: its slots' pointers */
};

/* A growing message, one line per problem. */
typedef struct {
    char *s;
    size_t len;
    int lines;
    int oom;
} Msg;

static void add_line(Msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_line(Msg *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? realloc(m->s, m->len + (size_t)n + 2) : NULL;
    if (!s) {
        m->oom = 1;
        return;
    }
    m->s = s;
    if (m->lines)
        m->s[m->len++] = '\n';
    va_start(ap, fmt);
    vsnprintf(m->s + m->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    m->len += (size_t)n;
    m->lines++;
}

static char *dup_text(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

/* The dtype a model gives a file's tensor of dtype d (as compiler/lower/lower.c). */
static attn_dtype file_dtype(StDtype d, attn_dtype declared) {
    switch (d) {
    case ST_F16: case ST_BF16: case ST_F32: case ST_F64: return ATTN_F32;
    case ST_BOOL: return ATTN_BOOL;
    default: return declared == ATTN_I32 ? ATTN_I32 : ATTN_I64;
    }
}

static const char *shape_text(const StTensor *t, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->rank && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
    return buf;
}

/* Checks tensor t of the file against weight w and converts it into *data. */
static void load_one(const attn_aot_weight *w, const StTensor *t, const char *path, Msg *m, void **data) {
    attn_dtype got = file_dtype(t->dtype, w->dtype);
    if (got != w->dtype) {
        add_line(m, "error: weight '%s' in %s has dtype %s, but the model declares %s", w->key, path,
                 attn_dtype_name(got), w->type_text);
        return;
    }
    bool same = t->rank == w->rank;
    for (int d = 0; same && d < t->rank; d++)
        same = t->shape[d] == w->shape[d];
    if (!same) {
        char sh[256];
        add_line(m, "error: weight '%s' in %s has shape %s, but the model declares %s", w->key, path,
                 shape_text(t, sh, sizeof sh), w->type_text);
        return;
    }
    char err[512];
    if (st_convert(t, w->dtype, data, err, sizeof err) != 0)
        add_line(m, "error: %s: %s", path, err);
}

/* Makes the packed copies and the entries' slot arrays. */
static void finish(attn_aot_weights *w, Msg *m) {
    const attn_aot_table *t = w->table;
    for (int j = 0; j < t->npacked && !m->oom; j++) {
        const attn_aot_packed *p = &t->packed[j];
        size_t floats = attn_pack_b_size(p->k, p->n, t->lanes);
        float *panels = attn_pack_alloc(floats * sizeof(float) + 64);
        if (!panels) {
            m->oom = 1;
            break;
        }
        if (!p->nparts)
            attn_pack_b_gates((const float *)w->data[p->weight] + p->offset, p->k, p->n, 0, p->n, p->rs, p->cs,
                              t->lanes, p->gates, panels);
        int64_t col = 0;
        for (int q = 0; q < p->nparts; col += p->parts[q++].n)
            attn_pack_b_gates((const float *)w->data[p->parts[q].weight] + p->parts[q].offset, p->k, p->n, col,
                              p->parts[q].n, p->rs == 1 ? 1 : p->parts[q].n, p->rs == 1 ? p->k : 1, t->lanes,
                              p->gates, panels);
        size_t bytes;
        void *out = attn_pack_to_dtype(panels, p->k, p->n, t->lanes, p->dtype, &bytes);
        if (!out) {
            m->oom = 1;
            break;
        }
        w->data[t->nweights + j] = out;
    }
    for (int i = 0; i < t->nweights; i++)
        if (!t->weights[i].plain) { /* only its packed copies are read */
            free(w->data[i]);
            w->data[i] = NULL;
        }
    for (int e = 0; e < t->nentries && !m->oom; e++) {
        const attn_aot_entry *en = &t->entries[e];
        w->params[e] = calloc((size_t)en->nslots + 1, sizeof(void *));
        if (!w->params[e]) {
            m->oom = 1;
            break;
        }
        for (int s = 0; s < en->nslots; s++)
            w->params[e][s] = w->data[en->slots[s]];
    }
}

attn_status attn_aot_weights_load(const attn_aot_table *t, const char *path, attn_aot_weights **out, char **error) {
    if (error)
        *error = NULL;
    if (out)
        *out = NULL;
    if (!t || !path || !out) {
        if (error)
            *error = dup_text("error: attn_aot_weights_load: NULL table, path or output");
        return ATTN_ERR_USAGE;
    }
    Msg m = {0};
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        add_line(&m, "error: %s", err);
        goto fail;
    }
    attn_aot_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->data = calloc((size_t)(t->nweights + t->npacked) + 1, sizeof(void *))) ||
        !(w->params = calloc((size_t)t->nentries + 1, sizeof(void **)))) {
        if (w)
            free(w->data);
        free(w);
        st_close(f);
        m.oom = 1;
        goto fail;
    }
    w->table = t;
    for (int i = 0; i < t->nweights && !m.oom; i++) {
        const StTensor *st = st_find(f, t->weights[i].key);
        if (!st)
            add_line(&m, "error: weight '%s' is missing from %s", t->weights[i].key, path);
        else
            load_one(&t->weights[i], st, path, &m, &w->data[i]);
    }
    for (int i = 0; t->all_entries && i < st_count(f) && !m.oom; i++) {
        const char *key = st_tensor(f, i)->name;
        bool known = false;
        for (int k = 0; k < t->nweights && !known; k++)
            known = strcmp(t->weights[k].key, key) == 0;
        if (!known)
            add_line(&m, "error: %s: unexpected weight '%s': no entry of %s declares it", path, key, t->model);
    }
    st_close(f);
    if (!m.lines && !m.oom)
        finish(w, &m);
    if (m.lines || m.oom) {
        attn_aot_weights_free(w);
        goto fail;
    }
    *out = w;
    return ATTN_OK;
fail:
    if (m.oom) {
        free(m.s);
        m.s = dup_text("error: out of memory loading weights");
    }
    if (error)
        *error = m.s;
    else
        free(m.s);
    return m.oom ? ATTN_ERR_NOMEM : ATTN_ERR_INPUT;
}

void attn_aot_weights_free(attn_aot_weights *w) {
    if (!w)
        return;
    const attn_aot_table *t = w->table;
    for (int i = 0; w->data && i < t->nweights + t->npacked; i++)
        free(w->data[i]);
    for (int e = 0; w->params && e < t->nentries; e++)
        free(w->params[e]);
    free(w->data);
    free(w->params);
    free(w);
}

attn_status attn_aot_run(const attn_compiled *c, const attn_aot_table *t, int entry, const attn_aot_weights *w,
                         attn_pool *pool, const attn_tensor *inputs, int ninputs, attn_tensor **outputs,
                         int *noutputs, char **error) {
    if (error)
        *error = NULL;
    if (outputs)
        *outputs = NULL;
    if (noutputs)
        *noutputs = 0;
    const char *what = NULL;
    if (!c || !t || entry < 0 || entry >= t->nentries)
        what = "error: attn_aot_run: NULL entry or table";
    else if (!w)
        what = "error: weights are not loaded (NULL); load them with the object's _load_weights function";
    else if (w->table != t && (w->table->nweights != t->nweights || w->table->nentries != t->nentries ||
                               strcmp(w->table->name, t->name) != 0 || w->table->lanes != t->lanes))
        what = "error: the weights were loaded for another object";
    else if (!outputs || !noutputs || ninputs < 0 || (ninputs > 0 && !inputs))
        what = "error: attn_aot_run: NULL inputs or outputs";
    if (what) {
        if (error)
            *error = dup_text(what);
        return ATTN_ERR_USAGE;
    }
    return attn_compiled_run(c, w->params[entry], pool, inputs, ninputs, outputs, noutputs, error);
}
