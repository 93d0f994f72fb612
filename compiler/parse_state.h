/*
 * parse_state.h — state shared by the flex scanner and the bison parser of one file.
 */
#ifndef ATTN_PARSE_STATE_H
#define ATTN_PARSE_STATE_H

#include "ast.h"

#include <errno.h>
#include <stdint.h>

struct LexState {
    const SrcFile *src; /* file being read */
    Arena *arena;       /* where strings and nodes go */
    Diag *diag;         /* where errors go */
    int line, col;      /* position of the next character */
    int depth;          /* open parentheses and brackets */
    int last;           /* kind of the previous token (newline handling) */
    int nesting;        /* blocks and parentheses open in the parser */
    AstFile *out;       /* the result */
};

#endif
