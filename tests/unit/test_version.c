/*
 * test_version.c — attn_version() and attn_status_string().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"

#include <stdio.h>
#include <string.h>

static void version_names_attn_llvm_and_target(void **state) {
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "attn %d.%d.%d (LLVM 19.", ATTN_VERSION_MAJOR, ATTN_VERSION_MINOR, ATTN_VERSION_PATCH);
    const char *v = attn_version();
    assert_non_null(v);
    assert_memory_equal(v, want, strlen(want));
    assert_non_null(strstr(v, ", target x86_64"));
    assert_ptr_equal(v, attn_version()); /* one static text */
}

static void every_status_has_its_own_text(void **state) {
    (void)state;
    const attn_status all[] = {ATTN_OK, ATTN_ERR_INPUT, ATTN_ERR_USAGE, ATTN_ERR_NOMEM, ATTN_ERR_IO, ATTN_ERR_INTERNAL};
    const int n = sizeof all / sizeof all[0];
    for (int i = 0; i < n; i++) {
        const char *s = attn_status_string(all[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown status");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, attn_status_string(all[j]));
    }
    assert_string_equal(attn_status_string(ATTN_ERR_NOMEM), "out of memory");
    assert_string_equal(attn_status_string((attn_status)99), "unknown status");
    assert_string_equal(attn_status_string((attn_status)-1), "unknown status");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_names_attn_llvm_and_target),
        cmocka_unit_test(every_status_has_its_own_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
