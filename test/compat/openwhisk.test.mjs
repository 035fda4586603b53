// The npm `openwhisk` client (openwhisk-client-js) driving a running Gust
// server, with assertions on every answer. Run by cmd/gust/e2e_npm_test.go
// against a fresh server; by hand against any server:
//
//   __OW_API_HOST=http://127.0.0.1:3233 __OW_API_KEY=uuid:secret node --test test/compat/
//
// Features a server may not have (packages, triggers, rules, web actions, API
// routes, the alarms feed) are probed first; their tests are skipped, with the
// reason, when the server answers 404 for them.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import zlib from 'node:zlib'
import openwhisk from 'openwhisk'

const apihost = process.env.__OW_API_HOST
const apiKey = process.env.__OW_API_KEY
if (!apihost || !apiKey) {
  throw new Error('set __OW_API_HOST and __OW_API_KEY to the server to test')
}
const base = /^https?:\/\//.test(apihost) ? apihost.replace(/\/+$/, '') : `https://${apihost}`
const ow = openwhisk({ apihost, api_key: apiKey })
const authHeader = 'Basic ' + Buffer.from(apiKey).toString('base64')

// Names unique to this run, so that a rerun against a long-lived server
// meets nothing of the last one.
const run = 'npm' + Date.now().toString(36)
const name = (n) => `${run}-${n}`

const ID = /^[0-9a-f]{32}$/

const helloCode = `function main(p) {
  console.log('hello', p.name)
  return { greeting: (p.greeting || 'Hi') + ', ' + (p.name || 'world') }
}`
const failCode = 'function main() { return { error: "boom" } }'
const upperCode = 'function main(p) { return { greeting: String(p.greeting).toUpperCase() } }'
const webCode = `function main(p) {
  return { statusCode: 200, headers: { 'X-Gust': 'web' },
    body: { method: p.__ow_method, path: p.__ow_path, q: p.q || null, who: p.who || null } }
}`

async function http (method, path, { body, auth = true, headers = {} } = {}) {
  const h = { ...headers }
  if (auth) h.Authorization = authHeader
  if (body !== undefined) h['Content-Type'] = 'application/json'
  const res = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  let json
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, headers: res.headers, text, json }
}

// eventually retries fn until it stops throwing: records are written in
// batches, and non-blocking work runs after its answer.
async function eventually (fn, ms = 15000) {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
}

// rejects asserts that p fails with an OpenWhiskError of status and a
// message containing text, and returns the error.
async function rejects (p, status, text) {
  let err
  try {
    await p
  } catch (e) {
    err = e
  }
  assert.ok(err, `expected HTTP ${status}, the call succeeded`)
  assert.equal(err.name, 'OpenWhiskError', err.stack)
  assert.equal(err.statusCode, status, err.message)
  if (text) assert.ok(err.message.includes(text), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(text)}`)
  return err
}

function annotation (entity, key) {
  const a = (entity.annotations || []).find(a => a.key === key)
  return a && a.value
}

function assertActivation (act, actionName, status = 'success') {
  assert.match(act.activationId, ID)
  assert.equal(act.namespace, namespace)
  assert.equal(act.name, actionName)
  assert.equal(act.subject, namespace)
  assert.equal(typeof act.version, 'string')
  assert.equal(typeof act.start, 'number')
  assert.ok(act.end >= act.start, 'end before start')
  if (annotation(act, 'kind') === 'sequence') {
    // A sequence's duration is the sum of its components'.
    assert.ok(act.duration >= 0 && act.duration <= act.end - act.start, `duration ${act.duration}`)
  } else {
    assert.equal(act.duration, act.end - act.start)
  }
  assert.equal(act.response.status, status)
  assert.equal(act.response.success, status === 'success')
  assert.ok(Array.isArray(act.logs))
  assert.ok(Array.isArray(act.annotations))
  assert.equal(act.publish, false)
}

// A zip of one stored (uncompressed) file, for a binary action.
function zipOf (file, content) {
  const data = Buffer.from(content)
  const nameBuf = Buffer.from(file)
  const crc = zlib.crc32 ? zlib.crc32(data) : crc32(data)
  const local = Buffer.alloc(30)
  local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14)
  local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(nameBuf.length, 26)
  const central = Buffer.alloc(46)
  central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6)
  central.writeUInt32LE(crc, 16); central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24)
  central.writeUInt16LE(nameBuf.length, 28)
  const centralStart = local.length + nameBuf.length + data.length
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(1, 8); end.writeUInt16LE(1, 10)
  end.writeUInt32LE(central.length + nameBuf.length, 12); end.writeUInt32LE(centralStart, 16)
  return Buffer.concat([local, nameBuf, data, central, nameBuf, end])
}

function crc32 (buf) {
  let c = ~0
  for (const b of buf) {
    c ^= b
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xEDB88320 & -(c & 1))
  }
  return ~c >>> 0
}

// Probes: what this server serves. A 404 on a collection means the server
// has no such feature (yet); anything else means it has.
const namespace = (await ow.namespaces.list())[0]
const has = {
  packages: (await http('GET', '/api/v1/namespaces/_/packages?limit=1')).status !== 404,
  triggers: (await http('GET', '/api/v1/namespaces/_/triggers?limit=1')).status !== 404,
  rules: (await http('GET', '/api/v1/namespaces/_/rules?limit=1')).status !== 404,
  routes: (await http('GET', '/api/v1/web/whisk.system/apimgmt/getApi.http?basepath=/none')).status !== 404,
  alarms: (await http('GET', '/api/v1/namespaces/whisk.system/packages/alarms')).status === 200,
  catalog: (await http('GET', '/api/v1/namespaces/whisk.system/packages/utils')).status === 200
}
const skip = (feature, what) => has[feature] ? false : `the server answers 404 for ${what}`

// Cleanup of everything a run creates, whatever failed.
const created = { actions: new Set(), packages: new Set(), triggers: new Set(), rules: new Set(), apis: new Set() }
after(async () => {
  const quietly = p => p.catch(() => {})
  for (const r of created.rules) await quietly(ow.rules.delete({ name: r }))
  for (const t of created.triggers) await quietly(ow.triggers.delete({ name: t }))
  for (const b of created.apis) await quietly(ow.routes.delete({ basepath: b }))
  for (const a of created.actions) await quietly(ow.actions.delete({ name: a }))
  for (const p of [...created.packages].reverse()) await quietly(ow.packages.delete({ name: p }))
})

describe('namespaces', () => {
  it('list returns the key\'s namespace', async () => {
    const list = await ow.namespaces.list()
    assert.ok(Array.isArray(list))
    assert.equal(list.length, 1)
    assert.equal(typeof list[0], 'string')
    assert.notEqual(list[0], '_')
  })

  it('get lists the four collections', { skip: skip('packages', 'packages') || skip('triggers', 'triggers') || skip('rules', 'rules') }, async () => {
    const all = await ow.namespaces.get()
    for (const k of ['actions', 'packages', 'triggers', 'rules']) assert.ok(Array.isArray(all[k]), k)
  })
})

describe('actions', () => {
  const hello = name('hello')
  const fail = name('fail')
  created.actions.add(hello).add(fail)

  it('create returns the stored action with defaults filled in', async () => {
    const a = await ow.actions.create({
      name: hello, action: helloCode, params: { greeting: 'Hello' }, annotations: { description: 'greets' }
    })
    assert.equal(a.name, hello)
    assert.equal(a.namespace, namespace)
    assert.equal(a.version, '0.0.1')
    assert.equal(a.publish, false)
    assert.match(a.exec.kind, /^nodejs:\d+$/)
    assert.equal(a.exec.code, helloCode)
    assert.equal(a.exec.binary, false)
    assert.deepEqual(a.parameters, [{ key: 'greeting', value: 'Hello' }])
    assert.deepEqual(a.limits, { timeout: 60000, memory: 256, logs: 10, concurrency: 1 })
    assert.equal(annotation(a, 'description'), 'greets')
    assert.equal(annotation(a, 'exec'), a.exec.kind)
    assert.equal(annotation(a, 'provide-api-key'), false)
    assert.equal(typeof a.updated, 'number')
  })

  it('create of an existing name is a 409', async () => {
    await rejects(ow.actions.create({ name: hello, action: helloCode }), 409, 'resource already exists')
  })

  it('update merges: new code, parameters and limits kept, version bumped', async () => {
    const code = helloCode.replace("'hello'", "'hello again'")
    const a = await ow.actions.update({ name: hello, action: code })
    assert.equal(a.version, '0.0.2')
    assert.equal(a.exec.code, code)
    assert.deepEqual(a.parameters, [{ key: 'greeting', value: 'Hello' }])
    const b = await ow.actions.update({ name: hello, limits: { memory: 128, timeout: 5000 } })
    assert.equal(b.version, '0.0.3')
    assert.deepEqual(b.limits, { timeout: 5000, memory: 128, logs: 10, concurrency: 1 })
    assert.equal(b.exec.code, code)
    assert.equal(annotation(b, 'description'), 'greets')
  })

  it('get returns the action, with or without its code', async () => {
    const a = await ow.actions.get({ name: hello })
    assert.equal(a.name, hello)
    assert.match(a.exec.code, /hello again/)
    const b = await ow.actions.get({ name: hello, code: false })
    assert.equal(b.exec.code, undefined)
    assert.equal(b.exec.kind, a.exec.kind)
    const c = await ow.actions.get(`/${namespace}/${hello}`)
    assert.equal(c.name, hello)
    await rejects(ow.actions.get({ name: name('missing') }), 404, 'The requested resource does not exist.')
  })

  it('list returns summaries, newest first; count and limit work', async () => {
    await ow.actions.create({ name: fail, action: failCode, kind: 'nodejs:default' })
    const list = await ow.actions.list({ limit: 200 })
    const mine = list.filter(a => a.name === hello || a.name === fail).map(a => a.name)
    assert.deepEqual(mine, [fail, hello])
    const item = list.find(a => a.name === hello)
    assert.equal(item.namespace, namespace)
    assert.equal(item.version, '0.0.3')
    assert.equal(item.exec.code, undefined)
    assert.equal(typeof item.exec.binary, 'boolean')
    assert.equal(annotation(item, 'exec'), (await ow.actions.get({ name: hello })).exec.kind)
    const one = await ow.actions.list({ limit: 1 })
    assert.equal(one.length, 1)
    const count = await ow.actions.list({ count: true })
    assert.equal(typeof count.actions, 'number')
    assert.ok(count.actions >= 2)
  })

  it('invoke blocking returns the activation record', async () => {
    const act = await ow.actions.invoke({ name: hello, blocking: true, params: { name: 'Ada' } })
    assertActivation(act, hello)
    assert.deepEqual(act.response.result, { greeting: 'Hello, Ada' })
    assert.equal(act.logs.length, 1)
    assert.match(act.logs[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z\s+stdout: hello again Ada$/)
    assert.equal(annotation(act, 'path'), `${namespace}/${hello}`)
    assert.match(annotation(act, 'kind'), /^nodejs:/)
    assert.deepEqual(annotation(act, 'limits'), { timeout: 5000, memory: 128, logs: 10, concurrency: 1 })
    assert.equal(typeof annotation(act, 'waitTime'), 'number')
  })

  it('invoke blocking with result returns the result', async () => {
    const result = await ow.actions.invoke({ name: hello, blocking: true, result: true, params: { name: 'Bob', greeting: 'Hey' } })
    assert.deepEqual(result, { greeting: 'Hey, Bob' })
  })

  it('invoke non-blocking returns an activation id; the record follows', async () => {
    const res = await ow.actions.invoke({ name: hello, params: { name: 'later' } })
    assert.deepEqual(Object.keys(res), ['activationId'])
    assert.match(res.activationId, ID)
    const act = await eventually(() => ow.activations.get(res.activationId))
    assertActivation(act, hello)
    assert.deepEqual(act.response.result, { greeting: 'Hello, later' })
  })

  it('invoke of a failing action rejects with 502 and the action\'s error', async () => {
    const err = await rejects(ow.actions.invoke({ name: fail, blocking: true }), 502, 'boom')
    assertActivation(err.error, fail, 'application error')
    assert.deepEqual(err.error.response.result, { error: 'boom' })
    const err2 = await rejects(ow.actions.invoke({ name: fail, blocking: true, result: true }), 502, 'boom')
    assert.deepEqual(err2.error.response.result, { error: 'boom' })
  })

  it('invoke of a missing action is a 404', async () => {
    await rejects(ow.actions.invoke({ name: name('missing'), blocking: true }), 404, 'The requested resource does not exist.')
  })

  it('a Buffer is sent base64 as a zip action', async () => {
    const zipped = name('zipped')
    created.actions.add(zipped)
    const zip = zipOf('index.js', 'exports.main = p => ({ zipped: true, n: p.n })')
    const a = await ow.actions.create({ name: zipped, action: zip, kind: 'nodejs:default' })
    assert.equal(a.exec.binary, true)
    assert.equal(a.exec.code, zip.toString('base64'))
    assert.deepEqual(await ow.actions.invoke({ name: zipped, blocking: true, result: true, params: { n: 7 } }), { zipped: true, n: 7 })
  })

  it('a sequence runs its components in order', async () => {
    const upper = name('upper')
    const seq = name('seq')
    created.actions.add(upper).add(seq)
    await ow.actions.create({ name: upper, action: upperCode })
    const s = await ow.actions.create({ name: seq, sequence: [`/_/${hello}`, `/${namespace}/${upper}`] })
    assert.equal(s.exec.kind, 'sequence')
    assert.deepEqual(s.exec.components, [`/${namespace}/${hello}`, `/${namespace}/${upper}`])
    const act = await ow.actions.invoke({ name: seq, blocking: true, params: { name: 'seq' } })
    assertActivation(act, seq)
    assert.deepEqual(act.response.result, { greeting: 'HELLO, SEQ' })
    assert.equal(act.logs.length, 2)
    for (const id of act.logs) assert.match(id, ID)
    assert.equal(annotation(act, 'kind'), 'sequence')
    assert.equal(annotation(act, 'topmost'), true)
    const first = await ow.activations.get(act.logs[0])
    assert.equal(first.name, hello)
    assert.equal(first.cause, act.activationId)
    await rejects(ow.actions.create({ name: name('badseq'), sequence: [`/_/${name('missing')}`] }), 400, 'Sequence component does not exist.')
  })

  it('delete returns the deleted action; it is gone after', async () => {
    const doomed = name('doomed')
    await ow.actions.create({ name: doomed, action: helloCode })
    const d = await ow.actions.delete({ name: doomed })
    assert.equal(d.name, doomed)
    assert.equal(d.namespace, namespace)
    await rejects(ow.actions.get({ name: doomed }), 404)
    await rejects(ow.actions.delete({ name: doomed }), 404)
  })
})

describe('activations', () => {
  const act = name('acts')
  created.actions.add(act)
  const ids = []

  before(async () => {
    await ow.actions.create({ name: act, action: helloCode })
    for (const n of ['one', 'two', 'three']) {
      ids.push((await ow.actions.invoke({ name: act, blocking: true, params: { name: n } })).activationId)
    }
    // Listed once the record writer's batch is stored.
    await eventually(async () => assert.equal((await ow.activations.list({ name: act, limit: 3 })).length, 3))
  })

  it('list filters by name, newest first, as summaries', async () => {
    const list = await ow.activations.list({ name: act, limit: 10 })
    assert.deepEqual(list.map(a => a.activationId), [...ids].reverse())
    for (const a of list) {
      assert.equal(a.name, act)
      assert.equal(a.namespace, namespace)
      assert.equal(a.statusCode, 0)
      assert.equal(a.logs, undefined)
      assert.equal(typeof a.start, 'number')
    }
    assert.ok(list[0].start >= list[2].start)
  })

  it('list with docs returns whole records; skip, limit, since, upto and count work', async () => {
    const docs = await ow.activations.list({ name: act, docs: true, limit: 10 })
    assert.equal(docs.length, 3)
    assert.equal(docs[0].logs.length, 1)
    assert.deepEqual(docs[0].response.result, { greeting: 'Hi, three' })
    const page = await ow.activations.list({ name: act, skip: 1, limit: 1 })
    assert.deepEqual(page.map(a => a.activationId), [ids[1]])
    const oldest = docs[2]
    const since = await ow.activations.list({ name: act, since: docs[0].start, limit: 10 })
    assert.ok(since.every(a => a.start >= docs[0].start) && since.some(a => a.activationId === ids[2]))
    const upto = await ow.activations.list({ name: act, upto: oldest.start, limit: 10 })
    assert.ok(upto.every(a => a.start <= oldest.start) && upto.some(a => a.activationId === ids[0]))
    assert.deepEqual(await ow.activations.list({ name: act, count: true }), { activations: 3 })
  })

  it('get returns the record', async () => {
    const a = await ow.activations.get({ activationId: ids[0] })
    assertActivation(a, act)
    assert.deepEqual(a.response.result, { greeting: 'Hi, one' })
    assert.equal(a.activationId, ids[0])
  })

  it('result returns the result and status', async () => {
    const r = await ow.activations.result(ids[1])
    assert.deepEqual(r.result, { greeting: 'Hi, two' })
    assert.equal(r.success, true)
    assert.equal(r.status, 'success')
  })

  it('logs returns the log lines', async () => {
    const l = await ow.activations.logs({ name: ids[2] })
    assert.deepEqual(Object.keys(l), ['logs'])
    assert.equal(l.logs.length, 1)
    assert.match(l.logs[0], /stdout: hello three$/)
  })

  it('a missing or malformed id is an error', async () => {
    await rejects(ow.activations.get('0123456789abcdef0123456789abcdef'), 404, 'The requested resource does not exist.')
    await rejects(ow.activations.get('nope'), 400)
  })
})

describe('packages', { skip: skip('packages', 'GET /namespaces/_/packages') }, () => {
  const pkg = name('pkg')
  const binding = name('bound')
  const inPkg = `${pkg}/greet`

  it('create, get, list and update a package', async () => {
    created.packages.add(pkg)
    const p = await ow.packages.create({ name: pkg, package: { parameters: [{ key: 'greeting', value: 'Howdy' }], publish: false } })
    assert.equal(p.name, pkg)
    assert.equal(p.namespace, namespace)
    assert.equal(p.version, '0.0.1')
    assert.deepEqual(p.parameters, [{ key: 'greeting', value: 'Howdy' }])
    assert.deepEqual(p.binding, {})
    await rejects(ow.packages.create({ name: pkg }), 409, 'resource already exists')
    const u = await ow.packages.update({ name: pkg, package: { annotations: [{ key: 'description', value: 'test package' }] } })
    assert.equal(u.version, '0.0.2')
    assert.equal(annotation(u, 'description'), 'test package')
    const list = await ow.packages.list({ limit: 200 })
    const item = list.find(x => x.name === pkg)
    assert.ok(item, 'the package is listed')
    assert.equal(item.binding, false)
    const count = await ow.packages.list({ count: true })
    assert.ok(count.packages >= 1)
  })

  it('an action in the package gets its parameters', async () => {
    created.actions.add(inPkg)
    const a = await ow.actions.create({ name: inPkg, action: helloCode })
    assert.equal(a.namespace, `${namespace}/${pkg}`)
    assert.equal(a.name, 'greet')
    const p = await ow.packages.get({ name: pkg })
    assert.deepEqual(p.actions.map(x => x.name), ['greet'])
    assert.deepEqual(p.feeds, [])
    const inner = await ow.actions.list({ name: `${pkg}/` })
    assert.ok(Array.isArray(inner))
    assert.deepEqual(await ow.actions.invoke({ name: inPkg, blocking: true, result: true, params: { name: 'pkg' } }), { greeting: 'Howdy, pkg' })
  })

  it('a binding overlays its parameters', async () => {
    created.packages.add(binding)
    const b = await ow.packages.create({
      name: binding,
      package: { binding: { namespace, name: pkg }, parameters: [{ key: 'greeting', value: 'Bound' }] }
    })
    assert.deepEqual(b.binding, { namespace, name: pkg })
    const list = await ow.packages.list({ limit: 200 })
    assert.deepEqual(list.find(x => x.name === binding).binding, { namespace, name: pkg })
    const got = await ow.packages.get({ name: binding })
    assert.deepEqual(got.actions.map(x => x.name), ['greet'])
    assert.deepEqual(await ow.actions.invoke({ name: `${binding}/greet`, blocking: true, result: true, params: { name: 'b' } }), { greeting: 'Bound, b' })
    await rejects(ow.packages.create({ name: name('dangling'), package: { binding: { namespace, name: name('nothing') } } }), 400, 'Binding references a package that does not exist.')
  })

  it('a package with contents is deleted only when empty', async () => {
    await rejects(ow.packages.delete({ name: pkg }), 409, 'Package not empty')
    const d = await ow.packages.delete({ name: binding })
    assert.equal(d.name, binding)
    created.packages.delete(binding)
    await ow.actions.delete({ name: inPkg })
    created.actions.delete(inPkg)
    const p = await ow.packages.delete({ name: pkg })
    assert.equal(p.name, pkg)
    created.packages.delete(pkg)
    await rejects(ow.packages.get({ name: pkg }), 404)
  })
})

describe('the /whisk.system catalog', { skip: skip('catalog', 'GET /namespaces/whisk.system/packages/utils') }, () => {
  const binding = name('valhalla')

  it('lists and gets the published system packages', async () => {
    const list = await ow.packages.list({ namespace: 'whisk.system' })
    for (const p of ['utils', 'samples']) assert.ok(list.some(x => x.name === p && x.publish === true), p)
    const utils = await ow.packages.get({ name: '/whisk.system/utils' })
    for (const a of ['echo', 'cat', 'sort', 'head', 'date', 'split', 'hosturl', 'namespace']) {
      assert.ok(utils.actions.some(x => x.name === a), a)
    }
  })

  it('invokes utils and samples actions', async () => {
    assert.deepEqual(await ow.actions.invoke({ name: '/whisk.system/utils/echo', blocking: true, result: true, params: { payload: 'hi' } }), { payload: 'hi' })
    assert.deepEqual(await ow.actions.invoke({ name: '/whisk.system/utils/namespace', blocking: true, result: true }), { namespace })
    assert.deepEqual(await ow.actions.invoke({ name: '/whisk.system/samples/greeting', blocking: true, result: true }), { payload: 'Hello, stranger from somewhere!' })
    const act = await ow.actions.invoke({ name: '/whisk.system/samples/wordCount', blocking: true, params: { payload: 'Five fuzzy felines' } })
    assert.equal(act.namespace, namespace)
    assert.deepEqual(act.response.result, { count: 3 })
  })

  it('binds a system package with parameters of one\'s own', async () => {
    created.packages.add(binding)
    await ow.packages.create({ name: binding, package: { binding: { namespace: 'whisk.system', name: 'samples' }, parameters: [{ key: 'place', value: 'Valhalla' }] } })
    assert.deepEqual(await ow.actions.invoke({ name: `${binding}/greeting`, blocking: true, result: true, params: { name: 'Odin' } }), { payload: 'Hello, Odin from Valhalla!' })
    await rejects(ow.packages.update({ name: '/whisk.system/utils', package: {} }), 403)
    await ow.packages.delete({ name: binding })
    created.packages.delete(binding)
  })
})

describe('triggers and rules', { skip: skip('triggers', 'GET /namespaces/_/triggers') || skip('rules', 'GET /namespaces/_/rules') }, () => {
  const trig = name('trig')
  const rule = name('rule')
  const target = name('target')

  before(async () => {
    created.actions.add(target)
    await ow.actions.create({ name: target, action: helloCode })
  })

  it('create, get, list and update a trigger', async () => {
    created.triggers.add(trig)
    const t = await ow.triggers.create({ name: trig, trigger: { parameters: [{ key: 'greeting', value: 'Fired' }] } })
    assert.equal(t.name, trig)
    assert.equal(t.namespace, namespace)
    assert.equal(t.version, '0.0.1')
    assert.deepEqual(t.parameters, [{ key: 'greeting', value: 'Fired' }])
    assert.deepEqual(t.limits, {})
    await rejects(ow.triggers.create({ name: trig }), 409, 'resource already exists')
    const got = await ow.triggers.get({ name: trig })
    assert.equal(got.name, trig)
    const list = await ow.triggers.list({ limit: 200 })
    assert.ok(list.some(x => x.name === trig))
    assert.ok((await ow.triggers.list({ count: true })).triggers >= 1)
    const u = await ow.triggers.update({ name: trig, trigger: { annotations: [{ key: 'description', value: 'fires' }] } })
    assert.equal(u.version, '0.0.2')
    assert.deepEqual(u.parameters, [{ key: 'greeting', value: 'Fired' }])
  })

  it('firing a trigger without rules records nothing', async () => {
    const res = await ow.triggers.invoke({ name: trig, params: { name: 'nobody' } })
    assert.ok(res === undefined || res === '' || (typeof res === 'object' && !res.activationId), `204 expected, got ${JSON.stringify(res)}`)
  })

  it('a rule links the trigger to an action: firing invokes it', async () => {
    created.rules.add(rule)
    const r = await ow.rules.create({ name: rule, trigger: trig, action: target })
    assert.equal(r.name, rule)
    assert.equal(r.namespace, namespace)
    assert.equal(r.status, 'active')
    assert.deepEqual(r.trigger, { path: namespace, name: trig })
    assert.deepEqual(r.action, { path: namespace, name: target })
    const got = await ow.rules.get({ name: rule })
    assert.equal(got.status, 'active')
    const list = await ow.rules.list({ limit: 200 })
    assert.ok(list.some(x => x.name === rule))
    assert.ok((await ow.rules.list({ count: true })).rules >= 1)

    const fired = await ow.triggers.invoke({ name: trig, params: { name: 'rule' } })
    assert.match(fired.activationId, ID)
    const tAct = await eventually(() => ow.activations.get(fired.activationId))
    assert.equal(tAct.name, trig)
    assert.equal(tAct.response.success, true)
    assert.deepEqual(tAct.response.result, { name: 'rule' })
    assert.equal(tAct.logs.length, 1)
    const ruleLog = JSON.parse(tAct.logs[0])
    assert.equal(ruleLog.rule, `${namespace}/${rule}`)
    assert.equal(ruleLog.action, `${namespace}/${target}`)
    assert.equal(ruleLog.success, true)
    assert.match(ruleLog.activationId, ID)
    const aAct = await eventually(() => ow.activations.get(ruleLog.activationId))
    assert.equal(aAct.name, target)
    assert.deepEqual(aAct.response.result, { greeting: 'Fired, rule' })
  })

  it('disable and enable change the rule\'s status', async () => {
    await ow.rules.disable({ name: rule })
    assert.equal((await ow.rules.get({ name: rule })).status, 'inactive')
    const res = await ow.triggers.invoke({ name: trig })
    assert.ok(res === undefined || res === '' || !res.activationId, 'a trigger whose only rule is inactive fires nothing')
    await ow.rules.enable({ name: rule })
    assert.equal((await ow.rules.get({ name: rule })).status, 'active')
  })

  it('update moves the rule to another action and keeps its status', async () => {
    const other = name('other')
    created.actions.add(other)
    await ow.actions.create({ name: other, action: upperCode })
    await ow.rules.disable({ name: rule })
    const u = await ow.rules.update({ name: rule, trigger: trig, action: other })
    assert.deepEqual(u.action, { path: namespace, name: other })
    assert.equal(u.version, '0.0.2')
    assert.equal((await ow.rules.get({ name: rule })).status, 'inactive')
    await ow.rules.enable({ name: rule })
    const fired = await ow.triggers.invoke({ name: trig })
    const tAct = await eventually(() => ow.activations.get(fired.activationId))
    const ruleLog = JSON.parse(tAct.logs[0])
    assert.equal(ruleLog.action, `${namespace}/${other}`)
    const aAct = await eventually(() => ow.activations.get(ruleLog.activationId))
    assert.deepEqual(aAct.response.result, { greeting: 'FIRED' })
  })

  it('delete removes the rule, then the trigger', async () => {
    const r = await ow.rules.delete({ name: rule })
    assert.equal(r.name, rule)
    created.rules.delete(rule)
    await rejects(ow.rules.get({ name: rule }), 404)
    const t = await ow.triggers.delete({ name: trig })
    assert.equal(t.name, trig)
    created.triggers.delete(trig)
    await rejects(ow.triggers.get({ name: trig }), 404)
  })
})

describe('feeds', { skip: has.alarms ? false : 'the server has no /whisk.system/alarms package' }, () => {
  const trig = name('alarm')

  it('create, get, update and delete an alarm feed on a trigger', async () => {
    created.triggers.add(trig)
    await ow.triggers.create({ name: trig, trigger: { annotations: [{ key: 'feed', value: '/whisk.system/alarms/alarm' }] } })
    const c = await ow.feeds.create({ name: '/whisk.system/alarms/alarm', trigger: trig, params: { cron: '0 0 1 1 *' } })
    assert.equal(c.response.success, true, JSON.stringify(c.response))
    const g = await ow.feeds.get({ name: '/whisk.system/alarms/alarm', trigger: trig })
    assert.equal(g.response.success, true, JSON.stringify(g.response))
    assert.equal(g.response.result.config.cron, '0 0 1 1 *')
    const u = await ow.feeds.update({ name: '/whisk.system/alarms/alarm', trigger: trig, params: { cron: '0 0 2 1 *' } })
    assert.equal(u.response.success, true, JSON.stringify(u.response))
    const g2 = await ow.feeds.get({ name: '/whisk.system/alarms/alarm', trigger: trig })
    assert.equal(g2.response.result.config.cron, '0 0 2 1 *')
    const d = await ow.feeds.delete({ name: '/whisk.system/alarms/alarm', trigger: trig })
    assert.equal(d.response.success, true, JSON.stringify(d.response))
  })
})

describe('web actions', () => {
  const web = name('web')
  const hidden = name('hidden')
  let hasWeb = false

  before(async () => {
    created.actions.add(web).add(hidden)
    await ow.actions.create({ name: web, action: webCode, annotations: { 'web-export': true }, params: { who: 'default' } })
    await ow.actions.create({ name: hidden, action: webCode })
    // Probe: a server without web actions answers 404 for an exported one.
    hasWeb = (await http('GET', `/api/v1/web/${namespace}/default/${web}.json`, { auth: false })).status !== 404
  })

  it('an exported action answers over HTTP, unauthenticated', async (t) => {
    if (!hasWeb) return t.skip('the server answers 404 for an exported web action')
    const res = await http('POST', `/api/v1/web/${namespace}/default/${web}.http/some/path?q=1`, { auth: false, body: { who: 'body' } })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers.get('x-gust'), 'web')
    assert.match(res.headers.get('content-type'), /^application\/json/)
    assert.match(res.headers.get('x-openwhisk-activation-id'), ID)
    assert.deepEqual(res.json, { method: 'post', path: '/some/path', q: '1', who: 'body' })
    const json = await http('GET', `/api/v1/web/${namespace}/default/${web}.json`, { auth: false })
    assert.equal(json.status, 200, json.text)
    assert.equal(json.json.statusCode, 200)
    assert.deepEqual(json.json.body, { method: 'get', path: '', q: null, who: 'default' })
  })

  it('an action that is not exported is not found', async (t) => {
    if (!hasWeb) return t.skip('the server answers 404 for an exported web action')
    const res = await http('GET', `/api/v1/web/${namespace}/default/${hidden}.json`, { auth: false })
    assert.equal(res.status, 404)
    assert.equal(res.json.error, 'The requested resource does not exist.')
    assert.equal(typeof res.json.code, 'string')
  })

  it('update --web false stops serving it', async (t) => {
    if (!hasWeb) return t.skip('the server answers 404 for an exported web action')
    const a = await ow.actions.update({ name: web, annotations: { 'web-export': false } })
    assert.equal(annotation(a, 'web-export'), false)
    assert.equal((await http('GET', `/api/v1/web/${namespace}/default/${web}.json`, { auth: false })).status, 404)
    await ow.actions.update({ name: web, annotations: { 'web-export': true } })
  })
})

describe('routes', { skip: skip('routes', 'GET /api/v1/web/whisk.system/apimgmt/getApi.http') }, () => {
  const action = name('routed')
  const basepath = `/${run}`

  before(async () => {
    created.actions.add(action)
    await ow.actions.create({ name: action, action: webCode, annotations: { 'web-export': true } })
  })

  it('create, list, get, call and delete an API route', async () => {
    created.apis.add(basepath)
    const api = await ow.routes.create({ basepath, relpath: '/hello', operation: 'GET', action, responsetype: 'http' })
    assert.equal(typeof api.gwApiUrl, 'string')
    assert.ok(api.gwApiUrl.endsWith(basepath), api.gwApiUrl)
    assert.equal(api.apidoc.basePath, basepath)
    const op = api.apidoc.paths['/hello'].get
    assert.equal(op['x-openwhisk'].action, action)
    assert.equal(op['x-openwhisk'].namespace, namespace)

    const list = await ow.routes.list({ basepath })
    assert.equal(list.apis.length, 1)
    assert.equal(list.apis[0].value.gwApiUrl, api.gwApiUrl)
    const got = await ow.routes.get({ basepath })
    assert.deepEqual(Object.keys(got.apis[0].value.apidoc.paths), ['/hello'])

    const res = await fetch(`${api.gwApiUrl}/hello?q=routed`)
    assert.equal(res.status, 200)
    const body = await res.json()
    assert.equal(body.method, 'get')
    assert.equal(body.q, 'routed')

    await ow.routes.delete({ basepath })
    created.apis.delete(basepath)
    assert.deepEqual((await ow.routes.list({ basepath })).apis, [])
    assert.equal((await fetch(`${api.gwApiUrl}/hello`)).status, 404)

    // The same API again, from its swagger (wsk api create --config-file).
    created.apis.add(basepath)
    const again = await ow.routes.create({ swagger: JSON.stringify(api.apidoc) })
    assert.equal(again.gwApiUrl, api.gwApiUrl)
    assert.equal((await fetch(`${api.gwApiUrl}/hello`)).status, 200)
    await ow.routes.delete({ basepath })
    created.apis.delete(basepath)
  })
})
