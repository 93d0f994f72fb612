/*
 * test_budgets.c — what a model may cost: compiling an entry again reuses
 * its graph instead of growing the model, and binding refuses a weights file
 * before converting any of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "model.h"

#include <string.h>

static const char *const two_entries = "entry f(x: f32[B, 4]) -> y { return tanh(x) * 2.0 }\n"
                                       "entry g(x: f32[B, 4]) -> y { return x + 1.0 }\n";

static void recompiling_does_not_grow_the_model(void **state) {
    (void)state;
    Model m = {0};
    assert_int_equal(model_load(&m, "t.attn", two_entries), 0);
    assert_int_equal(model_lower(&m, true, "f"), 0);
    assert_int_equal(model_lower(&m, true, "g"), 0);
    const IrEntry *f = model_entry(&m, "f");
    size_t bytes = m.arena.bytes;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(model_lower(&m, true, i % 2 ? "f" : "g"), 0);
        assert_int_equal(model_lower(&m, true, "f"), 0);
    }
    assert_int_equal(m.arena.bytes, bytes);
    assert_ptr_equal(model_entry(&m, "f"), f); /* the same graph */
    model_free(&m);
}

static void other_extra_outputs_lower_again(void **state) {
    (void)state;
    Model m = {0};
    assert_int_equal(model_load(&m, "t.attn", "entry f(x: f32[B, 4]) -> y {\n  h = tanh(x)\n  return h * 2.0\n}\n"), 0);
    assert_int_equal(model_lower(&m, true, "f"), 0);
    const IrEntry *plain = model_entry(&m, "f");
    const char *extra[] = {"h"};
    m.export_names = extra;
    m.nexports = 1;
    assert_int_equal(model_lower(&m, true, "f"), 0);
    const IrEntry *with_h = model_entry(&m, "f");
    assert_ptr_not_equal(with_h, plain);
    assert_int_equal(with_h->graph->nout, 2);
    assert_int_equal(model_lower(&m, true, "f"), 0); /* the same extra output again: reused */
    assert_ptr_equal(model_entry(&m, "f"), with_h);
    m.export_names = NULL;
    m.nexports = 0;
    assert_int_equal(model_lower(&m, true, "f"), 0);
    assert_int_equal(model_entry(&m, "f")->graph->nout, 1);
    model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recompiling_does_not_grow_the_model),
        cmocka_unit_test(other_extra_outputs_lower_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
