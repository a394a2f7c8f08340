// A market-data client on the `ws` library, written from docs/MARKET_DATA.md
// alone, in JSON mode: subscribes to `book` (depth 10) and `trades` of one
// symbol, keeps the book from the snapshot and the increments, checks every
// `prev` chain and checksum (CRC-32 of section 7 over integer prices and
// quantities, zlib's crc32), and prints what it saw for the Rust test that
// placed the orders (tests/market_data/node_feed.rs) to compare:
//   READY                    after the answers and the snapshot
//   TRADE <id> <price> <qty> per trade
//   BOOK <json>              the book after the marker level appeared
//   <n> passed, <m> failed   last line
// Usage: node md_feed_check.mjs <ws url> <symbol> <trades> <marker bid price>
import WebSocket from "ws";
import zlib from "node:zlib";

const [url, symbol, tradesWanted, marker] = process.argv.slice(2);
const book = { bid: new Map(), ask: new Map() };
const last = { book: null, trades: null };
let trades = 0;
let increments = 0;
const errors = [];
let answers = 0;
let snapshot = false;

function checksum() {
  const bids = [...book.bid.entries()].sort((a, b) => (a[0] < b[0] ? 1 : -1)).slice(0, 10);
  const asks = [...book.ask.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).slice(0, 10);
  const buf = Buffer.alloc(8 + 16 * (bids.length + asks.length));
  buf.writeUInt32LE(bids.length, 0);
  buf.writeUInt32LE(asks.length, 4);
  let at = 8;
  for (const [price, [qty]] of [...bids, ...asks]) {
    buf.writeBigInt64LE(price, at);
    buf.writeBigUInt64LE(qty, at + 8);
    at += 16;
  }
  return zlib.crc32(buf);
}

function level(side, l) {
  const price = BigInt(l.price);
  const qty = BigInt(l.qty);
  if (qty === 0n) side.delete(price);
  else side.set(price, [qty, l.orders]);
}

function finish(ws) {
  const show = (m) => [...m.entries()].map(([p, [q, o]]) => [p.toString(), q.toString(), o]);
  console.log("BOOK " + JSON.stringify({ bids: show(book.bid), asks: show(book.ask) }));
  if (errors.length) console.log("FAIL " + errors.join("; "));
  console.log(`${errors.length ? 0 : 1} passed, ${errors.length} failed`);
  ws.close(1000);
}

const ws = new WebSocket(url, "tradsys.json.v1");
const timer = setTimeout(() => {
  console.log("FAIL timeout");
  process.exit(1);
}, 30000);
ws.on("open", () => {
  ws.send(JSON.stringify({ op: "subscribe", req_id: 1, symbols: [symbol], channels: ["book", "trades"], depth: 10 }));
});
ws.on("message", (data, isBinary) => {
  if (isBinary) {
    errors.push("a binary frame in json mode");
    return;
  }
  const m = JSON.parse(data.toString());
  if (m.type === "subscribed") {
    answers += 1;
    if (m.channel === "trades") last.trades = BigInt(m.seq);
  } else if (m.type === "snapshot") {
    for (const l of m.bids) level(book.bid, l);
    for (const l of m.asks) level(book.ask, l);
    last.book = BigInt(m.seq);
    snapshot = true;
    if (checksum() !== m.checksum) errors.push("snapshot checksum");
  } else if (m.type === "book") {
    const prev = BigInt(m.prev);
    const seq = BigInt(m.seq);
    if (!(prev === last.book || (increments === 0 && prev <= last.book && last.book < seq))) {
      errors.push(`book gap: last ${last.book} prev ${prev}`);
    }
    for (const c of m.changes) level(c.side === "buy" ? book.bid : book.ask, c);
    if (checksum() !== m.checksum) errors.push(`checksum at ${seq}`);
    last.book = seq;
    increments += 1;
  } else if (m.type === "trade") {
    const prev = BigInt(m.prev);
    if (!(prev === last.trades || (trades === 0 && prev <= last.trades))) {
      errors.push(`trade gap: last ${last.trades} prev ${prev}`);
    }
    last.trades = BigInt(m.seq);
    trades += 1;
    console.log(`TRADE ${m.trade_id} ${m.price} ${m.qty}`);
  } else if (m.type === "error") {
    errors.push("error answer: " + data.toString());
  }
  if (answers === 2 && snapshot && !ws.ready) {
    ws.ready = true;
    console.log("READY");
  }
  if (trades >= Number(tradesWanted) && book.bid.has(BigInt(marker)) && !ws.done) {
    ws.done = true;
    finish(ws);
  }
});
ws.on("close", (code) => {
  clearTimeout(timer);
  if (!ws.done) {
    console.log(`FAIL closed early with ${code}`);
    process.exit(1);
  }
  process.exit(errors.length ? 1 : 0);
});
ws.on("error", (e) => {
  console.log("FAIL " + e.message);
  process.exit(1);
});
