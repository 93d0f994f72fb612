/*
 * method_hint.c — spellings of PyTorch's tensor methods as .attn calls (see
 * method_hint.h). The table covers the methods ported models use most; any
 * other method gets the general rule, the method's name called as a function
 * with the receiver first.
 */
#include "method_hint.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* How a method is spelled: R is the receiver, A the arguments. */
typedef struct MethodForm {
    const char *method; /* PyTorch's name */
    const char *form;   /* the .attn spelling */
} MethodForm;

static const MethodForm forms[] = {
    {"view", "reshape(R, [A])"},       {"reshape", "reshape(R, [A])"},   {"permute", "permute(R, [A])"},
    {"expand", "expand(R, [A])"},      {"chunk", "split(R, A)"},         {"matmul", "R @ A"},
    {"mm", "R @ A"},                   {"bmm", "R @ A"},                 {"contiguous", "R"},
    {"size", "R.shape[A]"},            {"dim", "R.rank"},                {"t", "R.T"},
    {"float", "f32(R)"},               {"long", "i64(R)"},               {"int", "i32(R)"},
    {"bool", "bool(R)"},               {"masked_fill_", "masked_fill(R, A)"},
};

static bool word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

int dim_to_axis(StrBuf *out, const char *args) {
    int n = 0;
    for (const char *p = args; *p;) {
        bool starts_word = p == args || !word_char(p[-1]);
        if (starts_word && strncmp(p, "dim", 3) == 0 && !word_char(p[3])) {
            const char *q = p + 3 + strspn(p + 3, " \t");
            if (*q == '=' && q[1] != '=') {
                sb_printf(out, "axis");
                p += 3;
                n++;
                continue;
            }
        }
        sb_printf(out, "%c", *p++);
    }
    return n;
}

/* Appends form with R, A and M replaced (dim= spelt axis= in R and A). */
static void fill(StrBuf *out, const char *form, const char *method, const char *recv, const char *args) {
    for (const char *f = form; *f; f++) {
        if (*f == 'R')
            dim_to_axis(out, recv ? recv : "x");
        else if (*f == 'A')
            dim_to_axis(out, args ? args : "...");
        else if (*f == 'M')
            sb_printf(out, "%s", method);
        else
            sb_printf(out, "%c", *f);
    }
}

/* Receivers that name PyTorch's function modules: F.softmax(x, dim=1). */
static bool torch_module(const char *recv) {
    static const char *const modules[] = {"F", "torch", "nn.functional", "torch.nn.functional", "torch.Tensor"};
    for (size_t i = 0; recv && i < sizeof modules / sizeof *modules; i++)
        if (strcmp(recv, modules[i]) == 0)
            return true;
    return false;
}

void method_spelling(StrBuf *out, const char *method, const char *recv, const char *args) {
    bool no_args = args && args[strspn(args, " \t")] == '\0';
    const char *form = no_args ? "M(R)" : "M(R, A)";
    if (torch_module(recv)) {
        fill(out, "M(A)", method, recv, args);
        return;
    }
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        if (strcmp(forms[i].method, method) == 0)
            form = forms[i].form;
    if (no_args && strcmp(form, "R.shape[A]") == 0)
        form = "R.shape";
    fill(out, form, method, recv, args);
}
