/*
 * ast.h — the syntax tree of .attn source, built by the parser.
 *
 * One node struct for expressions, statements and declarations (chibicc style);
 * the kind says which fields are used. Every node keeps the location of the
 * token it came from, so every later phase can point at the user's line.
 * Nodes live in the model's arena and are freed with it.
 */
#ifndef ATTN_AST_H
#define ATTN_AST_H

#include "arena.h"
#include "attn_limits.h"
#include "diag.h"

#include <stdint.h>

typedef struct Ast Ast;

/* A growable array of child nodes. */
typedef struct AstList {
    Ast **items; /* children in source order */
    int n, cap;  /* used and allocated */
} AstList;

typedef enum AstKind {
    /* expressions */
    A_INT,      /* integer literal: ival */
    A_FLOAT,    /* float literal: fval */
    A_BOOL,     /* true/false: ival */
    A_STR,      /* string literal: str */
    A_INF,      /* inf */
    A_NAME,     /* identifier: str */
    A_BINOP,    /* a op b: op is a token kind (BINOP_*) */
    A_UNOP,     /* op a: '-' or 'not' */
    A_CALL,     /* str(list): callee name, args; named args are A_KWARG */
    A_KWARG,    /* str = a, inside a call or scan header */
    A_FIELD,    /* a.str: x.T, x.shape */
    A_INDEX,    /* a[list]: items are expressions, A_SLICE or A_ELLIPSIS */
    A_SLICE,    /* a:b:c inside an index; any may be NULL */
    A_ELLIPSIS, /* ... inside an index */
    A_LIST,     /* [list]: shapes, permutations */
    A_SCAN,     /* scan(list) { body }: list holds A_SCANSEQ and A_KWARG */
    A_SCANSEQ,  /* str in a: a sequence stepped over by a scan */
    A_TYPE,     /* str[list]: tensor type with dims; or scalar type name str with no dims;
                   enum(list of A_NAME) has str "enum" */
    /* statements */
    S_ASSIGN,   /* list2 (A_NAME targets) = a */
    S_PARAM,    /* param str: type (= a key expression) */
    S_FOR,      /* for str in a..b { body } */
    S_IF,       /* if a { body } else { body2 } */
    S_SCOPE,    /* scope a { body }: weight-name prefix */
    S_RETURN,   /* return list */
    S_YIELD,    /* yield list: per-step outputs of a scan */
    /* declarations */
    D_IMPORT,   /* import str */
    D_HYPER,    /* hyper str: type (= a default) */
    D_LET,      /* let str = a: model-level constant */
    D_DEF,      /* def str(list of D_ARG) { body } */
    D_ENTRY,    /* entry str(list of D_ARG) -> (list2 of D_ARG) { body } */
    D_ARG,      /* str: type (type may be NULL): a def/entry argument or entry output */
} AstKind;

/* Binary operators (A_BINOP op field). */
typedef enum BinOp {
    BINOP_ADD, BINOP_SUB, BINOP_MUL, BINOP_DIV, BINOP_FLOORDIV, BINOP_MOD, BINOP_POW,
    BINOP_MATMUL, BINOP_LT, BINOP_LE, BINOP_GT, BINOP_GE, BINOP_EQ, BINOP_NE,
    BINOP_AND, BINOP_OR,
} BinOp;

/* Unary operators (A_UNOP op field). */
typedef enum UnOp { UNOP_NEG, UNOP_NOT } UnOp;

struct Ast {
    AstKind kind;  /* what this node is */
    SrcLoc loc;    /* where it starts in the source */
    int op;        /* BinOp / UnOp */
    int64_t ival;  /* integer / bool literal */
    double fval;   /* float literal */
    char *str;     /* name, string literal, callee, field, dtype name */
    Ast *a, *b, *c;/* operands: see the kind */
    Ast *type;     /* declared A_TYPE of params, hypers, args */
    AstList list;  /* arguments, dims, index items, parameters */
    AstList list2; /* assignment targets, entry outputs */
    AstList body;  /* statements of a block */
    AstList body2; /* else block */
};

/* A parsed file: its declarations in order. */
typedef struct AstFile {
    const SrcFile *src; /* the file */
    AstList decls;      /* D_* nodes */
} AstFile;

Ast *ast_new(Arena *ar, AstKind kind, SrcLoc loc);
void ast_push(Arena *ar, AstList *l, Ast *item);
const char *binop_text(int op);

/* Parses src into *out. Syntax errors go to diag (several per file where the
 * parser can recover); returns 0 when there were none. */
int parse_file(Arena *ar, const SrcFile *src, Diag *diag, AstFile *out);

#endif
