// The ONNX Runtime side of bench/transformer_decode.py: greedy decoding with
// the exported encoder and either the exported cached decoder step or the
// exported full-prefix decoder, run by onnxruntime-node (bench/node_modules).
//
//     node bench/transformer_decode_ort.js DIR cached|full THREADS REPEATS STEPS
//
// DIR holds inputs.safetensors (src, src_mask), encode.onnx, cached_step.onnx
// and full_prefix.onnx (written by bench/transformer_decode.py). Sessions use
// intraOpNumThreads THREADS, interOpNumThreads 1 and every graph optimisation.
// One warm-up decode, then REPEATS decodes of STEPS tokens from token 1, every
// step timed; prints the per-step medians as "STEP t ms" and the tokens as
// "TOKENS b id ...", like bench_transformer_decode.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

const BOS = 1n;

// src and src_mask of a safetensors file as onnxruntime tensors.
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  const kinds = {F32: ['float32', Float32Array], I64: ['int64', BigInt64Array], BOOL: ['bool', Uint8Array]};
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = info.data_offsets;
    const bytes = new Uint8Array(data.subarray(begin, end)); // a copy: aligned
    const kind = kinds[info.dtype];
    out[name] = new ort.Tensor(kind[0], new kind[1](bytes.buffer, 0, bytes.byteLength / kind[1].BYTES_PER_ELEMENT),
                               info.shape);
  }
  return out;
}

function argmax(logits) {
  const [batch, vocab] = logits.dims;
  const next = new BigInt64Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let j = 1; j < vocab; j++) if (logits.data[b * vocab + j] > logits.data[b * vocab + best]) best = j;
    next[b] = BigInt(best);
  }
  return next;
}

// One decode; stepMs[t] gets each step's time, tokens[b][t] the tokens.
async function decode(mode, encoder, step, inputs, steps, stepMs, tokens) {
  const enc = await encoder.run({src: inputs.src, src_mask: inputs.src_mask});
  const batch = inputs.src.dims[0];
  let token = new BigInt64Array(batch).fill(BOS);
  let ys = [Array.from(token)];
  const [layers, , heads, , dh] = enc.memory_keys.dims;
  let keys = new ort.Tensor('float32', new Float32Array(0), [layers, batch, heads, 0, dh]);
  let values = keys;
  for (let t = 0; t < steps; t++) {
    const t0 = process.hrtime.bigint();
    let r;
    if (mode === 'cached') {
      r = await step.run({token: new ort.Tensor('int64', token, [batch]), memory_keys: enc.memory_keys,
                          memory_values: enc.memory_values, src_mask: inputs.src_mask, self_keys: keys,
                          self_values: values});
      keys = r.new_self_keys;
      values = r.new_self_values;
    } else {
      const T = ys.length, prefix = new BigInt64Array(batch * T);
      for (let b = 0; b < batch; b++) for (let i = 0; i < T; i++) prefix[b * T + i] = ys[i][b];
      r = await step.run({ys: new ort.Tensor('int64', prefix, [batch, T]), memory: enc.memory,
                          src_mask: inputs.src_mask});
    }
    token = argmax(r.logits);
    ys.push(Array.from(token));
    if (stepMs) stepMs[t] = Number(process.hrtime.bigint() - t0) / 1e6;
    for (let b = 0; b < batch; b++) tokens[b][t] = token[b];
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  if (process.argv.length !== 7) throw new Error('usage: node transformer_decode_ort.js DIR cached|full THREADS REPEATS STEPS');
  const [dir, mode] = process.argv.slice(2, 4);
  const [threads, repeats, steps] = process.argv.slice(4).map(Number);
  const options = {intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
                   executionMode: 'sequential'};
  const inputs = readSafetensors(path.join(dir, 'inputs.safetensors'));
  const encoder = await ort.InferenceSession.create(path.join(dir, 'encode.onnx'), options);
  const step = await ort.InferenceSession.create(path.join(dir, mode === 'cached' ? 'cached_step.onnx'
                                                                                   : 'full_prefix.onnx'), options);
  const batch = inputs.src.dims[0];
  const tokens = Array.from({length: batch}, () => new Array(steps));
  const times = Array.from({length: steps}, () => []);
  for (let r = -1; r < repeats; r++) {
    const stepMs = new Array(steps);
    await decode(mode, encoder, step, inputs, steps, stepMs, tokens);
    if (r >= 0) stepMs.forEach((ms, t) => times[t].push(ms));
  }
  times.forEach((ts, t) => console.log(`STEP ${t + 1} ${median(ts).toFixed(4)}`));
  tokens.forEach((ids, b) => console.log(`TOKENS ${b} ${ids.join(' ')}`));
}

main().catch((e) => {
  console.error(`ort: ${e.message.split('\n')[0]}`);
  process.exit(1);
});
