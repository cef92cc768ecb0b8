// liiklus interop check: a liiklus client that is not ours in C++ — Node with @grpc/grpc-js and
// @grpc/proto-loader, loading the liiklus API from its .proto at run time — against a running
// runnel-gateway. It provisions a stream with riff's provisioner API, publishes CloudEvents the
// way riff's stream clients do, subscribes a group, receives in LIIKLUS_EVENT format, acks,
// re-subscribes and checks the group resumes after the ack (new and deprecated Ack forms),
// reads GetOffsets/GetEndOffsets as KEDA's scaler does, checks a LATEST group and the deprecated
// value/BINARY forms, and unknown streams. One line per check; exits non-zero on the first
// mismatch. Every wait is bounded.
//
// Usage: node liiklus_client.js <proto file> <grpc host:port> <http host:port> [events]
'use strict';

const path = require('path');
const http = require('http');
const modules = path.join(__dirname, '..', 'interop', 'node_modules');
const grpc = require(path.join(modules, '@grpc/grpc-js'));
const protoLoader = require(path.join(modules, '@grpc/proto-loader'));

const [protoFile, grpcAddr, httpAddr, eventsArg] = process.argv.slice(2);
const N = Number(eventsArg || 50);
const CONTENT_TYPE = 'application/json';
const WAIT_MS = 20000;

function fail(message) {
  console.error('FAIL: ' + message);
  process.exit(1);
}
function ok(message) {
  console.log('ok: ' + message);
}
const payload = (i) => Buffer.from(JSON.stringify({n: i}));

// Loaded as liiklus's clients do: field names as written in the .proto, 64-bit as strings.
const definition = protoLoader.loadSync(protoFile, {keepCase: true, longs: String, enums: String,
                                                    defaults: true, oneofs: true});
const api = grpc.loadPackageDefinition(definition).com.github.bsideup.liiklus;
const client = new api.LiiklusService(grpcAddr, grpc.credentials.createInsecure());

function deadline() {
  return {deadline: Date.now() + WAIT_MS};
}
function unary(method, request) {
  return new Promise((resolve, reject) =>
    client[method](request, deadline(), (err, reply) => (err ? reject(err) : resolve(reply))));
}
function withTimeout(promise, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out: ' + what)), WAIT_MS);
  })]).finally(() => clearTimeout(timer));
}

function provision(namespace, stream) {
  const [host, port] = httpAddr.split(':');
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({host, port, method: 'PUT', path: `/${namespace}/${stream}`}, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({status: res.statusCode, body}));
    });
    req.on('error', reject);
    req.end();
  }), 'provision');
}

// A queue over a server stream: next() resolves with the next message, or rejects on error/end.
function streamQueue(call) {
  const items = [];
  const waiters = [];
  let ended = null;
  const settle = () => {
    while (waiters.length && (items.length || ended)) {
      const w = waiters.shift();
      if (items.length) w.resolve(items.shift());
      else w.reject(ended);
    }
  };
  call.on('data', (m) => { items.push(m); settle(); });
  call.on('error', (e) => { ended = e; settle(); });
  call.on('end', () => { ended = ended || new Error('stream ended'); settle(); });
  return {
    next: (what) => withTimeout(new Promise((resolve, reject) => {
      waiters.push({resolve, reject});
      settle();
    }), what),
  };
}

async function subscribe(topic, group, reset, format) {
  const sub = client.Subscribe({topic, group, auto_offset_reset: reset});
  const assignments = streamQueue(sub);
  const reply = await assignments.next(`assignment for ${group}`);
  const a = reply.assignment;
  if (!a || !a.session_id || a.partition !== 0) fail(`Subscribe(${group}): assignment ${JSON.stringify(reply)}`);
  const receive = client.Receive({assignment: a, format});
  return {
    assignment: a,
    records: streamQueue(receive),
    close: () => { receive.cancel(); sub.cancel(); },
  };
}

function publishEvent(topic, i) {
  return unary('Publish', {
    topic,
    liiklusEvent: {
      id: `event-${i}-${process.pid}`, type: 'riff-event', source: 'source-todo',
      time: new Date().toISOString(), data_content_type: CONTENT_TYPE, data: payload(i),
      extensions: {seq: String(i)},
    },
  });
}

async function expectEvent(session, i) {
  const reply = await session.records.next(`offset ${i}`);
  const r = reply.liiklus_event_record;
  if (!r || !r.event) fail(`offset ${i}: not a LIIKLUS_EVENT record: ${JSON.stringify(reply)}`);
  const e = r.event;
  if (r.offset !== String(i) || !Buffer.from(e.data).equals(payload(i))) {
    fail(`got offset ${r.offset} data ${e.data}, want offset ${i} data ${payload(i)}`);
  }
  if (e.data_content_type !== CONTENT_TYPE || e.type !== 'riff-event' || e.source !== 'source-todo' ||
      !e.id || !e.time || e.extensions.seq !== String(i) || !r.timestamp) {
    fail(`offset ${i}: event not returned whole: ${JSON.stringify(e)}`);
  }
}

async function offsets(topic, group) {
  return (await unary('GetOffsets', {topic, group})).offsets;
}

async function main() {
  const provisioned = await provision('interop', 'events');
  if (provisioned.status !== 201) fail(`provision: ${provisioned.status} ${provisioned.body}`);
  const answer = JSON.parse(provisioned.body);
  const topic = answer.topic;
  if (topic !== 'interop_events' || !answer.gateway) fail(`provision answered ${provisioned.body}`);
  ok(`riff provisioner created topic ${topic}`);

  for (let i = 0; i < N; i++) {
    const r = await publishEvent(topic, i);
    if (r.partition !== 0 || r.offset !== String(i) || r.topic !== topic) {
      fail(`Publish ${i} landed at ${JSON.stringify(r)}`);
    }
  }
  ok(`published ${N} CloudEvents at offsets 0..${N - 1}`);

  const end = await unary('GetEndOffsets', {topic});
  if (Object.keys(end.offsets).length !== 1 || end.offsets['0'] !== String(N - 1)) {
    fail(`GetEndOffsets: ${JSON.stringify(end.offsets)}, want {0: ${N - 1}}`);
  }
  ok(`GetEndOffsets = ${JSON.stringify(end.offsets)}`);

  const group = 'interop-a';
  if (Object.keys(await offsets(topic, group)).length !== 0) fail('a group that never acked has offsets');
  const half = Math.floor(N / 2);
  let s = await subscribe(topic, group, 'EARLIEST', 'LIIKLUS_EVENT');
  for (let i = 0; i < half; i++) await expectEvent(s, i);
  await unary('Ack', {topic, group, partition: 0, offset: half - 1});
  let o = await offsets(topic, group);
  if (o['0'] !== String(half - 1)) fail(`GetOffsets after Ack(${half - 1}): ${JSON.stringify(o)}`);
  s.close();
  ok(`group ${group} received 0..${half - 1} in LIIKLUS_EVENT format and acked ${half - 1}`);

  s = await subscribe(topic, group, 'EARLIEST', 'LIIKLUS_EVENT');
  for (let i = half; i < N; i++) await expectEvent(s, i);
  await unary('Ack', {assignment: s.assignment, offset: N - 1});  // The deprecated form.
  o = await offsets(topic, group);
  if (o['0'] !== String(N - 1)) fail(`GetOffsets after the deprecated Ack: ${JSON.stringify(o)}`);
  s.close();
  ok(`group ${group} resumed at ${half} after re-subscribing and acked ${N - 1} (deprecated form)`);

  // A LATEST group sees only what is published after it joined: publish one event at a time
  // until one arrives (bounded by the queue's wait).
  s = await subscribe(topic, 'interop-latest', 'LATEST', 'LIIKLUS_EVENT');
  const first = s.records.next('first record of the LATEST group');
  let next = N;
  let latest = null;
  first.then((r) => (latest = r), () => {});
  for (let tries = 0; tries < 50 && latest === null; tries++) {
    await publishEvent(topic, next++);
    await new Promise((r) => setTimeout(r, 100));
  }
  const reply = await first;
  const offset = Number(reply.liiklus_event_record.offset);
  if (offset < N || offset >= next) fail(`LATEST group started at ${offset}, want ${N}..${next - 1}`);
  s.close();
  ok(`a LATEST group started at offset ${offset}, after the ${N} events published before it joined`);

  const raw = Buffer.from('raw bytes from an old liiklus client');
  const pub = await unary('Publish', {topic, key: Buffer.from('k'), value: raw});
  await unary('Ack', {topic, group: 'interop-binary', partition: 0, offset: Number(pub.offset) - 1});
  s = await subscribe(topic, 'interop-binary', 'LATEST', 'BINARY');
  const bin = (await s.records.next('BINARY record')).record;
  if (!bin || bin.offset !== pub.offset || !Buffer.from(bin.value).equals(raw) ||
      Buffer.from(bin.key).toString() !== 'k') {
    fail(`BINARY receive: ${JSON.stringify(bin)}`);
  }
  s.close();
  ok(`deprecated value publish read back in BINARY format at offset ${pub.offset}`);

  try {
    await unary('Publish', {topic: 'interop_no-such-stream', value: raw});
    fail('publishing to an unknown stream succeeded');
  } catch (err) {
    if (err.code !== grpc.status.NOT_FOUND) fail(`unknown stream: ${err.code} ${err.message}`);
  }
  ok('publishing to an unknown stream fails with NOT_FOUND');
  console.log('liiklus interop: all checks passed');
  client.close();
}

main().catch((err) => fail(err.stack || String(err)));
