/*
 * lower.h — elaboration of the AST into graph IR (internal to the lowering files).
 *
 * Lowering runs a model's entry point like a program evaluated at compile time:
 * hyperparameters, `let` constants, `for` loops, `if`s and function calls are
 * executed by the compiler (loops unrolled, functions inlined, weight names
 * built), and every tensor operation becomes a graph node whose shape is
 * checked on the spot, so errors point at the line that caused them. Only
 * `scan` stays a loop: its body becomes a nested graph run per time step.
 */
#ifndef ATTN_LOWER_H
#define ATTN_LOWER_H

#include "model.h"

/* Kinds of compile-time values. */
typedef enum VKind {
    V_ERR,    /* an error was already reported; propagate quietly */
    V_NONE,   /* a function that returned nothing */
    V_INT,    /* integer (also a constant dim) */
    V_FLOAT,  /* float */
    V_BOOL,   /* boolean */
    V_STR,    /* string (weight-name pieces) */
    V_ENUM,   /* enumeration member: s */
    V_DIM,    /* symbolic dim: d */
    V_TENSOR, /* a graph value: node of graph g */
    V_TUPLE,  /* several values: items[0..n) */
} VKind;

typedef struct Val Val;
struct Val {
    VKind k;
    int64_t i;        /* V_INT, V_BOOL */
    double f;         /* V_FLOAT */
    const char *s;    /* V_STR, V_ENUM */
    const Dim *d;     /* V_DIM */
    IrGraph *g;       /* V_TENSOR: the graph the node belongs to */
    int node;         /* V_TENSOR: node index */
    Val *items;       /* V_TUPLE */
    int n;            /* V_TUPLE length */
    const Ast *assigned_at; /* V_TUPLE bound whole to one name: that assignment (for messages) */
    int hyper;        /* V_INT: 1 + the hyperparameter it was read from, 0 for none (kept
                         by copies, lost by arithmetic): a weight's shape may overrule it */
};

/* A name bound in a frame. */
typedef struct Binding {
    const char *name;
    Val v;
    struct Binding *next;
} Binding;

/* Variables of a function body, entry body or scan body. */
typedef struct Frame {
    Binding *vars;
    struct Frame *parent; /* enclosing frame for lookups (scan bodies), or NULL */
} Frame;

/* An outer value a scan body reads, and the body input standing for it. */
typedef struct Capture {
    IrGraph *outer_g; int outer_node; /* the value outside */
    int inner_node;                   /* the INPUT node inside */
    struct Capture *next;
} Capture;

/* A scan body under construction. */
typedef struct ScanCtx {
    IrGraph *g;              /* the body graph */
    Capture *captures;       /* outer values read so far */
    int ncaptures;
    int first_capture_index; /* input index of the first capture */
    Val *yields; int nyields; bool yielded; /* the yield statement's values */
    int call_depth;          /* inlined calls open when the scan began */
    struct ScanCtx *parent;
} ScanCtx;

/* Work and nodes of one lowering of a model, all entries together, against
 * the budgets of attn_limits.h. */
typedef struct LowerBudget {
    long steps;             /* loop iterations, expressions and nodes */
    long nodes;             /* graph nodes made */
    bool over;              /* a budget ran out (reported once) */
} LowerBudget;

typedef struct Lower {
    Model *m;
    Arena *ar;
    Diag *diag;
    bool final;             /* every hyperparameter and weight must be there */
    bool solve;             /* solve unset hyperparameters from weight shapes */
    int solved;             /* hyperparameters solved in this pass */
    IrEntry *entry;         /* entry being lowered */
    IrGraph *g;             /* graph receiving new nodes */
    IrGraph *top;           /* the entry's top-level graph */
    Frame *frame;           /* innermost variables */
    ScanCtx *scan;          /* innermost scan body, or NULL */
    const char *prefix;     /* weight-name prefix from `scope` */
    int call_depth;         /* inlined calls in progress */
    bool returned;          /* a return statement ran in the current function */
    Val ret;                /* its value */
    SrcLoc ret_loc;         /* that return statement */
    const Ast *loop;        /* innermost `for` running, or NULL */
    SrcLoc last_note;       /* where the last "in this call" note pointed */
    const char **syms; int nsyms, capsyms; /* per-call symbols of the entry */
    ParamDecl *params; int nparams, capparams; /* params seen in this entry */
    SrcLoc division_reported; /* the last reshape reported by reshape_division_error */
    uint64_t hypers_read;   /* bit i: hyperparameter i (i < 64) was read since the
                               innermost key_deciders_begin (lower_stmt.c) */
    LowerBudget *budget;    /* the model's lowering budget, shared by its entries */
    const char *const *export_names; int nexports; /* intermediates asked for as extra outputs */
    Val *exports;           /* their last assigned values (V_NONE until assigned) */
} Lower;

/* Counts one step of work; false (reporting it once) past the model's lowering
 * budgets (attn_limits.h: steps, nodes and memory). */
bool lower_step(Lower *L, SrcLoc at);
/* Counts a new graph node (one step too) against the node budget. */
bool lower_node_step(Lower *L, SrcLoc at);

/* lower_stmt.c */
void lower_block(Lower *L, const AstList *body);
Val lower_call_def(Lower *L, const Ast *def, const Ast *call);
void frame_set(Lower *L, const char *name, Val v);
/* When v is a tuple that an assignment bound whole to one name, reports the
 * mistake there (with a note at at_loc, where a single value was wanted, saying
 * `wanted`) and returns true. */
bool report_whole_tuple(Lower *L, Val v, SrcLoc at_loc, const char *wanted);
/* lower_expr.c */
Val lower_expr(Lower *L, const Ast *e);
bool val_to_int(Lower *L, Val v, const Ast *at, int64_t *out);
/* Whether name is a variable, a hyperparameter or an enum member here. */
bool name_is_bound(Lower *L, const char *name);
bool val_to_dim(Lower *L, Val v, const Ast *at, const Dim **out);
bool val_to_bool(Lower *L, Val v, const Ast *at, bool *out);
/* a OP b as a dim; NULL after an error at loc that names `what`, the
 * expression and why it has no dim (overflow, a limit of dim expressions). */
const Dim *lower_dim_op(Lower *L, DimOp op, const Dim *a, const Dim *b, SrcLoc loc, const char *what);
const char *val_describe(Lower *L, Val v);
bool lower_type(Lower *L, const Ast *type, IrType *out, bool bind_names, Frame *binds);
bool check_tensor_type(Lower *L, Val v, const Ast *type, const char *what, const Ast *at);
Val tensor_val(Lower *L, int node);
int use(Lower *L, Val v);
Val err_val(void);
Val string_concat(Lower *L, const char *sa, const char *sb, SrcLoc at);
/* lower_builtin.c */
Val lower_builtin(Lower *L, const Ast *call);
Val lower_binop_tensor(Lower *L, OpKind op, Val a, Val b, const Ast *at);
Val lower_matmul(Lower *L, Val a, Val b, const Ast *at);
Val lower_index(Lower *L, Val x, const Ast *e);
Val lower_scan(Lower *L, const Ast *e);
int add_node(Lower *L, OpKind op, const int *in, int nin, SrcLoc loc, const OpAttrs *attrs);
int const_scalar(Lower *L, attn_dtype dt, double v, SrcLoc loc);
int dim_tensor(Lower *L, const Dim *d, SrcLoc loc);
int lower_permute(Lower *L, int x, const int64_t *perm, SrcLoc loc);
int lower_reshape(Lower *L, int x, const Dim **dims, int rank, SrcLoc loc);
/* suggest.c: "unknown function" with the spelling that was probably meant */
void report_unknown_function(Lower *L, const Ast *call);
int builtin_sugar_count(void);
const char *builtin_sugar_name(int i);
/* weights_report.c: the bound weights no entry declares, with the declared
 * keys the file lacks; returns how many */
int report_unexpected_weights(Model *m);
/* divide_check.c: a reshape item `a // b` with a remainder, when the counts
 * are not known to agree (reported naming a, b and their hyperparameters) */
bool reshape_division_error(Lower *L, const Ast *list, const IrType *x, const Dim *const *dims, int rank);
/* Appends "name = value" for size v of expression e, with the hyperparameter it is. */
void describe_size(Lower *L, StrBuf *b, const Ast *e, Val v);
/* lower.c */
const Hyper *find_hyper(const Model *m, const char *name);
const Ast *find_def(const Model *m, const char *name);
const char *type_text(Lower *L, const IrType *t);

#endif
