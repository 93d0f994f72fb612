/*
 * onnx_import.h — ONNX models to .attn source and weights (docs/ONNX.md);
 * what runtime/api exposes as attn_import_onnx.
 */
#ifndef ATTN_ONNX_IMPORT_H
#define ATTN_ONNX_IMPORT_H

#include <stddef.h>

#include "attn.h"

/* Imports the model in data[0..len) (the bytes of an .onnx file; `path` names
 * it in messages and, when `has_dir`, its directory holds external data).
 * Returns ATTN_OK and *out, or a status and a malloc'd message in *err. */
attn_status onnx_import(const void *data, size_t len, const char *path, int has_dir, const attn_tensor *known,
                        int nknown, attn_onnx_import **out, char **err);
void onnx_import_free(attn_onnx_import *r);
/* The ops the importer handles, space-separated, sorted. */
const char *onnx_supported_ops(void);

#endif
