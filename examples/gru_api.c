/*
 * gru_api.c — the in-process API, step by step: load the zoo's nn.GRU model,
 * bind PyTorch weights, compile the entry once, run it on a batch built in C,
 * and print the final hidden state.
 *
 *     gru_api MODELS_DIR WEIGHTS.safetensors
 */
#include <attn/attn.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gru_api MODELS_DIR WEIGHTS.safetensors\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/gru.attn", argv[1]);
    attn_model *m = attn_model_new();
    attn_program *p = NULL;
    attn_model_set(m, "num_layers", "2");
    attn_model_set(m, "bidirectional", "true");
    /* input_size and hidden_size are solved from the weights' shapes */
    if (attn_model_load(m, path) || attn_model_bind_weights(m, argv[2]) ||
        attn_model_compile(m, "forward", NULL, &p)) {
        fprintf(stderr, "%s", attn_model_errors(m));
        attn_model_free(m);
        return 1;
    }
    attn_model_free(m); /* the program keeps what it needs */

    enum { B = 2, T = 4, E = 5, H = 7, LAYERS = 4 };
    static float x[B * T * E], h0[LAYERS * B * H];
    for (int i = 0; i < B * T * E; i++)
        x[i] = (float)((i % 7) - 3) / 4.0f;
    attn_tensor in[2] = {
        {.name = "input", .dtype = ATTN_F32, .rank = 3, .shape = {B, T, E}, .data = x},
        {.name = "h_0", .dtype = ATTN_F32, .rank = 3, .shape = {LAYERS, B, H}, .data = h0},
    };
    attn_tensor *out;
    int nout;
    char *err;
    int rc = 0;
    for (int run = 0; run < 3 && rc == 0; run++) /* compiled once, run many times */
        if (attn_program_run(p, in, 2, &out, &nout, &err)) {
            fprintf(stderr, "%s\n", err);
            attn_string_free(err);
            rc = 1;
        } else if (run < 2)
            attn_tensors_free(out, nout);
    if (rc == 0) {
        const attn_tensor *h_n = &out[1];
        printf("%s: [%lld, %lld, %lld]\n", h_n->name, (long long)h_n->shape[0], (long long)h_n->shape[1],
               (long long)h_n->shape[2]);
        const float *v = h_n->data;
        for (int i = 0; i < H; i++)
            printf("%s%.5f", i ? " " : "  ", v[i]);
        printf("\n");
        attn_tensors_free(out, nout);
    }
    attn_program_free(p);
    return rc;
}
