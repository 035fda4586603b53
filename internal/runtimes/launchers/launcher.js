// Gust's Node.js launcher: the action loop (one JSON request per line on
// stdin, one JSON reply per line on fd 3, logs on stdout/stderr ended by a
// sentinel on both). The first line is OpenWhisk's /init body; every other
// line is a /run body. Self-contained on purpose: no npm dependency.
'use strict';

const fs = require('fs');
const path = require('path');
const os = require('os');
// url and zlib are required where used: only some inits need them.

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n';
const REPLY_FD = 3;
const MAIN = Symbol.for('gust.main');
const MAX_UNZIPPED = 1 << 30;

// Writes to pipes are asynchronous in Node; make them blocking so that logs
// are in the pipe in order, a function printing in a tight loop cannot queue
// unbounded memory, and what was printed before a crash or a kill is kept.
for (const s of [process.stdout, process.stderr]) {
  if (s._handle && typeof s._handle.setBlocking === 'function') s._handle.setBlocking(true);
}
// Captured before user code can replace them.
const out = process.stdout.write.bind(process.stdout);
const err = process.stderr.write.bind(process.stderr);

// process.env as a plain copy: every assignment to the real one is a libc
// setenv, which keeps each distinct value it was ever given (glibc never
// frees them). The per-activation variables are new each time, so a warm
// sandbox grew by ~100 bytes per activation until it ran out of memory, and
// setenv was a sixth of the launcher's CPU. Child processes still get these
// variables: child_process passes process.env to them.
process.env = Object.assign({}, process.env);

let main = null;
let initialized = false;

function writeReply(id, obj) {
  let json;
  try {
    json = JSON.stringify(obj);
  } catch (e) {
    json = JSON.stringify({ error: 'An error has occurred: ' + e });
  }
  // The id prefix lets a concurrent sandbox match replies to requests.
  const buf = Buffer.from((id ? id + '\t' : '') + json + '\n');
  for (let off = 0; off < buf.length;) {
    try {
      off += fs.writeSync(REPLY_FD, buf, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function markers() {
  out(SENTINEL);
  err(SENTINEL);
}

// A private directory for the action's files: the sandbox's working
// directory when it is writable, else the system's temporary directory.
function workDir() {
  for (const base of [process.cwd(), os.tmpdir()]) {
    try {
      return fs.mkdtempSync(path.join(base, 'action-'));
    } catch (e) { /* try the next one */ }
  }
  throw new Error('no writable directory for the action');
}

function lookup(m, name) {
  if (m == null) return undefined;
  let v = m;
  for (const part of name.split('.')) {
    if (v == null) return undefined;
    v = v[part];
  }
  return v;
}

function isESMError(e) {
  return e && (e.code === 'ERR_REQUIRE_ESM' ||
    (e instanceof SyntaxError && /Cannot use import statement|Unexpected token 'export'|await is only valid/.test(e.message)));
}

// Source code: OpenWhisk evaluates it and takes the function named by main,
// so a plain top-level `function main` works; so do `exports.main`,
// `module.exports = fn` and ES modules. The code is written to a file and
// required, so relative paths, require() of built-ins and stack traces work.
async function loadSource(code, dir, name) {
  const ident = /^[A-Za-z_$][\w$]*$/.test(name);
  const file = path.join(dir, 'index.js');
  // Node may load ES module syntax from a .js file too: then there is no
  // `module`, and the export is found on the namespace instead.
  const probe = ident
    ? `\n;if (typeof module !== 'undefined' && typeof ${name} === 'function') module.exports[Symbol.for('gust.main')] = ${name};\n`
    : '\n';
  fs.writeFileSync(file, code + probe);
  let m;
  try {
    m = require(file);
  } catch (e) {
    if (!isESMError(e)) throw e;
    const mfile = path.join(dir, 'index.mjs');
    const eprobe = ident ? `\nexport const __gust_main__ = typeof ${name} === 'function' ? ${name} : undefined;\n` : '\n';
    fs.writeFileSync(mfile, code + eprobe);
    const ns = await import(require('url').pathToFileURL(mfile).href);
    return ns.__gust_main__ || lookup(ns, name) || lookup(ns.default, name) ||
      (typeof ns.default === 'function' ? ns.default : undefined);
  }
  if (m != null && typeof m[MAIN] === 'function') return m[MAIN];
  const f = lookup(m, name);
  if (f !== undefined) return f;
  if (typeof m === 'function') return m;
  return m != null && m[Symbol.toStringTag] === 'Module' && typeof m.default === 'function' ? m.default : undefined;
}

// A zip: its package.json "main" or its index.js, as OpenWhisk requires it.
async function loadZip(b64, dir, name) {
  unzip(Buffer.from(b64, 'base64'), dir);
  if (!fs.existsSync(path.join(dir, 'package.json')) && !fs.existsSync(path.join(dir, 'index.js'))) {
    throw 'Zipped actions must contain either package.json or index.js at the root.';
  }
  process.chdir(dir);
  let m;
  try {
    m = require(dir);
  } catch (e) {
    if (!isESMError(e)) throw e;
    const ns = await import(require('url').pathToFileURL(require.resolve(dir)).href);
    return lookup(ns, name) || lookup(ns.default, name);
  }
  return lookup(m, name);
}

// A ZIP reader for stored and deflated entries, enough for action archives.
function unzip(buf, dir) {
  const zlib = require('zlib');
  const bad = 'There was an error uncompressing the action archive.';
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0 && i >= buf.length - 22 - 0xffff; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw bad;
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || p === 0xffffffff) throw 'ZIP64 action archives are not supported.';
  const root = path.resolve(dir);
  let total = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw bad;
    const madeBy = buf.readUInt16LE(p + 4) >> 8;
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const attrs = buf.readUInt32LE(p + 38);
    const lho = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nlen);
    p += 46 + nlen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);

    const target = path.resolve(root, name);
    if (path.isAbsolute(name) || (target !== root && !target.startsWith(root + path.sep))) {
      throw 'The action archive has an entry outside its root: ' + name;
    }
    const unixMode = madeBy === 3 ? (attrs >>> 16) : 0;
    if ((unixMode & 0o170000) === 0o120000) continue; // symlinks could point anywhere
    if (name.endsWith('/')) {
      fs.mkdirSync(target, { recursive: true });
      continue;
    }
    if (flags & 1) throw 'Encrypted action archives are not supported.';
    if (lho + 30 > buf.length || buf.readUInt32LE(lho) !== 0x04034b50) throw bad;
    const start = lho + 30 + buf.readUInt16LE(lho + 26) + buf.readUInt16LE(lho + 28);
    const raw = buf.subarray(start, start + csize);
    total += usize;
    if (total > MAX_UNZIPPED) throw 'The action archive is too large once uncompressed.';
    let data;
    if (method === 0) data = raw;
    else if (method === 8) data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(usize, 1) });
    else throw 'Unsupported compression method ' + method + ' in the action archive.';
    if (data.length !== usize) throw bad;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, data, { mode: (unixMode & 0o777) || 0o644 });
  }
}

async function init(msg) {
  const v = (msg && msg.value) || {};
  if (v.env && typeof v.env === 'object') {
    for (const [k, val] of Object.entries(v.env)) {
      process.env[k] = typeof val === 'string' ? val : val == null ? '' : JSON.stringify(val);
    }
  }
  const name = typeof v.main === 'string' && v.main ? v.main : 'main';
  if (typeof v.code !== 'string' || v.code === '') return { error: 'Missing main/no code to execute.' };
  try {
    const dir = workDir();
    const f = v.binary ? await loadZip(v.code, dir, name) : await loadSource(v.code, dir, name);
    if (typeof f !== 'function') throw "Action entrypoint '" + name + "' is not a function.";
    main = f;
    return { ok: true };
  } catch (e) {
    console.error('Error during initialization:', e);
    return { error: 'Initialization has failed due to: ' + (e && e.stack ? String(e.stack) : e) };
  }
}

function serializeError(e) {
  if (!e) return {};
  if (!(e instanceof Error)) return e;
  const o = {};
  for (const k of Object.keys(e)) o[k] = e[k];
  o.name = e.name;
  o.message = e.message;
  o.stack = e.stack;
  return o;
}

// OpenWhisk's Node.js semantics: a throw is "An error has occurred: …", a
// rejection is the serialized reason, undefined is {}, anything that is not
// an object is "The action did not return a dictionary.".
async function run(msg) {
  for (const k of Object.keys(msg)) {
    if (k !== 'value' && typeof msg[k] === 'string') process.env['__OW_' + k.toUpperCase()] = msg[k];
  }
  let r;
  try {
    r = main(msg.value == null ? {} : msg.value);
  } catch (e) {
    console.error(e);
    return { error: 'An error has occurred: ' + e };
  }
  try {
    r = await r;
  } catch (e) {
    return { error: serializeError(e) };
  }
  if (r === undefined) return {};
  if (typeof r !== 'object' || r === null) {
    console.error('Result must be of type object but has type "' + typeof r + '":', r);
    return { error: 'The action did not return a dictionary.' };
  }
  return r;
}

async function handle(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch (e) {
    markers();
    writeReply('', { error: 'The request is not valid JSON: ' + e.message });
    return;
  }
  if (!initialized) {
    initialized = true;
    const res = await init(msg);
    markers();
    writeReply('', res);
    return;
  }
  const id = typeof msg.activation_id === 'string' && /^[\w-]{1,128}$/.test(msg.activation_id) ? msg.activation_id : '';
  const res = main ? await run(msg) : { error: 'No action was initialized.' };
  // Logs end before the result: the platform waits for both, and finding the
  // sentinels already read when the result arrives saves it wake-ups.
  markers();
  writeReply(id, res);
}

// Booted: say so when the platform waits for it (a stem cell in a pool).
if (process.env.__OW_WAIT_FOR_ACK) writeReply('', { ok: true });

let pending = [];
process.stdin.on('data', (chunk) => {
  let start = 0;
  for (;;) {
    const nl = chunk.indexOf(10, start);
    if (nl < 0) {
      if (start < chunk.length) pending.push(chunk.subarray(start));
      return;
    }
    let line = chunk.subarray(start, nl);
    if (pending.length) {
      pending.push(line);
      line = Buffer.concat(pending);
      pending = [];
    }
    start = nl + 1;
    handle(line.toString('utf8'));
  }
});
process.stdin.on('end', () => process.exit(0));
