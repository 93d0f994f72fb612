/*
 * parser.y — grammar of .attn source (pure bison parser with locations).
 *
 * Builds the AST of ast.h. Syntax errors are reported with the tokens the
 * parser expected (lookahead correction keeps those lists exact; kinds of
 * tokens that start an expression, a statement or a declaration are named as
 * such) and a note at a bracket left open; the parser resynchronises at the end
 * of the statement, the block or the declaration, so one run reports several
 * errors. See docs/LANGUAGE.md for the language.
 */
%define api.pure full
%define api.prefix {attn_yy}
%define parse.error custom
%define parse.lac full
%locations
%param { yyscan_t scanner }

%code requires {
#include "parse_state.h"
typedef void *yyscan_t;
}

%code provides {
/* the scanner's declarations use the unprefixed names */
#define YYSTYPE ATTN_YYSTYPE
#define YYLTYPE ATTN_YYLTYPE
int attn_yylex(ATTN_YYSTYPE *lval, ATTN_YYLTYPE *lloc, yyscan_t scanner);
}

%code {
#include "lexer.h"
#include "method_hint.h"
#include <string.h>

#define ST (attn_yyget_extra(scanner))
#define AR (ST->arena)
#define LOC(l) ((SrcLoc){ST->src, (l).first_line, (l).first_column})
#define NODE(kind, l) ast_new(AR, kind, LOC(l))

/* Errors other than syntax errors: the parser's stack overflowing. */
static void attn_yyerror(ATTN_YYLTYPE *l, yyscan_t scanner, const char *msg) {
    struct LexState *st = attn_yyget_extra(scanner);
    if (strcmp(msg, "memory exhausted") == 0)
        msg = "expressions nested too deeply to parse";
    diag_error(st->diag, (SrcLoc){st->src, l->first_line, l->first_column}, "%s", msg);
}

/* Source text from the start of `from` up to (not including) the start of
 * `to`, without surrounding blanks; NULL when they are on different lines. */
static char *source_span(struct LexState *st, ATTN_YYLTYPE from, ATTN_YYLTYPE to) {
    if (from.first_line != to.first_line || to.first_column < from.first_column)
        return NULL;
    const char *p = st->src->text;
    for (int line = 1; line < from.first_line; line++)
        p = strchr(p, '\n') + 1;
    const char *b = p + from.first_column - 1, *e = p + to.first_column - 1;
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return arena_strndup(st->arena, b, (size_t)(e - b));
}

/* RECV.METHOD(ARGS): PyTorch's method call, reported with the .attn spelling. */
static void method_call(yyscan_t scanner, ATTN_YYLTYPE recv, ATTN_YYLTYPE dot, const char *method,
                        ATTN_YYLTYPE open, ATTN_YYLTYPE close) {
    struct LexState *st = attn_yyget_extra(scanner);
    ATTN_YYLTYPE after_open = open;
    after_open.first_column++;
    char *r = source_span(st, recv, dot), *a = source_span(st, after_open, close);
    StrBuf b = {0};
    method_spelling(&b, method, r, a);
    diag_error(st->diag, LOC(dot), "PyTorch's %s.%s(...) is written %s in .attn (there are no method calls)",
               r ? r : "x", method, sb_str(&b));
    sb_free(&b);
}

static Ast *binop(yyscan_t scanner, ATTN_YYLTYPE l, int op, Ast *a, Ast *b) {
    Ast *n = ast_new(AR, A_BINOP, LOC(l));
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}
}

%union {
    int64_t i;
    double f;
    char *s;
    Ast *node;
    AstList list;
}

%token <s> IDENT "identifier" STRING "string"
%token <i> INT "integer"
%token <f> FLOAT "number"
%token NEWLINE "end of line"
%token DEF "def" ENTRY "entry" HYPER "hyper" PARAM "param" IMPORT "import" LET "let"
%token FOR "for" IN "in" IF "if" ELSE "else" SCOPE "scope" RETURN "return" YIELD "yield"
%token SCAN "scan" TRUE "true" FALSE "false" AND "and" OR "or" NOT "not" INF "inf" ENUM "enum"
%token ELLIPSIS "..." DOTDOT ".." ARROW "->" EQ "==" NE "!=" LE "<=" GE ">=" FLOORDIV "//" POW "**"

%type <node> decl arg type stmt if_stmt expr postfix primary callarg idx oexpr scanitem
%type <list> args arglist exprlist namelist callargs callarglist idxlist scanitems block stmts targets

%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' FLOORDIV '%' '@'
%precedence UMINUS
%right POW

%%

file: decls ;

decls: %empty
     | decls term
     | decls decl term          { ast_push(AR, &ST->out->decls, $2); }
     | decls error term         { yyerrok; }
     ;

term: NEWLINE | ';' ;

decl: IMPORT STRING              { $$ = NODE(D_IMPORT, @1); $$->str = $2; }
    | HYPER IDENT ':' type       { $$ = NODE(D_HYPER, @2); $$->str = $2; $$->type = $4; }
    | HYPER IDENT ':' type '=' expr
                                 { $$ = NODE(D_HYPER, @2); $$->str = $2; $$->type = $4; $$->a = $6; }
    | LET IDENT '=' expr         { $$ = NODE(D_LET, @2); $$->str = $2; $$->a = $4; }
    | DEF IDENT '(' args ')' block
                                 { $$ = NODE(D_DEF, @2); $$->str = $2; $$->list = $4; $$->body = $6; }
    | ENTRY IDENT '(' args ')' arrow '(' args ')' block
                                 { $$ = NODE(D_ENTRY, @2); $$->str = $2; $$->list = $4; $$->list2 = $8; $$->body = $10; }
    | ENTRY IDENT '(' args ')' arrow arg block
                                 { $$ = NODE(D_ENTRY, @2); $$->str = $2; $$->list = $4;
                                   ast_push(AR, &$$->list2, $7); $$->body = $8; }
    ;


/* the outputs may start the next line: entry f(x)\n    -> (y) { */
arrow: ARROW | NEWLINE ARROW ;

args: %empty                     { $$ = (AstList){0}; }
    | arglist
    | arglist ','
    ;
arglist: arg                     { $$ = (AstList){0}; ast_push(AR, &$$, $1); }
       | arglist ',' arg         { $$ = $1; ast_push(AR, &$$, $3); }
       ;
arg: IDENT                       { $$ = NODE(D_ARG, @1); $$->str = $1; }
   | IDENT ':' type              { $$ = NODE(D_ARG, @1); $$->str = $1; $$->type = $3; }
   ;

type: IDENT                      { $$ = NODE(A_TYPE, @1); $$->str = $1; }
    | IDENT '[' ']'              { $$ = NODE(A_TYPE, @1); $$->str = $1; $$->ival = 1; }
    | IDENT '[' exprlist ']'     { $$ = NODE(A_TYPE, @1); $$->str = $1; $$->ival = 1; $$->list = $3; }
    | ENUM '(' namelist ')'      { $$ = NODE(A_TYPE, @1); $$->str = "enum"; $$->list = $3; }
    ;
namelist: IDENT                  { $$ = (AstList){0}; Ast *n = NODE(A_NAME, @1); n->str = $1; ast_push(AR, &$$, n); }
        | namelist ',' IDENT     { $$ = $1; Ast *n = NODE(A_NAME, @3); n->str = $3; ast_push(AR, &$$, n); }
        ;

block: '{' stmts '}'             { $$ = $2; }
     | '{' stmts stmt '}'        { $$ = $2; ast_push(AR, &$$, $3); }
     | '{' stmts error '}'       { $$ = $2; yyerrok; }
     ;
stmts: %empty                    { $$ = (AstList){0}; }
     | stmts term                { $$ = $1; }
     | stmts stmt term           { $$ = $1; ast_push(AR, &$$, $2); }
     | stmts error term          { $$ = $1; yyerrok; }
     ;

stmt: targets '=' expr           { $$ = NODE(S_ASSIGN, @1); $$->list2 = $1; $$->a = $3; }
    | PARAM IDENT ':' type       { $$ = NODE(S_PARAM, @2); $$->str = $2; $$->type = $4; }
    | PARAM IDENT ':' type '=' expr
                                 { $$ = NODE(S_PARAM, @2); $$->str = $2; $$->type = $4; $$->a = $6; }
    | FOR IDENT IN expr DOTDOT expr block
                                 { $$ = NODE(S_FOR, @1); $$->str = $2; $$->a = $4; $$->b = $6; $$->body = $7; }
    | if_stmt
    | SCOPE expr block           { $$ = NODE(S_SCOPE, @1); $$->a = $2; $$->body = $3; }
    | RETURN exprlist            { $$ = NODE(S_RETURN, @1); $$->list = $2; }
    | YIELD exprlist             { $$ = NODE(S_YIELD, @1); $$->list = $2; }
    ;
if_stmt: IF expr block           { $$ = NODE(S_IF, @1); $$->a = $2; $$->body = $3; }
       | IF expr block ELSE block
                                 { $$ = NODE(S_IF, @1); $$->a = $2; $$->body = $3; $$->body2 = $5; }
       | IF expr block ELSE if_stmt
                                 { $$ = NODE(S_IF, @1); $$->a = $2; $$->body = $3; ast_push(AR, &$$->body2, $5); }
       ;
targets: IDENT                   { $$ = (AstList){0}; Ast *n = NODE(A_NAME, @1); n->str = $1; ast_push(AR, &$$, n); }
       | targets ',' IDENT       { $$ = $1; Ast *n = NODE(A_NAME, @3); n->str = $3; ast_push(AR, &$$, n); }
       ;

exprlist: expr                   { $$ = (AstList){0}; ast_push(AR, &$$, $1); }
        | exprlist ',' expr      { $$ = $1; ast_push(AR, &$$, $3); }
        ;

expr: postfix
    | expr OR expr               { $$ = binop(scanner, @2, BINOP_OR, $1, $3); }
    | expr AND expr              { $$ = binop(scanner, @2, BINOP_AND, $1, $3); }
    | NOT expr                   { $$ = NODE(A_UNOP, @1); $$->op = UNOP_NOT; $$->a = $2; }
    | expr EQ expr               { $$ = binop(scanner, @2, BINOP_EQ, $1, $3); }
    | expr NE expr               { $$ = binop(scanner, @2, BINOP_NE, $1, $3); }
    | expr '<' expr              { $$ = binop(scanner, @2, BINOP_LT, $1, $3); }
    | expr LE expr               { $$ = binop(scanner, @2, BINOP_LE, $1, $3); }
    | expr '>' expr              { $$ = binop(scanner, @2, BINOP_GT, $1, $3); }
    | expr GE expr               { $$ = binop(scanner, @2, BINOP_GE, $1, $3); }
    | expr '+' expr              { $$ = binop(scanner, @2, BINOP_ADD, $1, $3); }
    | expr '-' expr              { $$ = binop(scanner, @2, BINOP_SUB, $1, $3); }
    | expr '*' expr              { $$ = binop(scanner, @2, BINOP_MUL, $1, $3); }
    | expr '/' expr              { $$ = binop(scanner, @2, BINOP_DIV, $1, $3); }
    | expr FLOORDIV expr         { $$ = binop(scanner, @2, BINOP_FLOORDIV, $1, $3); }
    | expr '%' expr              { $$ = binop(scanner, @2, BINOP_MOD, $1, $3); }
    | expr '@' expr              { $$ = binop(scanner, @2, BINOP_MATMUL, $1, $3); }
    | expr POW expr              { $$ = binop(scanner, @2, BINOP_POW, $1, $3); }
    | '-' expr %prec UMINUS      { $$ = NODE(A_UNOP, @1); $$->op = UNOP_NEG; $$->a = $2; }
    ;

postfix: primary
       | IDENT '(' callargs ')'  { $$ = NODE(A_CALL, @1); $$->str = $1; $$->list = $3; }
       | postfix '[' idxlist ']' { $$ = NODE(A_INDEX, @2); $$->a = $1; $$->list = $3; }
       | postfix '.' IDENT       { $$ = NODE(A_FIELD, @3); $$->a = $1; $$->str = $3; }
       | postfix '.' IDENT '(' callargs ')'
                                 { method_call(scanner, @1, @2, $3, @4, @6); $$ = $1; }
       ;

primary: INT                     { $$ = NODE(A_INT, @1); $$->ival = $1; }
       | FLOAT                   { $$ = NODE(A_FLOAT, @1); $$->fval = $1; }
       | STRING                  { $$ = NODE(A_STR, @1); $$->str = $1; }
       | TRUE                    { $$ = NODE(A_BOOL, @1); $$->ival = 1; }
       | FALSE                   { $$ = NODE(A_BOOL, @1); $$->ival = 0; }
       | INF                     { $$ = NODE(A_INF, @1); }
       | IDENT                   { $$ = NODE(A_NAME, @1); $$->str = $1; }
       | '(' expr ')'            { $$ = $2; }
       | '[' exprlist ']'        { $$ = NODE(A_LIST, @1); $$->list = $2; }
       | '[' ']'                 { $$ = NODE(A_LIST, @1); }
       | SCAN '(' scanitems ')' block
                                 { $$ = NODE(A_SCAN, @1); $$->list = $3; $$->body = $5; }
       ;

callargs: %empty                 { $$ = (AstList){0}; }
        | callarglist
        | callarglist ','
        ;
callarglist: callarg             { $$ = (AstList){0}; ast_push(AR, &$$, $1); }
           | callarglist ',' callarg { $$ = $1; ast_push(AR, &$$, $3); }
           ;
callarg: expr
       | IDENT '=' expr          { $$ = NODE(A_KWARG, @1); $$->str = $1; $$->a = $3; }
       ;

idxlist: idx                     { $$ = (AstList){0}; ast_push(AR, &$$, $1); }
       | idxlist ',' idx         { $$ = $1; ast_push(AR, &$$, $3); }
       ;
idx: expr
   | ELLIPSIS                    { $$ = NODE(A_ELLIPSIS, @1); }
   | oexpr ':' oexpr             { $$ = NODE(A_SLICE, @2); $$->a = $1; $$->b = $3; }
   | oexpr ':' oexpr ':' oexpr   { $$ = NODE(A_SLICE, @2); $$->a = $1; $$->b = $3; $$->c = $5; }
   ;
oexpr: %empty                    { $$ = NULL; }
     | expr
     ;

scanitems: scanitem              { $$ = (AstList){0}; ast_push(AR, &$$, $1); }
         | scanitems ',' scanitem { $$ = $1; ast_push(AR, &$$, $3); }
         ;
scanitem: IDENT IN expr          { $$ = NODE(A_SCANSEQ, @1); $$->str = $1; $$->a = $3; }
        | IDENT '=' expr         { $$ = NODE(A_KWARG, @1); $$->str = $1; $$->a = $3; }
        ;

%%

/* Kinds of tokens named as a group in "expecting ..." lists. */
static bool expr_start(yysymbol_kind_t k) {
    return k == YYSYMBOL_IDENT || k == YYSYMBOL_STRING || k == YYSYMBOL_INT || k == YYSYMBOL_FLOAT ||
           k == YYSYMBOL_TRUE || k == YYSYMBOL_FALSE || k == YYSYMBOL_INF || k == YYSYMBOL_NOT ||
           k == YYSYMBOL_SCAN || k == YYTRANSLATE('(') || k == YYTRANSLATE('[') || k == YYTRANSLATE('-');
}

static bool operator_token(yysymbol_kind_t k) {
    static const char ops[] = "<>+-*/%@[.";
    for (const char *p = ops; *p; p++)
        if (k == YYTRANSLATE((int)*p))
            return true;
    return (k >= YYSYMBOL_EQ && k <= YYSYMBOL_POW) || k == YYSYMBOL_AND || k == YYSYMBOL_OR;
}

static bool stmt_start(yysymbol_kind_t k) {
    return k == YYSYMBOL_IDENT || k == YYSYMBOL_PARAM || k == YYSYMBOL_FOR || k == YYSYMBOL_IF ||
           k == YYSYMBOL_SCOPE || k == YYSYMBOL_RETURN || k == YYSYMBOL_YIELD;
}

static bool decl_start(yysymbol_kind_t k) {
    return k == YYSYMBOL_DEF || k == YYSYMBOL_ENTRY || k == YYSYMBOL_HYPER || k == YYSYMBOL_IMPORT ||
           k == YYSYMBOL_LET;
}

/* A token kind as messages spell it: keywords and word-like operators quoted. */
static const char *token_text(yysymbol_kind_t k, char *buf, size_t len) {
    /* DEF ... POW: the keywords and multi-character operators, in %token order */
    snprintf(buf, len, k >= YYSYMBOL_DEF && k <= YYSYMBOL_POW ? "'%s'" : "%s", yysymbol_name(k));
    return buf;
}

/* "syntax error, unexpected X, expecting A, B or C" and, when a bracket left
 * open explains the error, a note at that bracket. After an error the parser
 * resumes at the next line break, so parentheses open in the statement are
 * forgotten. */
static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner) {
    struct LexState *st = attn_yyget_extra(scanner);
    const ATTN_YYLTYPE *l = yypcontext_location(ctx);
    yysymbol_kind_t tok = yypcontext_token(ctx);
    const struct OpenBracket *open = st->nesting ? &st->open[st->nesting - 1] : NULL;
    bool quiet = st->stopped || l->first_line == st->lex_error_line;
    const char *ident = tok == YYSYMBOL_IDENT ? st->last_ident : NULL;
    while (st->nesting > 0 && st->open[st->nesting - 1].c != '{')
        st->nesting--;
    st->depth = 0;
    if (quiet)
        return 0;

    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    bool has_expr = false, has_op = false, has_stmt = false, has_decl = false, has_newline = false;
    for (int i = 0; i < n; i++) {
        has_expr |= exp[i] == YYSYMBOL_INT;
        has_op |= exp[i] == YYTRANSLATE('+');
        has_stmt |= exp[i] == YYSYMBOL_RETURN;
        has_decl |= exp[i] == YYSYMBOL_DEF;
        has_newline |= exp[i] == YYSYMBOL_NEWLINE;
    }
    const char *items[YYNTOKENS + 4];
    char texts[YYNTOKENS][32];
    int nitems = 0;
    for (int i = 0; i < n; i++) {
        yysymbol_kind_t k = exp[i];
        if ((has_expr && expr_start(k)) || (has_op && operator_token(k)) || (has_stmt && stmt_start(k)) ||
            (has_decl && decl_start(k)) || (has_newline && k == YYTRANSLATE(';')))
            continue;
        items[nitems++] = token_text(k, texts[i], sizeof texts[i]);
    }
    if (has_op)
        items[nitems++] = "an operator";
    if (has_expr)
        items[nitems++] = "an expression";
    if (has_stmt)
        items[nitems++] = "a statement";
    if (has_decl)
        items[nitems++] = "a declaration";

    char what[64];
    StrBuf b = {0};
    sb_printf(&b, "syntax error, unexpected %s", token_text(tok, what, sizeof what));
    if (ident)
        sb_printf(&b, " '%s'", ident);
    for (int i = 0; i < nitems; i++)
        sb_printf(&b, "%s%s", i == 0 ? ", expecting " : i == nitems - 1 ? " or " : ", ", items[i]);
    diag_error(st->diag, LOC(*l), "%s", sb_str(&b));
    sb_free(&b);
    if (open && (tok == YYSYMBOL_YYEOF || (open->c != '{' && open->line < l->first_line)))
        diag_note(st->diag, (SrcLoc){st->src, open->line, open->col}, "this '%c' is not closed%s", open->c,
                  open->c == '{' ? "" : ", so the line breaks after it do not end the statement");
    return 0;
}
