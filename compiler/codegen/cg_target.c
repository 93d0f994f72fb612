/*
 * cg_target.c — target selection, the O3 pipeline and file emission through
 * the LLVM 19 C API (see cg_target.h).
 */
#include "cg_target.h"
#include "llvm_target_names.h"
#include "text.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/ErrorHandling.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cg_msg(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = attn_vformat(fmt, ap);
    va_end(ap);
    return s;
}

static char *dup_str(const char *s) { return cg_msg("%s", s ? s : ""); }

char *cg_error_message(LLVMErrorRef e) {
    char *m = LLVMGetErrorMessage(e);
    char *s = dup_str(m);
    LLVMDisposeErrorMessage(m);
    return s;
}

/* ---- LLVM's fatal errors ----------------------------------------------------
 * LLVM reports some failures (a subtarget it cannot build, an instruction it
 * cannot select, an error diagnostic during code generation) by calling the
 * fatal-error handler and then exit(1), or by printing and exiting. Around
 * each section that runs LLVM's optimiser, code generator or JIT linker,
 * guarded() sets a jump buffer of this thread; the handler records the reason
 * and jumps back, so the section fails with an internal error instead of the
 * host process ending. What LLVM was doing is abandoned: its objects of that
 * section are leaked, never freed or used again (a JIT that failed this way
 * is not even disposed). A fatal error on a thread with no guard (none of
 * attn's) goes on to LLVM's exit as before. */
static _Thread_local jmp_buf *llvm_guard;
static _Thread_local char llvm_reason[256];

static void on_fatal_error(const char *reason) {
    if (!llvm_guard)
        return;
    snprintf(llvm_reason, sizeof llvm_reason, "%s", reason ? reason : "");
    longjmp(*llvm_guard, 1);
}

/* Error diagnostics of code generation (LLVM would print them and exit, or
 * go on with wrong code once a handler is set) are fatal errors of the
 * guarded section; warnings and remarks are dropped. */
static void on_diagnostic(LLVMDiagnosticInfoRef d, void *unused) {
    (void)unused;
    if (LLVMGetDiagInfoSeverity(d) != LLVMDSError)
        return;
    char *text = LLVMGetDiagInfoDescription(d);
    snprintf(llvm_reason, sizeof llvm_reason, "%s", text ? text : "");
    LLVMDisposeMessage(text);
    if (llvm_guard)
        longjmp(*llvm_guard, 1);
}

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static void llvm_init(void) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
    LLVMInstallFatalErrorHandler(on_fatal_error);
}

/* Runs fn(arg) as a guarded section (above): fn's result, or -1 with *err set
 * when LLVM failed fatally inside. Guards nest. */
static int guarded(int (*fn)(void *), void *arg, char **err) {
    jmp_buf env;
    jmp_buf *outer = llvm_guard;
    if (setjmp(env) != 0) {
        llvm_guard = outer;
        *err = cg_msg("internal error: LLVM failed: %s (a bug in attn or in LLVM)", llvm_reason);
        return -1;
    }
    llvm_guard = &env;
    int rc = fn(arg);
    llvm_guard = outer;
    return rc;
}

/* Routes the error diagnostics of modules built in ctx to the guard. */
static void guard_context(LLVMContextRef ctx) { LLVMContextSetDiagnosticHandler(ctx, on_diagnostic, NULL); }

/* Whether the comma-separated feature string enables `feat` ("+avx512f"). */
static bool has_feature(const char *features, const char *feat) {
    size_t n = strlen(feat);
    for (const char *p = features; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, feat, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Whether name is in the NULL-terminated list. */
static bool listed(const char *const *list, const char *name, size_t n) {
    for (; *list; list++)
        if (strlen(*list) == n && strncmp(*list, name, n) == 0)
            return true;
    return false;
}

/* Settings no target of attn can have: code generated with them does not
 * follow the x86-64 calling convention the runtime and the JIT assume, or
 * LLVM aborts on them. */
static const char *const abi_breaking[] = {"+soft-float", "-64bit-mode", "+32bit-mode", "+16bit-mode",
                                           "-64bit",      "-sse",        "-sse2",       NULL};

/* An error (malloc'd) for the comma-separated feature string mattr, or NULL
 * when every item is a "+name" or "-name" LLVM knows and none breaks the ABI.
 * For the JIT (host: the host's feature string), each enabled feature must
 * be one the host's CPU has. */
static char *check_features(const char *what, const char *mattr, const char *host) {
    bool know_names = llvm_feature_names[0] != NULL;
    for (const char *p = mattr; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *name = p + 1;
        if (len < 2 || (*p != '+' && *p != '-'))
            return cg_msg("error: %s: '%.*s' is not +feature or -feature", what, (int)len, p);
        if (listed(abi_breaking, p, len))
            return cg_msg("error: %s: '%.*s' breaks the calling convention attn's code follows", what, (int)len, p);
        char plus[256];
        snprintf(plus, sizeof plus, "+%.*s", (int)(len - 1), name);
        bool host_has = host && len < sizeof plus && has_feature(host, plus);
        if (know_names && !listed(llvm_feature_names, name, len - 1) && !host_has)
            return cg_msg("error: %s: unknown feature '%.*s' (llc -mattr=help lists them)", what, (int)(len - 1), name);
        if (host && *p == '+' && !host_has)
            return cg_msg("error: %s: this machine's CPU does not have '%.*s'; the JIT runs code here "
                          "(attnc compile can target other machines)",
                          what, (int)(len - 1), name);
        p = end ? end + 1 : p + len;
    }
    return NULL;
}

/* The features of a JIT target with the user's mattr: every feature the host
 * lacks disabled first, then mattr (malloc'd). Explicit features override
 * what the CPU name implies, so whatever CPU is named, nothing the host lacks
 * is enabled (a CPU name alone would enable all of its model's features). */
static char *host_clamped(const char *host, const char *mattr) {
    size_t n = strlen(host), k = 0;
    char *s = malloc(n + strlen(mattr) + 2);
    if (!s)
        return NULL;
    for (const char *p = host; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (*p == '-') {
            memcpy(s + k, p, len);
            k += len;
            s[k++] = ',';
        }
        p = end ? end + 1 : p + len;
    }
    strcpy(s + k, mattr);
    return s;
}

/* Fills t's CPU and features from mcpu/mattr and the host's; for_host: for
 * the JIT. Either may come from the environment (from_env), which the
 * messages say. */
static int choose_target(CgTarget *t, const char *mcpu, const char *mattr, bool from_env[2], bool for_host,
                         const char *host_cpu, const char *host_feat, char **err) {
    bool own_cpu = mcpu && *mcpu, own_feat = mattr && *mattr;
    if (own_cpu && strcmp(mcpu, host_cpu) != 0 && llvm_cpu_names[0] && !listed(llvm_cpu_names, mcpu, strlen(mcpu))) {
        *err = cg_msg("error: %s: unknown CPU '%s' (llc -mcpu=help lists them)", from_env[0] ? "ATTN_MCPU" : "--mcpu",
                      mcpu);
        return -1;
    }
    if (own_feat &&
        (*err = check_features(from_env[1] ? "ATTN_MATTR" : "--mattr", mattr, for_host ? host_feat : NULL)) != NULL)
        return -1;
    t->cpu = dup_str(own_cpu ? mcpu : host_cpu);
    t->features = !own_feat ? dup_str(host_feat) : for_host ? host_clamped(host_feat, mattr) : dup_str(mattr);
    if (!t->cpu || !t->features) {
        *err = cg_msg("error: out of memory");
        return -1;
    }
    return 0;
}

static int target_init(CgTarget *t, const char *mcpu, const char *mattr, bool for_host, char **err) {
    pthread_once(&llvm_once, llvm_init);
    memset(t, 0, sizeof *t);
    bool from_env[2] = {!mcpu || !*mcpu, !mattr || !*mattr};
    if (from_env[0])
        mcpu = getenv("ATTN_MCPU");
    if (from_env[1])
        mattr = getenv("ATTN_MATTR");
    char *host_cpu = LLVMGetHostCPUName(), *host_feat = LLVMGetHostCPUFeatures(), *triple = LLVMGetDefaultTargetTriple();
    int rc = choose_target(t, mcpu, mattr, from_env, for_host, host_cpu, host_feat, err);
    t->triple = dup_str(triple);
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_feat);
    LLVMDisposeMessage(triple);
    if (rc == 0 && !t->triple) {
        *err = cg_msg("error: out of memory");
        rc = -1;
    }
    if (rc != 0) {
        cg_target_free(t);
        return -1;
    }
    /* evex512 gates 512-bit registers on AVX-512 targets since LLVM 18 */
    if (has_feature(t->features, "+avx512f") && !has_feature(t->features, "-evex512"))
        t->vec_bits = 512;
    else if (has_feature(t->features, "+avx2") || has_feature(t->features, "+avx"))
        t->vec_bits = 256;
    else
        t->vec_bits = 128;
    LLVMTargetMachineRef tm = cg_target_machine(t, LLVMRelocDefault, err);
    if (!tm) {
        cg_target_free(t);
        return -1;
    }
    LLVMDisposeTargetMachine(tm);
    return 0;
}

int cg_target_init(CgTarget *t, const char *mcpu, const char *mattr, char **err) {
    return target_init(t, mcpu, mattr, true, err);
}

int cg_target_init_aot(CgTarget *t, const char *mcpu, const char *mattr, char **err) {
    return target_init(t, mcpu, mattr, false, err);
}

void cg_target_free(CgTarget *t) {
    free(t->cpu);
    free(t->features);
    free(t->triple);
    memset(t, 0, sizeof *t);
}

int cg_target_lanes(const CgTarget *t) { return t->vec_bits / 32; }

bool cg_target_has(const CgTarget *t, const char *name) {
    size_t n = strlen(name);
    bool on = false;
    for (const char *p = t->features; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n + 1 && (p[0] == '+' || p[0] == '-') && strncmp(p + 1, name, n) == 0)
            on = p[0] == '+'; /* the last mention wins (--mattr comes after the host's) */
        p = end ? end + 1 : NULL;
    }
    return on;
}

/* LLVMCreateTargetMachine, as a guarded section (it reads the CPU and features). */
typedef struct MakeTm {
    LLVMTargetRef target;
    const CgTarget *t;
    LLVMRelocMode reloc;
    LLVMTargetMachineRef tm;
} MakeTm;

static int make_tm(void *arg) {
    MakeTm *a = arg;
    a->tm = LLVMCreateTargetMachine(a->target, a->t->triple, a->t->cpu, a->t->features, LLVMCodeGenLevelAggressive,
                                    a->reloc, LLVMCodeModelJITDefault);
    return 0;
}

LLVMTargetMachineRef cg_target_machine(const CgTarget *t, LLVMRelocMode reloc, char **err) {
    pthread_once(&llvm_once, llvm_init);
    MakeTm a = {.t = t, .reloc = reloc};
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &a.target, &msg)) {
        *err = cg_msg("error: no LLVM target for %s: %s", t->triple, msg ? msg : "");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    if (guarded(make_tm, &a, err) != 0)
        return NULL;
    if (!a.tm)
        *err = cg_msg("error: LLVM cannot make a target machine for cpu '%s' with features '%s'", t->cpu, t->features);
    return a.tm;
}

static void set_layout(LLVMModuleRef m, LLVMTargetMachineRef tm) {
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    char *s = LLVMCopyStringRepOfTargetData(dl);
    LLVMSetDataLayout(m, s);
    LLVMDisposeMessage(s);
    LLVMDisposeTargetData(dl);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(m, triple);
    LLVMDisposeMessage(triple);
}

/* LLVMRunPasses, as a guarded section. */
typedef struct RunPasses {
    LLVMModuleRef m;
    LLVMTargetMachineRef tm;
    LLVMPassBuilderOptionsRef opts;
    LLVMErrorRef e;
} RunPasses;

static int run_passes(void *arg) {
    RunPasses *a = arg;
    a->e = LLVMRunPasses(a->m, "default<O3>", a->tm, a->opts);
    return 0;
}

static int optimize(LLVMModuleRef m, const CgTarget *t, bool auto_vectorize, char **err) {
    LLVMTargetMachineRef tm = cg_target_machine(t, LLVMRelocPIC, err);
    if (!tm)
        return -1;
    set_layout(m, tm);
    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        *err = cg_msg("internal error: generated code does not verify: %s", msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeTargetMachine(tm);
        return -1;
    }
    LLVMDisposeMessage(msg);
    guard_context(LLVMGetModuleContext(m));
    RunPasses a = {m, tm, LLVMCreatePassBuilderOptions(), NULL};
    /* Kernels are vectorized by construction; letting LLVM vectorize and
       unroll them again only costs compile time (about a third of it). */
    LLVMPassBuilderOptionsSetLoopVectorization(a.opts, auto_vectorize);
    LLVMPassBuilderOptionsSetSLPVectorization(a.opts, auto_vectorize);
    LLVMPassBuilderOptionsSetLoopUnrolling(a.opts, auto_vectorize);
    if (guarded(run_passes, &a, err) != 0)
        return -1; /* tm and opts are the abandoned section's */
    LLVMDisposePassBuilderOptions(a.opts);
    LLVMDisposeTargetMachine(tm);
    if (a.e) {
        char *s = cg_error_message(a.e);
        *err = cg_msg("internal error: LLVM optimisation failed: %s", s ? s : "");
        free(s);
        return -1;
    }
    return 0;
}

int cg_optimize(LLVMModuleRef m, const CgTarget *t, char **err) { return optimize(m, t, true, err); }

int cg_optimize_kernels(LLVMModuleRef m, const CgTarget *t, char **err) { return optimize(m, t, false, err); }

/* Machine code emission (to a file, or to memory when path is NULL), as a
 * guarded section. */
typedef struct Emit {
    LLVMTargetMachineRef tm;
    LLVMModuleRef m;
    LLVMCodeGenFileType kind;
    const char *path;
    char *msg;
    LLVMMemoryBufferRef obj;
} Emit;

static int emit(void *arg) {
    Emit *a = arg;
    /* the C API takes the path as char * but does not write to it */
    return (a->path ? LLVMTargetMachineEmitToFile(a->tm, a->m, (char *)a->path, a->kind, &a->msg)
                    : LLVMTargetMachineEmitToMemoryBuffer(a->tm, a->m, a->kind, &a->msg, &a->obj)) != 0;
}

/* Runs e (its m, kind and path set) with a target machine of t: 0; 1 when
 * LLVM reported failure in e->msg; -1 with *err when there is no target
 * machine or LLVM failed fatally. */
static int emit_with(Emit *e, const CgTarget *t, char **err) {
    if (!(e->tm = cg_target_machine(t, LLVMRelocPIC, err)))
        return -1;
    set_layout(e->m, e->tm);
    guard_context(LLVMGetModuleContext(e->m));
    int rc = guarded(emit, e, err);
    if (rc < 0)
        return -1; /* tm is the abandoned section's */
    LLVMDisposeTargetMachine(e->tm);
    return rc;
}

int cg_emit_file(LLVMModuleRef m, const CgTarget *t, int kind, const char *path, char **err) {
    char *msg = NULL;
    if (kind == 2) {
        if (LLVMPrintModuleToFile(m, path, &msg)) {
            *err = cg_msg("error: cannot write %s: %s", path, msg ? msg : "");
            LLVMDisposeMessage(msg);
            return -1;
        }
        return 0;
    }
    Emit e = {.m = m, .kind = kind == 0 ? LLVMObjectFile : LLVMAssemblyFile, .path = path};
    int rc = emit_with(&e, t, err);
    if (rc > 0)
        *err = cg_msg("error: cannot write %s: %s", path, e.msg ? e.msg : "");
    LLVMDisposeMessage(e.msg);
    return rc ? -1 : 0;
}

LLVMMemoryBufferRef cg_emit_object(LLVMModuleRef m, const CgTarget *t, char **err) {
    Emit e = {.m = m, .kind = LLVMObjectFile};
    int rc = emit_with(&e, t, err);
    if (rc > 0)
        *err = cg_msg("internal error: LLVM could not compile the core: %s", e.msg ? e.msg : "");
    if (rc != 0)
        e.obj = NULL;
    LLVMDisposeMessage(e.msg);
    return e.obj;
}

void cg_llvm_init(void) { pthread_once(&llvm_once, llvm_init); }

int cg_guarded(int (*fn)(void *), void *arg, char **err) { return guarded(fn, arg, err); }

void cg_guard_context(LLVMContextRef ctx) { guard_context(ctx); }
