/*
 * fixture_io.h — what the checkers that run the golden cases share
 * (golden_check.c, precision_check.c, tests/precision/precision_check.c):
 * a case's hyperparameters from its manifest line, and its fixtures
 * (the .safetensors files of tests/golden/fixtures/CASE) read as API tensors.
 * Header-only (static), each checker being one source file.
 */
#ifndef FIXTURE_IO_H
#define FIXTURE_IO_H

#include "attn.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets the hyperparameters of a case's manifest line, "name=value,..." or
 * "-" for none, on m. */
static void set_hyperparameters(attn_model *m, const char *sets) {
    if (!strcmp(sets, "-"))
        return;
    char *s = strdup(sets);
    if (!s) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (eq) {
            *eq = '\0';
            attn_model_set(m, tok, eq + 1);
        }
    }
    free(s);
}

/* The tensors of the safetensors file at path, converted to the API's dtypes
 * (bool, i64 for every integer type, f32 otherwise); *n of them. NULL (after
 * a message) when the file cannot be read; exits on a tensor that does not
 * convert. */
static attn_tensor *read_tensors(const char *path, int *n) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    *n = st_count(f);
    attn_tensor *ts = calloc((size_t)*n + 1, sizeof *ts);
    for (int i = 0; ts && i < *n; i++) {
        const StTensor *t = st_tensor(f, i);
        attn_dtype dt = t->dtype == ST_BOOL ? ATTN_BOOL : t->dtype == ST_I64 || t->dtype == ST_I32 ? ATTN_I64 : ATTN_F32;
        ts[i] = (attn_tensor){.name = strdup(t->name), .dtype = dt, .rank = t->rank};
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
        if (st_convert(t, dt, &ts[i].data, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
    }
    st_close(f);
    return ts;
}

/* Frees what read_tensors returned (NULL included). */
static void free_read(attn_tensor *ts, int n) {
    for (int i = 0; ts && i < n; i++) {
        free((char *)ts[i].name);
        free(ts[i].data);
    }
    free(ts);
}

#endif
