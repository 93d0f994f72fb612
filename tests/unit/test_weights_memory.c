/*
 * test_weights_memory.c — what a model keeps of its bound weights.
 *
 * A BERT of a few pages per weight is bound from a BF16 safetensors file and,
 * as the reference, from an F32 file of the same values widened. Compiled
 * with bf16, int8 and f32 product weights and on the interpreter, the BF16
 * file gives bit for bit the results of the widened one, while the model
 * copies only the weights something reads unpacked (the F32 file's are read
 * in place: no copy at all) and, on the JIT, not even the embedding tables,
 * which only gathers read: their BF16 bits are read where they lie, also by a
 * greedy seq2seq decoder's lookups inside its decoding scan. The same
 * models compiled again after their packed weights were released (copies
 * freed, pages of the mapping handed back) still give the results of a model
 * bound from an image in memory, which releases nothing. A BF16 image whose
 * tensors are not 2-byte aligned is widened as before; a truncated BF16 file
 * is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"
#include "safetensors.h"
#include "st_testfiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A model with hyperparameters, and what its embedding tables are called. */
typedef struct {
    const char *path;
    const char *const (*hypers)[2];
    size_t nhypers;
    const char *table; /* a part of the key of each embedding table (only gathers read them) */
} Net;

/* BERT with 64×64 and 256×64 products (4 and 16 pages of f32) */
static const char *const bert_hypers[][2] = {
    {"vocab_size", "96"}, {"hidden_size", "64"}, {"num_hidden_layers", "2"}, {"num_attention_heads", "2"},
    {"intermediate_size", "256"}, {"max_position_embeddings", "16"}, {"type_vocab_size", "2"},
};
static const Net bert_net = {"models/bert.attn", bert_hypers, 7, "_embeddings.weight"};
/* a greedy decoder: the target table is looked up inside the decoding scan */
static const char *const s2s_hypers[][2] = {
    {"vocab_src", "13"}, {"vocab_tgt", "11"}, {"embed_dim", "37"}, {"hidden_size", "6"}, {"attn_size", "4"},
};
static const Net s2s_net = {"models/seq2seq_attention.attn", s2s_hypers, 5, "embedding_"};
enum { B = 2, L = 7, H = 64, MAX_WEIGHTS = 64 };

/* The weights a model declares, with values bf16 can hold exactly. */
typedef struct {
    attn_tensor t[MAX_WEIGHTS];
    int n;
    int64_t f32_bytes;   /* all of them as f32 */
    int64_t table_bytes; /* the embedding tables as f32 */
} Weights;

static Weights weights, s2s_weights; /* BERT's and the decoder's */
static char bf16_path[4200], f32_path[4200], s2s_bf16_path[4200], s2s_f32_path[4200];

static attn_model *load(const Net *net) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    for (size_t i = 0; i < net->nhypers; i++)
        assert_int_equal(attn_model_set(m, net->hypers[i][0], net->hypers[i][1]), ATTN_OK);
    if (attn_model_load(m, net->path) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    return m;
}

static attn_model *bert(void) { return load(&bert_net); }

/* Values in [-0.5, 0.5) from a fixed sequence, cut to bf16's 8 bits of mantissa. */
static float next_value(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    float v = (float)(*state >> 8) / 16777216.0f - 0.5f;
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= 0xffff0000u;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static void make_weights(Weights *w, const Net *net) {
    attn_model *m = load(net);
    uint32_t state = 12345;
    w->n = attn_model_weight_count(m);
    assert_true(w->n > 0 && w->n <= MAX_WEIGHTS);
    for (int i = 0; i < w->n; i++) {
        attn_tensor_info info;
        assert_int_equal(attn_model_weight_info(m, i, &info), ATTN_OK);
        assert_int_equal(info.dtype, ATTN_F32);
        attn_tensor *t = &w->t[i];
        *t = (attn_tensor){.name = strdup(info.name), .dtype = ATTN_F32, .rank = info.rank};
        memcpy(t->shape, info.shape, sizeof info.shape);
        int64_t n = attn_tensor_numel(t);
        float *v = malloc((size_t)n * sizeof *v);
        assert_non_null(v);
        for (int64_t j = 0; j < n; j++)
            v[j] = next_value(&state);
        t->data = v;
        w->f32_bytes += n * (int64_t)sizeof(float);
        if (strstr(t->name, net->table))
            w->table_bytes += n * (int64_t)sizeof(float);
    }
    attn_model_free(m);
}

/* The weights as a BF16 safetensors file: the upper half of each float. */
static void write_bf16_file(const Weights *w, const char *path) {
    char *json = malloc(65536);
    assert_non_null(json);
    size_t len = (size_t)snprintf(json, 65536, "{");
    int64_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const attn_tensor *t = &w->t[i];
        int64_t bytes = attn_tensor_numel(t) * 2;
        len += (size_t)snprintf(json + len, 65536 - len, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[", i ? "," : "",
                                t->name);
        for (int d = 0; d < t->rank; d++)
            len += (size_t)snprintf(json + len, 65536 - len, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        len += (size_t)snprintf(json + len, 65536 - len, "],\"data_offsets\":[%lld,%lld]}", (long long)offset,
                                (long long)(offset + bytes));
        offset += bytes;
    }
    len += (size_t)snprintf(json + len, 65536 - len, "}");
    while (len % 8)
        json[len++] = ' ';
    assert_true(len < 65536);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t hlen = len;
    assert_int_equal(fwrite(&hlen, 8, 1, f), 1);
    assert_int_equal(fwrite(json, 1, len, f), len);
    for (int i = 0; i < w->n; i++) {
        const float *v = w->t[i].data;
        for (int64_t j = 0; j < attn_tensor_numel(&w->t[i]); j++) {
            uint32_t bits;
            memcpy(&bits, &v[j], sizeof bits);
            uint16_t half = (uint16_t)(bits >> 16);
            assert_int_equal(fwrite(&half, 2, 1, f), 1);
        }
    }
    assert_int_equal(fclose(f), 0);
    free(json);
}

/* w written as a BF16 file and as an F32 file of the same values in stf_dir. */
static void write_files(const Weights *w, const char *name, char *bf16, char *f32) {
    snprintf(bf16, 4200, "%s/%s_bf16.safetensors", stf_dir, name);
    snprintf(f32, 4200, "%s/%s_f32.safetensors", stf_dir, name);
    write_bf16_file(w, bf16);
    char err[512];
    if (st_write(f32, w->t, w->n, err, sizeof err))
        fail_msg("%s", err);
}

static int setup(void **state) {
    if (stf_group_setup(state))
        return -1;
    make_weights(&weights, &bert_net);
    assert_int_equal(weights.table_bytes, (96 + 16 + 2) * H * (int64_t)sizeof(float));
    write_files(&weights, "bert", bf16_path, f32_path);
    make_weights(&s2s_weights, &s2s_net);
    assert_int_equal(s2s_weights.table_bytes, (13 + 11) * 37 * (int64_t)sizeof(float));
    write_files(&s2s_weights, "s2s", s2s_bf16_path, s2s_f32_path);
    return 0;
}

static void free_weights(Weights *w) {
    for (int i = 0; i < w->n; i++) {
        free((char *)w->t[i].name);
        free(w->t[i].data);
    }
}

static int teardown(void **state) {
    free_weights(&weights);
    free_weights(&s2s_weights);
    return stf_group_teardown(state);
}

static attn_model *bound(const char *path) {
    attn_model *m = bert();
    if (attn_model_bind_weights(m, path) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    return m;
}

/* The outputs of one run of p, which must succeed with nout tensors. */
static attn_tensor *run_ok(const attn_program *p, const attn_tensor *in, int nin, int nout) {
    attn_tensor *out = NULL;
    int got = 0;
    char *error = NULL;
    if (attn_program_run(p, in, nin, &out, &got, &error) != ATTN_OK)
        fail_msg("%s", error);
    assert_int_equal(got, nout);
    return out;
}

/* Both outputs of one run, and (JIT) the run's statistics. */
typedef struct {
    float hidden[B * L * H], pooled[B * H];
    attn_run_stats stats;
} Result;

static void run(attn_model *m, attn_backend backend, attn_weights_dtype dtype, Result *r) {
    attn_program *p = NULL;
    attn_compile_options opt = {.backend = backend, .threads = 1, .weights_dtype = dtype};
    if (attn_model_compile(m, "forward", &opt, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    int64_t ids[B * L], types[B * L], mask[B * L];
    for (int i = 0; i < B * L; i++) {
        ids[i] = (i * 37 + 5) % 96;
        types[i] = i % 3 == 0;
        mask[i] = !(i / L == 1 && i % L >= 5); /* the second row's last two are padding */
    }
    attn_tensor in[3] = {
        {.name = "input_ids", .dtype = ATTN_I64, .rank = 2, .shape = {B, L}, .data = ids},
        {.name = "token_type_ids", .dtype = ATTN_I64, .rank = 2, .shape = {B, L}, .data = types},
        {.name = "attention_mask", .dtype = ATTN_I64, .rank = 2, .shape = {B, L}, .data = mask},
    };
    attn_tensor *out = run_ok(p, in, 3, 2);
    assert_int_equal(attn_tensor_numel(&out[0]), B * L * H);
    assert_int_equal(attn_tensor_numel(&out[1]), B * H);
    memcpy(r->hidden, out[0].data, sizeof r->hidden);
    memcpy(r->pooled, out[1].data, sizeof r->pooled);
    attn_tensors_free(out, 2);
    memset(&r->stats, 0, sizeof r->stats);
    char *error = NULL;
    if (backend == ATTN_BACKEND_JIT && attn_program_run_stats(p, in, 3, &r->stats, &error) != ATTN_OK)
        fail_msg("%s", error);
    attn_program_free(p);
}

static void same_outputs(const Result *a, const Result *b) {
    assert_memory_equal(a->hidden, b->hidden, sizeof a->hidden);
    assert_memory_equal(a->pooled, b->pooled, sizeof a->pooled);
}

/* The BF16 file gives the widened file's results, and the model copies only
 * what is read unpacked but the embedding tables, whose BF16 bits the JIT's
 * gathers read in place: the F32 file's are read in place, copied never. */
static void bf16_file_as_widened(void **state) {
    (void)state;
    attn_model *file16 = bound(bf16_path), *file32 = bound(f32_path);
    static Result a, b;
    const int64_t tables = weights.table_bytes;
    for (attn_weights_dtype dt = ATTN_WEIGHTS_F32; dt <= ATTN_WEIGHTS_INT8; dt++) {
        run(file16, ATTN_BACKEND_JIT, dt, &a);
        run(file32, ATTN_BACKEND_JIT, dt, &b);
        same_outputs(&a, &b);
        /* the program holds the tables as the file's bf16, half the f32 */
        assert_int_equal(a.stats.weight_bytes[ATTN_WEIGHTS_F32], b.stats.weight_bytes[ATTN_WEIGHTS_F32] - tables);
        assert_int_equal(a.stats.weight_bytes[ATTN_WEIGHTS_BF16], b.stats.weight_bytes[ATTN_WEIGHTS_BF16] + tables / 2);
        assert_int_equal(a.stats.weight_bytes[ATTN_WEIGHTS_INT8], b.stats.weight_bytes[ATTN_WEIGHTS_INT8]);
        /* nothing copied from the F32 file; from the BF16 file only the
           other weights read unpacked (biases, layer norms), which the F32
           file's model reads in place with the tables */
        assert_int_equal(b.stats.model_weight_bytes[0], 0);
        assert_int_equal(a.stats.model_weight_bytes[1], tables / 2);
        assert_int_equal(a.stats.model_weight_bytes[0], b.stats.model_weight_bytes[1] - tables);
        assert_true(a.stats.model_weight_bytes[0] > 0);
        assert_true(a.stats.model_weight_bytes[0] * 5 < weights.f32_bytes);
    }
    /* the interpreter reads every weight as it is: all widened, for good
       (the tables' bits stay read in place for the JIT programs) */
    run(file16, ATTN_BACKEND_INTERP, ATTN_WEIGHTS_F32, &a);
    run(file32, ATTN_BACKEND_INTERP, ATTN_WEIGHTS_F32, &b);
    same_outputs(&a, &b);
    run(file16, ATTN_BACKEND_JIT, ATTN_WEIGHTS_BF16, &a);
    run(file32, ATTN_BACKEND_JIT, ATTN_WEIGHTS_BF16, &b);
    same_outputs(&a, &b);
    assert_int_equal(a.stats.model_weight_bytes[0], weights.f32_bytes);
    assert_int_equal(a.stats.model_weight_bytes[1], tables / 2);
    assert_int_equal(b.stats.model_weight_bytes[1], weights.f32_bytes);
    attn_model_free(file16);
    attn_model_free(file32);
}

/* The BF16 file's bytes as an image one byte past an aligned address: its
 * BF16 data is not 2-byte aligned, so the tables are widened as before, with
 * the same results. */
static void unaligned_bf16_image(void **state) {
    (void)state;
    FILE *f = fopen(bf16_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = aligned_alloc(64, (len + 64) / 64 * 64);
    assert_non_null(buf);
    assert_int_equal(fread(buf + 1, 1, len, f), len);
    fclose(f);
    attn_model *odd = bert(), *file32 = bound(f32_path);
    if (attn_model_bind_weights_memory(odd, buf + 1, len) != ATTN_OK)
        fail_msg("%s", attn_model_errors(odd));
    static Result a, b;
    run(odd, ATTN_BACKEND_JIT, ATTN_WEIGHTS_BF16, &a);
    run(file32, ATTN_BACKEND_JIT, ATTN_WEIGHTS_BF16, &b);
    same_outputs(&a, &b);
    assert_memory_equal(a.stats.weight_bytes, b.stats.weight_bytes, sizeof a.stats.weight_bytes);
    assert_int_equal(a.stats.model_weight_bytes[0], b.stats.model_weight_bytes[1]);
    assert_int_equal(a.stats.model_weight_bytes[1], 0);
    attn_model_free(odd);
    attn_model_free(file32);
    free(buf);
}

/* The greedy decoder's outputs (tokens, attention) as bytes, and the run's statistics. */
typedef struct {
    unsigned char bytes[2][4096];
    size_t len[2];
    attn_run_stats stats;
} Decoded;

static void decode(attn_model *m, attn_weights_dtype dtype, Decoded *r) {
    attn_program *p = NULL;
    attn_compile_options opt = {.backend = ATTN_BACKEND_JIT, .threads = 1, .weights_dtype = dtype};
    if (attn_model_compile(m, "greedy", &opt, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    enum { S = 4, M = 6 };
    int64_t src[B * S], steps[M] = {0};
    bool mask[B * S];
    for (int i = 0; i < B * S; i++) {
        src[i] = (i * 5 + 3) % 13;
        mask[i] = i == B * S - 1; /* the second source's last token is padding */
    }
    attn_tensor in[3] = {
        {.name = "src", .dtype = ATTN_I64, .rank = 2, .shape = {B, S}, .data = src},
        {.name = "src_mask", .dtype = ATTN_BOOL, .rank = 2, .shape = {B, S}, .data = mask},
        {.name = "max_len", .dtype = ATTN_I64, .rank = 1, .shape = {M}, .data = steps},
    };
    attn_tensor *out = run_ok(p, in, 3, 2);
    for (int i = 0; i < 2; i++) {
        r->len[i] = (size_t)attn_tensor_numel(&out[i]) * attn_dtype_size(out[i].dtype);
        assert_true(r->len[i] > 0 && r->len[i] <= sizeof r->bytes[i]);
        memcpy(r->bytes[i], out[i].data, r->len[i]);
    }
    attn_tensors_free(out, 2);
    char *error = NULL;
    if (attn_program_run_stats(p, in, 3, &r->stats, &error) != ATTN_OK)
        fail_msg("%s", error);
    attn_program_free(p);
}

/* The decoder looks its previous token up inside the decoding scan, in a
 * capture of the target table: both tables are read as the BF16 file's bits
 * there too (rows of 37: vectors and a scalar tail), with the widened file's
 * results. */
static void bf16_tables_in_scan(void **state) {
    (void)state;
    attn_model *file16 = load(&s2s_net), *file32 = load(&s2s_net);
    if (attn_model_bind_weights(file16, s2s_bf16_path) != ATTN_OK || attn_model_bind_weights(file32, s2s_f32_path) != ATTN_OK)
        fail_msg("%s%s", attn_model_errors(file16), attn_model_errors(file32));
    const int64_t tables = s2s_weights.table_bytes;
    static Decoded a, b;
    for (attn_weights_dtype dt = ATTN_WEIGHTS_F32; dt <= ATTN_WEIGHTS_INT8; dt++) {
        decode(file16, dt, &a);
        decode(file32, dt, &b);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(a.len[i], b.len[i]);
            assert_memory_equal(a.bytes[i], b.bytes[i], a.len[i]);
        }
        assert_int_equal(a.stats.weight_bytes[ATTN_WEIGHTS_BF16], b.stats.weight_bytes[ATTN_WEIGHTS_BF16] + tables / 2);
        assert_int_equal(a.stats.model_weight_bytes[0], b.stats.model_weight_bytes[1] - tables);
        assert_int_equal(a.stats.model_weight_bytes[1], tables / 2);
    }
    attn_model_free(file16);
    attn_model_free(file32);
}

/* Compiled again after packing released the weights: the results of a model
 * bound from an image in memory (whose pages are never released). */
static void compiled_again_after_release(void **state) {
    (void)state;
    size_t len = 0;
    void *image = NULL;
    {
        FILE *f = fopen(f32_path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        image = malloc(len);
        assert_non_null(image);
        assert_int_equal(fread(image, 1, len, f), len);
        fclose(f);
    }
    attn_model *mem = bert();
    if (attn_model_bind_weights_memory(mem, image, len) != ATTN_OK)
        fail_msg("%s", attn_model_errors(mem));
    attn_model *file16 = bound(bf16_path), *file32 = bound(f32_path);
    static Result want, got;
    /* first packed (released), then read packed again, then unpacked */
    run(file16, ATTN_BACKEND_JIT, ATTN_WEIGHTS_BF16, &got);
    run(file32, ATTN_BACKEND_JIT, ATTN_WEIGHTS_BF16, &got);
    run(file16, ATTN_BACKEND_JIT, ATTN_WEIGHTS_F32, &got);
    run(mem, ATTN_BACKEND_JIT, ATTN_WEIGHTS_F32, &want);
    same_outputs(&got, &want);
    run(file32, ATTN_BACKEND_JIT, ATTN_WEIGHTS_F32, &got);
    same_outputs(&got, &want);
    run(mem, ATTN_BACKEND_INTERP, ATTN_WEIGHTS_F32, &want);
    run(file32, ATTN_BACKEND_INTERP, ATTN_WEIGHTS_F32, &got);
    same_outputs(&got, &want);
    run(file16, ATTN_BACKEND_INTERP, ATTN_WEIGHTS_F32, &got);
    same_outputs(&got, &want);
    attn_model_free(file16);
    attn_model_free(file32);
    attn_model_free(mem);
    free(image);
}

/* A BF16 file cut short is refused when bound, naming the file. */
static void truncated_bf16_file(void **state) {
    (void)state;
    FILE *in = fopen(bf16_path, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long len = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *bytes = malloc((size_t)len);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)len, in), (size_t)len);
    fclose(in);
    char path[4300];
    snprintf(path, sizeof path, "%s/cut.safetensors", stf_dir);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(bytes, 1, (size_t)len - 2, out), (size_t)len - 2);
    fclose(out);
    free(bytes);
    attn_model *m = bert();
    assert_int_equal(attn_model_bind_weights(m, path), ATTN_ERR_INPUT);
    assert_non_null(strstr(attn_model_errors(m), "cut.safetensors"));
    attn_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bf16_file_as_widened),
        cmocka_unit_test(bf16_tables_in_scan),
        cmocka_unit_test(unaligned_bf16_image),
        cmocka_unit_test(compiled_again_after_release),
        cmocka_unit_test(truncated_bf16_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
