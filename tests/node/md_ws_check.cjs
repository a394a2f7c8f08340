// A market-data client on Node's `ws` package, written from
// docs/MARKET_DATA.md alone: binary mode, a book per symbol from the
// snapshot and the increments, every `prev` chain, heartbeat and CRC-32
// (zlib.crc32) checked. It prints one JSON line per event, as
// `examples/md_book.py --jsonl` does (book, trade, answer, resync), so
// tests/market_data/live.rs reads both the same way. A failed check is
// printed as a `resync` event and the stream is resubscribed.
//
//   (cd tests/node && npm ci) && node tests/node/md_ws_check.cjs ws://127.0.0.1:7002/md BTC-USD ETH-USD
"use strict";
const WebSocket = require("ws");
const zlib = require("zlib");

const [url, ...symbols] = process.argv.slice(2);
const CHANNELS = { 1: "book", 2: "book@100ms", 3: "bbo", 4: "trades", 5: "ticker", 6: "status" };
const SIDES = { 1: "buy", 2: "sell" };
// msg_type -> fixed length (section 5.3)
const FIXED = { 0xc1: 48, 0xc2: 56, 0xc3: 72, 0xc4: 80, 0xc5: 120, 0xc6: 48, 0xc7: 56 };
const CONTINUED = 1;

const out = o => process.stdout.write(JSON.stringify(o, (_k, v) => typeof v === "bigint" ? Number(v) : v) + "\n");
const streams = new Map(); // "symbol|channel" -> {state, S, last}
const books = new Map(); // symbol -> {bids: Map, asks: Map}
let checksums = 0;
let pending = null; // the parts of a split message
let nextReq = 1;
let ws;

function entries(buf, at, n) {
  const list = [];
  for (let i = 0; i < n; i++, at += 24) {
    list.push({ price: buf.readBigInt64LE(at), qty: buf.readBigUInt64LE(at + 8), orders: buf.readUInt32LE(at + 16), side: SIDES[buf[at + 20]] });
  }
  return list;
}

// Section 5: every message of one binary WebSocket message.
function decode(buf) {
  const msgs = [];
  for (let at = 0; at < buf.length;) {
    if (buf.length - at < 24) throw new Error("short header");
    const length = buf.readUInt32LE(at), type = buf[at + 4], version = buf[at + 5], flags = buf[at + 6];
    const symbol = buf.readUInt32LE(at + 8), count = buf.readUInt16LE(at + 12), seq = buf.readBigUInt64LE(at + 16);
    if (version !== 1 || !(type in FIXED) || length !== FIXED[type] + 24 * count || at + length > buf.length)
      throw new Error(`bad header: type ${type} version ${version} length ${length} entries ${count}`);
    const m = { type, symbol, seq, flags };
    const b = at + 24;
    if (type === 0xc1) Object.assign(m, { prev: buf.readBigUInt64LE(b), checksum: buf.readUInt32LE(b + 16), channel: CHANNELS[buf[b + 20]], changes: entries(buf, at + 48, count) });
    else if (type === 0xc2) {
      const bidCount = buf.readUInt32LE(b + 24), levels = entries(buf, at + 56, count);
      Object.assign(m, { epoch: buf.readBigUInt64LE(b), checksum: buf.readUInt32LE(b + 16), channel: CHANNELS[buf[b + 20]], bids: levels.slice(0, bidCount), asks: levels.slice(bidCount) });
    } else if (type === 0xc3) Object.assign(m, { prev: buf.readBigUInt64LE(b), trade_id: buf.readBigUInt64LE(b + 16), price: buf.readBigInt64LE(b + 24), qty: buf.readBigUInt64LE(b + 32), aggressor: SIDES[buf[b + 40]] });
    else if (type === 0xc7) Object.assign(m, { epoch: buf.readBigUInt64LE(b), stream_last: buf.readBigUInt64LE(b + 16), channel: CHANNELS[buf[b + 24]] });
    else m.prev = buf.readBigUInt64LE(b);
    msgs.push(m);
    at += length;
  }
  return msgs;
}

// Section 7.
function top(book) {
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    bids: [...book.bids.values()].sort((a, b) => cmp(b.price, a.price)),
    asks: [...book.asks.values()].sort((a, b) => cmp(a.price, b.price)),
  };
}
function checksum(book) {
  const t = top(book), bids = t.bids.slice(0, 10), asks = t.asks.slice(0, 10);
  const buf = Buffer.alloc(8 + 16 * (bids.length + asks.length));
  buf.writeUInt32LE(bids.length, 0);
  buf.writeUInt32LE(asks.length, 4);
  let at = 8;
  for (const l of bids.concat(asks)) { buf.writeBigInt64LE(l.price, at); buf.writeBigUInt64LE(l.qty, at + 8); at += 16; }
  return zlib.crc32(buf);
}
function emitBook(symbol, seq) {
  const t = top(books.get(symbol)), rows = list => list.slice(0, 10).map(l => [l.price, l.qty, l.orders]);
  out({ event: "book", symbol, seq, bids: rows(t.bids), asks: rows(t.asks), checksums });
}

// Section 4.3.
function resync(key, reason) {
  const s = streams.get(key);
  const [symbol, channel] = key.split("|");
  out({ event: "resync", symbol: Number(symbol), channel, reason });
  s.state = "resyncing";
  s.last = null;
  ws.send(JSON.stringify({ op: "unsubscribe", req_id: nextReq++, symbols: [Number(symbol)], channels: [channel] }));
  ws.send(JSON.stringify({ op: "subscribe", req_id: nextReq++, symbols: [Number(symbol)], channels: [channel], depth: 10 }));
}
function data(m) {
  if (pending) {
    pending.changes && pending.changes.push(...(m.changes || []));
    pending.bids && pending.bids.push(...m.bids);
    pending.asks && pending.asks.push(...m.asks);
    if (m.flags & CONTINUED) return;
    m = pending;
    pending = null;
  } else if (m.flags & CONTINUED) { pending = m; return; }
  const channel = m.type === 0xc3 ? "trades" : m.channel;
  const key = `${m.symbol}|${channel}`;
  const s = streams.get(key);
  if (!s || s.state === "resyncing" || channel === undefined) return;
  if (m.type === 0xc7) {
    if (s.state === "live" && !(s.last !== null ? m.stream_last === s.last : m.stream_last <= s.S)) resync(key, `heartbeat stream_last ${m.stream_last}`);
    return;
  }
  if (s.state === "snapshot") {
    if (m.type !== 0xc2) return resync(key, "increment before the snapshot");
    const book = { bids: new Map(), asks: new Map() };
    for (const l of m.bids) book.bids.set(l.price, l);
    for (const l of m.asks) book.asks.set(l.price, l);
    books.set(m.symbol, book);
    if (checksum(book) !== m.checksum) return resync(key, "snapshot checksum");
    checksums++;
    Object.assign(s, { state: "live", S: m.seq, last: null });
    return emitBook(m.symbol, m.seq);
  }
  if (m.seq <= s.S) return;
  if (s.last === null ? !(m.prev <= s.S && s.S < m.seq) : m.prev !== s.last) return resync(key, `gap: prev ${m.prev} seq ${m.seq}`);
  s.last = m.seq;
  if (m.type === 0xc1) {
    const book = books.get(m.symbol);
    for (const c of m.changes) {
      const side = c.side === "buy" ? book.bids : book.asks;
      if (c.qty === 0n) side.delete(c.price); else side.set(c.price, c);
    }
    if (checksum(book) !== m.checksum) return resync(key, `checksum at ${m.seq}`);
    checksums++;
    emitBook(m.symbol, m.seq);
  } else if (m.type === 0xc3) {
    out({ event: "trade", symbol: m.symbol, seq: m.seq, trade_id: m.trade_id, price: m.price, qty: m.qty, aggressor: m.aggressor });
  }
}
function answer(o) {
  out({ event: "answer", ...o });
  if (o.type !== "subscribed") return;
  const key = `${o.symbol}|${o.channel}`;
  const s = streams.get(key) || {};
  streams.set(key, s);
  s.last = null;
  if (o.channel === "trades") Object.assign(s, { state: "live", S: BigInt(o.seq) });
  else s.state = "snapshot";
}

module.exports = { decode, checksum };
if (require.main !== module) return;
ws = new WebSocket(url + "?format=binary");
ws.on("open", () => ws.send(JSON.stringify({ op: "subscribe", req_id: nextReq++, symbols, channels: ["book", "trades"], depth: 10 })));
ws.on("message", (payload, isBinary) => {
  if (isBinary) for (const m of decode(payload)) data(m);
  else answer(JSON.parse(payload.toString()));
});
ws.on("close", (code, reason) => { out({ event: "closed", code, reason: reason.toString() }); process.exit(1); });
ws.on("error", e => { out({ event: "error", message: String(e) }); process.exit(1); });
