/*
 * main.c — the zoo's nn.GRU compiled ahead of time (attnc compile gru.attn
 * -o gru, see CMakeLists.txt) and linked with the runtime library only: no
 * LLVM, no compiler.
 *
 *     aot_gru WEIGHTS.safetensors                   generated inputs (B=2, T=4); prints h_n
 *     aot_gru WEIGHTS.safetensors IN [OUT]          inputs from IN; prints the outputs' shapes or writes OUT
 *     aot_gru --gen B T FILE                        writes generated inputs of batch B, length T to FILE
 */
#include "gru.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* input f32[B, T, E], h_0 f32[L, B, H]: the fixed dims from the header */
enum { E = GRU_FORWARD_IN0_DIM2, L = GRU_FORWARD_IN1_DIM0, H = GRU_FORWARD_IN1_DIM2 };

/* Deterministic inputs of batch b and length t, in in[0..1] (data malloc'd). */
static int generate(int64_t b, int64_t t, attn_tensor *in) {
    in[0] = (attn_tensor){GRU_FORWARD_IN0_NAME, ATTN_F32, 3, {b, t, E}, malloc(sizeof(float) * (size_t)(b * t * E))};
    in[1] = (attn_tensor){GRU_FORWARD_IN1_NAME, ATTN_F32, 3, {L, b, H}, malloc(sizeof(float) * (size_t)(L * b * H))};
    if (!in[0].data || !in[1].data)
        return -1;
    for (int64_t i = 0; i < b * t * E; i++)
        ((float *)in[0].data)[i] = (float)((i % 7) - 3) / 4.0f;
    for (int64_t i = 0; i < L * b * H; i++)
        ((float *)in[1].data)[i] = t == 4 ? 0.0f : (float)((i % 5) - 2) / 8.0f; /* t = 4: as gru_api.c */
    return 0;
}

/* Reads the inputs named in the header from a safetensors file, as f32. */
static int read_inputs(const char *path, attn_tensor *in) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    const char *names[GRU_FORWARD_NINPUTS] = {GRU_FORWARD_IN0_NAME, GRU_FORWARD_IN1_NAME};
    int rc = 0;
    for (int i = 0; i < GRU_FORWARD_NINPUTS && rc == 0; i++) {
        const StTensor *t = st_find(f, names[i]);
        in[i] = (attn_tensor){.name = names[i], .dtype = ATTN_F32};
        if (!t) {
            fprintf(stderr, "%s: no tensor '%s'\n", path, names[i]);
            rc = -1;
        } else if (st_convert(t, ATTN_F32, &in[i].data, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            rc = -1;
        } else {
            in[i].rank = t->rank;
            for (int d = 0; d < t->rank; d++)
                in[i].shape[d] = t->shape[d];
        }
    }
    st_close(f);
    return rc;
}

int main(int argc, char **argv) {
    attn_tensor in[GRU_FORWARD_NINPUTS] = {0}, *out = NULL;
    int nout = 0, rc = 1;
    char *err = NULL, msg[512];
    if (argc == 5 && strcmp(argv[1], "--gen") == 0) {
        rc = generate(atoll(argv[2]), atoll(argv[3]), in) || st_write(argv[4], in, 2, msg, sizeof msg);
        if (rc)
            fprintf(stderr, "%s\n", msg);
        free(in[0].data);
        free(in[1].data);
        return rc;
    }
    if (argc < 2 || argc > 4 || argv[1][0] == '-') {
        fprintf(stderr, "usage: aot_gru WEIGHTS [IN [OUT]] | aot_gru --gen B T FILE\n");
        return 2;
    }
    attn_aot_weights *w = NULL;
    attn_pool *pool = attn_pool_new(0); /* every core; NULL would run on this thread */
    if (gru_load_weights(argv[1], &w, &err) != ATTN_OK)
        fprintf(stderr, "%s\n", err);
    else if (argc >= 3 ? read_inputs(argv[2], in) : generate(2, 4, in))
        fprintf(stderr, "cannot read or make the inputs\n");
    else if (gru_forward(w, pool, in, GRU_FORWARD_NINPUTS, &out, &nout, &err) != ATTN_OK)
        fprintf(stderr, "%s\n", err);
    else if (argc == 4 && st_write(argv[3], out, nout, msg, sizeof msg) != 0)
        fprintf(stderr, "%s\n", msg);
    else
        rc = 0;
    for (int i = 0; rc == 0 && argc < 4 && i < nout; i++) {
        printf("%s: [%lld, %lld, %lld]\n", out[i].name, (long long)out[i].shape[0], (long long)out[i].shape[1],
               (long long)out[i].shape[2]);
        for (int k = 0; k < H; k++)
            printf("%s%.5f", k ? " " : "  ", ((const float *)out[i].data)[k]);
        printf("\n");
    }
    attn_tensors_free(out, nout);
    attn_string_free(err);
    free(in[0].data);
    free(in[1].data);
    attn_pool_free(pool);
    gru_free_weights(w);
    return rc;
}
