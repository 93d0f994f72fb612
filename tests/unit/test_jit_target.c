/*
 * test_jit_target.c — target options (compiler/codegen/cg_target.c): what the JIT refuses
 * because this machine cannot run it or LLVM cannot build it, what AOT
 * allows, and LLVM's fatal errors coming back as internal errors instead of
 * ending the process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg.h"
#include "jit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a failed section was using is leaked by design (jit.c): not reported
 * by LeakSanitizer in the sanitizer build. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAKS_BY_DESIGN_BEGIN() __lsan_disable()
#define LEAKS_BY_DESIGN_END() __lsan_enable()
#else
#define LEAKS_BY_DESIGN_BEGIN() ((void)0)
#define LEAKS_BY_DESIGN_END() ((void)0)
#endif

/* A feature this machine's CPU lacks ("egpr" on every CPU before APX), or
 * NULL when the host reports none missing. */
static char *missing_feature(void) {
    char *host = LLVMGetHostCPUFeatures();
    char *found = NULL;
    if (strstr(host, "-egpr"))
        found = strdup("egpr");
    for (char *p = host; !found && p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (*p == '-')
            found = strndup(p + 1, strcspn(p + 1, ","));
    LLVMDisposeMessage(host);
    return found;
}

/* cg_target_init (jit) or cg_target_init_aot fails with a message naming `name`. */
static void expect_refused(bool jit, const char *mcpu, const char *mattr, const char *name) {
    CgTarget t;
    char *err = NULL;
    int rc = jit ? cg_target_init(&t, mcpu, mattr, &err) : cg_target_init_aot(&t, mcpu, mattr, &err);
    if (rc == 0)
        fail_msg("%s accepted --mcpu '%s' --mattr '%s'", jit ? "JIT" : "AOT", mcpu ? mcpu : "", mattr ? mattr : "");
    assert_non_null(err);
    if (!strstr(err, name))
        fail_msg("message does not name '%s': %s", name, err);
    free(err);
}

static void expect_accepted(bool jit, const char *mcpu, const char *mattr) {
    CgTarget t;
    char *err = NULL;
    int rc = jit ? cg_target_init(&t, mcpu, mattr, &err) : cg_target_init_aot(&t, mcpu, mattr, &err);
    if (rc != 0)
        fail_msg("%s refused --mcpu '%s' --mattr '%s': %s", jit ? "JIT" : "AOT", mcpu ? mcpu : "", mattr ? mattr : "",
                 err);
    cg_target_free(&t);
}

static void test_jit_refuses_what_the_host_cannot_run(void **state) {
    (void)state;
    char *missing = missing_feature();
    if (missing) {
        char plus[128];
        snprintf(plus, sizeof plus, "+avx2,+%s", missing);
        expect_refused(true, NULL, plus, missing);
        setenv("ATTN_MATTR", plus, 1); /* read by every program using the library */
        expect_refused(true, NULL, NULL, "ATTN_MATTR");
        unsetenv("ATTN_MATTR");
        expect_accepted(false, NULL, plus); /* AOT targets other machines */
    }
    free(missing);
    expect_refused(true, NULL, "+soft-float", "+soft-float");
    expect_refused(true, NULL, "-64bit-mode", "-64bit-mode");
    expect_refused(true, NULL, "+sse2,-sse2", "-sse2");
    expect_refused(true, NULL, "+no-such-feature", "no-such-feature");
    expect_refused(true, NULL, "avx2", "avx2");
    expect_refused(true, "no-such-cpu", NULL, "no-such-cpu");
    setenv("ATTN_MCPU", "no-such-cpu", 1);
    expect_refused(true, NULL, NULL, "ATTN_MCPU");
    unsetenv("ATTN_MCPU");
    /* the same for AOT: LLVM would abort or silently ignore them */
    expect_refused(false, NULL, "+soft-float", "+soft-float");
    expect_refused(false, NULL, "-64bit-mode", "-64bit-mode");
    expect_refused(false, NULL, "+no-such-feature", "no-such-feature");
    expect_refused(false, "no-such-cpu", NULL, "no-such-cpu");
    expect_accepted(false, "sapphirerapids", "+avx512fp16,+amx-tile");
}

static void test_jit_accepts_a_subset_of_the_host(void **state) {
    (void)state;
    char *host = LLVMGetHostCPUFeatures();
    bool avx2 = strstr(host, "+avx2") && strstr(host, "+fma");
    LLVMDisposeMessage(host);
    if (avx2) /* golden.avx2.* run this on AVX-512 machines */
        expect_accepted(true, "haswell", "+avx,+avx2,+fma");
    expect_accepted(true, NULL, "-avx512f");
    expect_accepted(true, "x86-64", NULL);
}

/* Naming a CPU with more features than the host enables none of them: the
 * host's missing features are disabled explicitly after it. */
static void test_a_cpu_name_cannot_enable_missing_features(void **state) {
    (void)state;
    char *missing = missing_feature();
    if (!missing)
        skip();
    CgTarget t;
    char *err = NULL;
    assert_int_equal(cg_target_init(&t, "graniterapids", "+sse2", &err), 0);
    char minus[128];
    snprintf(minus, sizeof minus, "-%s,", missing);
    assert_non_null(strstr(t.features, minus));
    cg_target_free(&t);
    free(missing);
}

/* float f(float x) { return x + 1; } */
static void build_inc(CgModule *cm) {
    LLVMTypeRef arg = cm->f32;
    LLVMValueRef f = cg_function(cm, "inc", LLVMFunctionType(cm->f32, &arg, 1, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cm->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm->ctx, f, "entry"));
    LLVMBuildRet(b, LLVMBuildFAdd(b, LLVMGetParam(f, 0), LLVMConstReal(cm->f32, 1.0), ""));
    LLVMDisposeBuilder(b);
}

/* A target cg_target_init would refuse, made by hand: LLVM fails fatally on it. */
static CgTarget bad_target(const char *cpu, const char *features) {
    char *triple = LLVMGetDefaultTargetTriple();
    CgTarget t = {strdup(cpu), strdup(features), strdup(triple), 128};
    LLVMDisposeMessage(triple);
    return t;
}

static void expect_internal(char *err) {
    assert_non_null(err);
    if (!strstr(err, "internal error: LLVM failed") || !strstr(err, "bug in attn or in LLVM"))
        fail_msg("not an internal error: %s", err);
    free(err);
}

/* The host still compiles and runs code after a fatal error was caught. */
static void expect_llvm_still_works(void) {
    CgTarget t;
    char *err = NULL;
    assert_int_equal(cg_target_init(&t, NULL, NULL, &err), 0);
    Jit *j = jit_new(&t, &err);
    assert_non_null(j);
    CgModule cm;
    cg_module_init(&cm, jit_context(j), "inc", &t);
    build_inc(&cm);
    assert_int_equal(cg_optimize(cm.mod, &t, &err), 0);
    assert_int_equal(jit_add_module(j, cm.mod, &err), 0);
    float (*inc)(float) = (float (*)(float))jit_lookup(j, "inc", &err);
    assert_non_null(inc);
    assert_true(inc(41.0f) == 42.0f);
    jit_free(j);
    cg_target_free(&t);
}

static void test_fatal_error_in_emission(void **state) {
    (void)state;
    /* LLVM: "Do not know how to expand the result of this operator!" */
    CgTarget t = bad_target("x86-64", "-64bit-mode");
    LLVMContextRef ctx = LLVMContextCreate();
    CgModule cm;
    cg_module_init(&cm, ctx, "inc", &t);
    build_inc(&cm);
    char *err = NULL;
    LEAKS_BY_DESIGN_BEGIN();
    LLVMMemoryBufferRef obj = cg_optimize(cm.mod, &t, &err) == 0 ? cg_emit_object(cm.mod, &t, &err) : NULL;
    LEAKS_BY_DESIGN_END();
    assert_null(obj);
    expect_internal(err);
    LLVMDisposeModule(cm.mod); /* its owner still disposes it */
    LLVMContextDispose(ctx);
    cg_target_free(&t);
    expect_llvm_still_works();
}

static void test_fatal_error_in_jit(void **state) {
    (void)state;
    /* an unknown CPU without features: "64-bit code requested on a subtarget
       that doesn't support it!" when the JIT compiles */
    CgTarget t = bad_target("no-such-cpu", "");
    char *err = NULL;
    LEAKS_BY_DESIGN_BEGIN();
    Jit *j = jit_new(&t, &err);
    if (!j) {
        expect_internal(err);
    } else {
        CgModule cm;
        cg_module_init(&cm, jit_context(j), "inc", &t);
        build_inc(&cm);
        assert_int_equal(jit_add_module(j, cm.mod, &err), 0);
        assert_null(jit_lookup(j, "inc", &err));
        expect_internal(err);
        err = NULL;
        assert_null(jit_lookup(j, "inc", &err)); /* the JIT is not used again */
        assert_non_null(strstr(err, "failed earlier"));
        free(err);
        jit_free(j);
    }
    LEAKS_BY_DESIGN_END();
    cg_target_free(&t);
    expect_llvm_still_works();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jit_refuses_what_the_host_cannot_run),
        cmocka_unit_test(test_jit_accepts_a_subset_of_the_host),
        cmocka_unit_test(test_a_cpu_name_cannot_enable_missing_features),
        cmocka_unit_test(test_fatal_error_in_emission),
        cmocka_unit_test(test_fatal_error_in_jit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
