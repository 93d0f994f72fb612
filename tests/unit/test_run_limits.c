/*
 * test_run_limits.c — hostile shapes of an entry and hostile names, on both
 * engines and on the runner of compiled code that AOT objects link:
 *  - a source named with '%' whose run reports an error: the message carries
 *    the name verbatim (it was once used as a printf format);
 *  - entries with 65 and 256 outputs run on both engines alike, 257 are
 *    refused when compiling;
 *  - a scan whose invariant work would need more than ATTN_LIMIT_SCAN_CAPTURES
 *    captures once hoisted runs on the JIT as on the interpreter;
 *  - an attn_compiled (as an AOT header spells it) with more inputs or outputs
 *    than the limits is refused before anything is written, and one with 256
 *    outputs runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"
#include "attn_limits.h"
#include "compiled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A growing source text. */
typedef struct {
    char *s;
    size_t len, cap;
} Text;

__attribute__((format(printf, 2, 3)))
static void add(Text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* Compiles entry "f" of src (named name) for backend; NULL with the model's
 * diagnostics in *errors (malloc'd) when it does not compile. */
static attn_program *compile_source(const char *name, const char *src, attn_backend backend, char **errors) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    attn_program *p = NULL;
    attn_compile_options opt = {.backend = backend, .threads = 1};
    if (attn_model_load_source(m, name, src) != ATTN_OK || attn_model_compile(m, "f", &opt, &p) != ATTN_OK) {
        *errors = strdup(attn_model_errors(m));
        p = NULL;
    }
    attn_model_free(m);
    return p;
}

static const attn_backend backends[] = {ATTN_BACKEND_JIT, ATTN_BACKEND_INTERP};

/* ---- a name with '%' --------------------------------------------------- */

static void percent_name_in_run_error(void **state) {
    (void)state;
    /* %n writes through a stack value and %lld prints one when the name is a format */
    const char *name = "m_%n%n%n%n%lld%s.attn";
    const char *src = "entry f(x: f32[B, T]) -> y {\n  return reshape(x, [B, 3])\n}\n";
    float x[8] = {0};
    attn_tensor in = {.name = "x", .dtype = ATTN_F32, .rank = 2, .shape = {2, 4}, .data = x};
    for (int b = 0; b < 2; b++) {
        char *errors = NULL, *err = NULL;
        attn_program *p = compile_source(name, src, backends[b], &errors);
        assert_non_null(p);
        attn_tensor *out = NULL;
        int nout = 0;
        assert_int_equal(attn_program_run(p, &in, 1, &out, &nout, &err), ATTN_ERR_INPUT);
        assert_non_null(err);
        assert_string_equal(err, "m_%n%n%n%n%lld%s.attn:2:10: error: reshape of 8 elements into 6");
        attn_string_free(err);
        attn_program_free(p);
    }
}

/* An AOT header carries the same site texts: '%' of the name doubled, for the
 * runner's expansion (compiled_site_message), never a printf format. */
static void percent_name_in_aot_header(void **state) {
    (void)state;
    char dir[] = "/tmp/attn_run_limits_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[64], header[80];
    snprintf(out, sizeof out, "%s/m", dir);
    snprintf(header, sizeof header, "%s/m.h", dir);
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load_source(m, "m_%n%lld.attn",
                                            "entry f(x: f32[B, T]) -> y {\n  return reshape(x, [B, 3])\n}\n"),
                     ATTN_OK);
    assert_int_equal(attn_model_compile_aot(m, "f", out, NULL), ATTN_OK);
    attn_model_free(m);
    FILE *f = fopen(header, "r");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "\"m_%%n%%lld.attn:2:10: error: reshape of %lld elements into %lld\""));
    remove(header);
    snprintf(header, sizeof header, "%s/m.o", dir);
    remove(header);
    rmdir(dir);
}

/* ---- many outputs ------------------------------------------------------ */

/* "entry f(x: f32[B, 3]) -> (y0, ..., y{n-1})" returning x * i + i for output i. */
static char *outputs_source(int n) {
    Text t = {0};
    add(&t, "entry f(x: f32[B, 3]) -> (");
    for (int i = 0; i < n; i++)
        add(&t, "%sy%d", i ? ", " : "", i);
    add(&t, ") {\n  return ");
    for (int i = 0; i < n; i++)
        add(&t, "%sx * %d.0 + %d.0", i ? ", " : "", i, i);
    add(&t, "\n}\n");
    return t.s;
}

static void check_outputs(int n) {
    char *src = outputs_source(n);
    float x[6] = {1, 2, 3, 4, 5, 6};
    attn_tensor in = {.name = "x", .dtype = ATTN_F32, .rank = 2, .shape = {2, 3}, .data = x};
    for (int b = 0; b < 2; b++) {
        char *errors = NULL, *err = NULL;
        attn_program *p = compile_source("outputs.attn", src, backends[b], &errors);
        if (!p)
            fail_msg("%s", errors);
        assert_int_equal(attn_program_output_count(p), n);
        attn_tensor *out = NULL;
        int nout = 0;
        attn_status st = attn_program_run(p, &in, 1, &out, &nout, &err);
        if (st != ATTN_OK)
            fail_msg("backend %d, %d outputs: %s", b, n, err);
        assert_int_equal(nout, n);
        for (int i = 0; i < n; i++) {
            assert_int_equal(out[i].rank, 2);
            const float *y = out[i].data;
            for (int k = 0; k < 6; k++)
                assert_float_equal(y[k], x[k] * (float)i + (float)i, 1e-6);
        }
        attn_tensors_free(out, nout);
        attn_program_free(p);
    }
    free(src);
}

static void outputs_65_and_256(void **state) {
    (void)state;
    check_outputs(65);
    check_outputs(ATTN_LIMIT_OUTPUTS);
}

static void outputs_257_refused(void **state) {
    (void)state;
    char *src = outputs_source(ATTN_LIMIT_OUTPUTS + 1), *errors = NULL;
    for (int b = 0; b < 2; b++) {
        assert_null(compile_source("outputs.attn", src, backends[b], &errors));
        assert_non_null(strstr(errors, "outputs.attn:1:7: error: entry 'f' has 257 outputs, more than the limit of 256 "
                                       "(ATTN_LIMIT_OUTPUTS)"));
        free(errors);
    }
    free(src);
}

/* ---- a scan whose hoisted work would capture too many values ------------ */

static void scan_hoisting_within_capture_limit(void **state) {
    (void)state;
    /* each product is invariant: hoisted, every one would be a capture */
    enum { N = ATTN_LIMIT_SCAN_CAPTURES + 16 };
    Text t = {0};
    add(&t, "entry f(xs: f32[2, T, 1], x: f32[2, 1], h0: f32[2, 1]) -> h_n {\n"
            "  ys, h_n = scan(x_t in xs, h = h0) {\n"
            "    for i in 0..%d {\n      h = h + x * (i * 0.001)\n    }\n"
            "    yield h + x_t\n  }\n  return h_n\n}\n", N);
    float xs[6] = {0, 0.5f, 1, 1.5f, 2, 2.5f}, x[2] = {0.3f, -0.2f}, h0[2] = {1, 2};
    attn_tensor in[3] = {{.name = "xs", .dtype = ATTN_F32, .rank = 3, .shape = {2, 3, 1}, .data = xs},
                         {.name = "x", .dtype = ATTN_F32, .rank = 2, .shape = {2, 1}, .data = x},
                         {.name = "h0", .dtype = ATTN_F32, .rank = 2, .shape = {2, 1}, .data = h0}};
    float result[2][2];
    for (int b = 0; b < 2; b++) {
        char *errors = NULL, *err = NULL;
        attn_program *p = compile_source("captures.attn", t.s, backends[b], &errors);
        if (!p)
            fail_msg("backend %d: %s", b, errors);
        attn_tensor *out = NULL;
        int nout = 0;
        if (attn_program_run(p, in, 3, &out, &nout, &err) != ATTN_OK)
            fail_msg("backend %d: %s", b, err);
        assert_int_equal(nout, 1);
        memcpy(result[b], out[0].data, sizeof result[b]);
        attn_tensors_free(out, nout);
        attn_program_free(p);
    }
    for (int k = 0; k < 2; k++)
        assert_float_equal(result[0][k], result[1][k], 1e-3 * (1 + (result[1][k] < 0 ? -result[1][k] : result[1][k])));
    free(t.s);
}

/* ---- the runner of compiled code, as an AOT header drives it ------------ */

enum { MANY = 300 };
static attn_sig_tensor sig[MANY];
static const char *names[MANY];
static int ran, fake_ninputs, fake_noutputs;

static int64_t fake_workspace(const int64_t *syms, int64_t *count) {
    (void)syms;
    (void)count;
    return 0;
}

/* every input and output is f32[2] */
static int32_t fake_input_dims(const void *self, const int64_t *syms, int64_t *dims) {
    (void)self;
    (void)syms;
    for (int i = 0; i < fake_ninputs; i++)
        dims[i * ATTN_MAX_RANK] = 2;
    return 0;
}

static int32_t fake_output_dims(const void *self, const int64_t *syms, int64_t *dims) {
    (void)self;
    (void)syms;
    for (int i = 0; i < fake_noutputs; i++)
        dims[i * ATTN_MAX_RANK] = 2;
    return 0;
}

/* output i gets i in both elements; fails at site 0 with numbers 7, 8, 9 when there is 1 output */
static int32_t fake_run(attn_run_ctx *ctx) {
    ran++;
    int n = 0;
    while (n < MANY && ctx->outputs[n])
        n++;
    if (n == 1) {
        ctx->err[0] = 7, ctx->err[1] = 8, ctx->err[2] = 9;
        return 1;
    }
    for (int i = 0; i < n; i++)
        ((float *)ctx->outputs[i])[0] = ((float *)ctx->outputs[i])[1] = (float)i;
    return 0;
}

static void fake_stats(const int64_t *syms, int64_t *out) {
    (void)syms;
    memset(out, 0, sizeof(int64_t) * ATTN_NSTATS);
}

static attn_compiled fake_entry(int ninputs, int noutputs) {
    static char text[MANY][16];
    for (int i = 0; i < MANY; i++) {
        snprintf(text[i], sizeof text[i], "t%d", i);
        names[i] = text[i];
        sig[i] = (attn_sig_tensor){.name = text[i], .dtype = ATTN_F32, .rank = 1, .sym = {-1}, .type_text = "f32[2]",
                                 .dim_text = {"2"}};
    }
    fake_ninputs = ninputs;
    fake_noutputs = noutputs;
    static const char *const sites[] = {"m_%%n%%n%%s.attn:1:1: error: %lld, %lld and %lld; 100%%"};
    return (attn_compiled){.entry = "f", .ninputs = ninputs, .inputs = sig, .noutputs = noutputs, .outputs = sig,
                          .nsites = 1, .sites = sites, .workspace = fake_workspace,
                          .input_dims = fake_input_dims, .output_dims = fake_output_dims, .run = fake_run};
}

static attn_tensor *fake_inputs(int n) {
    static float data[2];
    static attn_tensor in[MANY];
    for (int i = 0; i < n; i++)
        in[i] = (attn_tensor){.name = names[i], .dtype = ATTN_F32, .rank = 1, .shape = {2}, .data = data};
    return in;
}

static void compiled_too_many_inputs(void **state) {
    (void)state;
    attn_compiled c = fake_entry(MANY, 2);
    attn_tensor *in = fake_inputs(MANY), *out = NULL;
    int nout = 0;
    char *err = NULL;
    ran = 0;
    assert_int_equal(attn_compiled_run(&c, NULL, NULL, in, MANY, &out, &nout, &err), ATTN_ERR_INPUT);
    assert_string_equal(err, "error: entry f has 300 inputs, more than the limit of 64 (ATTN_LIMIT_INPUTS)");
    free(err);
    attn_run_stats stats;
    assert_int_equal(attn_compiled_stats(&c, fake_stats, in, MANY, &stats, &err), ATTN_ERR_INPUT);
    assert_non_null(strstr(err, "ATTN_LIMIT_INPUTS"));
    free(err);
    assert_int_equal(ran, 0);
}

static void compiled_outputs(void **state) {
    (void)state;
    attn_tensor *in = fake_inputs(ATTN_LIMIT_INPUTS), *out = NULL;
    int nout = 0;
    char *err = NULL;
    attn_compiled c = fake_entry(ATTN_LIMIT_INPUTS, MANY);
    ran = 0;
    assert_int_equal(attn_compiled_run(&c, NULL, NULL, in, ATTN_LIMIT_INPUTS, &out, &nout, &err), ATTN_ERR_INPUT);
    assert_string_equal(err, "error: entry f has 300 outputs, more than the limit of 256 (ATTN_LIMIT_OUTPUTS)");
    free(err);
    assert_int_equal(ran, 0);

    c = fake_entry(ATTN_LIMIT_INPUTS, ATTN_LIMIT_OUTPUTS);
    assert_int_equal(attn_compiled_run(&c, NULL, NULL, in, ATTN_LIMIT_INPUTS, &out, &nout, &err), ATTN_OK);
    assert_int_equal(nout, ATTN_LIMIT_OUTPUTS);
    for (int i = 0; i < nout; i++)
        assert_float_equal(((float *)out[i].data)[1], (float)i, 0);
    attn_tensors_free(out, nout);
    attn_run_stats stats;
    assert_int_equal(attn_compiled_stats(&c, fake_stats, in, ATTN_LIMIT_INPUTS, &stats, &err), ATTN_OK);
}

/* A site's text is expanded by the runner: its numbers and its own '%'. */
static void compiled_site_message(void **state) {
    (void)state;
    attn_compiled c = fake_entry(1, 1);
    attn_tensor *in = fake_inputs(1), *out = NULL;
    int nout = 0;
    char *err = NULL;
    assert_int_equal(attn_compiled_run(&c, NULL, NULL, in, 1, &out, &nout, &err), ATTN_ERR_INPUT);
    assert_string_equal(err, "m_%n%n%s.attn:1:1: error: 7, 8 and 9; 100%");
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percent_name_in_run_error),
        cmocka_unit_test(percent_name_in_aot_header),
        cmocka_unit_test(outputs_65_and_256),
        cmocka_unit_test(outputs_257_refused),
        cmocka_unit_test(scan_hoisting_within_capture_limit),
        cmocka_unit_test(compiled_too_many_inputs),
        cmocka_unit_test(compiled_outputs),
        cmocka_unit_test(compiled_site_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
