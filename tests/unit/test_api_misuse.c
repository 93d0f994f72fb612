/*
 * test_api_misuse.c — the public API used wrongly: NULL handles and arguments,
 * calls in the wrong order, and bad inputs to attn_program_run. Every misuse
 * must come back as a status and a message, never as a crash; non-finite
 * inputs are not misuse and must propagate through the arithmetic as in
 * PyTorch. What cannot be tested safely (freeing a handle twice, using a
 * freed handle, tensors whose data is shorter than their shape says) is
 * listed in docs/RELIABILITY.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"
#include "diag.h"
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRUCELL_MODEL "models/grucell.attn"
#define GRUCELL_WEIGHTS "tests/golden/fixtures/grucell/weights.safetensors"

/* models/grucell.attn with its golden weights (input_size 5, hidden_size 7). */
static attn_model *grucell_model(void) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_OK);
    assert_int_equal(attn_model_bind_weights(m, GRUCELL_WEIGHTS), ATTN_OK);
    return m;
}

static attn_program *grucell_program(void) {
    attn_model *m = grucell_model();
    attn_program *p = NULL;
    assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_OK);
    assert_non_null(p);
    attn_model_free(m); /* the program keeps what it needs */
    return p;
}

/* Inputs of the GRU cell for a batch of 2, deterministic values. */
typedef struct {
    float x[2 * 5], h[2 * 7];
    attn_tensor t[2];
} CellInputs;

static void cell_inputs(CellInputs *c) {
    for (int i = 0; i < 10; i++)
        c->x[i] = (float)(i % 7) * 0.25f - 0.5f;
    for (int i = 0; i < 14; i++)
        c->h[i] = (float)(i % 5) * 0.2f - 0.4f;
    c->t[0] = (attn_tensor){.name = "input", .dtype = ATTN_F32, .rank = 2, .shape = {2, 5}, .data = c->x};
    c->t[1] = (attn_tensor){.name = "hx", .dtype = ATTN_F32, .rank = 2, .shape = {2, 7}, .data = c->h};
}

/* Runs p on n tensors expecting failure with `status`; checks the message contains `want`. */
static void run_fails(const attn_program *p, const attn_tensor *in, int n, attn_status status, const char *want) {
    attn_tensor *out = (attn_tensor *)1;
    int nout = -1;
    char *err = NULL;
    assert_int_equal(attn_program_run(p, in, n, &out, &nout, &err), status);
    assert_non_null(err);
    if (!strstr(err, want))
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    assert_null(out);
    assert_int_equal(nout, 0);
    attn_string_free(err);
}

/* The model's last errors must contain `want`. */
static void errors_contain(const attn_model *m, const char *want) {
    const char *e = attn_model_errors(m);
    assert_non_null(e);
    if (!strstr(e, want))
        fail_msg("errors \"%s\" lack \"%s\"", e, want);
}

/* ---- NULL handles and arguments ------------------------------------------ */

static void null_model_handle(void **state) {
    (void)state;
    attn_model_free(NULL);
    assert_int_equal(attn_model_add_import_path(NULL, "."), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_set(NULL, "a", "1"), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_load(NULL, GRUCELL_MODEL), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_load_source(NULL, "t.attn", "entry f(x: f32[2]) -> y { return x }"), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_bind_weights(NULL, GRUCELL_WEIGHTS), ATTN_ERR_USAGE);
    assert_non_null(attn_model_errors(NULL));
    char *text = (char *)1;
    assert_int_equal(attn_model_graph_text(NULL, "forward", 0, &text), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_entry_count(NULL), 0);
    assert_null(attn_model_entry_name(NULL, 0));
    attn_program *p = (attn_program *)1;
    assert_int_equal(attn_model_compile(NULL, "forward", NULL, &p), ATTN_ERR_USAGE);
}

static void null_program_handle(void **state) {
    (void)state;
    assert_int_equal(attn_program_input_count(NULL), 0);
    assert_int_equal(attn_program_output_count(NULL), 0);
    assert_null(attn_program_input_name(NULL, 0));
    assert_null(attn_program_output_name(NULL, 0));
    attn_tensor *out = NULL;
    int nout = 0;
    char *err = NULL;
    assert_int_equal(attn_program_run(NULL, NULL, 0, &out, &nout, &err), ATTN_ERR_USAGE);
    assert_non_null(err);
    assert_non_null(strstr(err, "attn_program_run"));
    attn_string_free(err);
    assert_int_equal(attn_program_run(NULL, NULL, 0, &out, &nout, NULL), ATTN_ERR_USAGE);
    attn_program_free(NULL);
    attn_tensors_free(NULL, 3);
    attn_string_free(NULL);
}

static void null_tensor_and_bad_dtype(void **state) {
    (void)state;
    assert_int_equal(attn_tensor_numel(NULL), 0);
    assert_int_equal(attn_dtype_size((attn_dtype)99), 0);
    assert_string_equal(attn_dtype_name((attn_dtype)99), "?");
    assert_string_equal(attn_dtype_name((attn_dtype)-1), "?");
}

static void null_arguments(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_add_import_path(m, NULL), ATTN_ERR_USAGE);
    errors_contain(m, "dir is NULL");
    assert_int_equal(attn_model_set(m, NULL, "1"), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_set(m, "a", NULL), ATTN_ERR_USAGE);
    errors_contain(m, "name or value is NULL");
    assert_int_equal(attn_model_load(m, NULL), ATTN_ERR_USAGE);
    errors_contain(m, "path is NULL");
    assert_int_equal(attn_model_load_source(m, "t.attn", NULL), ATTN_ERR_USAGE);
    errors_contain(m, "src is NULL");
    assert_int_equal(attn_model_load_source(m, NULL, "entry f(x: f32[2]) -> y { return x }"), ATTN_ERR_USAGE);
    /* none of these used the model up: a proper load still works */
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_OK);
    assert_int_equal(attn_model_bind_weights(m, NULL), ATTN_ERR_USAGE);
    errors_contain(m, "path is NULL");
    assert_int_equal(attn_model_graph_text(m, "forward", 0, NULL), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_compile(m, "forward", NULL, NULL), ATTN_ERR_USAGE);
    attn_program *p = (attn_program *)1;
    assert_int_equal(attn_model_compile(m, NULL, NULL, &p), ATTN_ERR_USAGE);
    assert_null(p);
    errors_contain(m, "no entry point named '(null)' (entry points: forward)");
    assert_null(attn_model_entry_name(m, -1));
    assert_null(attn_model_entry_name(m, 1));
    attn_model_free(m);
}

/* ---- calls in the wrong order ------------------------------------------- */

static void compile_before_load(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    attn_program *p = (attn_program *)1;
    assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_ERR_USAGE);
    assert_null(p);
    errors_contain(m, "load the model first");
    char *text = (char *)1;
    assert_int_equal(attn_model_graph_text(m, "forward", 0, &text), ATTN_ERR_USAGE);
    assert_null(text);
    errors_contain(m, "load the model first");
    assert_int_equal(attn_model_entry_count(m), 0);
    assert_null(attn_model_entry_name(m, 0));
    attn_model_free(m);
}

static void bind_before_load(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_bind_weights(m, GRUCELL_WEIGHTS), ATTN_ERR_USAGE);
    errors_contain(m, "load the model first");
    /* still usable afterwards */
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_OK);
    assert_int_equal(attn_model_bind_weights(m, GRUCELL_WEIGHTS), ATTN_OK);
    attn_model_free(m);
}

static void set_after_load(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_OK);
    assert_int_equal(attn_model_set(m, "hidden_size", "7"), ATTN_ERR_USAGE);
    errors_contain(m, "before attn_model_load");
    attn_model_free(m);
}

static void load_twice(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_OK);
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_ERR_USAGE);
    errors_contain(m, "a model is loaded once");
    assert_int_equal(attn_model_load_source(m, "t.attn", "entry f(x: f32[2]) -> y { return x }"), ATTN_ERR_USAGE);
    /* the first load is intact */
    assert_int_equal(attn_model_entry_count(m), 1);
    assert_string_equal(attn_model_entry_name(m, 0), "forward");
    attn_model_free(m);

    /* a failed load also uses the model up */
    m = attn_model_new();
    assert_int_equal(attn_model_load_source(m, "bad.attn", "entry f(x: f32[2]) -> y { return x +"), ATTN_ERR_INPUT);
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_ERR_USAGE);
    errors_contain(m, "make a new attn_model");
    attn_program *p = (attn_program *)1;
    assert_int_equal(attn_model_compile(m, "f", NULL, &p), ATTN_ERR_USAGE);
    assert_null(p);
    attn_model_free(m);
}

static void bind_twice(void **state) {
    (void)state;
    attn_model *m = grucell_model();
    assert_int_equal(attn_model_bind_weights(m, GRUCELL_WEIGHTS), ATTN_ERR_USAGE);
    errors_contain(m, "weights are bound once");
    /* the first binding still compiles */
    attn_program *p = NULL;
    assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_OK);
    attn_program_free(p);
    attn_model_free(m);
}

static void bind_missing_file_then_retry(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_OK);
    /* a file that cannot be opened is an I/O error */
    assert_int_equal(attn_model_bind_weights(m, "tests/no/such.safetensors"), ATTN_ERR_IO);
    errors_contain(m, "tests/no/such.safetensors");
    /* a file that could not be opened binds nothing: another may be tried */
    assert_int_equal(attn_model_bind_weights(m, GRUCELL_WEIGHTS), ATTN_OK);
    attn_model_free(m);
}

static void load_missing_file_is_io(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load(m, "tests/no/such.attn"), ATTN_ERR_IO);
    errors_contain(m, "cannot read tests/no/such.attn");
    attn_model_free(m);
}

/* Messages of code generation, the JIT and the runners keep their kind to the API. */
static void message_kinds(void **state) {
    (void)state;
    assert_int_equal(attn_message_status(NULL), ATTN_ERR_NOMEM);
    assert_int_equal(attn_message_status("error: out of memory allocating 8 bytes"), ATTN_ERR_NOMEM);
    assert_int_equal(attn_message_status("m.attn:3:4: error: out of memory allocating 8 bytes"), ATTN_ERR_NOMEM);
    assert_int_equal(attn_message_status("w.safetensors: cannot open: No such file"), ATTN_ERR_IO);
    assert_int_equal(attn_message_status("internal error: generated code does not verify"), ATTN_ERR_INTERNAL);
    assert_int_equal(attn_message_status("m.attn:3:4: error: dim T is -1 in this call"), ATTN_ERR_INPUT);
    /* a user's text after the kind does not change it */
    assert_int_equal(attn_message_status("m.attn:1:1: error: input 'x: out of memory' is missing"), ATTN_ERR_INPUT);
    Diag d = {0};
    char *msg = attn_format("internal error: LLVM optimisation failed: x");
    diag_take(&d, msg);
    assert_int_equal(d.kind, DIAG_INTERNAL);
    assert_non_null(strstr(diag_text(&d), "internal error: LLVM optimisation failed: x; this is a bug in attn"));
    diag_take(&d, NULL);
    assert_int_equal(d.kind, DIAG_INTERNAL); /* the most severe kind stays */
    diag_free(&d);
}

static void compile_unknown_entry_lists_entries(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load_source(m, "two.attn",
                                            "entry first(x: f32[B]) -> y { return x }\n"
                                            "entry second(x: f32[B]) -> y { return x * 2.0 }\n"),
                     ATTN_OK);
    attn_program *p = (attn_program *)1;
    assert_int_equal(attn_model_compile(m, "third", NULL, &p), ATTN_ERR_USAGE);
    assert_null(p);
    errors_contain(m, "two.attn has no entry point named 'third' (entry points: first, second)");
    char *text = NULL;
    assert_int_equal(attn_model_graph_text(m, "third", 0, &text), ATTN_ERR_USAGE);
    errors_contain(m, "(entry points: first, second)");
    /* an unknown backend is a usage error */
    attn_compile_options opt = {.backend = (attn_backend)7};
    assert_int_equal(attn_model_compile(m, "first", &opt, &p), ATTN_ERR_USAGE);
    errors_contain(m, "unknown backend");
    /* program handles survive the model; signatures are readable */
    assert_int_equal(attn_model_compile(m, "second", NULL, &p), ATTN_OK);
    attn_model_free(m);
    assert_int_equal(attn_program_input_count(p), 1);
    assert_string_equal(attn_program_input_name(p, 0), "x");
    assert_null(attn_program_input_name(p, 1));
    assert_null(attn_program_input_name(p, -1));
    assert_int_equal(attn_program_output_count(p), 1);
    assert_string_equal(attn_program_output_name(p, 0), "y");
    assert_null(attn_program_output_name(p, 1));
    assert_null(attn_program_output_name(p, -1));
    attn_program_free(p);
}

static void compile_without_weights(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_set(m, "input_size", "5"), ATTN_OK);
    assert_int_equal(attn_model_set(m, "hidden_size", "7"), ATTN_OK);
    assert_int_equal(attn_model_load(m, GRUCELL_MODEL), ATTN_OK);
    attn_program *p = (attn_program *)1;
    assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_ERR_INPUT);
    assert_null(p);
    errors_contain(m, "is not bound (give a weights file)");
    attn_model_free(m);
}

/* ---- attn_program_run with bad arguments and inputs ---------------------- */

static void run_bad_arguments(void **state) {
    (void)state;
    attn_program *p = grucell_program();
    CellInputs c;
    cell_inputs(&c);
    attn_tensor *out = NULL;
    int nout = 0;
    char *err = NULL;
    run_fails(p, NULL, 2, ATTN_ERR_USAGE, "NULL program, inputs or outputs");
    run_fails(p, c.t, -1, ATTN_ERR_USAGE, "NULL program, inputs or outputs");
    assert_int_equal(attn_program_run(p, c.t, 2, NULL, &nout, &err), ATTN_ERR_USAGE);
    attn_string_free(err);
    assert_int_equal(attn_program_run(p, c.t, 2, &out, NULL, &err), ATTN_ERR_USAGE);
    attn_string_free(err);
    /* NULL error pointer: the status alone */
    assert_int_equal(attn_program_run(p, c.t, 1, &out, &nout, NULL), ATTN_ERR_INPUT);
    assert_null(out);
    /* no inputs at all: the first one is missing */
    run_fails(p, NULL, 0, ATTN_ERR_INPUT, "input 'input' of entry forward is missing");
    /* and the correct call still works */
    assert_int_equal(attn_program_run(p, c.t, 2, &out, &nout, &err), ATTN_OK);
    assert_null(err);
    assert_int_equal(nout, 1);
    assert_string_equal(out[0].name, "h_1");
    attn_tensors_free(out, nout);
    attn_program_free(p);
}

static void run_bad_names(void **state) {
    (void)state;
    attn_program *p = grucell_program();
    CellInputs c;
    cell_inputs(&c);
    c.t[1].name = NULL;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "entry forward has no input named '(null)'");
    c.t[1].name = "h0";
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "entry forward has no input named 'h0'");
    c.t[1].name = "input";
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' is given twice");
    run_fails(p, c.t, 1, ATTN_ERR_INPUT, "input 'hx' of entry forward is missing");
    /* order is free */
    cell_inputs(&c);
    attn_tensor swapped[2] = {c.t[1], c.t[0]};
    attn_tensor *out = NULL;
    int nout = 0;
    assert_int_equal(attn_program_run(p, swapped, 2, &out, &nout, NULL), ATTN_OK);
    attn_tensors_free(out, nout);
    attn_program_free(p);
}

static void run_bad_types(void **state) {
    (void)state;
    attn_program *p = grucell_program();
    CellInputs c;
    cell_inputs(&c);
    c.t[0].dtype = ATTN_I32;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' must be f32[B, 5], got i32[2, 5]");
    c.t[0].dtype = (attn_dtype)42;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' must be f32[B, 5], got ?[2, 5]");
    cell_inputs(&c);
    c.t[0].rank = 1;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' must be f32[B, 5], got f32[2]");
    c.t[0].rank = 3;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' must be f32[B, 5], got f32[2, 5, 0]");
    c.t[0].rank = -1;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' must be f32[B, 5], got f32[]");
    c.t[0].rank = 1000;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' must be f32[B, 5]");
    cell_inputs(&c);
    c.t[0].shape[1] = 4;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' (f32[B, 5]) has 4 at dim 1, expected 5");
    cell_inputs(&c);
    c.t[1].shape[0] = 1;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT,
              "input 'hx' (f32[B, 7]) has 1 at dim 0, but B was bound to 2 by dim 0 of input 'input'");
    cell_inputs(&c);
    c.t[0].shape[0] = -2;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'input' has a negative dim 0");
    cell_inputs(&c);
    c.t[1].data = NULL;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "input 'hx' has no data");
    cell_inputs(&c);
    /* an absurd batch is refused before anything is allocated for it */
    c.t[0].shape[0] = c.t[1].shape[0] = (int64_t)1 << 61;
    run_fails(p, c.t, 2, ATTN_ERR_INPUT, "is too large");
    attn_program_free(p);
}

static void run_empty_batch(void **state) {
    (void)state;
    attn_program *p = grucell_program();
    CellInputs c;
    cell_inputs(&c);
    c.t[0].shape[0] = c.t[1].shape[0] = 0;
    c.t[0].data = c.t[1].data = NULL; /* no elements: no data needed */
    attn_tensor *out = NULL;
    int nout = 0;
    char *err = NULL;
    assert_int_equal(attn_program_run(p, c.t, 2, &out, &nout, &err), ATTN_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].rank, 2);
    assert_int_equal(out[0].shape[0], 0);
    assert_int_equal(out[0].shape[1], 7);
    attn_tensors_free(out, nout);
    attn_program_free(p);
}

/* ---- non-finite inputs ---------------------------------------------------- */

/* NaN and Inf are values, not errors: they go through the arithmetic as in
 * PyTorch. A NaN in one batch row makes that row's outputs NaN and leaves the
 * other row bit for bit as in a clean run. */
static void nan_input_propagates(void **state) {
    (void)state;
    attn_program *p = grucell_program();
    CellInputs c;
    cell_inputs(&c);
    attn_tensor *clean = NULL, *out = NULL;
    int nclean = 0, nout = 0;
    char *err = NULL;
    assert_int_equal(attn_program_run(p, c.t, 2, &clean, &nclean, &err), ATTN_OK);
    c.x[2] = NAN; /* row 0 of input */
    assert_int_equal(attn_program_run(p, c.t, 2, &out, &nout, &err), ATTN_OK);
    assert_null(err);
    const float *got = out[0].data, *want = clean[0].data;
    for (int j = 0; j < 7; j++) {
        assert_true(isnan(got[j]));
        assert_memory_equal(&got[7 + j], &want[7 + j], sizeof(float));
    }
    attn_tensors_free(out, nout);
    /* NaN in the state: the same */
    cell_inputs(&c);
    c.h[7 + 3] = NAN; /* row 1 of hx */
    assert_int_equal(attn_program_run(p, c.t, 2, &out, &nout, &err), ATTN_OK);
    got = out[0].data;
    for (int j = 0; j < 7; j++) {
        assert_memory_equal(&got[j], &want[j], sizeof(float));
        assert_true(isnan(got[7 + j]));
    }
    attn_tensors_free(out, nout);
    attn_tensors_free(clean, nclean);
    attn_program_free(p);
}

static void inf_input_follows_ieee(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load_source(m, "inf.attn",
                                            "entry f(x: f32[N]) -> (r, t, s, mx) {\n"
                                            "  return relu(x), tanh(x), softmax(x), max(x)\n"
                                            "}\n"),
                     ATTN_OK);
    attn_program *p = NULL;
    assert_int_equal(attn_model_compile(m, "f", NULL, &p), ATTN_OK);
    attn_model_free(m);
    float x[3] = {INFINITY, -INFINITY, 1.0f};
    attn_tensor in = {.name = "x", .dtype = ATTN_F32, .rank = 1, .shape = {3}, .data = x};
    attn_tensor *out = NULL;
    int nout = 0;
    assert_int_equal(attn_program_run(p, &in, 1, &out, &nout, NULL), ATTN_OK);
    assert_int_equal(nout, 4);
    const float *r = out[0].data, *t = out[1].data, *s = out[2].data, *mx = out[3].data;
    assert_true(isinf(r[0]) && r[0] > 0);
    assert_true(r[1] == 0.0f);
    assert_true(t[0] == 1.0f && t[1] == -1.0f);
    /* softmax subtracts the max (inf): inf - inf is NaN, as in PyTorch */
    assert_true(isnan(s[0]));
    assert_true(isinf(mx[0]) && mx[0] > 0);
    attn_tensors_free(out, nout);
    /* a row that is all -inf (every position masked) gives NaN, as in PyTorch */
    float y[2] = {-INFINITY, -INFINITY};
    in.shape[0] = 2;
    in.data = y;
    assert_int_equal(attn_program_run(p, &in, 1, &out, &nout, NULL), ATTN_OK);
    s = out[2].data;
    assert_true(isnan(s[0]) && isnan(s[1]));
    attn_tensors_free(out, nout);
    attn_program_free(p);
}

/* ---- embedding ids --------------------------------------------------------- */

static attn_program *embedding_program(const char *src) {
    attn_model *m = attn_model_new();
    if (attn_model_load_source(m, "emb.attn", src) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    attn_program *p = NULL;
    if (attn_model_compile(m, "f", NULL, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    attn_model_free(m);
    return p;
}

static void embedding_ids_out_of_range(void **state) {
    (void)state;
    attn_program *p = embedding_program("entry f(table: f32[V, 3], ids: i64[B, T]) -> y {\n"
                                        "  return embedding(table, ids)\n"
                                        "}\n");
    float table[4 * 3];
    for (int i = 0; i < 12; i++)
        table[i] = (float)i;
    int64_t ids[2 * 2] = {0, 3, 2, 1};
    attn_tensor in[2] = {
        {.name = "table", .dtype = ATTN_F32, .rank = 2, .shape = {4, 3}, .data = table},
        {.name = "ids", .dtype = ATTN_I64, .rank = 2, .shape = {2, 2}, .data = ids},
    };
    attn_tensor *out = NULL;
    int nout = 0;
    assert_int_equal(attn_program_run(p, in, 2, &out, &nout, NULL), ATTN_OK);
    assert_int_equal(out[0].rank, 3);
    assert_true(((float *)out[0].data)[3] == 9.0f); /* ids[0][1] = 3: row 3 starts at 9 */
    attn_tensors_free(out, nout);
    ids[2] = 4;
    run_fails(p, in, 2, ATTN_ERR_INPUT,
              "emb.attn:2:10: error: id 4 at position 2 is out of range for an embedding table of 4 rows");
    ids[2] = -1;
    run_fails(p, in, 2, ATTN_ERR_INPUT, "id -1 at position 2 is out of range");
    ids[2] = INT64_MIN;
    run_fails(p, in, 2, ATTN_ERR_INPUT, "is out of range for an embedding table of 4 rows");
    /* an empty table has no valid id */
    ids[2] = 0;
    in[0].shape[0] = 0;
    run_fails(p, in, 2, ATTN_ERR_INPUT, "id 0 at position 0 is out of range for an embedding table of 0 rows");
    attn_program_free(p);

    /* i32 ids */
    p = embedding_program("entry f(table: f32[V, 3], ids: i32[B]) -> y { return embedding(table, ids) }\n");
    int32_t ids32[3] = {1, 5, 0};
    attn_tensor in32[2] = {
        {.name = "table", .dtype = ATTN_F32, .rank = 2, .shape = {4, 3}, .data = table},
        {.name = "ids", .dtype = ATTN_I32, .rank = 1, .shape = {3}, .data = ids32},
    };
    run_fails(p, in32, 2, ATTN_ERR_INPUT, "id 5 at position 1 is out of range");
    attn_program_free(p);
}

/* Constant ids into a constant table are folded at compile time; the folder
 * must not read outside the table, and the run reports the bad id. */
static void embedding_constant_ids_out_of_range(void **state) {
    (void)state;
    attn_program *p = embedding_program("entry f(x: f32[B, 2]) -> y {\n"
                                        "  t = ones([3, 2])\n"
                                        "  return x + sum(embedding(t, arange(5)), axis=0)\n"
                                        "}\n");
    float x[2] = {0, 0};
    attn_tensor in = {.name = "x", .dtype = ATTN_F32, .rank = 2, .shape = {1, 2}, .data = x};
    run_fails(p, &in, 1, ATTN_ERR_INPUT, "id 3 at position 3 is out of range for an embedding table of 3 rows");
    attn_program_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_model_handle),
        cmocka_unit_test(null_program_handle),
        cmocka_unit_test(null_tensor_and_bad_dtype),
        cmocka_unit_test(null_arguments),
        cmocka_unit_test(compile_before_load),
        cmocka_unit_test(bind_before_load),
        cmocka_unit_test(set_after_load),
        cmocka_unit_test(load_twice),
        cmocka_unit_test(bind_twice),
        cmocka_unit_test(bind_missing_file_then_retry),
        cmocka_unit_test(load_missing_file_is_io),
        cmocka_unit_test(message_kinds),
        cmocka_unit_test(compile_unknown_entry_lists_entries),
        cmocka_unit_test(compile_without_weights),
        cmocka_unit_test(run_bad_arguments),
        cmocka_unit_test(run_bad_names),
        cmocka_unit_test(run_bad_types),
        cmocka_unit_test(run_empty_batch),
        cmocka_unit_test(nan_input_propagates),
        cmocka_unit_test(inf_input_follows_ieee),
        cmocka_unit_test(embedding_ids_out_of_range),
        cmocka_unit_test(embedding_constant_ids_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
