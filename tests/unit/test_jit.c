/*
 * test_jit.c — the LLVM plumbing (compiler/codegen/cg_target.c, compiler/jit/jit.c) and the thread pool:
 * target selection and overrides, JIT code calling the runtime through
 * absolute symbols, LLVM failures reported as messages, file emission.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg.h"
#include "threadpool.h"
#include "jit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_host_target(void **state) {
    (void)state;
    CgTarget t;
    char *err = NULL;
    assert_int_equal(cg_target_init(&t, NULL, NULL, &err), 0);
    assert_non_null(t.cpu);
    assert_true(t.vec_bits == 128 || t.vec_bits == 256 || t.vec_bits == 512);
    assert_int_equal(cg_target_lanes(&t), t.vec_bits / 32);
    cg_target_free(&t);
}

static void test_override_target(void **state) {
    (void)state;
    CgTarget t;
    char *err = NULL;
    assert_int_equal(cg_target_init(&t, "x86-64", "+sse2", &err), 0);
    assert_string_equal(t.cpu, "x86-64");
    assert_int_equal(t.vec_bits, 128);
    cg_target_free(&t);
    assert_int_equal(cg_target_init(&t, "haswell", "+avx,+avx2,+fma", &err), 0);
    assert_int_equal(t.vec_bits, 256);
    cg_target_free(&t);
    setenv("ATTN_MATTR", "+avx2", 1);
    assert_int_equal(cg_target_init(&t, NULL, NULL, &err), 0);
    /* what the host lacks is disabled first (test_jit_target.c), then +avx2 */
    size_t n = strlen(t.features);
    assert_true(n >= 5 && strcmp(t.features + n - 5, "+avx2") == 0);
    assert_int_equal(t.vec_bits, 256);
    unsetenv("ATTN_MATTR");
    cg_target_free(&t);
}

/* void fill(ptr out, i64 n): out[i] = i for every i, through attn_rt_parallel_for
 * with one task per element; the task function is JIT code too. */
static void build_fill(CgModule *cm) {
    LLVMTypeRef task_args[] = {cm->ptr, cm->i64};
    LLVMValueRef task = cg_function(cm, "task", LLVMFunctionType(cm->void_t, task_args, 2, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cm->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm->ctx, task, "entry"));
    LLVMValueRef i = LLVMGetParam(task, 1);
    LLVMValueRef dst = LLVMBuildGEP2(b, cm->f32, LLVMGetParam(task, 0), &i, 1, "");
    LLVMBuildStore(b, LLVMBuildSIToFP(b, i, cm->f32, ""), dst);
    LLVMBuildRetVoid(b);

    LLVMTypeRef pf_args[] = {cm->ptr, cm->i64, cm->ptr, cm->ptr};
    LLVMTypeRef pf_t = LLVMFunctionType(cm->void_t, pf_args, 4, 0);
    LLVMValueRef pf = cg_function(cm, "attn_rt_parallel_for", pf_t);
    LLVMTypeRef fill_args[] = {cm->ptr, cm->i64, cm->ptr};
    LLVMValueRef fill = cg_function(cm, "fill", LLVMFunctionType(cm->void_t, fill_args, 3, 0));
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm->ctx, fill, "entry"));
    LLVMValueRef args[] = {LLVMGetParam(fill, 2), LLVMGetParam(fill, 1), task, LLVMGetParam(fill, 0)};
    LLVMBuildCall2(b, pf_t, pf, args, 4, "");
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
}

static void test_jit_calls_runtime(void **state) {
    (void)state;
    CgTarget t;
    char *err = NULL;
    assert_int_equal(cg_target_init(&t, NULL, NULL, &err), 0);
    Jit *j = jit_new(&t, &err);
    assert_non_null(j);
    CgModule cm;
    cg_module_init(&cm, jit_context(j), "fill", &t);
    build_fill(&cm);
    assert_int_equal(cg_optimize(cm.mod, &t, &err), 0);
    assert_int_equal(jit_add_module(j, cm.mod, &err), 0);
    void (*fill)(float *, int64_t, attn_pool *) = (void (*)(float *, int64_t, attn_pool *))jit_lookup(j, "fill", &err);
    assert_non_null(fill);
    attn_pool *pool = attn_pool_new(2);
    float out[1000];
    fill(out, 1000, pool);
    for (int i = 0; i < 1000; i++)
        assert_true(out[i] == (float)i);
    attn_pool_free(pool);
    assert_null(jit_lookup(j, "no_such_function", &err));
    assert_non_null(strstr(err, "no_such_function"));
    free(err);
    jit_free(j);
    cg_target_free(&t);
}

static void test_bad_module_is_an_error(void **state) {
    (void)state;
    CgTarget t;
    char *err = NULL;
    assert_int_equal(cg_target_init(&t, NULL, NULL, &err), 0);
    LLVMContextRef ctx = LLVMContextCreate();
    CgModule cm;
    cg_module_init(&cm, ctx, "bad", &t);
    LLVMValueRef f = cg_function(&cm, "f", LLVMFunctionType(cm.void_t, NULL, 0, 0));
    LLVMAppendBasicBlockInContext(ctx, f, "entry"); /* no terminator */
    assert_int_not_equal(cg_optimize(cm.mod, &t, &err), 0);
    assert_non_null(strstr(err, "does not verify"));
    free(err);
    LLVMDisposeModule(cm.mod);
    LLVMContextDispose(ctx);
    cg_target_free(&t);
}

static void test_emit_files(void **state) {
    (void)state;
    CgTarget t;
    char *err = NULL;
    assert_int_equal(cg_target_init(&t, NULL, NULL, &err), 0);
    LLVMContextRef ctx = LLVMContextCreate();
    CgModule cm;
    cg_module_init(&cm, ctx, "fill", &t);
    build_fill(&cm);
    assert_int_equal(cg_optimize(cm.mod, &t, &err), 0);
    char dir[] = "/tmp/attn_jit_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[3][64];
    for (int kind = 0; kind < 3; kind++) {
        snprintf(path[kind], sizeof path[kind], "%s/out%d", dir, kind);
        assert_int_equal(cg_emit_file(cm.mod, &t, kind, path[kind], &err), 0);
        FILE *f = fopen(path[kind], "rb");
        assert_non_null(f);
        char buf[4096] = {0};
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        assert_true(n > 0);
        if (kind == 0)
            assert_memory_equal(buf, "\177ELF", 4);
        else
            assert_non_null(strstr(buf, "fill"));
        unlink(path[kind]);
    }
    assert_int_not_equal(cg_emit_file(cm.mod, &t, 0, "/nonexistent/dir/x.o", &err), 0);
    assert_non_null(strstr(err, "/nonexistent/dir/x.o"));
    free(err);
    rmdir(dir);
    LLVMDisposeModule(cm.mod);
    LLVMContextDispose(ctx);
    cg_target_free(&t);
}

static atomic_long sum;
static void add_task(void *ctx, int64_t i) {
    (void)ctx;
    atomic_fetch_add(&sum, (long)i);
}

static void nested_task(void *ctx, int64_t i) {
    (void)i;
    attn_rt_parallel_for(ctx, 10, add_task, NULL); /* busy pool: runs on this thread */
}

static void test_pool(void **state) {
    (void)state;
    for (int threads = 0; threads <= 3; threads++) {
        attn_pool *p = attn_pool_new(threads);
        assert_non_null(p);
        assert_true(attn_pool_threads(p) >= 1);
        for (int rep = 0; rep < 200; rep++) {
            atomic_store(&sum, 0);
            attn_rt_parallel_for(p, 1000, add_task, NULL);
            assert_int_equal(atomic_load(&sum), 999L * 1000 / 2);
        }
        atomic_store(&sum, 0);
        attn_rt_parallel_for(p, 7, nested_task, p);
        assert_int_equal(atomic_load(&sum), 7 * 45);
        attn_rt_parallel_for(p, 0, add_task, NULL);
        attn_pool_free(p);
    }
    atomic_store(&sum, 0);
    attn_rt_parallel_for(NULL, 4, add_task, NULL);
    assert_int_equal(atomic_load(&sum), 6);
    assert_int_equal(attn_pool_threads(NULL), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_target),         cmocka_unit_test(test_override_target),
        cmocka_unit_test(test_jit_calls_runtime),   cmocka_unit_test(test_bad_module_is_an_error),
        cmocka_unit_test(test_emit_files),          cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
