/*
 * compiled_run.c — input checks, workspace and outputs, and error messages
 * for native code (see compiled.h). The messages are those of the
 * interpreter, so that a user sees the same text whichever backend runs.
 */
#include "compiled.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SYMS = 64, MAX_BYTES_SHIFT = 40 };


/* Size in bytes of t, or false when it is not representable / over the limit. */
static bool tensor_bytes(const attn_tensor *t, size_t *bytes) {
    int64_t numel = attn_tensor_numel(t);
    return numel >= 0 && !__builtin_mul_overflow((size_t)numel, attn_dtype_size(t->dtype), bytes) &&
           *bytes <= ((size_t)1 << MAX_BYTES_SHIFT);
}

int attn_bind_inputs(const char *entry, const AttnSigTensor *sig, int nsig, int nsyms, AttnDimsFn dims,
                     const void *dims_self, const attn_tensor *inputs, int ninputs, int64_t *syms,
                     const attn_tensor **bound, char **err) {
    if (nsyms > MAX_SYMS) {
        *err = attn_format("error: entry %s has more than %d per-call dims", entry, MAX_SYMS);
        return -1;
    }
    for (int i = 0; i < nsyms; i++)
        syms[i] = -1;
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
    const char *sym_src[MAX_SYMS] = {0};
    int sym_axis[MAX_SYMS] = {0};
    for (int k = 0; k < nsig; k++) {
        const AttnSigTensor *s = &sig[k];
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
            *err = attn_format("error: input '%s' must be %s, got %s%s", s->name, s->type_text, attn_dtype_name(t->dtype),
                       attn_shape_text(t, sh, sizeof sh));
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
    int64_t want[ATTN_MAX_RANK * 64];
    if (nsig > 64) {
        *err = attn_format("error: entry %s has more than 64 inputs", entry);
        return -1;
    }
    dims(dims_self, syms, want);
    for (int k = 0; k < nsig; k++) {
        const AttnSigTensor *s = &sig[k];
        const attn_tensor *t = bound[k];
        for (int d = 0; d < t->rank; d++) {
            int64_t w = want[k * ATTN_MAX_RANK + d];
            if (w == t->shape[d])
                continue;
            int sym = s->sym[d];
            if (sym >= 0 && sym < nsyms && sym_src[sym])
                *err = attn_format("error: input '%s' (%s) has %lld at dim %d, but %s was bound to %lld by dim %d of input '%s'",
                           s->name, s->type_text, (long long)t->shape[d], d, s->dim_text[d], (long long)w, sym_axis[sym],
                           sym_src[sym]);
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
    }
    return 0;
}

/* The message of error site `site` with the numbers of ctx->err. */
static char *site_message(const AttnCompiled *c, int64_t site, const int64_t *v) {
    if (site < 0 || site >= c->nsites)
        return attn_format("internal error: compiled code of entry %s failed at unknown site %lld", c->entry, (long long)site);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    return attn_format(c->sites[site], (long long)v[0], (long long)v[1], (long long)v[2]);
#pragma GCC diagnostic pop
}

/* Binds the inputs to syms and bound, and checks the per-call dims: returns
 * the bytes of workspace, or -1 with a message in *err. */
static int64_t bind_call(const AttnCompiled *c, const attn_tensor *inputs, int ninputs, int64_t *syms,
                         const attn_tensor **bound, char **err) {
    if (c->noutputs > 64) {
        *err = attn_format("error: entry %s has more than 64 outputs", c->entry);
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

attn_status attn_compiled_stats(const AttnCompiled *c, AttnStatsFn fn, const attn_tensor *inputs, int ninputs,
                                attn_run_stats *stats, char **error) {
    char *err = NULL;
    int64_t syms[MAX_SYMS], v[ATTN_NSTATS];
    const attn_tensor *bound[64];
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

attn_status attn_compiled_run(const AttnCompiled *c, void *const *params, AttnPool *pool, const attn_tensor *inputs,
                              int ninputs, attn_tensor **outputs, int *noutputs, char **error) {
    return attn_compiled_run_with(c, params, pool, NULL, NULL, inputs, ninputs, outputs, noutputs, error);
}

enum { WS_HEADER = 64 };

/* A block of at least `bytes` of workspace: the cached one, or a new one. */
static void *workspace_take(AttnWorkspaceCache *cache, size_t bytes) {
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
static void workspace_give(AttnWorkspaceCache *cache, void *block) {
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

void attn_workspace_cache_free(AttnWorkspaceCache *cache) {
    if (cache)
        free(__atomic_exchange_n(&cache->block, NULL, __ATOMIC_ACQ_REL));
}

attn_status attn_compiled_run_with(const AttnCompiled *c, void *const *params, AttnPool *pool, int64_t *profile,
                                   AttnWorkspaceCache *cache, const attn_tensor *inputs, int ninputs,
                                   attn_tensor **outputs, int *noutputs, char **error) {
    char *err = NULL;
    int64_t syms[MAX_SYMS];
    const attn_tensor *bound[64];
    void *in_data[64], *out_data[64];
    attn_tensor *out = NULL;
    void *ws = NULL;
    attn_status st = ATTN_ERR_INPUT;
    int64_t ws_bytes = bind_call(c, inputs, ninputs, syms, bound, &err);
    if (ws_bytes < 0)
        goto done;
    for (int i = 0; i < c->ninputs; i++)
        in_data[i] = bound[i]->data;
    int64_t dims[ATTN_MAX_RANK * 64];
    c->output_dims(NULL, syms, dims);
    out = calloc((size_t)c->noutputs + 1, sizeof *out);
    void *block = workspace_take(cache, (size_t)ws_bytes);
    ws = block ? (char *)block + WS_HEADER : NULL;
    if (!out || !ws) {
        err = attn_format("error: out of memory allocating %lld bytes of workspace", (long long)ws_bytes);
        st = ATTN_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < c->noutputs; i++) {
        attn_tensor *o = &out[i];
        o->name = c->outputs[i].name;
        o->dtype = c->outputs[i].dtype;
        o->rank = c->outputs[i].rank;
        memcpy(o->shape, &dims[i * ATTN_MAX_RANK], sizeof(int64_t) * (size_t)o->rank);
        size_t bytes;
        if (!tensor_bytes(o, &bytes) || !(o->data = malloc(bytes ? bytes : 1))) {
            err = attn_format("error: out of memory allocating output '%s'", o->name);
            st = ATTN_ERR_NOMEM;
            goto done;
        }
        out_data[i] = o->data;
    }
    AttnRunCtx ctx = {.params = params, .syms = syms, .inputs = in_data, .outputs = out_data, .workspace = ws, .pool = pool,
                      .profile = profile};
    int32_t rc = c->run(&ctx);
    if (rc != 0) {
        err = site_message(c, rc - 1, ctx.err);
        goto done;
    }
    *outputs = out;
    *noutputs = c->noutputs;
    out = NULL;
    st = ATTN_OK;
done:
    if (st != ATTN_OK)
        st = attn_message_status(err);
    if (out)
        attn_tensors_free(out, c->noutputs);
    workspace_give(cache, ws ? (char *)ws - WS_HEADER : NULL);
    if (error)
        *error = err;
    else
        free(err);
    return st;
}
