/*
 * dim.h — symbolic tensor dimensions.
 *
 * A dim is a small expression over integers and symbols: constants (model
 * dims such as 3*hidden_size, known once hyperparameters are set) and symbols
 * (batch, sequence length: bound per call from the inputs' shapes). Builders
 * fold constants, so a dim that does not depend on a symbol is always a
 * DIM_CONST; two dims are equal when their folded expressions are equal.
 */
#ifndef ATTN_DIM_H
#define ATTN_DIM_H

#include "arena.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum DimKind {
    DIM_CONST, /* value */
    DIM_SYM,   /* symbol number sym, named name */
    DIM_ADD,   /* a + b */
    DIM_MUL,   /* a * b */
    DIM_DIV,   /* a / b, floor, b > 0 */
    DIM_MOD,   /* a % b, b > 0 */
} DimKind;

typedef struct Dim Dim;
struct Dim {
    DimKind kind;     /* what this is */
    int64_t value;    /* DIM_CONST */
    int sym;          /* DIM_SYM: index into the entry's symbol table */
    const char *name; /* DIM_SYM: its name in the source */
    const Dim *a, *b; /* operands */
};

const Dim *dim_const(Arena *ar, int64_t v);
const Dim *dim_sym(Arena *ar, int sym, const char *name);
/* Arithmetic; NULL when the result would overflow int64 or divide by zero. */
const Dim *dim_add(Arena *ar, const Dim *a, const Dim *b);
const Dim *dim_sub(Arena *ar, const Dim *a, const Dim *b);
const Dim *dim_mul(Arena *ar, const Dim *a, const Dim *b);
const Dim *dim_div(Arena *ar, const Dim *a, const Dim *b);
const Dim *dim_mod(Arena *ar, const Dim *a, const Dim *b);

bool dim_is_const(const Dim *d, int64_t *v);
bool dim_equal(const Dim *a, const Dim *b);
/* Value of d with symbols bound to syms[] (-1 = unbound); false if unbound or overflow. */
bool dim_eval(const Dim *d, const int64_t *syms, int nsyms, int64_t *out);
/* Writes d as source-like text ("T", "B*T", "96") into buf. */
void dim_format(const Dim *d, char *buf, size_t n);

#endif
