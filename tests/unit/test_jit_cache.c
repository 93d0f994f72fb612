/*
 * test_jit_cache.c — the cores' object cache (compiler/jit/jit_cache.c) under
 * attack: each test plants what an attacker or a damaged disk could leave in
 * the cache directory and checks that the planted file's target is untouched,
 * nothing hangs (alarm), the code run is correct, and a bad entry is
 * replaced by a good one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "attn_limits.h"
#include "cg.h"
#include "jit_cache.h"
#include "jit.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/attn_cache_test_XXXXXX";
static char victim[64];

/* float inc(float x) { return x + 1; } */
static void build_inc(CgModule *cm) {
    LLVMTypeRef arg = cm->f32;
    LLVMValueRef f = cg_function(cm, "inc", LLVMFunctionType(cm->f32, &arg, 1, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cm->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm->ctx, f, "entry"));
    LLVMBuildRet(b, LLVMBuildFAdd(b, LLVMGetParam(f, 0), LLVMConstReal(cm->f32, 1.0), ""));
    LLVMDisposeBuilder(b);
}

/* Compiles inc through the cache for the target (NULL: the host) and checks
 * that the code loaded computes it; at most 20 s (a hang fails the test). */
static void run_inc(const char *mcpu, const char *mattr) {
    alarm(20);
    CgTarget t;
    char *err = NULL;
    assert_int_equal(mcpu ? cg_target_init_aot(&t, mcpu, mattr, &err) : cg_target_init(&t, NULL, NULL, &err), 0);
    Jit *j = jit_new(&t, &err);
    assert_non_null(j);
    CgModule cm;
    cg_module_init(&cm, jit_context(j), "inc", &t);
    build_inc(&cm);
    if (jit_cache_add_module(j, cm.mod, &t, true, &err) != 0)
        fail_msg("%s", err);
    float (*inc)(float) = (float (*)(float))jit_lookup(j, "inc", &err);
    assert_non_null(inc);
    if (!mcpu)
        assert_true(inc(41.0f) == 42.0f);
    jit_free(j);
    cg_target_free(&t);
    alarm(0);
}

/* The names of the files in the cache directory (one per line, malloc'd). */
static char *listing(void) {
    char *s = calloc(1, 1);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            size_t n = strlen(s);
            s = realloc(s, n + strlen(e->d_name) + 2);
            sprintf(s + n, "%s\n", e->d_name);
        }
    closedir(d);
    return s;
}

/* The path of the only entry in the cache directory. */
static void entry_path(char *path, size_t size) {
    char *names = listing();
    char *nl = strchr(names, '\n');
    if (!nl || nl[1])
        fail_msg("expected one entry in the cache, found:\n%s", names);
    *nl = '\0';
    snprintf(path, size, "%s/%s", dir, names);
    free(names);
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *s = malloc(*n + 1);
    assert_int_equal(fread(s, 1, *n, f), *n);
    s[*n] = '\0';
    fclose(f);
    return s;
}

static void write_file(const char *path, const char *s, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, n, f), n);
    fclose(f);
}

static void expect_victim_untouched(void) {
    size_t n;
    char *s = read_file(victim, &n);
    assert_int_equal(n, 7);
    assert_memory_equal(s, "victim\n", 7);
    free(s);
}

/* A fresh cache directory holding the good entry of inc; its path in path
 * and its bytes in *good (malloc'd, *n). */
static void fresh_cache(char *path, size_t size, char **good, size_t *n) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    run_inc(NULL, NULL);
    entry_path(path, size);
    *good = read_file(path, n);
}

/* After a run, the entry is again a regular file holding the good bytes. */
static void expect_good_entry(const char *path, const char *good, size_t n) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    size_t m;
    char *s = read_file(path, &m);
    assert_int_equal(m, n);
    assert_memory_equal(s, good, n);
    free(s);
    char *names = listing();
    if (strstr(names, "tmp"))
        fail_msg("a temporary file was left:\n%s", names);
    free(names);
}

static void test_planted_links_are_not_followed(void **state) {
    (void)state;
    char path[4200], *good;
    size_t n;
    fresh_cache(path, sizeof path, &good, &n);
    /* a link at the temporary name an older attn used, PATH.PID.tmp */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(unlink(path), 0);
    run_inc(NULL, NULL);
    expect_victim_untouched();
    assert_int_equal(unlink(tmp), 0);
    expect_good_entry(path, good, n);
    /* the entry itself a link to a file of the user's */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(victim, path), 0);
    run_inc(NULL, NULL);
    expect_victim_untouched();
    expect_good_entry(path, good, n);
    free(good);
}

static void test_temporary_names_are_unpredictable(void **state) {
    (void)state;
    int fd = open("/tmp", O_RDONLY | O_DIRECTORY);
    char a[32], b[32], pid[32];
    int fa = jit_cache_temp_file(fd, a, sizeof a), fb = jit_cache_temp_file(fd, b, sizeof b);
    assert_true(fa >= 0 && fb >= 0);
    assert_string_not_equal(a, b);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    assert_null(strstr(a, pid));
    assert_true(strlen(a) >= 16); /* 64 random bits */
    unlinkat(fd, a, 0);
    unlinkat(fd, b, 0);
    close(fa);
    close(fb);
    close(fd);
}

static void test_devices_and_fifos_are_not_read(void **state) {
    (void)state;
    char path[4200], *good;
    size_t n;
    fresh_cache(path, sizeof path, &good, &n);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("/dev/zero", path), 0); /* LLVM would read it until out of memory */
    run_inc(NULL, NULL);
    expect_good_entry(path, good, n);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0); /* reading it would wait for a writer for ever */
    run_inc(NULL, NULL);
    expect_good_entry(path, good, n);
    assert_int_equal(truncate(path, (off_t)ATTN_LIMIT_CACHE_ENTRY_BYTES + 1), 0); /* too large */
    run_inc(NULL, NULL);
    expect_good_entry(path, good, n);
    free(good);
}

static void test_damaged_entries_are_replaced(void **state) {
    (void)state;
    char path[4200], *good;
    size_t n;
    fresh_cache(path, sizeof path, &good, &n);
    write_file(path, good, n / 2); /* cut short */
    run_inc(NULL, NULL);
    expect_good_entry(path, good, n);
    for (size_t at = 5; at < n; at += n / 7) { /* one flipped bit: header, key, object */
        good[at] ^= 0x10;
        write_file(path, good, n);
        good[at] ^= 0x10;
        run_inc(NULL, NULL);
        expect_good_entry(path, good, n);
    }
    free(good);
}

/* An entry made for another CPU, under this CPU's entry name (baseline
 * x86-64: SSE encodings where the host's code has VEX ones). */
static void test_entries_of_another_target_are_not_used(void **state) {
    (void)state;
    char path[4200], *good;
    size_t n;
    fresh_cache(path, sizeof path, &good, &n);
    assert_int_equal(unlink(path), 0);
    run_inc("x86-64", "+sse2");
    char other[4200];
    entry_path(other, sizeof other);
    assert_int_equal(rename(other, path), 0);
    run_inc(NULL, NULL);
    expect_good_entry(path, good, n);
    free(good);
}

/* Runs with stderr sent to a file; the number of cache warnings printed. */
static int warnings_of_run(void) {
    fflush(stderr);
    int saved = dup(2);
    char log[] = "/tmp/attn_cache_log_XXXXXX";
    int fd = mkstemp(log);
    dup2(fd, 2);
    run_inc(NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    size_t n;
    char *s = read_file(log, &n);
    unlink(log);
    int count = 0;
    for (char *p = s; (p = strstr(p, "object cache is off")); p++)
        count++;
    free(s);
    return count;
}

/* A directory others can write to or that another user owns is not used
 * (they could plant entries): one warning per process, the code still right. */
static void test_unsafe_directories_are_not_used(void **state) {
    (void)state;
    char path[4200], *good;
    size_t n;
    fresh_cache(path, sizeof path, &good, &n);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(warnings_of_run(), 1);
    assert_int_equal(warnings_of_run(), 0); /* once per process */
    char *names = listing();
    assert_string_equal(names, ""); /* nothing written */
    free(names);
    assert_int_equal(chmod(dir, 0700), 0);
    if (chown(dir, 65534, 65534) != 0) { /* nobody: possible as root only */
        printf("skipped the other owner's directory: cannot chown %s (not root)\n", dir);
    } else {
        run_inc(NULL, NULL);
        names = listing();
        assert_string_equal(names, "");
        free(names);
    }
    free(good);
}

static int setup(void **state) {
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(victim, sizeof victim, "%s.victim", dir);
    FILE *f = fopen(victim, "w");
    fputs("victim\n", f);
    fclose(f);
    return setenv("ATTN_CACHE_DIR", dir, 1);
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, victim);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test by name */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_links_are_not_followed),
        cmocka_unit_test(test_temporary_names_are_unpredictable),
        cmocka_unit_test(test_devices_and_fifos_are_not_read),
        cmocka_unit_test(test_damaged_entries_are_replaced),
        cmocka_unit_test(test_entries_of_another_target_are_not_used),
        cmocka_unit_test(test_unsafe_directories_are_not_used),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
