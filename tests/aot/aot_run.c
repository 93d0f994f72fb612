/*
 * aot_run.c — runs one entry point of an object compiled ahead of time
 * (`attnc compile`) on the inputs of a safetensors file and writes its
 * outputs, linked with the runtime library only. The model is chosen at build
 * time: AOT_HEADER is the generated header, AOT_NAME its C name, AOT_ENTRY the
 * entry's number (see tests/CMakeLists.txt).
 *
 *     aot_run WEIGHTS.safetensors IN.safetensors OUT.safetensors
 */
#include AOT_HEADER
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define COMPILED AOT_COMPILED

/* Reads every input the entry declares, in its dtype, from path. */
static int read_inputs(const char *path, attn_tensor *in) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < COMPILED.ninputs && rc == 0; i++) {
        const attn_sig_tensor *s = &COMPILED.inputs[i];
        const StTensor *t = st_find(f, s->name);
        in[i] = (attn_tensor){.name = s->name, .dtype = s->dtype};
        if (!t || st_convert(t, s->dtype, &in[i].data, err, sizeof err) != 0) {
            fprintf(stderr, "%s: input '%s': %s\n", path, s->name, t ? err : "missing");
            rc = -1;
            continue;
        }
        in[i].rank = t->rank;
        for (int d = 0; d < t->rank; d++)
            in[i].shape[d] = t->shape[d];
    }
    st_close(f);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: aot_run WEIGHTS IN OUT\n");
        return 2;
    }
    attn_tensor in[64] = {0}, *out = NULL;
    int nout = 0, rc = 1;
    char *err = NULL, msg[512];
    attn_aot_weights *w = NULL;
    attn_pool *pool = attn_pool_new(2);
    if (COMPILED.ninputs > 64 || read_inputs(argv[2], in) != 0)
        fprintf(stderr, "%s: cannot read the inputs\n", argv[2]);
    else if (CAT(AOT_MODEL, _load_weights)(argv[1], &w, &err) != ATTN_OK)
        fprintf(stderr, "%s\n", err);
    else if (attn_aot_run(&COMPILED, &CAT(AOT_MODEL, _weight_table), AOT_ENTRY, w, pool, in, COMPILED.ninputs, &out,
                          &nout, &err) != ATTN_OK)
        fprintf(stderr, "%s\n", err);
    else if (st_write(argv[3], out, nout, msg, sizeof msg) != 0)
        fprintf(stderr, "%s\n", msg);
    else
        rc = 0;
    attn_tensors_free(out, nout);
    for (int i = 0; i < COMPILED.ninputs && i < 64; i++)
        free(in[i].data);
    attn_string_free(err);
    CAT(AOT_MODEL, _free_weights)(w);
    attn_pool_free(pool);
    return rc;
}
