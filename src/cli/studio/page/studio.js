// jitfilter studio: edit a kernel program and see the image change as you type. Talks only to
// the server that served it (docs/studio.md has the API). Results arrive as raw planes (bytes
// or f32), so that the value under the cursor and the histogram show real numbers.
'use strict';

const $ = (id) => document.getElementById(id);
// What tests read: errors the page met, the last keystroke-to-image latency, renders so far.
const studio = (window.studio = {
  errors: [],
  lastLatency: null,
  renders: 0,
  partials: 0,
  client: Math.random().toString(36).slice(2),
});
window.addEventListener('error', (e) => studio.errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => studio.errors.push(String(e.reason)));

const EXAMPLES = [
  ['dilation (max)', 'max(w)', 'disk:5'],
  ['local contrast', 'std(w) * 4', 'box:7'],
  ['median', 'median(w)', 'disk:2'],
  ['Sauvola threshold', 'let m = mean(w); let s = std(w);\nif c > m * (1 + 0.2 * (s / 128 - 1)) then 255 else 0', 'rect:25x25'],
  ['bilateral', 'let g = exp(-(dx^2 + dy^2) / 242 - (w - c)^2 / 1800);\nsum(g * w) / sum(g)', 'disk:11'],
  ['vignette', 'c * (1 - 0.6 * ((x / width - 0.5)^2 + (y / height - 0.5)^2) * 2)', 'box:1'],
  ['unsharp mask (slider)', 'param amount = 1.5 in 0 .. 4;\nc + amount * (c - mean(w))', 'box:5'],
  ['Gaussian blur', 'sum(k * w)', 'gauss:2'],
  ['opening (stages)', 'stage e = min(w) over disk:5;\nmax(e) over disk:5', 'box:3'],
  ['difference of boxes', '(mean(w) over box:3 - mean(w) over box:9) * 4 + 128', 'box:3'],
  ['local z-score', 'param gain = 40 in 1 .. 100;\nlet m = mean(w); 128 + gain * (c - m) / (std(w) + 1e-9)', 'disk:7'],
];

let info = null; // GET /api/info
let before = null; // {planes, c, h, w, dtype, bitmap, lo, hi}
let result = null;
let partial = null; // the visible part of a large image's new result, while the whole is made
/** Images of more pixels than this show the visible part of a new result first. */
const LARGE = 1 << 20;
let checked = null; // the last good POST /api/check answer
const paramValues = {};
let inFlight = null; // AbortController of the filter request in flight
let editedAt = null; // when the text or a control last changed (for the latency)
let timer = null;
const view = { scale: 1, x: 0, y: 0, fitted: false };

// ---- talking to the server ----

function post(path, body, signal) {
  return fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

/** Raw planes (bytes or f32, as X-Raw says) from a response with X-Shape `C,H,W`. */
async function planes(response) {
  const [c, h, w] = response.headers.get('X-Shape').split(',').map(Number);
  const buffer = await response.arrayBuffer();
  const all = response.headers.get('X-Raw') === 'u8' ? new Uint8Array(buffer) : new Float32Array(buffer);
  const out = [];
  for (let i = 0; i < c; i++) out.push(all.subarray(i * h * w, (i + 1) * h * w));
  const image = { planes: out, c, h, w, dtype: response.headers.get('X-Dtype') };
  image.bitmap = bitmap(image);
  return image;
}

/** The image as a canvas: 8 and 16 bits as they are, other types stretched min..max. */
function bitmap(image) {
  let lo = 0, hi = 255;
  if (image.dtype === 'u16') hi = 65535;
  else if (image.dtype !== 'u8') {
    lo = Infinity; hi = -Infinity;
    for (const p of image.planes) for (const v of p) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (!(hi > lo)) { hi = lo + 1; if (!Number.isFinite(lo)) { lo = 0; hi = 1; } }
  }
  image.lo = lo; image.hi = hi;
  const { w, h } = image;
  const canvas = document.createElement('canvas');
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d');
  const data = ctx.createImageData(w, h);
  const colour = image.c >= 3;
  const scale = 255 / (hi - lo);
  const byte = (v) => (Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round((v - lo) * scale))) : 0);
  const px = data.data;
  for (let i = 0; i < w * h; i++) {
    const r = byte(image.planes[0][i]);
    px[4 * i] = r;
    px[4 * i + 1] = colour ? byte(image.planes[1][i]) : r;
    px[4 * i + 2] = colour ? byte(image.planes[2][i]) : r;
    px[4 * i + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  return canvas;
}

async function loadInfo() {
  info = await (await fetch('/api/info')).json();
  before = await planes(await fetch('/api/image?format=raw'));
  view.fitted = false;
  // Named last: the image's name on the page says the new image is in place (a zoom from
  // then on is kept; set before `before` arrived, it was undone by the refit).
  $('image-info').textContent = `${info.name}: ${info.layout} ${info.shape.join('×')} ${info.dtype}`;
  $('input-list').textContent = info.inputs.map((i) => i.name).join(', ');
}

function requestBody(format) {
  return {
    program: $('program').value,
    footprint: $('footprint').value.trim(),
    mode: $('mode').value,
    cval: Number($('cval').value) || 0,
    dtype: $('dtype').value,
    engine: $('engine').value,
    stage: $('stage').value,
    params: { ...paramValues },
    format,
  };
}

// ---- the edit → check → filter loop ----

function soon(fn, ms) {
  editedAt = editedAt ?? performance.now();
  clearTimeout(timer);
  timer = setTimeout(fn, ms);
}

/**
 * Compiles the program (cached on the server) to learn its params, stages and plan, while the
 * filter runs beside it: a param the page does not know yet takes its default there anyway.
 */
async function check() {
  const text = $('program').value;
  const filtering = filter();
  const response = await post('/api/check', { program: text });
  if (text !== $('program').value) return; // typed on meanwhile: a newer check follows
  if (!response.ok) {
    showError(await response.json(), text);
    editedAt = null;
    return;
  }
  checked = await response.json();
  showParams(checked.params);
  const stage = $('stage').value;
  showStages(checked.stages);
  $('plan').textContent = checked.plan;
  await filtering;
  // The stage shown is gone with the edit: show the result instead.
  if ($('stage').value !== stage) await filter();
}

/** Filters with the current program and controls; a newer call cancels this one. */
async function filter() {
  if (inFlight) inFlight.abort();
  const controller = (inFlight = new AbortController());
  const started = editedAt ?? performance.now();
  const sent = performance.now();
  // The server runs only the newest of the page's requests, however they arrive.
  studio.seq = (studio.seq ?? 0) + 1;
  const body = { ...requestBody('raw'), client: studio.client, seq: studio.seq };
  let response;
  try {
    partial = null;
    const region = visibleRegion();
    if (region) {
      // The same client: this cancels the page's older run still going on the server.
      response = await post('/api/filter', { ...body, region }, controller.signal);
      if (response.ok) {
        partial = await planes(response);
        partial.at = response.headers.get('X-Region').split(',').map(Number);
        studio.partials += 1;
        draw();
      }
    }
    // Unless that was the whole image already (a program that reads positions runs whole).
    const whole = partial && partial.at[2] === before.h && partial.at[3] === before.w;
    if (!whole) response = await post('/api/filter', body, controller.signal);
    studio.steps = { headers: performance.now() - sent };
    if (response.status === 409) return; // superseded by a newer request
    if (!response.ok) {
      partial = null;
      showError(await response.json(), body.program);
      editedAt = null; // the next change starts the clock again
      return;
    }
    result = whole ? partial : await planes(response);
  } catch (e) {
    partial = null;
    if (e.name === 'AbortError') return;
    throw e;
  } finally {
    if (inFlight === controller) inFlight = null;
  }
  partial = null;
  studio.steps.decoded = performance.now() - sent;
  clearError();
  if (!view.fitted) fit();
  draw();
  histogram();
  studio.steps.drawn = performance.now() - sent;
  const latency = performance.now() - started;
  studio.lastLatency = latency;
  studio.renders += 1;
  studio.shown = body;
  $('result').dataset.renders = String(studio.renders);
  editedAt = null;
  const compile = Number(response.headers.get('X-Compile-Ms'));
  const filterMs = Number(response.headers.get('X-Filter-Ms'));
  $('timing').textContent =
    `compile ${compile.toFixed(2)} ms · filter ${filterMs.toFixed(2)} ms · ` +
    `round trip ${(performance.now() - sent).toFixed(1)} ms · change → image ${latency.toFixed(1)} ms`;
  $('range').textContent = `result ${result.dtype}, shown ${fmt(result.lo)} … ${fmt(result.hi)}`;
  showCommand();
}

/** The shown result's 8-bit red channel, base64 (what tests compare with the CLI's output). */
studio.resultPixels = () => {
  const b = result.bitmap;
  const data = b.getContext('2d').getImageData(0, 0, b.width, b.height).data;
  let s = '';
  for (let i = 0; i < data.length; i += 4) s += String.fromCharCode(data[i]);
  return btoa(s);
};

// ---- errors: in place, under the text, keeping the last good result ----

/** Character index of byte offset `b` of `text` (the server counts UTF-8 bytes). */
function charIndex(text, b) {
  const bytes = new TextEncoder().encode(text);
  return new TextDecoder().decode(bytes.slice(0, b)).length;
}

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function showError(e, text) {
  const box = $('error');
  box.hidden = false;
  box.replaceChildren();
  const line = (cls, content) => {
    const div = document.createElement('div');
    div.className = cls;
    div.textContent = content;
    box.append(div);
    return div;
  };
  line('message', `error: ${e.error}`);
  if (e.start != null) {
    const start = charIndex(text, e.start);
    const end = Math.max(charIndex(text, e.end), start);
    const lineStart = text.lastIndexOf('\n', start - 1) + 1;
    let lineEnd = text.indexOf('\n', start);
    if (lineEnd < 0) lineEnd = text.length;
    line('source', text.slice(lineStart, lineEnd));
    const width = Math.max(1, Math.min(end, lineEnd) - start);
    line('caret', ' '.repeat(start - lineStart) + '^'.repeat(width));
    // The underline in the editor itself.
    const shown = end > start ? text.slice(start, end) : ' ';
    $('backdrop').innerHTML =
      escapeHtml(text.slice(0, start)) + '<mark>' + escapeHtml(shown) + '</mark>' + escapeHtml(text.slice(end)) + '\n';
  } else {
    $('backdrop').textContent = text + '\n';
  }
  if (e.hint) {
    const hint = line('hint', `hint: ${e.hint}`);
    if (e.suggestion && e.start != null) {
      const fix = document.createElement('button');
      fix.type = 'button';
      fix.textContent = `use ${e.suggestion}`;
      fix.onclick = () => {
        const area = $('program');
        const s = charIndex(area.value, e.start), t = charIndex(area.value, e.end);
        area.value = area.value.slice(0, s) + e.suggestion + area.value.slice(t);
        area.dispatchEvent(new Event('input'));
      };
      hint.append(fix);
    }
  }
  if (e.field) line('hint', `(in the ${e.field} field)`);
}

function clearError() {
  $('error').hidden = true;
  $('error').replaceChildren();
  $('backdrop').textContent = $('program').value + '\n';
}

// ---- params and stages ----

/** The defaults the sliders were made with, by param. */
const defaults = {};

function showParams(params) {
  const box = $('params');
  const key = JSON.stringify(params.map((p) => [p.name, p.min, p.max, p.default]));
  const same = box.dataset.key === key;
  for (const name of Object.keys(paramValues)) {
    if (!params.some((p) => p.name === name)) delete paramValues[name];
  }
  if (same) return;
  box.dataset.key = key;
  box.replaceChildren();
  for (const p of params) {
    if (p.min == null) continue; // a default of inf or nan: no slider, the default holds
    // A value kept from before the edit stays if its default did not change and it is in range.
    const kept = paramValues[p.name];
    const fresh = kept == null || defaults[p.name] !== p.default || kept < p.min || kept > p.max;
    const value = fresh ? p.default : kept;
    paramValues[p.name] = value;
    defaults[p.name] = p.default;
    const label = document.createElement('label');
    const name = document.createElement('span');
    name.textContent = p.name;
    const slider = document.createElement('input');
    slider.type = 'range';
    slider.dataset.param = p.name;
    slider.min = p.min;
    slider.max = p.max;
    slider.step = (p.max - p.min) / 1000;
    slider.value = value;
    slider.title = p.declared ? `${p.min} .. ${p.max} (declared)` : `${p.min} .. ${p.max} (around the default)`;
    const shown = document.createElement('span');
    shown.textContent = fmt(value);
    slider.addEventListener('input', () => {
      paramValues[p.name] = Number(slider.value);
      shown.textContent = fmt(Number(slider.value));
      editedAt = performance.now();
      filter(); // the program is compiled already: only the filter runs again
    });
    label.append(name, slider, shown);
    box.append(label);
  }
}

function showStages(stages) {
  const select = $('stage');
  const keep = select.value;
  select.replaceChildren(new Option('result', ''));
  for (const s of stages) select.append(new Option(`stage ${s}`, s));
  select.value = stages.includes(keep) ? keep : '';
}

// ---- views: before/after or swipe, one zoom and pan for both ----

function canvases() {
  return $('layout').value === 'swipe' ? [$('result')] : [$('before'), $('result')];
}

function fit() {
  const c = $('result');
  const { w, h } = before ?? result ?? { w: 1, h: 1 };
  const cw = c.clientWidth * devicePixelRatio, ch = c.clientHeight * devicePixelRatio;
  view.scale = Math.min(cw / w, ch / h) || 1;
  view.x = (w - cw / view.scale) / 2;
  view.y = (h - ch / view.scale) / 2;
  view.fitted = true;
}

/** The part of a large image the result view shows, [y0, x0, h, w]; null for small images or
 * when most of the image is in view. */
function visibleRegion() {
  if (!before || before.w * before.h <= LARGE) return null;
  const c = $('result');
  const x0 = Math.max(0, Math.floor(view.x)), y0 = Math.max(0, Math.floor(view.y));
  const x1 = Math.min(before.w, Math.ceil(view.x + c.width / view.scale));
  const y1 = Math.min(before.h, Math.ceil(view.y + c.height / view.scale));
  if (x1 <= x0 || y1 <= y0 || (x1 - x0) * (y1 - y0) > 0.5 * before.w * before.h) return null;
  return [y0, x0, y1 - y0, x1 - x0];
}

function draw() {
  const swipe = $('layout').value === 'swipe';
  $('panes').classList.toggle('swipe', swipe);
  for (const canvas of canvases()) {
    canvas.width = Math.max(1, canvas.clientWidth * devicePixelRatio);
    canvas.height = Math.max(1, canvas.clientHeight * devicePixelRatio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = false; // single pixels stay square
    ctx.setTransform(view.scale, 0, 0, view.scale, -view.x * view.scale, -view.y * view.scale);
    const shown = canvas.id === 'before' ? before : result ?? before;
    if (shown) ctx.drawImage(shown.bitmap, 0, 0);
    if (partial && canvas.id === 'result') ctx.drawImage(partial.bitmap, partial.at[1], partial.at[0]);
    if (swipe && before) {
      const split = view.x + (canvas.width * view.split) / view.scale;
      ctx.save();
      ctx.beginPath();
      ctx.rect(view.x, view.y, split - view.x, canvas.height / view.scale);
      ctx.clip();
      ctx.drawImage(before.bitmap, 0, 0);
      ctx.restore();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = '#fc0';
      ctx.fillRect(canvas.width * view.split - 1, 0, 2, canvas.height);
    }
  }
}
view.split = 0.5;

function histogram() {
  const canvas = $('histogram');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!result) return;
  const bins = new Uint32Array(256);
  const scale = 255 / (result.hi - result.lo);
  for (const p of result.planes) {
    for (const v of p) if (Number.isFinite(v)) bins[Math.max(0, Math.min(255, Math.round((v - result.lo) * scale)))]++;
  }
  const most = Math.max(1, ...bins);
  ctx.fillStyle = '#8ab4f8';
  const bw = canvas.width / 256;
  for (let i = 0; i < 256; i++) {
    const bh = (Math.log1p(bins[i]) / Math.log1p(most)) * canvas.height;
    ctx.fillRect(i * bw, canvas.height - bh, Math.max(1, bw - 0.5), bh);
  }
}

/** The image pixel under a mouse event on a view canvas. */
function pixelAt(event) {
  const r = event.target.getBoundingClientRect();
  const x = Math.floor(view.x + ((event.clientX - r.left) * devicePixelRatio) / view.scale);
  const y = Math.floor(view.y + ((event.clientY - r.top) * devicePixelRatio) / view.scale);
  return [x, y];
}

function valueAt(image, x, y) {
  if (!image || x < 0 || y < 0 || x >= image.w || y >= image.h) return '–';
  return image.planes.map((p) => fmt(p[y * image.w + x])).join(', ');
}

function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toFixed(3);
}

let drag = null;
for (const canvas of [$('before'), $('result')]) {
  canvas.addEventListener('mousedown', (e) => {
    drag = { x: e.clientX, y: e.clientY };
  });
  canvas.addEventListener('mousemove', (e) => {
    const [x, y] = pixelAt(e);
    $('pixel').textContent = `x ${x}, y ${y}: before ${valueAt(before, x, y)} · after ${valueAt(result, x, y)}`;
    if ($('layout').value === 'swipe' && !drag) {
      const r = canvas.getBoundingClientRect();
      view.split = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
      draw();
    }
  });
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    const cx = (e.clientX - r.left) * devicePixelRatio, cy = (e.clientY - r.top) * devicePixelRatio;
    const ix = view.x + cx / view.scale, iy = view.y + cy / view.scale;
    view.scale = Math.max(0.02, Math.min(64, view.scale * (e.deltaY < 0 ? 1.25 : 0.8)));
    view.x = ix - cx / view.scale;
    view.y = iy - cy / view.scale;
    draw();
  }, { passive: false });
}
window.addEventListener('mousemove', (e) => {
  if (!drag) return;
  view.x -= ((e.clientX - drag.x) * devicePixelRatio) / view.scale;
  view.y -= ((e.clientY - drag.y) * devicePixelRatio) / view.scale;
  drag = { x: e.clientX, y: e.clientY };
  draw();
});
window.addEventListener('mouseup', () => (drag = null));
window.addEventListener('resize', draw);

// ---- the command, downloads, uploads ----

function quote(s) {
  return /^[A-Za-z0-9_.,:=/+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The `jitfilter apply` line that makes the shown result. */
function command() {
  const b = requestBody('png');
  const parts = ['jitfilter', 'apply', '-f', b.footprint];
  if (b.mode !== 'reflect') parts.push('-m', b.mode);
  if (b.mode === 'constant' && b.cval !== 0) parts.push('--cval', String(b.cval));
  if (b.dtype !== 'same') parts.push('--dtype', b.dtype);
  if (b.engine !== 'auto') parts.push('--engine', b.engine);
  for (const [name, value] of Object.entries(b.params)) parts.push('-p', `${name}=${value}`);
  for (const input of info?.inputs ?? []) {
    if (checked?.inputs.includes(input.name)) parts.push('-i', `${input.name}=${input.file ?? input.name + '.png'}`);
  }
  const image = (info?.name ?? 'image.png').replace(/ \(bundled\)$/, '');
  parts.push('--', b.program, image, `result.${$('download-format').value}`);
  return parts.map(quote).join(' ');
}

function showCommand() {
  $('command').value = command();
}

function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

$('copy').onclick = async () => {
  showCommand();
  try {
    await navigator.clipboard.writeText($('command').value);
    $('copy').textContent = 'copied';
  } catch {
    $('command').select();
    $('copy').textContent = 'press Ctrl-C';
  }
  setTimeout(() => ($('copy').textContent = 'copy the command'), 1500);
};

$('download').onclick = async () => {
  const format = $('download-format').value;
  const response = await post('/api/filter', { ...requestBody(format), download: true });
  if (!response.ok) return showError(await response.json(), $('program').value);
  download(await response.blob(), `result.${format}`);
};

$('save-program').onclick = () => download(new Blob([$('program').value + '\n']), 'program.kf');

async function upload(path, file) {
  const headers = { 'X-Filename': encodeURIComponent(file.name) };
  const response = await fetch(path, { method: 'POST', headers, body: file });
  if (!response.ok) return showError(await response.json(), $('program').value);
  await loadInfo();
  await check();
}

$('image-file').addEventListener('change', (e) => {
  const file = e.target.files[0];
  if (file) upload('/api/image', file);
});
$('input-file').addEventListener('change', (e) => {
  const file = e.target.files[0];
  const name = $('input-name').value.trim();
  if (!file) return;
  if (!name) return showError({ error: 'give the input a name first (the program reads it by that name)' }, '');
  upload(`/api/input?name=${encodeURIComponent(name)}`, file);
});

// ---- wiring ----

$('program').addEventListener('input', () => {
  $('backdrop').textContent = $('program').value + '\n';
  soon(check, 0);
});
$('program').addEventListener('scroll', () => ($('backdrop').scrollTop = $('program').scrollTop));
for (const id of ['footprint', 'mode', 'cval', 'dtype', 'engine', 'stage']) {
  $(id).addEventListener('input', () => soon(filter, 0));
}
$('download-format').addEventListener('change', showCommand);
$('layout').addEventListener('change', draw);
$('fit').onclick = () => { fit(); draw(); };
$('one').onclick = () => {
  const c = $('result');
  const ix = view.x + (c.width / 2) / view.scale, iy = view.y + (c.height / 2) / view.scale;
  view.scale = 1;
  view.x = ix - c.width / 2;
  view.y = iy - c.height / 2;
  draw();
};
for (const [label, program, footprint] of EXAMPLES) {
  $('examples').append(new Option(label, JSON.stringify([program, footprint])));
}
$('examples').addEventListener('change', () => {
  const [program, footprint] = JSON.parse($('examples').value);
  $('program').value = program;
  $('footprint').value = footprint;
  $('program').dispatchEvent(new Event('input'));
});

(async () => {
  await loadInfo();
  const [program, footprint] = JSON.parse($('examples').value);
  $('program').value = program;
  $('footprint').value = footprint;
  $('backdrop').textContent = program + '\n';
  await check();
})();
