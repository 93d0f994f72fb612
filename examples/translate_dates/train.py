#!/usr/bin/python3
"""Train the date translator of examples/translate_dates with PyTorch.

    /usr/bin/python3 examples/translate_dates/train.py            # train, save, evaluate, verify
    /usr/bin/python3 examples/translate_dates/train.py --eval     # evaluate the saved weights only

Human-readable dates ("21 November 2026", "nov 21, 26", "Saturday 21/11/2026",
"SAT, NOV 21 2026", ...) are translated character by character into ISO dates
("2026-11-21") by the model of models/seq2seq_attention.attn: a GRU encoder and
a GRU-cell decoder with additive (Bahdanau) attention. The PyTorch module below
has exactly that structure and those state_dict keys, so its weights run
unchanged in attn.

Everything is seeded: the training dates come from random.Random(TRAIN_SEED),
the held-out dates from random.Random(HELDOUT_SEED) (their spellings are
kept out of training), the initial weights from torch.manual_seed(TORCH_SEED),
and torch runs on one thread (--threads).

Writes, next to this script:
  weights.safetensors   the state_dict (F32, PyTorch key names)
  vocab.txt             hyperparameters and both character vocabularies
  sample.safetensors    the outputs of attnc for one date (attention, tokens),
  sample_rows.txt,      with its output and input characters, one per line:
  sample_cols.txt       the inputs of the `attnc heatmap` test

and finally runs build/attnc (when built) on a batch of held-out dates and
checks that attn's greedy tokens and attention equal PyTorch's.
"""

import argparse
import datetime
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "models", "seq2seq_attention.attn")

TRAIN_SEED, HELDOUT_SEED, TORCH_SEED, VERIFY_SEED = 20261121, 7, 1234, 99
HELDOUT_SIZE = 1000

# ---------------------------------------------------------------------------
# vocabularies
# ---------------------------------------------------------------------------

SRC_PAD, SRC_UNK = 0, 1
SRC_CHARS = ("abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "0123456789" " ,./-")
SRC_OFFSET = 2  # id of SRC_CHARS[0]
TGT_PAD, TGT_BOS = 0, 1
TGT_CHARS = "0123456789-"
TGT_OFFSET = 2
MAX_LEN = 10  # "YYYY-MM-DD"

HYPER = dict(vocab_src=SRC_OFFSET + len(SRC_CHARS), vocab_tgt=TGT_OFFSET + len(TGT_CHARS),
             embed_dim=16, hidden_size=64, attn_size=32, bos=TGT_BOS)

SRC_ID = {c: i + SRC_OFFSET for i, c in enumerate(SRC_CHARS)}


def encode_src(s):
    return [SRC_ID.get(c, SRC_UNK) for c in s]


def encode_tgt(s):
    return [TGT_CHARS.index(c) + TGT_OFFSET for c in s]


def decode_tgt(ids):
    return "".join(TGT_CHARS[i - TGT_OFFSET] if TGT_OFFSET <= i < TGT_OFFSET + len(TGT_CHARS)
                   else "?" for i in ids)


# ---------------------------------------------------------------------------
# dates
# ---------------------------------------------------------------------------

FIRST = datetime.date(1950, 1, 1).toordinal()
LAST = datetime.date(2049, 12, 31).toordinal()
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def ordinal(n):
    if 10 <= n % 100 <= 20:
        return "%dth" % n
    return "%d%s" % (n, {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th"))


def fmt_date(d, r):
    """One human-readable spelling of date d, chosen with the Random r."""
    day, mon, year = d.day, d.month, d.year
    M, Mon = MONTHS[mon - 1], MONTHS[mon - 1][:3]
    W, Wd = DAYS[d.weekday()], DAYS[d.weekday()][:3]
    yy = "%02d" % (year % 100)
    dd = "%02d" % day if r.random() < 0.5 else str(day)
    mm = "%02d" % mon if r.random() < 0.5 else str(mon)
    y = str(year) if r.random() < 0.8 else yy
    sep = r.choice(["/", "-", ".", " "])
    formats = [
        lambda: "%d %s %s" % (day, M, y),                      # 21 November 2026
        lambda: "%s %d, %s" % (Mon, day, y),                   # Nov 21, 26
        lambda: "%s. %d, %d" % (Mon, day, year),               # Nov. 21, 2026
        lambda: "%s %d %s" % (Mon, day, y),                    # Nov 21 2026
        lambda: "%d %s %s" % (day, Mon, y),                    # 21 Nov 2026
        lambda: "%s %s" % (W, sep.join([dd, mm, y])),          # Saturday 21/11/2026
        lambda: "%s, %s" % (Wd, sep.join([dd, mm, y])),        # Sat, 21/11/26
        lambda: sep.join([dd, mm, y]),                         # 21-11-26, 21.11.2026
        lambda: sep.join([str(year), "%02d" % mon, "%02d" % day]),  # 2026.11.21, 2026-11-21
        lambda: "%d%02d%02d" % (year, mon, day),               # 20261121
        lambda: "%s %s, %d" % (M, ordinal(day), year),         # November 21st, 2026
        lambda: "%s %d, %d" % (M, day, year),                  # November 21, 2026
        lambda: "%s, %s %d %s" % (Wd, Mon, day, y),            # Sat, Nov 21 2026
        lambda: "%s, %s %d, %d" % (W, M, day, year),           # Saturday, November 21, 2026
        lambda: "%s %s %s %d" % (W, ordinal(day), M, year),    # Saturday 21st November 2026
        lambda: "%s of %s %d" % (ordinal(day), M, year),       # 21st of November 2026
        lambda: "the %s of %s, %d" % (ordinal(day), M, year),  # the 21st of November, 2026
        lambda: "%s, %d %s %d" % (Wd, day, Mon, year),         # Sat, 21 Nov 2026
        lambda: "%s-%s-%s" % (dd, Mon, y),                     # 21-Nov-2026
        lambda: "%d %s" % (day, " ".join([Mon, str(year)])),   # 21 Nov 2026
    ]
    s = r.choice(formats)()
    c = r.random()
    if c < 0.3:
        s = s.lower()
    elif c < 0.45:
        s = s.upper()
    return s


def random_dates(r, n):
    out = []
    for _ in range(n):
        d = datetime.date.fromordinal(r.randint(FIRST, LAST))
        out.append((fmt_date(d, r), d.isoformat()))
    return out


def pad_batch(srcs, extra=0):
    """ids [B, S] and mask [B, S] (true = padding) for lists of source ids."""
    S = max(len(s) for s in srcs) + extra
    ids = torch.full((len(srcs), S), SRC_PAD, dtype=torch.int64)
    for i, s in enumerate(srcs):
        ids[i, :len(s)] = torch.tensor(s)
    return ids, ids == SRC_PAD


# ---------------------------------------------------------------------------
# the model: models/seq2seq_attention.attn
# ---------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, hidden, attn_size):
        super().__init__()
        self.W_q = nn.Linear(hidden, attn_size, bias=False)
        self.W_k = nn.Linear(hidden, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, query, keys, mask):
        e = self.v(torch.tanh(self.W_q(query).unsqueeze(1) + self.W_k(keys))).squeeze(-1)
        return torch.softmax(e.masked_fill(mask, float("-inf")), dim=-1)


class Seq2Seq(nn.Module):
    def __init__(self, vocab_src, vocab_tgt, embed_dim, hidden_size, attn_size, bos):
        super().__init__()
        self.bos = bos
        self.embedding_src = nn.Embedding(vocab_src, embed_dim)
        self.encoder = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.embedding_tgt = nn.Embedding(vocab_tgt, embed_dim)
        self.attn = Attention(hidden_size, attn_size)
        self.decoder = nn.GRUCell(embed_dim + hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_tgt)

    def encode(self, src):
        # over the padded source from a zero state, no packing: the state is
        # the one after the last (padding) position, as in the .attn model
        memory, h = self.encoder(self.embedding_src(src))
        return memory, h[0]

    def decode_step(self, prev, state, memory, mask):
        weights = self.attn(state, memory, mask)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        state = self.decoder(torch.cat([self.embedding_tgt(prev), context], -1), state)
        return self.out(state), state, weights

    def teacher_forced(self, src, mask, tgt):
        memory, state = self.encode(src)
        prev = torch.full((src.shape[0],), self.bos, dtype=torch.int64)
        logits = []
        for t in range(tgt.shape[1]):
            lg, state, _ = self.decode_step(prev, state, memory, mask)
            logits.append(lg)
            prev = tgt[:, t]
        return torch.stack(logits, 1)

    def greedy(self, src, mask, steps=MAX_LEN):
        memory, state = self.encode(src)
        token = torch.full((src.shape[0],), self.bos, dtype=torch.int64)
        tokens, attention = [], []
        for _ in range(steps):
            lg, state, w = self.decode_step(token, state, memory, mask)
            token = lg.argmax(-1)
            tokens.append(token)
            attention.append(w)
        return torch.stack(tokens, 1), torch.stack(attention, 1)


# ---------------------------------------------------------------------------
# safetensors: the Python package's numpy reader and writer (python/attn)
# ---------------------------------------------------------------------------

sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from attn.safetensors import load_safetensors, save_safetensors  # noqa: E402


def write_safetensors(path, tensors):
    save_safetensors(path, dict(tensors))


def read_safetensors(path):
    return {k: torch.from_numpy(v) for k, v in load_safetensors(path).items()}


def write_vocab(path):
    lines = [
        "# translate_dates: hyperparameters and vocabularies, written by train.py",
        "# source ids: 0 = padding, 1 = unknown character, then src_chars from id 2",
        "# target ids: 0 = padding, 1 = bos, then tgt_chars from id 2",
        "# the characters are the ones between the first and the last double quote",
    ]
    lines += ["%s %d" % (k, v) for k, v in HYPER.items()]
    lines += ["max_len %d" % MAX_LEN, "src_pad %d" % SRC_PAD, "src_unk %d" % SRC_UNK,
              'src_chars "%s"' % SRC_CHARS, 'tgt_chars "%s"' % TGT_CHARS]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------
# training and evaluation
# ---------------------------------------------------------------------------

def training_batch(r, batch, exclude):
    """Random dates, none spelled as in `exclude`. Half of the batches are all
    of one length, so that the model also learns dates without padding (as
    translate_dates runs them, one at a time); the others are padded to their
    longest date, so that it learns padded batches too."""
    if r.random() < 0.5:
        return [p for p in random_dates(r, batch) if p[0] not in exclude]
    length = len(random_dates(r, 1)[0][0])
    pairs = []
    for _ in range(50 * batch):  # rare lengths may give a smaller batch
        p = random_dates(r, 1)[0]
        if len(p[0]) == length and p[0] not in exclude:
            pairs.append(p)
            if len(pairs) == batch:
                break
    return pairs


def train(model, steps, batch, exclude):
    """Teacher forcing on fresh random dates, none of them spelled as in `exclude`."""
    r = random.Random(TRAIN_SEED)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps,
                                                pct_start=0.1)
    t0 = time.time()
    model.train()
    for step in range(1, steps + 1):
        pairs = training_batch(r, batch, exclude)
        # extra padding now and then: the final encoder state, after the
        # padding, must not depend on how much of it a date gets
        src, mask = pad_batch([encode_src(s) for s, _ in pairs], r.choice([0, 0, 0, 1, 2, 5]))
        tgt = torch.tensor([encode_tgt(t) for _, t in pairs])
        logits = model.teacher_forced(src, mask, tgt)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 200 == 0 or step == steps:
            print("step %5d  loss %.4f  %.0f s" % (step, loss.item(), time.time() - t0),
                  flush=True)
    return time.time() - t0


@torch.no_grad()
def evaluate(model, pairs, padded):
    """Exact-match accuracy of greedy decoding. padded: batches of 100 padded
    to their longest date; else each date alone (grouped by length, no padding),
    as translate_dates runs them."""
    model.eval()
    groups = {}
    if padded:
        for i in range(0, len(pairs), 100):
            groups[i] = list(range(i, min(i + 100, len(pairs))))
    else:
        for i, (s, _) in enumerate(pairs):
            groups.setdefault(len(s), []).append(i)
    pred = [None] * len(pairs)
    for idx in groups.values():
        src, mask = pad_batch([encode_src(pairs[i][0]) for i in idx])
        tokens, _ = model.greedy(src, mask)
        for i, row in zip(idx, tokens.tolist()):
            pred[i] = decode_tgt(row)
    wrong = [(s, t, p) for (s, t), p in zip(pairs, pred) if p != t]
    return 1 - len(wrong) / len(pairs), wrong


@torch.no_grad()
def verify_with_attnc(model, attnc):
    """Runs the greedy entry of models/seq2seq_attention.attn with attnc on a
    padded batch of held-out-like dates and compares with PyTorch."""
    model.eval()
    pairs = random_dates(random.Random(VERIFY_SEED), 16)
    src, mask = pad_batch([encode_src(s) for s, _ in pairs])
    tokens, attention = model.greedy(src, mask)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        write_safetensors(inp, [("src", src), ("src_mask", mask),
                                ("max_len", torch.zeros(MAX_LEN, dtype=torch.int64))])
        cmd = [attnc, "run", MODEL, "--entry", "greedy",
               "--weights", os.path.join(HERE, "weights.safetensors"),
               "--inputs", inp, "--outputs", out]
        for k, v in HYPER.items():
            cmd += ["--set", "%s=%d" % (k, v)]
        subprocess.run(cmd, check=True)
        got = read_safetensors(out)
    same_tokens = torch.equal(got["tokens"], tokens)
    diff = (got["attention"] - attention).abs().max().item()
    print("attnc vs PyTorch on %d dates: tokens %s, attention max |diff| %.2e"
          % (len(pairs), "equal" if same_tokens else "DIFFER", diff))
    if not same_tokens or diff > 1e-4:
        sys.exit("attnc disagrees with PyTorch")


def evaluate_attn(pairs, dtype):
    """Exact match of attn's greedy entry (the Python package over build/libattn.so)
    on pairs, one date at a time as translate_dates runs them, with the
    products' weights stored as dtype (docs/PRECISION.md); and the tokens."""
    import attn  # the package of python/ (on sys.path above)
    m = attn.Model(MODEL, **HYPER)
    m.bind(os.path.join(HERE, "weights.safetensors"))
    f = m.compile("greedy", threads=1, weights_dtype=dtype)
    groups = {}
    for i, (s, _) in enumerate(pairs):
        groups.setdefault(len(s), []).append(i)
    tokens = [None] * len(pairs)
    for idx in groups.values():
        src, mask = pad_batch([encode_src(pairs[i][0]) for i in idx])
        out = f(src=src.numpy(), src_mask=mask.numpy(), max_len=np.zeros(MAX_LEN, np.int64))
        for i, row in zip(idx, out["tokens"].tolist()):
            tokens[i] = row
    right = sum(decode_tgt(t) == target for t, (_, target) in zip(tokens, pairs))
    return right / len(pairs), tokens


def write_sample(model, attnc, date):
    """sample.safetensors: attnc's outputs for one date, and its labels."""
    src, mask = pad_batch([encode_src(date)])
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.safetensors")
        write_safetensors(inp, [("src", src), ("src_mask", mask),
                                ("max_len", torch.zeros(MAX_LEN, dtype=torch.int64))])
        subprocess.run([attnc, "run", MODEL, "--entry", "greedy",
                        "--weights", os.path.join(HERE, "weights.safetensors"),
                        "--inputs", inp, "--outputs", os.path.join(HERE, "sample.safetensors")],
                       check=True)
    got = read_safetensors(os.path.join(HERE, "sample.safetensors"))
    iso = decode_tgt(got["tokens"][0].tolist())
    with open(os.path.join(HERE, "sample_rows.txt"), "w") as f:
        f.write("".join(c + "\n" for c in iso))
    with open(os.path.join(HERE, "sample_cols.txt"), "w") as f:
        f.write("".join(c + "\n" for c in date))
    print("sample: %s -> %s" % (date, iso))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--eval", action="store_true", help="evaluate the saved weights only")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: the model is too small for a second one "
                         "to help, and OpenMP threads that spin-wait get ~20x slower when the "
                         "cores are shared)")
    ap.add_argument("--attn-dtypes", default="",
                    help="also evaluate attn's greedy entry with its weights stored in these dtypes "
                         "(comma-separated, e.g. f32,bf16; needs build/libattn.so or ATTN_LIBRARY)")
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "attnc"),
                    help="attnc to verify the weights with (skipped when missing)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(TORCH_SEED)
    model = Seq2Seq(**HYPER)
    weights = os.path.join(HERE, "weights.safetensors")
    print("parameters: %d" % sum(p.numel() for p in model.parameters()))
    heldout = random_dates(random.Random(HELDOUT_SEED), HELDOUT_SIZE)
    if args.eval:
        model.load_state_dict(read_safetensors(weights))
    else:
        seconds = train(model, args.steps, args.batch, set(s for s, _ in heldout))
        print("training: %d steps of %d dates in %.0f s" % (args.steps, args.batch, seconds))
        write_safetensors(weights, list(model.state_dict().items()))
        write_vocab(os.path.join(HERE, "vocab.txt"))
        print("wrote %s (%d bytes)" % (weights, os.path.getsize(weights)))

    for padded in (False, True):
        acc, wrong = evaluate(model, heldout, padded)
        print("held-out exact match (%s): %.1f%% (%d/%d)" % (
            "padded batches of 100" if padded else "one date at a time", 100 * acc,
            round(acc * len(heldout)), len(heldout)))
        for s, t, p in wrong[:10]:
            print("   %-32r -> %s (expected %s)" % (s, p, t))

    if args.attn_dtypes:
        tokens = {}
        for dtype in args.attn_dtypes.split(","):
            acc, tokens[dtype] = evaluate_attn(heldout, dtype)
            same = "" if dtype == "f32" or "f32" not in tokens else ", tokens %s f32's" % (
                "equal to" if tokens[dtype] == tokens["f32"] else "DIFFERENT FROM")
            print("attn %s weights: held-out exact match (one date at a time): %.1f%% (%d/%d)%s" % (
                dtype, 100 * acc, round(acc * len(heldout)), len(heldout), same))

    if os.access(args.attnc, os.X_OK):
        verify_with_attnc(model, args.attnc)
        write_sample(model, args.attnc, "Saturday 21/11/2026")
    else:
        print("%s not built: skipping the check against attn" % args.attnc)


if __name__ == "__main__":
    main()
