/*
 * gru_aot.c — examples/gru_api.c's run through an ahead-of-time compiled
 * models/gru.attn (gru.h, gru.o): same inputs, same printed result.
 *
 *     gru_aot WEIGHTS.safetensors
 */
#include "gru.h"

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gru_aot WEIGHTS.safetensors\n");
        return 2;
    }
    attn_aot_weights *w = NULL;
    char *err = NULL;
    if (gru_load_weights(argv[1], &w, &err) != ATTN_OK) {
        fprintf(stderr, "%s\n", err);
        attn_string_free(err);
        return 1;
    }
    enum { B = 2, T = 4, E = 5, H = 7, LAYERS = 4 };
    static float x[B * T * E], h0[LAYERS * B * H];
    for (int i = 0; i < B * T * E; i++)
        x[i] = (float)((i % 7) - 3) / 4.0f;
    attn_tensor in[2] = {
        {.name = "input", .dtype = ATTN_F32, .rank = 3, .shape = {B, T, E}, .data = x},
        {.name = "h_0", .dtype = ATTN_F32, .rank = 3, .shape = {LAYERS, B, H}, .data = h0},
    };
    attn_pool *pool = attn_pool_new(2);
    attn_tensor *out = NULL;
    int nout = 0, rc = 0;
    if (gru_forward(w, pool, in, 2, &out, &nout, &err) != ATTN_OK) {
        fprintf(stderr, "%s\n", err);
        attn_string_free(err);
        rc = 1;
    } else {
        const attn_tensor *h_n = &out[1];
        printf("%s: [%lld, %lld, %lld]\n", h_n->name, (long long)h_n->shape[0], (long long)h_n->shape[1],
               (long long)h_n->shape[2]);
        const float *v = h_n->data;
        for (int i = 0; i < H; i++)
            printf("%s%.5f", i ? " " : "  ", v[i]);
        printf("\n");
        attn_tensors_free(out, nout);
    }
    attn_pool_free(pool);
    gru_free_weights(w);
    return rc;
}
