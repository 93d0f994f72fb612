/*
 * dim.h — symbolic tensor dimensions.
 *
 * A dim is a small expression over integers and symbols: constants (model
 * dims such as 3*hidden_size, known once hyperparameters are set) and symbols
 * (batch, sequence length: bound per call from the inputs' shapes). Builders
 * fold constants, so a dim that does not depend on a symbol is always a
 * DIM_CONST; two dims are equal when their folded expressions are equal.
 *
 * Builders never make a dim nested deeper than ATTN_LIMIT_DIM_DEPTH or with
 * more than ATTN_LIMIT_DIM_TERMS terms, so everything that walks a dim
 * (evaluating, comparing, formatting, code generation) recurses a bounded
 * number of times.
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
    int depth;        /* nesting: 1 for a constant or a symbol */
    int terms;        /* constants, symbols and operators of the expression */
};

/* The arithmetic of dims. */
typedef enum DimOp { DIM_OP_ADD, DIM_OP_SUB, DIM_OP_MUL, DIM_OP_DIV, DIM_OP_MOD } DimOp;

/* Why arithmetic has no dim. */
typedef enum DimFault {
    DIM_FAULT_NONE,
    DIM_FAULT_OVERFLOW, /* a constant outside int64 */
    DIM_FAULT_DIVISOR,  /* // or % by a constant that is not positive */
    DIM_FAULT_DEPTH,    /* nested deeper than ATTN_LIMIT_DIM_DEPTH */
    DIM_FAULT_TERMS,    /* more than ATTN_LIMIT_DIM_TERMS terms */
    DIM_FAULT_NOMEM,    /* the arena is out of memory */
} DimFault;

/* NULL only when the arena is out of memory. */
const Dim *dim_const(Arena *ar, int64_t v);
const Dim *dim_sym(Arena *ar, int sym, const char *name);
/* a OP b (floor division and modulo); NULL with *fault set when there is no
 * such dim. a and b must not be NULL. */
const Dim *dim_op(Arena *ar, DimOp op, const Dim *a, const Dim *b, DimFault *fault);
/* "+", "-", "*", "//" or "%". */
const char *dim_op_text(DimOp op);
/* What went wrong, for a message: "overflows int64", "nests deeper than
 * ATTN_LIMIT_DIM_DEPTH (64)"... */
const char *dim_fault_text(DimFault f);

bool dim_is_const(const Dim *d, int64_t *v);
bool dim_equal(const Dim *a, const Dim *b);
/* Value of d with symbols bound to syms[] (-1 = unbound); false if unbound,
 * on overflow or for a divisor that is not positive. */
bool dim_eval(const Dim *d, const int64_t *syms, int nsyms, int64_t *out);
/* Writes d as source-like text ("T", "B*T", "96") into buf. */
void dim_format(const Dim *d, char *buf, size_t n);

#endif
