/*
 * onnx_api.c — the C API's ONNX import (attn.h, docs/ONNX.md): files read
 * here, the conversion in compiler/onnx; without protobuf-c at build time
 * every call says the importer is not built.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attn.h"
#include "attn_limits.h"
#include "safetensors.h"
#include "text.h"
#include "onnx_api.h"

#ifdef ATTN_HAVE_ONNX
#include "onnx_import.h"

/* The whole file: imports read it once, and protobuf-c parses from memory. */
static attn_status read_file(const char *path, void **data, size_t *len, char **error) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return attn_error_out(error, ATTN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return attn_error_out(error, ATTN_ERR_IO, "%s: cannot read: not a regular file", path);
    }
    if (st.st_size > ATTN_LIMIT_ONNX_BYTES) {
        fclose(f);
        return attn_error_out(error, ATTN_ERR_INPUT, "%s: error: the file is %lld bytes; the limit is %lld", path,
                              (long long)st.st_size, (long long)ATTN_LIMIT_ONNX_BYTES);
    }
    *len = (size_t)st.st_size;
    *data = malloc(*len ? *len : 1);
    if (!*data) {
        fclose(f);
        return attn_error_out(error, ATTN_ERR_NOMEM, ATTN_MSG_NOMEM);
    }
    size_t got = fread(*data, 1, *len, f);
    fclose(f);
    if (got != *len) {
        free(*data);
        return attn_error_out(error, ATTN_ERR_IO, "%s: cannot read", path);
    }
    return ATTN_OK;
}

static attn_status run_import(const void *data, size_t len, const char *name, int has_dir, const attn_tensor *known,
                              int n_known, attn_onnx_import **out, char **error) {
    if (!out || (n_known && !known) || n_known < 0 || !name)
        return attn_error_out(error, ATTN_ERR_USAGE, "attn_import_onnx: NULL argument");
    char *err = NULL;
    attn_status s = onnx_import(data, len, name, has_dir, known, n_known, out, &err);
    if (s != ATTN_OK) {
        if (error)
            *error = err;
        else
            free(err);
    }
    return s;
}

attn_status attn_import_onnx(const char *path, const attn_tensor *known, int n_known, attn_onnx_import **out,
                             char **error) {
    if (error)
        *error = NULL;
    if (!path || !out)
        return attn_error_out(error, ATTN_ERR_USAGE, "attn_import_onnx: NULL argument");
    *out = NULL;
    void *data = NULL;
    size_t len = 0;
    attn_status s = read_file(path, &data, &len, error);
    if (s != ATTN_OK)
        return s;
    s = run_import(data, len, path, 1, known, n_known, out, error);
    free(data);
    return s;
}

attn_status attn_import_onnx_memory(const void *data, size_t len, const char *name, const attn_tensor *known,
                                    int n_known, attn_onnx_import **out, char **error) {
    if (error)
        *error = NULL;
    if ((!data && len) || !out)
        return attn_error_out(error, ATTN_ERR_USAGE, "attn_import_onnx_memory: NULL argument");
    *out = NULL;
    return run_import(data ? data : "", len, name ? name : "<memory>", 0, known, n_known, out, error);
}

void attn_onnx_import_free(attn_onnx_import *r) { onnx_import_free(r); }

const char *attn_onnx_ops(void) { return onnx_supported_ops(); }

#else /* built without protobuf-c */

#define NOT_BUILT "error: this build of attn has no ONNX import (it needs protobuf-c, protoc-c and onnx.proto at build time)"

attn_status attn_import_onnx(const char *path, const attn_tensor *known, int n_known, attn_onnx_import **out,
                             char **error) {
    if (out)
        *out = NULL;
    return attn_error_out(error, ATTN_ERR_USAGE, NOT_BUILT);
}

attn_status attn_import_onnx_memory(const void *data, size_t len, const char *name, const attn_tensor *known,
                                    int n_known, attn_onnx_import **out, char **error) {
    if (out)
        *out = NULL;
    return attn_error_out(error, ATTN_ERR_USAGE, NOT_BUILT);
}

void attn_onnx_import_free(attn_onnx_import *r) { (void)r; }

const char *attn_onnx_ops(void) { return ""; }

#endif

/* The weights go through a safetensors file, which the caller binds (mapped)
 * and unlinks at once: the model owns them without a copy of its own. */
attn_status onnx_import_for_model(const char *path, char **source, char **weights_path, char **error) {
    *source = *weights_path = NULL;
    attn_onnx_import *r = NULL;
    attn_status s = attn_import_onnx(path, NULL, 0, &r, error);
    if (s != ATTN_OK)
        return s;
    if (r->nweights) {
        const char *tmp = getenv("TMPDIR");
        *weights_path = attn_format("%s/attn-onnx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        int fd = *weights_path ? mkstemp(*weights_path) : -1;
        if (fd < 0) {
            free(*weights_path);
            *weights_path = NULL;
            attn_onnx_import_free(r);
            return attn_error_out(error, ATTN_ERR_IO, "error: cannot write a temporary weights file");
        }
        close(fd);
        char msg[512];
        if (st_write(*weights_path, r->weights, r->nweights, msg, sizeof msg)) {
            unlink(*weights_path);
            free(*weights_path);
            *weights_path = NULL;
            attn_onnx_import_free(r);
            return attn_error_out(error, ATTN_ERR_IO, "%s", msg);
        }
    }
    *source = r->source;
    r->source = NULL;
    attn_onnx_import_free(r);
    if (!*source) {
        if (*weights_path)
            unlink(*weights_path);
        free(*weights_path);
        return attn_error_out(error, ATTN_ERR_NOMEM, ATTN_MSG_NOMEM);
    }
    return ATTN_OK;
}
