/*
 * parse.c — runs the scanner and parser over one file and checks the limits
 * that protect later phases from hostile sources (nesting depth: the phases
 * after parsing recurse over the tree).
 */
#include "ast.h"
#include "parser.h"
#include "lexer.h"

#include <string.h>

/* Stands in for the nodes the parser makes after an allocation failed: its
 * actions fill it in, parse_file throws the tree away. */
static _Thread_local Ast lost_node;

Ast *ast_new(Arena *ar, AstKind kind, SrcLoc loc) {
    Ast *n = arena_alloc(ar, sizeof(Ast));
    if (!n)
        n = memset(&lost_node, 0, sizeof lost_node);
    n->kind = kind;
    n->loc = loc;
    return n;
}

void ast_push(Arena *ar, AstList *l, Ast *item) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        Ast **items = arena_alloc(ar, (size_t)cap * sizeof(Ast *));
        if (!items)
            return; /* the arena failed: parse_file throws the tree away */
        if (l->n)
            memcpy(items, l->items, (size_t)l->n * sizeof(Ast *));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
}

const char *binop_text(int op) {
    static const char *text[] = {"+", "-", "*", "/", "//", "%", "**", "@",
                                 "<", "<=", ">", ">=", "==", "!=", "and", "or"};
    return op >= 0 && op < (int)(sizeof text / sizeof *text) ? text[op] : "?";
}

static int list_depth(const AstList *l, int depth, Ast **deepest);

/* Depth of the tree under n, counting no further than ATTN_LIMIT_NESTING + 1. */
static int node_depth(Ast *n, int depth, Ast **deepest) {
    if (!n)
        return depth;
    if (depth > ATTN_LIMIT_NESTING) {
        if (!*deepest)
            *deepest = n;
        return depth;
    }
    int d = depth + 1, m = d;
    Ast *kids[] = {n->a, n->b, n->c, n->type};
    for (size_t i = 0; i < sizeof kids / sizeof *kids; i++) {
        int k = node_depth(kids[i], d, deepest);
        m = k > m ? k : m;
    }
    const AstList *lists[] = {&n->list, &n->list2, &n->body, &n->body2};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
        int k = list_depth(lists[i], d, deepest);
        m = k > m ? k : m;
    }
    return m;
}

static int list_depth(const AstList *l, int depth, Ast **deepest) {
    int m = depth;
    for (int i = 0; i < l->n && !*deepest; i++) {
        int k = node_depth(l->items[i], depth, deepest);
        m = k > m ? k : m;
    }
    return m;
}

/* Points the scanner at src's text: NULL when out of memory. Every
 * allocation that can fail comes before the buffer that would leak, so a
 * fatal error of the scanner (st->fatal) leaves nothing behind. */
static YY_BUFFER_STATE scan_text(struct LexState *st, yyscan_t scanner) {
    size_t n = st->src->len;
    char *text = arena_alloc(st->arena, n + 2); /* flex wants two NULs at the end */
    if (!text || setjmp(st->fatal))
        return NULL;
    memcpy(text, st->src->text, n);
    /* the buffer stack, with room for the buffer: switching to it allocates nothing */
    attn_yypush_buffer_state(NULL, scanner);
    attn_yypush_buffer_state(NULL, scanner);
    return attn_yy_scan_buffer(text, n + 2, scanner);
}

int parse_file(Arena *ar, const SrcFile *src, Diag *diag, AstFile *out) {
    int before = diag->errors;
    *out = (AstFile){.src = src};
    if (src->len > ATTN_LIMIT_SOURCE_BYTES) {
        diag_error(diag, (SrcLoc){src, 1, 1}, "source file is %zu bytes; the limit is %d",
                   src->len, ATTN_LIMIT_SOURCE_BYTES);
        return -1;
    }
    if (memchr(src->text, '\0', src->len)) {
        const char *z = memchr(src->text, '\0', src->len);
        int line = 1, col = 1;
        for (const char *p = src->text; p < z; p++) {
            line += *p == '\n';
            col = *p == '\n' ? 1 : col + 1;
        }
        diag_error(diag, (SrcLoc){src, line, col}, "source contains a NUL byte (is this a text file?)");
        return -1;
    }
    struct LexState st = {.src = src, .arena = ar, .diag = diag, .line = 1, .col = 1, .out = out};
    yyscan_t scanner;
    YY_BUFFER_STATE buf = NULL;
    if (attn_yylex_init_extra(&st, &scanner) == 0) {
        if ((buf = scan_text(&st, scanner)))
            attn_yyparse(scanner);
        attn_yy_delete_buffer(buf, scanner);
        attn_yylex_destroy(scanner);
    }
    if (!buf || ar->failed) {
        *out = (AstFile){.src = src};
        diag_nomem(diag, "while parsing");
        return -1;
    }

    /* with syntax errors nothing runs after parsing: the depth needs no check */
    Ast *deepest = NULL;
    for (int i = 0; i < out->decls.n && !deepest && diag->errors == before; i++)
        node_depth(out->decls.items[i], 0, &deepest);
    if (deepest)
        diag_error(diag, deepest->loc, "expressions or blocks nested more than %d deep",
                   ATTN_LIMIT_NESTING);
    return diag->errors > before ? -1 : 0;
}
