/*
 * op_cases.h — case labels of whole op classes, generated from ops.def.
 *
 * A switch over ops names the ops it treats specially one by one and the rest
 * by class with these macros: an op added to an existing class is then handled
 * as its class in every switch without an edit, and -Wswitch-enum still fails
 * the build for any op no label covers. A new class must say which group it
 * joins below (the build fails on an undefined OP_IN_*_OC_ macro until it does).
 */
#ifndef ATTN_OP_CASES_H
#define ATTN_OP_CASES_H

#include "ops.h"

/* Every op of the elementwise classes (unary, binary, compare, logic, where). */
#define OP_CASES_ELEMENTWISE ATTN_OP_TABLE(OP_ELEMENTWISE_CASE_)
#define OP_ELEMENTWISE_CASE_(id, builtin, cls, ...) OP_IN_ELEMENTWISE_##cls(case OP_##id:)
#define OP_IN_ELEMENTWISE_OC_SOURCE(label)
#define OP_IN_ELEMENTWISE_OC_UNARY(label) label
#define OP_IN_ELEMENTWISE_OC_BINARY(label) label
#define OP_IN_ELEMENTWISE_OC_COMPARE(label) label
#define OP_IN_ELEMENTWISE_OC_LOGIC(label) label
#define OP_IN_ELEMENTWISE_OC_TERNARY(label) label
#define OP_IN_ELEMENTWISE_OC_REDUCE(label)
#define OP_IN_ELEMENTWISE_OC_NORM(label)
#define OP_IN_ELEMENTWISE_OC_MATMUL(label)
#define OP_IN_ELEMENTWISE_OC_SHAPE(label)
#define OP_IN_ELEMENTWISE_OC_GATHER(label)
#define OP_IN_ELEMENTWISE_OC_CHECK(label)
#define OP_IN_ELEMENTWISE_OC_CONTROL(label)

/* Every op that reduces or normalises over one axis (sum ... argmax, softmax, layer norm). */
#define OP_CASES_REDUCE_NORM ATTN_OP_TABLE(OP_REDUCE_NORM_CASE_)
#define OP_REDUCE_NORM_CASE_(id, builtin, cls, ...) OP_IN_REDUCE_NORM_##cls(case OP_##id:)
#define OP_IN_REDUCE_NORM_OC_SOURCE(label)
#define OP_IN_REDUCE_NORM_OC_UNARY(label)
#define OP_IN_REDUCE_NORM_OC_BINARY(label)
#define OP_IN_REDUCE_NORM_OC_COMPARE(label)
#define OP_IN_REDUCE_NORM_OC_LOGIC(label)
#define OP_IN_REDUCE_NORM_OC_TERNARY(label)
#define OP_IN_REDUCE_NORM_OC_REDUCE(label) label
#define OP_IN_REDUCE_NORM_OC_NORM(label) label
#define OP_IN_REDUCE_NORM_OC_MATMUL(label)
#define OP_IN_REDUCE_NORM_OC_SHAPE(label)
#define OP_IN_REDUCE_NORM_OC_GATHER(label)
#define OP_IN_REDUCE_NORM_OC_CHECK(label)
#define OP_IN_REDUCE_NORM_OC_CONTROL(label)

#endif
