// The ONNX Runtime side of bench/compare: one row's ONNX export, run by
// onnxruntime-node (bench/node_modules) in a fresh process.
//
//     node bench/compare_ort.js SPEC.json THREADS REPEATS
//
// SPEC (written by bench/compare_prepare.py) names the inputs and expected
// outputs (safetensors) and either one model ("plain": fed the inputs by name)
// or, for greedy decoding, an encoder and a decoder step that this script runs
// `steps` times, feeding the argmax of the logits back as the next token. The
// sessions use intraOpNumThreads THREADS, interOpNumThreads 1 and every graph
// optimisation. After 3 warm-up runs, REPEATS runs are timed (wall clock). The
// peak RSS (VmHWM) is reset to the RSS just before the first run; its growth by
// the end of the last run is the memory the runs needed. Outputs are compared
// with the expected ones by name. Prints one line for scripts:
//     RESULT median_ms rss_growth_mb max_abs_diff mismatched_ints mean_cosine
// (mean_cosine as in compare_torch.py: rows along the last axis, averaged,
// the lowest over the f32 outputs).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

const WARMUP = 3;

// The tensors of a safetensors file as onnxruntime tensors, by name.
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = info.data_offsets;
    const bytes = new Uint8Array(data.subarray(begin, end)); // a copy: aligned
    const kinds = {F32: ['float32', Float32Array], I64: ['int64', BigInt64Array], BOOL: ['bool', Uint8Array]};
    const kind = kinds[info.dtype];
    if (!kind) throw new Error(`${file}: ${name}: dtype ${info.dtype} not handled`);
    out[name] = new ort.Tensor(kind[0], new kind[1](bytes.buffer, 0, bytes.byteLength / kind[1].BYTES_PER_ELEMENT),
                               info.shape);
  }
  return out;
}

// Field `key` ("VmHWM", "VmRSS") of /proc/self/status in MB.
function statusMb(key) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'));
  return Number(m[1]) / 1024;
}

// Resets the peak RSS to the current RSS (Linux >= 4.0) and returns that, or
// where that fails, the peak so far.
function resetPeakRss() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return statusMb('VmRSS');
  } catch (e) {
    return statusMb('VmHWM');
  }
}

// Greedy decoding around the exported encoder and decoder step.
async function greedy(spec, encoder, step, inputs) {
  const {memory, state} = await encoder.run({src: inputs.src});
  const batch = inputs.src.dims[0], srcLen = inputs.src.dims[1];
  let prev = new ort.Tensor('int64', new BigInt64Array(batch).fill(BigInt(spec.bos)), [batch]);
  let h = state;
  const tokens = new BigInt64Array(batch * spec.steps);
  const attention = new Float32Array(batch * spec.steps * srcLen);
  for (let s = 0; s < spec.steps; s++) {
    const r = await step.run({prev_token: prev, state: h, memory, src_mask: inputs.src_mask});
    const v = r.logits.data, vocab = r.logits.dims[1];
    const next = new BigInt64Array(batch);
    for (let b = 0; b < batch; b++) {
      let best = 0;
      for (let j = 1; j < vocab; j++) if (v[b * vocab + j] > v[b * vocab + best]) best = j;
      next[b] = BigInt(best);
      tokens[b * spec.steps + s] = next[b];
      attention.set(r.attention.data.subarray(b * srcLen, (b + 1) * srcLen), (b * spec.steps + s) * srcLen);
    }
    prev = new ort.Tensor('int64', next, [batch]);
    h = r.new_state;
  }
  return {tokens: new ort.Tensor('int64', tokens, [batch, spec.steps]),
          attention: new ort.Tensor('float32', attention, [batch, spec.steps, srcLen])};
}

// The cosine similarity of each row (last axis) of got with want's, averaged;
// a row that is zero in both counts as 1.
function meanCosine(got, want) {
  const n = got.data.length, len = got.dims.length ? got.dims[got.dims.length - 1] : 1;
  let sum = 0, rows = 0;
  for (let r = 0; len > 0 && r < n / len; r++, rows++) {
    let dot = 0, gg = 0, ww = 0;
    for (let i = r * len; i < (r + 1) * len; i++) {
      dot += got.data[i] * want.data[i];
      gg += got.data[i] * got.data[i];
      ww += want.data[i] * want.data[i];
    }
    sum += gg === 0 && ww === 0 ? 1 : dot / Math.sqrt(gg * ww);
  }
  return rows ? sum / rows : 1;
}

function compare(outputs, expected) {
  let diff = 0, mismatched = 0, cosine = 1;
  for (const [name, want] of Object.entries(expected)) {
    const got = outputs[name];
    if (!got || got.data.length !== want.data.length) {
      console.error(`ort: output ${name} missing or of another size`);
      diff = Infinity;
      continue;
    }
    for (let i = 0; i < got.data.length; i++) {
      if (want.type === 'int64') mismatched += got.data[i] !== want.data[i] ? 1 : 0;
      else diff = Math.max(diff, Math.abs(got.data[i] - want.data[i]));
    }
    if (want.type === 'float32') cosine = Math.min(cosine, meanCosine(got, want));
  }
  return [diff, mismatched, cosine];
}

async function main() {
  if (process.argv.length !== 5) throw new Error('usage: node compare_ort.js SPEC.json THREADS REPEATS');
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const threads = Number(process.argv[3]), repeats = Math.max(1, Number(process.argv[4]));
  const options = {intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
                   executionMode: 'sequential'};
  const inputs = readSafetensors(spec.inputs), expected = readSafetensors(spec.expected);
  let run;
  if (spec.kind === 'greedy') {
    const encoder = await ort.InferenceSession.create(spec.encoder, options);
    const step = await ort.InferenceSession.create(spec.step, options);
    run = () => greedy(spec, encoder, step, inputs);
  } else {
    const session = await ort.InferenceSession.create(spec.onnx, options);
    const feeds = {};
    for (const name of session.inputNames) feeds[name] = inputs[name];
    run = () => session.run(feeds);
  }
  const times = [];
  let outputs;
  const rss0 = resetPeakRss();
  for (let r = -WARMUP; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    outputs = await run();
    const t1 = process.hrtime.bigint();
    if (r >= 0) times.push(Number(t1 - t0) / 1e6);
  }
  const rss1 = statusMb('VmHWM');
  times.sort((a, b) => a - b);
  const n = times.length;
  const median = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
  const [diff, mismatched, cosine] = compare(outputs, expected);
  console.log(`RESULT ${median.toFixed(4)} ${(rss1 - rss0).toFixed(2)} ${diff.toExponential(3)} ${mismatched} ` +
              `${cosine.toFixed(7)}`);
}

main().catch((e) => {
  console.error(`ort: ${e.message.split('\n')[0]}`);
  process.exit(1);
});
