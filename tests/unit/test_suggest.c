/*
 * test_suggest.c — the pieces of "did you mean" messages: edit distances and
 * common key suffixes (compiler/support/spell.c), and the .attn spellings of
 * PyTorch method calls (compiler/front/method_hint.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn_limits.h"
#include "method_hint.h"
#include "spell.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static void distance_counts_edits_and_swaps(void **state) {
    (void)state;
    assert_int_equal(spell_distance("softmax", "softmax"), 0);
    assert_int_equal(spell_distance("softmx", "softmax"), 1);       /* insertion */
    assert_int_equal(spell_distance("layernorm", "layer_norm"), 1);
    assert_int_equal(spell_distance("bais", "bias"), 1);            /* a swap of neighbours */
    assert_int_equal(spell_distance("", "abc"), 3);
    assert_int_equal(spell_distance("kitten", "sitting"), 3);
    char longer[ATTN_LIMIT_SPELL_LEN + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(spell_distance(longer, "a"), INT_MAX);
}

static void nearer_keeps_the_best_within_a_third(void **state) {
    (void)state;
    int best = INT_MAX;
    assert_true(spell_nearer("softmx", "softmax", &best));
    assert_int_equal(best, 1);
    assert_false(spell_nearer("softmx", "softplus", &best)); /* farther than the best */
    best = INT_MAX;
    assert_false(spell_nearer("mm", "sum", &best));          /* 2 edits in 2 characters */
}

static void common_suffix_counts_whole_components(void **state) {
    (void)state;
    assert_int_equal(spell_common_suffix("h.0.ln_1.weight", "h.0.attn.ln_1.weight"), (int)strlen("ln_1.weight"));
    assert_int_equal(spell_common_suffix("out_proj.weight", "attn.out_proj.weight"), (int)strlen("out_proj.weight"));
    assert_int_equal(spell_common_suffix("a.xweight", "b.weight"), 0);     /* "weight" is not whole in the first */
    assert_int_equal(spell_common_suffix("weight", "weight"), 6);
    assert_int_equal(spell_common_suffix("bias", "weight"), 0);
}

/* method_spelling's text for RECV.METHOD(ARGS). */
static const char *spell(char *buf, size_t n, const char *method, const char *recv, const char *args) {
    StrBuf b = {0};
    method_spelling(&b, method, recv, args);
    snprintf(buf, n, "%s", sb_str(&b) ? sb_str(&b) : "");
    sb_free(&b);
    return buf;
}

static void methods_become_calls(void **state) {
    (void)state;
    char buf[128];
    assert_string_equal(spell(buf, sizeof buf, "transpose", "x", "1, 2"), "transpose(x, 1, 2)");
    assert_string_equal(spell(buf, sizeof buf, "view", "x", "B, T, 4, 8"), "reshape(x, [B, T, 4, 8])");
    assert_string_equal(spell(buf, sizeof buf, "permute", "q", "0, 2, 1, 3"), "permute(q, [0, 2, 1, 3])");
    assert_string_equal(spell(buf, sizeof buf, "softmax", "s", "dim=-1"), "softmax(s, axis=-1)");
    assert_string_equal(spell(buf, sizeof buf, "sum", "x", "dim = 1, keepdim=True"), "sum(x, axis = 1, keepdim=True)");
    assert_string_equal(spell(buf, sizeof buf, "matmul", "a", "b"), "a @ b");
    assert_string_equal(spell(buf, sizeof buf, "contiguous", "x", ""), "x");
    assert_string_equal(spell(buf, sizeof buf, "size", "x", "-1"), "x.shape[-1]");
    assert_string_equal(spell(buf, sizeof buf, "size", "x", ""), "x.shape");
    assert_string_equal(spell(buf, sizeof buf, "float", "m", ""), "f32(m)");
    assert_string_equal(spell(buf, sizeof buf, "tanh", "x", ""), "tanh(x)");
    assert_string_equal(spell(buf, sizeof buf, "softmax", "F", "x, dim=1"), "softmax(x, axis=1)"); /* a module */
    assert_string_equal(spell(buf, sizeof buf, "unsqueeze", NULL, NULL), "unsqueeze(x, ...)");   /* spans lines */
}

static void dim_to_axis_renames_only_the_argument(void **state) {
    (void)state;
    StrBuf b = {0};
    assert_int_equal(dim_to_axis(&b, "x, dim=1, hidden_dim=2, dim == 3, dims=4"), 1);
    assert_string_equal(sb_str(&b), "x, axis=1, hidden_dim=2, dim == 3, dims=4");
    sb_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(distance_counts_edits_and_swaps),
        cmocka_unit_test(nearer_keeps_the_best_within_a_third),
        cmocka_unit_test(common_suffix_counts_whole_components),
        cmocka_unit_test(methods_become_calls),
        cmocka_unit_test(dim_to_axis_renames_only_the_argument),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
