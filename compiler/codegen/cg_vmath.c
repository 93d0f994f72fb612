/*
 * cg_vmath.c — vectorizable exp/log/tanh/sigmoid/erf as LLVM IR (cg_vmath.h).
 *
 * Methods, error bounds and measurements: docs/VECMATH.md. The polynomial
 * coefficients are minimax fits computed by tools/vmath_fit.py (which prints
 * them in the hex-float form used here). No fast-math flags are set: the
 * special-value handling relies on IEEE behaviour (NaN, inf, signed zero).
 */
#include "cg_vmath.h"
#include "diag.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code generation state for one helper body: its builder and operand types. */
typedef struct Vm {
    CgModule *cm;
    LLVMBuilderRef b;
    LLVMTypeRef ft; /* float or <N x float> */
    LLVMTypeRef it; /* i32 or <N x i32> */
    unsigned lanes; /* N, or 0 for a scalar */
    bool fma;       /* llvm.fma is a native instruction of the target */
    bool scalef;    /* <16 x float> on an AVX-512 target: vscalefps scales by 2^n */
} Vm;

/* Vector widths vm_call accepts: 512-bit registers hold 16 floats. */
enum { VM_MAX_LANES = 64 };

/* The scalar constant c, or a vector of copies of it (on the stack: code
 * generation of a helper allocates nothing of its own that could fail). */
static LLVMValueRef splat(Vm *v, LLVMValueRef c) {
    if (!v->lanes)
        return c;
    LLVMValueRef elems[VM_MAX_LANES];
    for (unsigned i = 0; i < v->lanes; i++)
        elems[i] = c;
    return LLVMConstVector(elems, v->lanes);
}

static LLVMValueRef kf(Vm *v, float c) { return splat(v, LLVMConstReal(v->cm->f32, (double)c)); }
static LLVMValueRef ki(Vm *v, int32_t c) {
    return splat(v, LLVMConstInt(v->cm->i32, (unsigned long long)(int64_t)c, 1));
}

static LLVMValueRef fadd(Vm *v, LLVMValueRef a, LLVMValueRef c) { return LLVMBuildFAdd(v->b, a, c, ""); }
static LLVMValueRef fsub(Vm *v, LLVMValueRef a, LLVMValueRef c) { return LLVMBuildFSub(v->b, a, c, ""); }
static LLVMValueRef fmul(Vm *v, LLVMValueRef a, LLVMValueRef c) { return LLVMBuildFMul(v->b, a, c, ""); }
static LLVMValueRef fdiv(Vm *v, LLVMValueRef a, LLVMValueRef c) { return LLVMBuildFDiv(v->b, a, c, ""); }
static LLVMValueRef fcmp(Vm *v, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef c) {
    return LLVMBuildFCmp(v->b, p, a, c, "");
}
static LLVMValueRef sel(Vm *v, LLVMValueRef cond, LLVMValueRef a, LLVMValueRef c) {
    return LLVMBuildSelect(v->b, cond, a, c, "");
}
static LLVMValueRef as_int(Vm *v, LLVMValueRef x) { return LLVMBuildBitCast(v->b, x, v->it, ""); }
static LLVMValueRef as_float(Vm *v, LLVMValueRef x) { return LLVMBuildBitCast(v->b, x, v->ft, ""); }

/* a*b + c, rounded once where the target has FMA. */
static LLVMValueRef fma3(Vm *v, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[] = {a, b, c};
    return cg_intrinsic(v->cm, v->b, v->fma ? "llvm.fma" : "llvm.fmuladd", v->ft, args, 3);
}
static LLVMValueRef unary(Vm *v, const char *name, LLVMValueRef x) {
    return cg_intrinsic(v->cm, v->b, name, v->ft, &x, 1);
}
static LLVMValueRef vcopysign(Vm *v, LLVMValueRef mag, LLVMValueRef sgn) {
    LLVMValueRef args[] = {mag, sgn};
    return cg_intrinsic(v->cm, v->b, "llvm.copysign", v->ft, args, 2);
}

/* c[0] + t*(c[1] + t*(... + t*c[n-1])) by Horner's rule with FMA. */
static LLVMValueRef horner(Vm *v, LLVMValueRef t, const float *c, int n) {
    LLVMValueRef p = kf(v, c[n - 1]);
    for (int i = n - 2; i >= 0; i--)
        p = fma3(v, p, t, kf(v, c[i]));
    return p;
}

/* Whether llvm.fma is an instruction: every non-x86 target LLVM JITs for
 * (AArch64, ...) has it; on x86 it takes FMA3 or AVX-512. */
static bool target_has_fma(const CgTarget *t) {
    if (!t || !t->triple)
        return true;
    if (!strstr(t->triple, "x86") && !strstr(t->triple, "i386") && !strstr(t->triple, "i686"))
        return true;
    return t->features && (strstr(t->features, "+fma") || strstr(t->features, "+avx512f"));
}

/* Whether x86 AVX-512F is among the target's features. */
static bool target_has_avx512(const CgTarget *t) {
    return t && t->triple && strstr(t->triple, "x86") && t->features && strstr(t->features, "+avx512f");
}

/* ---- exp -------------------------------------------------------------------
 * x = n*ln2 + r, |r| <= ln2/2, n = round(x/ln2) by the shifter trick;
 * e^r = 1 + r*(1 + r*P(r)) with P of degree 4; e^x = e^r * 2^(n/2) * 2^(n - n/2),
 * two exact scalings so that overflow and gradual underflow round once (one
 * vscalefps, which rounds once too, for 16 lanes of AVX-512). */
static const float EXP_P[] = {0x1.fffffcp-2f, 0x1.555492p-3f, 0x1.5558bcp-5f, 0x1.1239cap-7f, 0x1.6a4166p-10f};
#define SHIFTER 0x1.8p23f       /* 1.5 * 2^23: adding it rounds to an integer */
#define SHIFTER_BITS 0x4b400000 /* its bit pattern */
#define LN2_HI 0x1.62e4p-1f     /* ln 2 to 16 bits: n*LN2_HI is exact for |n| < 2^8 */
#define LN2_LO 0x1.7f7d1cp-20f  /* ln 2 - LN2_HI */

static LLVMValueRef body_exp(Vm *v, LLVMValueRef x) {
    /* Clamp (NaN passes through both selects). e^89 overflows, e^-104 < 2^-150
     * rounds to 0, and within those bounds |n| <= 150. */
    x = sel(v, fcmp(v, LLVMRealOGT, x, kf(v, 89.0f)), kf(v, 89.0f), x);
    x = sel(v, fcmp(v, LLVMRealOLT, x, kf(v, -104.0f)), kf(v, -104.0f), x);
    LLVMValueRef kn = fma3(v, x, kf(v, 0x1.715476p+0f), kf(v, SHIFTER)); /* SHIFTER + round(x*log2(e)) */
    LLVMValueRef n = fsub(v, kn, kf(v, SHIFTER));
    LLVMValueRef r = fma3(v, n, kf(v, -LN2_HI), x); /* exact */
    r = fma3(v, n, kf(v, -LN2_LO), r);
    LLVMValueRef p = horner(v, r, EXP_P, 5);
    p = fma3(v, p, r, kf(v, 1.0f));
    p = fma3(v, p, r, kf(v, 1.0f));
    if (v->scalef) { /* the same, in one instruction: p * 2^n, rounded once */
        LLVMTypeRef i16 = LLVMInt16TypeInContext(v->cm->ctx);
        LLVMTypeRef types[] = {v->ft, v->ft, v->ft, i16, v->cm->i32};
        LLVMValueRef args[] = {p, n, p, LLVMConstAllOnes(i16), LLVMConstInt(v->cm->i32, 4, 0) /* current rounding */};
        const char *name = "llvm.x86.avx512.mask.scalef.ps.512";
        LLVMValueRef fn = LLVMGetNamedFunction(v->cm->mod, name);
        LLVMTypeRef fty = LLVMFunctionType(v->ft, types, 5, 0);
        if (!fn)
            fn = LLVMAddFunction(v->cm->mod, name, fty);
        return LLVMBuildCall2(v->b, fty, fn, args, 5, "");
    }
    LLVMValueRef ni = LLVMBuildSub(v->b, as_int(v, kn), ki(v, SHIFTER_BITS), "");
    LLVMValueRef n1 = LLVMBuildAShr(v->b, ni, ki(v, 1), "");
    LLVMValueRef n2 = LLVMBuildSub(v->b, ni, n1, "");
    LLVMValueRef s1 = as_float(v, LLVMBuildShl(v->b, LLVMBuildAdd(v->b, n1, ki(v, 127), ""), ki(v, 23), ""));
    LLVMValueRef s2 = as_float(v, LLVMBuildShl(v->b, LLVMBuildAdd(v->b, n2, ki(v, 127), ""), ki(v, 23), ""));
    return fmul(v, fmul(v, p, s1), s2);
}

/* ---- log -------------------------------------------------------------------
 * x = 2^e * m, m in [sqrt(1/2), sqrt(2)) (denormals scaled by 2^23 first),
 * f = m - 1 (exact), s = f/(2+f): log(1+f) = 2 atanh(s) = f - f^2/2 + s*(f^2/2 + R(s^2)),
 * R of degree 3 in s^2 without constant term; log x = e*ln2 + log(1+f). */
static const float LOG_R[] = {0.0f, 0x1.55557ap-1f, 0x1.995ec2p-2f, 0x1.31e3fap-2f};
#define SQRT_HALF_BITS 0x3f3504f3 /* bits of 0.70710677f */

static LLVMValueRef body_log(Vm *v, LLVMValueRef x) {
    LLVMBuilderRef b = v->b;
    LLVMValueRef tiny = fcmp(v, LLVMRealOLT, x, kf(v, 0x1p-126f));
    LLVMValueRef xs = sel(v, tiny, fmul(v, x, kf(v, 0x1p23f)), x);
    LLVMValueRef ix = LLVMBuildSub(b, as_int(v, xs), ki(v, SQRT_HALF_BITS), "");
    LLVMValueRef e = LLVMBuildAShr(b, ix, ki(v, 23), "");
    e = LLVMBuildAdd(b, e, sel(v, tiny, ki(v, -23), ki(v, 0)), "");
    LLVMValueRef mbits = LLVMBuildAdd(b, LLVMBuildAnd(b, ix, ki(v, 0x7fffff), ""), ki(v, SQRT_HALF_BITS), "");
    LLVMValueRef f = fsub(v, as_float(v, mbits), kf(v, 1.0f));
    LLVMValueRef ef = LLVMBuildSIToFP(b, e, v->ft, "");
    LLVMValueRef s = fdiv(v, f, fadd(v, f, kf(v, 2.0f)));
    LLVMValueRef z = fmul(v, s, s);
    LLVMValueRef R = fmul(v, horner(v, z, LOG_R + 1, 3), z);
    LLVMValueRef hfsq = fmul(v, fmul(v, f, f), kf(v, 0.5f));
    LLVMValueRef t = fma3(v, s, fadd(v, hfsq, R), fmul(v, ef, kf(v, LN2_LO)));
    LLVMValueRef y = fsub(v, f, fsub(v, hfsq, t));
    y = fma3(v, ef, kf(v, LN2_HI), y); /* e*LN2_HI is exact: one rounding */
    /* 0 < x < inf: y; ±0: -inf; x < 0: NaN; +inf and NaN: x itself */
    LLVMValueRef ok =
        LLVMBuildAnd(b, fcmp(v, LLVMRealOGT, x, kf(v, 0.0f)), fcmp(v, LLVMRealOLT, x, kf(v, INFINITY)), "");
    LLVMValueRef special = sel(v, fcmp(v, LLVMRealOLT, x, kf(v, 0.0f)), kf(v, NAN), x);
    special = sel(v, fcmp(v, LLVMRealOEQ, x, kf(v, 0.0f)), kf(v, -INFINITY), special);
    return sel(v, ok, y, special);
}

/* ---- tanh ------------------------------------------------------------------
 * |x| < 0.625: x + x^3 * P(x^2), P of degree 5; above: sign(x) * (1 - 2/(e^(2|x|) + 1)),
 * which reaches 1 exactly for large |x| (e^(2|x|) overflows to inf at worst). */
static const float TANH_P[] = {-0x1.555554p-2f, 0x1.11107ap-3f, -0x1.b9f188p-5f,
                               0x1.63a55p-6f,   -0x1.0c5edp-7f, 0x1.1a2818p-9f};
#define TANH_SMALL 0.625f

static LLVMValueRef body_tanh(Vm *v, LLVMValueRef x) {
    LLVMValueRef a = unary(v, "llvm.fabs", x);
    LLVMValueRef z = fmul(v, x, x);
    LLVMValueRef small = fma3(v, fmul(v, x, z), horner(v, z, TANH_P, 6), x);
    LLVMValueRef e = cg_vexp(v->cm, v->b, fadd(v, a, a));
    LLVMValueRef big = fsub(v, kf(v, 1.0f), fdiv(v, kf(v, 2.0f), fadd(v, e, kf(v, 1.0f))));
    /* tanh is odd: the sign of x (which also keeps tanh(-0) = -0) */
    return vcopysign(v, sel(v, fcmp(v, LLVMRealOLT, a, kf(v, TANH_SMALL)), small, big), x);
}

/* ---- sigmoid ---------------------------------------------------------------
 * With e = e^-|x| in (0, 1]: 1/(1+e) for x >= 0, e/(1+e) for x < 0 (the
 * numerator chosen by a select): no overflow, full relative accuracy in the
 * left tail. 1 + e is kept as d + d_err (exact, Fast2Sum since e <= 1) and the
 * quotient corrected by one Newton step on the exact denominator, so that the
 * rounding of 1 + e (up to one ulp of a result near the top of its binade)
 * does not add to the error of e. */
static LLVMValueRef body_sigmoid(Vm *v, LLVMValueRef x) {
    LLVMValueRef a = unary(v, "llvm.fabs", x);
    LLVMValueRef e = cg_vexp(v->cm, v->b, LLVMBuildFNeg(v->b, a, ""));
    LLVMValueRef num = sel(v, fcmp(v, LLVMRealOGE, x, kf(v, 0.0f)), kf(v, 1.0f), e);
    LLVMValueRef d = fadd(v, e, kf(v, 1.0f));
    LLVMValueRef derr = fadd(v, fsub(v, kf(v, 1.0f), d), e);
    LLVMValueRef q = fdiv(v, kf(v, 1.0f), d);
    LLVMValueRef y = fmul(v, num, q);
    LLVMValueRef rho = fma3(v, LLVMBuildFNeg(v->b, y, ""), d, num); /* num - y*d */
    rho = fma3(v, LLVMBuildFNeg(v->b, y, ""), derr, rho);           /* - y*d_err */
    return fma3(v, rho, q, y);
}

/* ---- erf -------------------------------------------------------------------
 * |x| < 1: x + x*P(x^2), P of degree 6 (its constant term is 2/sqrt(pi) - 1,
 * so erf(x) ~ 1.128x is rounded once for small x); 1 <= |x|: sign(x) *
 * (1 - Q(a - 2.5)) with a = min(|x|, 4) and Q of degree 15 approximating
 * erfc on [1, 4] (erf(4) rounds to 1). Q was fitted in double on Chebyshev
 * nodes, its coefficients rounded to float from the highest down with the
 * lower ones refitted after each; evaluated with FMAs on every float of
 * [1, 4] it is within 1.02 ulp of erf (tests/unit/test_vmath.c sweeps it).
 * It replaces 1 - e^(-a^2) * R(a - 2.5): one polynomial instead of an exp
 * and a polynomial, half the instructions of the tail that GELU's inputs
 * take in most vectors. */
static const float ERF_P[] = {0x1.06eba8p-3f, -0x1.81273ep-2f,  0x1.ce2ce6p-4f, -0x1.b7f71ap-6f,
                              0x1.53f224p-8f, -0x1.a3515ep-11f, 0x1.4771fep-14f};
static const float ERFC_Q[] = {0x1.aab86ep-12f,  -0x1.1d82ecp-9f,  0x1.64e37ep-8f,   -0x1.119ea6p-7f,
                               0x1.1a8ba6p-7f,   -0x1.90db50p-8f,  0x1.6eae5cp-9f,   -0x1.1d7e16p-11f,
                               -0x1.0f4c58p-12f, 0x1.09bc08p-12f,  -0x1.5428f6p-14f, -0x1.04435cp-17f,
                               0x1.07b9c0p-16f,  -0x1.d0bfe0p-19f, -0x1.dde384p-21f, 0x1.793460p-22f};

/* erf on 1 <= |x| (a = |x|), without its sign. */
static LLVMValueRef erf_tail(Vm *v, LLVMValueRef a) {
    LLVMValueRef ac = sel(v, fcmp(v, LLVMRealOGT, a, kf(v, 4.0f)), kf(v, 4.0f), a); /* NaN stays */
    return fsub(v, kf(v, 1.0f), horner(v, fsub(v, ac, kf(v, 2.5f)), ERFC_Q, 16));
}

/* A vector whose lanes all have |x| < 1 (GELU's inputs mostly do) skips the
 * tail's exp and polynomial: a branch on the vector, with the same result
 * bits either way. Scalars stay branch-free for the loop vectorizer. */
static LLVMValueRef body_erf(Vm *v, LLVMValueRef x) {
    LLVMValueRef a = unary(v, "llvm.fabs", x);
    LLVMValueRef small = fma3(v, x, horner(v, fmul(v, x, x), ERF_P, 7), x);
    LLVMValueRef is_small = fcmp(v, LLVMRealOLT, a, kf(v, 1.0f));
    if (!v->lanes)
        return vcopysign(v, sel(v, is_small, small, erf_tail(v, a)), x); /* erf is odd */
    LLVMTypeRef bt = LLVMTypeOf(is_small);
    LLVMValueRef all_small = cg_intrinsic(v->cm, v->b, "llvm.vector.reduce.and", bt, &is_small, 1);
    LLVMBasicBlockRef entry = LLVMGetInsertBlock(v->b);
    LLVMValueRef fn = LLVMGetBasicBlockParent(entry);
    LLVMBasicBlockRef tail = LLVMAppendBasicBlockInContext(v->cm->ctx, fn, "erf.tail");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(v->cm->ctx, fn, "erf.done");
    LLVMBuildCondBr(v->b, all_small, done, tail);
    LLVMPositionBuilderAtEnd(v->b, tail);
    LLVMValueRef mixed = sel(v, is_small, small, erf_tail(v, a));
    LLVMBasicBlockRef tail_end = LLVMGetInsertBlock(v->b);
    LLVMBuildBr(v->b, done);
    LLVMPositionBuilderAtEnd(v->b, done);
    LLVMValueRef r = LLVMBuildPhi(v->b, v->ft, "");
    LLVMValueRef vals[] = {small, mixed};
    LLVMBasicBlockRef from[] = {entry, tail_end};
    LLVMAddIncoming(r, vals, from, 2);
    return vcopysign(v, r, x); /* erf is odd */
}

/* ---- helper functions --------------------------------------------------- */

typedef LLVMValueRef (*VmBody)(Vm *v, LLVMValueRef x);

/* A call of the module's helper "attn.vmath.<name>.<type>" on x, defining the
 * helper (internal, alwaysinline) on first use. */
static LLVMValueRef vm_call(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x, const char *name, VmBody body) {
    LLVMTypeRef t = LLVMTypeOf(x);
    unsigned lanes = 0;
    if (LLVMGetTypeKind(t) == LLVMVectorTypeKind)
        lanes = LLVMGetVectorSize(t);
    if (lanes > VM_MAX_LANES) /* no target has such registers: callers split wider vectors */
        ATTN_UNREACHABLE("vector math on more than 64 lanes");
    char fname[96];
    if (lanes)
        snprintf(fname, sizeof fname, "attn.vmath.%s.v%uf32", name, lanes);
    else
        snprintf(fname, sizeof fname, "attn.vmath.%s.f32", name);
    LLVMTypeRef fnty = LLVMFunctionType(t, &t, 1, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(cm->mod, fname);
    if (!fn) {
        fn = LLVMAddFunction(cm->mod, fname, fnty);
        LLVMSetLinkage(fn, LLVMInternalLinkage);
        const char *attrs[] = {"alwaysinline", "nounwind", "willreturn"};
        for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
            unsigned kind = LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i]));
            LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cm->ctx, kind, 0));
        }
        Vm v = {.cm = cm,
                .b = LLVMCreateBuilderInContext(cm->ctx),
                .ft = t,
                .it = lanes ? LLVMVectorType(cm->i32, lanes) : cm->i32,
                .lanes = lanes,
                .fma = target_has_fma(cm->target),
                .scalef = lanes == 16 && target_has_avx512(cm->target)};
        LLVMPositionBuilderAtEnd(v.b, LLVMAppendBasicBlockInContext(cm->ctx, fn, "entry"));
        LLVMBuildRet(v.b, body(&v, LLVMGetParam(fn, 0)));
        LLVMDisposeBuilder(v.b);
    }
    return LLVMBuildCall2(b, fnty, fn, &x, 1, "");
}

LLVMValueRef cg_vexp(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x) { return vm_call(cm, b, x, "exp", body_exp); }
LLVMValueRef cg_vlog(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x) { return vm_call(cm, b, x, "log", body_log); }
LLVMValueRef cg_vtanh(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x) { return vm_call(cm, b, x, "tanh", body_tanh); }
LLVMValueRef cg_vsigmoid(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x) {
    return vm_call(cm, b, x, "sigmoid", body_sigmoid);
}
LLVMValueRef cg_verf(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x) { return vm_call(cm, b, x, "erf", body_erf); }
