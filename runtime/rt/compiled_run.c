/*
 * compiled_run.c — input checks, workspace and outputs, and error messages
 * for native code (see compiled.h). The messages are those of the
 * interpreter, so that a user sees the same text whichever backend runs.
 */
#include "attn_limits.h"
#include "compiled.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Size in bytes of t, or false when it is not representable / over the limit. */
static bool tensor_bytes(const attn_tensor *t, size_t *bytes) {
    int64_t numel = attn_tensor_numel(t);
    return numel >= 0 && !__builtin_mul_overflow((size_t)numel, attn_dtype_size(t->dtype), bytes) &&
           *bytes <= ((size_t)1 << ATTN_LIMIT_TENSOR_BYTES_SHIFT);
}

/* Names, duplicates: every given input is one the entry declares, once. */
static int check_names(const char *entry, const attn_sig_tensor *sig, int nsig, const attn_tensor *inputs, int ninputs,
                       char **err) {
    for (int i = 0; i < ninputs; i++) {
        bool known = false;
        for (int k = 0; k < nsig && !known; k++)
            known = inputs[i].name && strcmp(sig[k].name, inputs[i].name) == 0;
        if (!known) {
            *err = attn_format("error: entry %s has no input named '%s'", entry, inputs[i].name ? inputs[i].name : "(null)");
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(inputs[j].name, inputs[i].name) == 0) {
                *err = attn_format("error: input '%s' is given twice", inputs[i].name);
                return -1;
            }
    }
    return 0;
}

/* Checks dims, size and data of input s given as t, whose dims the entry
 * wants to be want[0..rank) (sym_src/sym_axis: which input bound each symbol). */
static int check_dims(const attn_sig_tensor *s, const attn_tensor *t, const int64_t *want, int nsyms,
                      const char *const *sym_src, const int *sym_axis, char **err) {
    for (int d = 0; d < t->rank; d++) {
        int64_t w = want[d];
        if (w == t->shape[d])
            continue;
        int sym = s->sym[d];
        if (sym >= 0 && sym < nsyms && sym_src[sym])
            *err = attn_format("error: input '%s' (%s) has %lld at dim %d, but %s was bound to %lld by dim %d of input '%s'",
                               s->name, s->type_text, (long long)t->shape[d], d, s->dim_text[d], (long long)w,
                               sym_axis[sym], sym_src[sym]);
        else
            *err = attn_format("error: input '%s' (%s) has %lld at dim %d, expected %s", s->name, s->type_text,
                               (long long)t->shape[d], d, s->dim_text[d]);
        return -1;
    }
    size_t bytes;
    if (!tensor_bytes(t, &bytes)) {
        char sh[256];
        *err = attn_format("error: input '%s' of shape %s is too large", s->name, attn_shape_text(t, sh, sizeof sh));
        return -1;
    }
    if (bytes > 0 && !t->data) {
        *err = attn_format("error: input '%s' has no data", s->name);
        return -1;
    }
    return 0;
}

int attn_bind_inputs(const char *entry, const attn_sig_tensor *sig, int nsig, int nsyms, attn_dims_fn dims,
                     const void *dims_self, const attn_tensor *inputs, int ninputs, int64_t *syms,
                     const attn_tensor **bound, char **err) {
    /* the compiler refuses more; these guard the arrays below against a hand-made signature */
    if (nsig > ATTN_LIMIT_INPUTS) {
        *err = attn_format("error: entry %s has %d inputs, more than the limit of %d (ATTN_LIMIT_INPUTS)", entry, nsig,
                           ATTN_LIMIT_INPUTS);
        return -1;
    }
    if (nsyms > ATTN_LIMIT_CALL_SYMS) {
        *err = attn_format("error: entry %s has %d per-call dims, more than the limit of %d (ATTN_LIMIT_CALL_SYMS)",
                           entry, nsyms, ATTN_LIMIT_CALL_SYMS);
        return -1;
    }
    for (int i = 0; i < nsyms; i++)
        syms[i] = -1;
    if (check_names(entry, sig, nsig, inputs, ninputs, err) != 0)
        return -1;
    const char *sym_src[ATTN_LIMIT_CALL_SYMS] = {0};
    int sym_axis[ATTN_LIMIT_CALL_SYMS] = {0};
    for (int k = 0; k < nsig; k++) {
        const attn_sig_tensor *s = &sig[k];
        const attn_tensor *t = NULL;
        for (int i = 0; i < ninputs; i++)
            if (strcmp(inputs[i].name, s->name) == 0)
                t = &inputs[i];
        if (!t) {
            *err = attn_format("error: input '%s' of entry %s is missing", s->name, entry);
            return -1;
        }
        if (t->dtype != s->dtype || t->rank != s->rank) {
            char sh[256];
            *err = attn_format("error: input '%s' must be %s, got %s%s", s->name, s->type_text,
                               attn_dtype_name(t->dtype), attn_shape_text(t, sh, sizeof sh));
            return -1;
        }
        for (int d = 0; d < t->rank; d++) {
            if (t->shape[d] < 0) {
                *err = attn_format("error: input '%s' has a negative dim %d", s->name, d);
                return -1;
            }
            int sym = s->sym[d];
            if (sym >= 0 && sym < nsyms && syms[sym] < 0) {
                syms[sym] = t->shape[d];
                sym_src[sym] = s->name;
                sym_axis[sym] = d;
            }
        }
        bound[k] = t;
    }
    /* every symbol is bound now: the dims each input must have */
    int64_t want[ATTN_MAX_RANK * ATTN_LIMIT_INPUTS];
    dims(dims_self, syms, want);
    for (int k = 0; k < nsig; k++)
        if (check_dims(&sig[k], bound[k], &want[k * ATTN_MAX_RANK], nsyms, sym_src, sym_axis, err) != 0)
            return -1;
    return 0;
}

/* The message of error site `site` with the numbers of ctx->err. A site's text
 * is the source location and message with up to three "%lld" for the numbers
 * and "%%" for a '%' of its own (cg_entry.c add_site); it is expanded here and
 * never handed to a printf-style formatter, since a path may hold any byte. */
static char *site_message(const attn_compiled *c, int64_t site, const int64_t *v) {
    if (site < 0 || site >= c->nsites)
        return attn_format("internal error: compiled code of entry %s failed at unknown site %lld", c->entry, (long long)site);
    const char *text = c->sites[site];
    size_t cap = strlen(text) + 3 * 24 + 1; /* each number takes at most 20 characters more than its "%lld" */
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t k = 0;
    int used = 0;
    for (const char *p = text; *p;) {
        if (p[0] == '%' && p[1] == '%') {
            out[k++] = '%';
            p += 2;
        } else if (strncmp(p, "%lld", 4) == 0 && used < 3) {
            k += (size_t)snprintf(out + k, cap - k, "%lld", (long long)v[used++]);
            p += 4;
        } else
            out[k++] = *p++;
    }
    out[k] = '\0';
    return out;
}

/* Binds the inputs to syms and bound, and checks the per-call dims: returns
 * the bytes of workspace, or -1 with a message in *err. */
static int64_t bind_call(const attn_compiled *c, const attn_tensor *inputs, int ninputs, int64_t *syms,
                         const attn_tensor **bound, char **err) {
    if (c->noutputs > ATTN_LIMIT_OUTPUTS) { /* the compiler refuses more */
        *err = attn_format("error: entry %s has %d outputs, more than the limit of %d (ATTN_LIMIT_OUTPUTS)", c->entry,
                           c->noutputs, ATTN_LIMIT_OUTPUTS);
        return -1;
    }
    if (attn_bind_inputs(c->entry, c->inputs, c->ninputs, c->nsyms, c->input_dims, NULL, inputs, ninputs, syms, bound,
                         err) != 0)
        return -1;
    int64_t count = 0;
    int64_t ws_bytes = c->workspace(syms, &count);
    if (ws_bytes < 0) {
        int64_t v[3] = {count, 0, 0};
        *err = site_message(c, -ws_bytes - 1, v);
        return -1;
    }
    return ws_bytes;
}

attn_status attn_compiled_stats(const attn_compiled *c, attn_stats_fn fn, const attn_tensor *inputs, int ninputs,
                                attn_run_stats *stats, char **error) {
    char *err = NULL;
    int64_t syms[ATTN_LIMIT_CALL_SYMS], v[ATTN_NSTATS];
    const attn_tensor *bound[ATTN_LIMIT_INPUTS];
    attn_status st = ATTN_ERR_INPUT;
    if (bind_call(c, inputs, ninputs, syms, bound, &err) >= 0) {
        fn(syms, v);
        *stats = (attn_run_stats){.kernels = v[ATTN_STAT_KERNELS], .kernel_calls = v[ATTN_STAT_CALLS],
                                  .workspace_bytes = v[ATTN_STAT_WORKSPACE],
                                  .workspace_bytes_no_reuse = v[ATTN_STAT_WORKSPACE_SEPARATE],
                                  .bytes_moved = v[ATTN_STAT_BYTES_MOVED]};
        st = ATTN_OK;
    } else
        st = attn_message_status(err);
    if (error)
        *error = err;
    else
        free(err);
    return st;
}

attn_status attn_compiled_run(const attn_compiled *c, void *const *params, attn_pool *pool, const attn_tensor *inputs,
                              int ninputs, attn_tensor **outputs, int *noutputs, char **error) {
    return attn_compiled_run_with(c, params, pool, NULL, NULL, inputs, ninputs, outputs, noutputs, error);
}

enum { WS_HEADER = 64 };

/* A block of at least `bytes` of workspace: the cached one, or a new one. */
static void *workspace_take(attn_workspace_cache *cache, size_t bytes) {
    void *block = cache ? __atomic_exchange_n(&cache->block, NULL, __ATOMIC_ACQ_REL) : NULL;
    if (block && *(size_t *)block >= bytes)
        return block;
    free(block);
    block = aligned_alloc(64, WS_HEADER + (bytes + 63) / 64 * 64 + 64);
    if (block)
        *(size_t *)block = bytes;
    return block;
}

/* Leaves block in the cache (keeping the larger of it and the cached one). */
static void workspace_give(attn_workspace_cache *cache, void *block) {
    if (!cache || !block) {
        free(block);
        return;
    }
    size_t bytes = *(size_t *)block; /* read before publishing: once cached, another run may take and free it */
    void *old = __atomic_exchange_n(&cache->block, block, __ATOMIC_ACQ_REL);
    if (old && *(size_t *)old > bytes) /* keep the larger one; what comes back is ours alone */
        old = __atomic_exchange_n(&cache->block, old, __ATOMIC_ACQ_REL);
    free(old);
}

void attn_workspace_cache_free(attn_workspace_cache *cache) {
    if (cache)
        free(__atomic_exchange_n(&cache->block, NULL, __ATOMIC_ACQ_REL));
}

/* What a run allocates besides the workspace, sized by the entry's outputs. */
typedef struct RunOutputs {
    attn_tensor *tensors;   /* the caller's, on success */
    void **data;            /* each output's buffer, as the code receives them */
    int64_t *dims;          /* ATTN_MAX_RANK per output, as output_dims writes them */
} RunOutputs;

static void run_outputs_free(RunOutputs *o, int n) {
    if (o->tensors)
        attn_tensors_free(o->tensors, n);
    free(o->data);
    free(o->dims);
}

/* Checks the caller's output tensor i, o, against the one the run gives,
 * want; 0, or -1 with a message in *err. */
static int check_caller_output(int i, const attn_tensor *want, const attn_tensor *o, char **err) {
    bool same = o->dtype == want->dtype && o->rank == want->rank && (!o->name || !strcmp(o->name, want->name));
    for (int d = 0; same && d < want->rank; d++)
        same = o->shape[d] == want->shape[d];
    size_t bytes = 0;
    if (same && tensor_bytes(want, &bytes) && bytes && !o->data) {
        *err = attn_format("error: output tensor %d ('%s') has no data", i, want->name);
        return -1;
    }
    if (!same) {
        char shape[160], got[160];
        *err = attn_format("error: output tensor %d must be '%s' %s%s for these inputs, got '%s' %s%s", i, want->name,
                           attn_dtype_name(want->dtype), attn_shape_text(want, shape, sizeof shape),
                           o->name ? o->name : "(no name)",
                           (unsigned)o->dtype <= ATTN_BOOL ? attn_dtype_name(o->dtype) : "?",
                           o->rank >= 0 && o->rank <= ATTN_MAX_RANK ? attn_shape_text(o, got, sizeof got)
                                                                    : "[bad rank]");
        return -1;
    }
    return 0;
}

static int check_count(const char *entry, int want, int got, char **err) {
    if (want == got)
        return 0;
    *err = attn_format("error: entry %s has %d outputs, %d output tensors given", entry, want, got);
    return -1;
}

/* Checks the caller's output tensors against the dims this run gives them
 * (dims: ATTN_MAX_RANK per output); 0, or -1 with a message in *err. */
static int check_caller_outputs(const attn_compiled *c, const int64_t *dims, const attn_tensor *outs, int nouts,
                                char **err) {
    if (check_count(c->entry, c->noutputs, nouts, err) != 0)
        return -1;
    for (int i = 0; i < nouts; i++) {
        attn_tensor want = {.name = c->outputs[i].name, .dtype = c->outputs[i].dtype, .rank = c->outputs[i].rank};
        memcpy(want.shape, &dims[i * ATTN_MAX_RANK], sizeof(int64_t) * (size_t)want.rank);
        if (check_caller_output(i, &want, &outs[i], err) != 0)
            return -1;
    }
    return 0;
}

/* A run writing into the caller's tensors (into, ninto), or into new ones
 * (into NULL: *outputs, *noutputs). */
static attn_status run(const attn_compiled *c, void *const *params, attn_pool *pool, int64_t *profile,
                       attn_workspace_cache *cache, const attn_tensor *inputs, int ninputs, attn_tensor *into,
                       int ninto, attn_tensor **outputs, int *noutputs, char **error) {
    char *err = NULL;
    int64_t syms[ATTN_LIMIT_CALL_SYMS];
    const attn_tensor *bound[ATTN_LIMIT_INPUTS];
    void *in_data[ATTN_LIMIT_INPUTS + 1];
    RunOutputs out = {0};
    void *ws = NULL;
    attn_status st = ATTN_ERR_INPUT;
    int64_t ws_bytes = bind_call(c, inputs, ninputs, syms, bound, &err); /* checks the counts against the limits */
    if (ws_bytes < 0)
        goto done;
    for (int i = 0; i < c->ninputs; i++)
        in_data[i] = bound[i]->data;
    size_t nout = (size_t)c->noutputs + 1;
    out.tensors = into ? NULL : calloc(nout, sizeof *out.tensors);
    out.data = calloc(nout, sizeof *out.data);
    out.dims = calloc(nout * ATTN_MAX_RANK, sizeof *out.dims);
    if ((!into && !out.tensors) || !out.data || !out.dims) {
        err = attn_format(ATTN_MSG_NOMEM " for the outputs");
        st = ATTN_ERR_NOMEM;
        goto done;
    }
    c->output_dims(NULL, syms, out.dims);
    if (into && check_caller_outputs(c, out.dims, into, ninto, &err) != 0)
        goto done;
    void *block = workspace_take(cache, (size_t)ws_bytes);
    ws = block ? (char *)block + WS_HEADER : NULL;
    if (!ws) {
        err = attn_format("error: out of memory allocating %lld bytes of workspace", (long long)ws_bytes);
        st = ATTN_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < c->noutputs; i++) {
        if (into) {
            out.data[i] = into[i].data;
            continue;
        }
        attn_tensor *o = &out.tensors[i];
        o->name = c->outputs[i].name;
        o->dtype = c->outputs[i].dtype;
        o->rank = c->outputs[i].rank;
        memcpy(o->shape, &out.dims[i * ATTN_MAX_RANK], sizeof(int64_t) * (size_t)o->rank);
        size_t bytes;
        if (!tensor_bytes(o, &bytes) || !(o->data = malloc(bytes ? bytes : 1))) {
            err = attn_format("error: out of memory allocating output '%s'", o->name);
            st = ATTN_ERR_NOMEM;
            goto done;
        }
        out.data[i] = o->data;
    }
    attn_run_ctx ctx = {.params = params, .syms = syms, .inputs = in_data, .outputs = out.data, .workspace = ws,
                        .pool = pool, .profile = profile};
    int32_t rc = c->run(&ctx);
    if (rc != 0) {
        err = site_message(c, rc - 1, ctx.err);
        goto done;
    }
    if (!into) {
        *outputs = out.tensors;
        *noutputs = c->noutputs;
        out.tensors = NULL;
    }
    st = ATTN_OK;
done:
    if (st != ATTN_OK)
        st = attn_message_status(err);
    run_outputs_free(&out, c->noutputs);
    workspace_give(cache, ws ? (char *)ws - WS_HEADER : NULL);
    if (error)
        *error = err;
    else
        free(err);
    return st;
}

attn_status attn_compiled_run_with(const attn_compiled *c, void *const *params, attn_pool *pool, int64_t *profile,
                                   attn_workspace_cache *cache, const attn_tensor *inputs, int ninputs,
                                   attn_tensor **outputs, int *noutputs, char **error) {
    return run(c, params, pool, profile, cache, inputs, ninputs, NULL, 0, outputs, noutputs, error);
}

attn_status attn_compiled_run_into(const attn_compiled *c, void *const *params, attn_pool *pool, int64_t *profile,
                                   attn_workspace_cache *cache, const attn_tensor *inputs, int ninputs,
                                   attn_tensor *outputs, int noutputs, char **error) {
    return run(c, params, pool, profile, cache, inputs, ninputs, outputs, noutputs, NULL, NULL, error);
}

attn_status attn_compiled_output_shapes(const attn_compiled *c, const attn_tensor *inputs, int ninputs,
                                        attn_tensor *outputs, int noutputs, char **error) {
    char *err = NULL;
    int64_t syms[ATTN_LIMIT_CALL_SYMS];
    const attn_tensor *bound[ATTN_LIMIT_INPUTS];
    int64_t *dims = NULL;
    if (bind_call(c, inputs, ninputs, syms, bound, &err) >= 0 && check_count(c->entry, c->noutputs, noutputs, &err) == 0) {
        if ((dims = calloc((size_t)c->noutputs * ATTN_MAX_RANK + 1, sizeof *dims))) {
            c->output_dims(NULL, syms, dims);
            for (int i = 0; i < noutputs; i++) {
                outputs[i] = (attn_tensor){.name = c->outputs[i].name, .dtype = c->outputs[i].dtype,
                                           .rank = c->outputs[i].rank};
                memcpy(outputs[i].shape, &dims[i * ATTN_MAX_RANK], sizeof(int64_t) * (size_t)outputs[i].rank);
            }
            free(dims);
            return ATTN_OK;
        }
        err = attn_format(ATTN_MSG_NOMEM);
    }
    attn_status st = attn_message_status(err);
    if (error)
        *error = err;
    else
        free(err);
    return st;
}

attn_status attn_check_outputs(const char *entry, const attn_tensor *got, int ngot, const attn_tensor *into,
                               int ninto, char **error) {
    char *err = NULL;
    int rc = check_count(entry, ngot, ninto, &err);
    for (int i = 0; rc == 0 && i < ngot; i++)
        rc = check_caller_output(i, &got[i], &into[i], &err);
    if (rc == 0)
        return ATTN_OK;
    attn_status st = attn_message_status(err);
    if (error)
        *error = err;
    else
        free(err);
    return st;
}
