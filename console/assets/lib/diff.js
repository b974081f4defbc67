// A small token diff (longest common subsequence) for showing what
// changed between two values, side by side.

// tokens splits text into words, runs of spaces and single symbols, or
// into lines when lines is set.
export function tokens(text, lines = false) {
  if (text === '') return [];
  if (lines) return text.split(/(?<=\n)/);
  return text.match(/\s+|[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) || [];
}

// MAX_CELLS bounds the LCS table; larger inputs are not diffed inside.
const MAX_CELLS = 400000;

// diffTokens returns the operations turning a into b: [{op: 'same'|'del'|'ins', text}],
// merged into runs; or null when the inputs are too large to compare.
export function diffTokens(a, b) {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) return null;
  // lcs[i][j] = LCS length of a[i:], b[j:], in one flat array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const out = [];
  const push = (op, text) => {
    const last = out[out.length - 1];
    if (last && last.op === op) last.text += text;
    else out.push({op, text});
  };
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      push('same', a[i]);
      i++;
      j++;
    } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
      push('del', a[i++]);
    } else {
      push('ins', b[j++]);
    }
  }
  while (i < n) push('del', a[i++]);
  while (j < m) push('ins', b[j++]);
  return cleanup(out);
}

// cleanup makes a diff read as people expect: a run of only spaces or
// one symbol kept between two changes ("pending payment" to "shipped to
// customer" keeps the space) becomes part of the change, and each
// stretch of changes reads as one removal then one addition.
function cleanup(ops) {
  const split = [];
  for (let k = 0; k < ops.length; k++) {
    const o = ops[k];
    const between = k > 0 && k < ops.length - 1 && ops[k - 1].op !== 'same' && ops[k + 1].op !== 'same';
    if (o.op === 'same' && between && /^(\s+|[^\s\p{L}\p{N}_])$/u.test(o.text)) {
      split.push({op: 'del', text: o.text}, {op: 'ins', text: o.text});
    } else {
      split.push(o);
    }
  }
  const out = [];
  for (let k = 0; k < split.length;) {
    if (split[k].op === 'same') {
      out.push(split[k++]);
      continue;
    }
    let del = '';
    let ins = '';
    while (k < split.length && split[k].op !== 'same') {
      if (split[k].op === 'del') del += split[k].text;
      else ins += split[k].text;
      k++;
    }
    if (del) out.push({op: 'del', text: del});
    if (ins) out.push({op: 'ins', text: ins});
  }
  return out;
}

// show returns the text a value is shown as: strings as they are,
// everything else as indented JSON.
export function show(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v, null, 2);
}
