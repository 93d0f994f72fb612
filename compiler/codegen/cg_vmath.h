/*
 * cg_vmath.h — exp, log, tanh, sigmoid and erf as LLVM IR, for float and for
 * vectors of floats of any width (docs/VECMATH.md).
 *
 * Each emits, at the builder's position, f(x) for x of type float or
 * <N x float> (any N), returning a value of the same type. No calls to libm:
 * polynomial approximations with range reduction, straight-line code (selects,
 * no branches) so that it vectorizes. Each function and type becomes one
 * internal, alwaysinline helper function of the module ("attn.vmath.exp.v16f32"),
 * made on first use, so any number of calls may share a module.
 *
 * The scalar and the vector form of a function compute the same bits for the
 * same input (NaNs aside, whose payloads may differ). Arithmetic is float,
 * polynomials use llvm.fma; on an x86 target without FMA, llvm.fmuladd.
 */
#ifndef ATTN_CG_VMATH_H
#define ATTN_CG_VMATH_H

#include "cg.h"

/* e^x: under 1 ulp (1.4 without FMA) for normal results; +inf above
 * 88.7228, gradual underflow below -87.34, 0 below -103.97; exp(-inf) = 0,
 * exp(+inf) = +inf, NaN -> NaN. */
LLVMValueRef cg_vexp(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x);
/* Natural log: under 1 ulp for every positive input, denormals included;
 * log(±0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, NaN -> NaN. */
LLVMValueRef cg_vlog(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x);
/* tanh(x): odd polynomial for |x| < 0.625 (full relative accuracy for small
 * |x|), 1 - 2/(e^2|x| + 1) above; ±1 from |x| ~ 9.01; under 1.5 ulp. */
LLVMValueRef cg_vtanh(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x);
/* 1/(1 + e^-x), as e^-|x|/(1 + e^-|x|) for x < 0: no overflow, full relative
 * accuracy in the left tail (sigmoid(-100) ~ 3.7e-44), 1 from x ~ 17.33;
 * under 1.5 ulp (2.4 without FMA). */
LLVMValueRef cg_vsigmoid(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x);
/* erf(x): odd polynomial for |x| < 1 (erf(1e-6) = 1.128e-6), 1 - e^-x^2 * Q(|x|)
 * above; ±1 from |x| ~ 3.92; under 1 ulp (1.4 without FMA). */
LLVMValueRef cg_verf(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x);

#endif
