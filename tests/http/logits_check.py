"""An answer of `mixrun serve` against the logits `mixrun --dump-logits` gives for its prompt and its
ids run alone (tests/http/run.sh's logprobs_match and adjust_match). Exits 1 with the first
mismatch.

  logits_check.py logprobs ANSWER NPY TOP PROMPT ECHO TOL
      the answer's logprobs (TOP alternatives; PROMPT the ids, comma-separated; ECHO "echo" when the
      prompt's entries come first, the first without logprobs) equal the log-softmax of the logits,
      within TOL
  logits_check.py prompt ANSWER NPY TOP PROMPT TOL
      the answer's prompt_logprobs (TOP alternatives): null for the first prompt id, then the id first
      with its log-softmax and rank (the tokens of logits at least its own), then the TOP most
      probable others (ranks 1, 2, ...; ties by id), within TOL
  logits_check.py adjust ANSWER NPY REQUEST PLAIN
      each of the 16 greedy ids is the argmax of the logits as REQUEST's logit_bias and penalties
      adjust them, and the ids differ from PLAIN (the greedy ids without them)
"""
import ast
import json
import math
import struct
import sys


def load_npy(path):
    """The rows of a float32 [rows, vocab] .npy: (vocab, the values in one flat tuple)."""
    npy = open(path, 'rb').read()
    hlen = struct.unpack('<H', npy[8:10])[0]
    rows, vocab = ast.literal_eval(npy[10:10 + hlen].decode())['shape']
    return vocab, struct.unpack('<%df' % (rows * vocab), npy[10 + hlen:])


def logprobs(answer, npy, top, prompt, echo, tol):
    vocab, data = load_npy(npy)
    top, tol = int(top), float(tol)
    prompt, echo = [int(t) for t in prompt.split(',')], echo == 'echo'
    c = json.load(open(answer))['choices'][0]
    lp, ids = c['logprobs'], c['token_ids']
    P = len(prompt)
    entries = (prompt if echo else []) + ids   # the ids the entries name, and the position each is predicted at
    positions = (list(range(-1, P - 1)) if echo else []) + list(range(P - 1, P - 1 + len(ids)))
    assert len(lp['tokens']) == len(lp['token_logprobs']) == len(lp['top_logprobs']) == len(entries), 'lengths'
    assert lp['text_offset'][0] == 0 and lp['text_offset'] == sorted(lp['text_offset']), lp['text_offset']
    for i, (tok, at) in enumerate(zip(entries, positions)):
        if at < 0:
            assert lp['token_logprobs'][i] is None and lp['top_logprobs'][i] is None, 'the first prompt id has logprobs'
            continue
        row = data[at * vocab:(at + 1) * vocab]
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        want = sorted(range(vocab), key=lambda k: (-row[k], k))[:top]
        refs = [row[k] - lse for k in want]
        assert abs(lp['token_logprobs'][i] - (row[tok] - lse)) < tol, (i, lp['token_logprobs'][i], row[tok] - lse)
        got = sorted(lp['top_logprobs'][i].values(), reverse=True)
        if tok not in want:   # the chosen token is there besides the alternatives
            got.remove(min(got, key=lambda v: abs(v - lp['token_logprobs'][i])))
        assert len(got) == top and all(abs(x - y) < tol for x, y in zip(got, refs)), (i, got, refs)


def prompt(answer, npy, top, prompt, tol):
    vocab, data = load_npy(npy)
    top, tol = int(top), float(tol)
    prompt = [int(t) for t in prompt.split(',')]
    plp = json.load(open(answer))['choices'][0]['prompt_logprobs']
    assert len(plp) == len(prompt) and plp[0] is None, 'lengths'
    for j in range(1, len(prompt)):
        row, tok = data[(j - 1) * vocab:j * vocab], prompt[j]
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        want = sorted(range(vocab), key=lambda k: (-row[k], k))[:top]
        rank = want.index(tok) + 1 if tok in want else sum(x >= row[tok] for x in row)
        entries = list(plp[j].items())
        key, first = entries[0]
        assert key == str(tok) and first['rank'] == rank and abs(first['logprob'] - (row[tok] - lse)) < tol, (j, first, rank)
        others = [(int(k), e) for k, e in entries[1:]]
        assert [k for k, _ in others] == [k for k in want if k != tok], (j, others, want)
        for k, e in others:
            assert e['rank'] == want.index(k) + 1 and abs(e['logprob'] - (row[k] - lse)) < tol, (j, k, e)
        assert all(isinstance(e['decoded_token'], str) for _, e in entries), (j, entries)


def adjust(answer, npy, request, plain):
    vocab, data = load_npy(npy)
    req, plain = json.loads(request), json.loads(plain)
    ids = json.load(open(answer))['choices'][0]['token_ids']
    bias = {int(k): v for k, v in req.get('logit_bias', {}).items()}
    freq, pres, rep = req.get('frequency_penalty', 0), req.get('presence_penalty', 0), req.get('repetition_penalty', 1)
    assert len(ids) == 16 and ids != plain, (ids, plain)
    for i, tok in enumerate(ids):
        row = data[(2 + i) * vocab:(3 + i) * vocab]
        seen = set([5, 17, 300] + ids[:i])
        rows = [(x / rep if x > 0 else x * rep) if k in seen else x for k, x in enumerate(row)]
        adj = [x + bias.get(k, 0) - freq * ids[:i].count(k) - (pres if k in ids[:i] else 0) for k, x in enumerate(rows)]
        assert adj[tok] >= max(adj) - 1e-4, (i, tok, adj[tok], max(adj), adj.index(max(adj)))


if __name__ == '__main__':
    {'logprobs': logprobs, 'prompt': prompt, 'adjust': adjust}[sys.argv[1]](*sys.argv[2:])
