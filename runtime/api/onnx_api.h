/*
 * onnx_api.h — what api.c's attn_model_load_onnx takes from onnx_api.c.
 */
#ifndef ATTN_ONNX_API_H
#define ATTN_ONNX_API_H

#include "attn.h"

/* Imports the .onnx at path: *source (malloc'd .attn text) and, when it has
 * weights, *weights_path, a temporary safetensors file for the caller to
 * bind and unlink. */
attn_status onnx_import_for_model(const char *path, char **source, char **weights_path, char **error);

#endif
