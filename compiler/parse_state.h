/*
 * parse_state.h — state shared by the flex scanner and the bison parser of one file.
 */
#ifndef ATTN_PARSE_STATE_H
#define ATTN_PARSE_STATE_H

#include "ast.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

/* An open parenthesis, bracket or brace. */
struct OpenBracket {
    int line, col;      /* where it is */
    char c;             /* '(', '[' or '{' */
    int saved_depth;    /* '{': the depth outside it, restored by its '}' */
};

struct LexState {
    const SrcFile *src; /* file being read */
    Arena *arena;       /* where strings and nodes go */
    Diag *diag;         /* where errors go */
    int line, col;      /* position of the next character */
    int depth;          /* parentheses and brackets open inside the innermost brace */
    int last;           /* kind of the previous token (newline handling) */
    const char *last_ident; /* text of the previous token when it is an identifier */
    int lex_error_line; /* line of the last lexical error (0: none); the syntax
                           errors it causes on that line are not reported */
    bool stopped;       /* nesting went past the limit: the rest is not read */
    int nesting;        /* entries of open[] */
    struct OpenBracket open[ATTN_LIMIT_NESTING]; /* brackets open, innermost last */
    AstFile *out;       /* the result */
    jmp_buf fatal;      /* where the scanner's fatal errors (failed allocations) go */
};

#endif
