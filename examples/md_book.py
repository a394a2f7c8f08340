#!/usr/bin/env python3
"""tradsys market-data client: a local order book from the WebSocket feed.

Written from docs/MARKET_DATA.md alone (section numbers in the comments). It
connects to the gateway's `market_data` endpoint, subscribes to `book`,
`bbo` and `trades` (binary mode by default, `--format json` for the JSON
mode), keeps a book per symbol from the snapshot and the increments, checks
every sequence (`prev` chains, heartbeats' `stream_last`) and the CRC-32 of
the top 10 levels after every book message, and on a gap, a checksum
mismatch or a new epoch resyncs as section 4.3 prescribes: `unsubscribe`,
then `subscribe` again for a fresh snapshot.

    pip install websockets
    python3 examples/md_book.py                                 # demo gateway, BTC-USD
    python3 examples/md_book.py --url ws://127.0.0.1:7002/md --symbols BTC-USD ETH-USD
    python3 examples/md_book.py --format json --levels 5
    python3 examples/md_book.py --jsonl                         # one JSON line per event

The decoder, the book and the checks need only the standard library;
`websockets` is imported only to connect.
"""

import argparse
import asyncio
import json
import struct
import sys
import time
import zlib

# --- section 5: binary messages --------------------------------------------

HEADER = struct.Struct("<IBBBxIH2xQ")  # length, msg_type, version, flags, symbol, entry_count, seq
HEADER_LEN = 24
VERSION = 1
MAX_ENTRIES = 1024
MAX_LENGTH = 24_632
ENTRY = struct.Struct("<qQIB3x")  # price, qty, order_count, side

CONTINUED = 0x01
SNAPSHOT = 0x02

BOOK_UPDATE, BOOK_SNAPSHOT, TRADE, BBO, TICKER, STATUS, HEARTBEAT = range(0xC1, 0xC8)

# msg_type: (name, block after the header, fixed length, has entries, flags allowed)
TYPES = {
    BOOK_UPDATE: ("book", struct.Struct("<QQIBxH"), 48, True, CONTINUED),
    BOOK_SNAPSHOT: ("snapshot", struct.Struct("<QQIBBHII"), 56, True, CONTINUED),
    TRADE: ("trade", struct.Struct("<QQQqQB7x"), 72, False, 0),
    BBO: ("bbo", struct.Struct("<QQqQqQII"), 80, False, SNAPSHOT),
    TICKER: ("ticker", struct.Struct("<QQQqqqqQQQqq"), 120, False, SNAPSHOT),
    STATUS: ("status", struct.Struct("<QQBB6x"), 48, False, SNAPSHOT),
    HEARTBEAT: ("heartbeat", struct.Struct("<QQQBBH4x"), 56, False, 0),
}
for _name, _block, _fixed, _entries, _flags in TYPES.values():
    assert HEADER_LEN + _block.size == _fixed, _name

# --- section 6: enumerations -------------------------------------------------

CHANNELS = {1: "book", 2: "book@100ms", 3: "bbo", 4: "trades", 5: "ticker", 6: "status"}
CHANNEL_CODES = {name: code for code, name in CHANNELS.items()}
BOOK_CHANNELS = ("book", "book@100ms")
SIDES = {1: "buy", 2: "sell"}
STATUSES = {1: "trading", 2: "halted"}
EVENTS = {1: "halt", 2: "resume", 3: "end_of_day"}
DEPTHS = (10, 25, 100, 0)
# The stream of each message type (book messages and heartbeats name theirs).
TYPE_CHANNEL = {"trade": "trades", "bbo": "bbo", "ticker": "ticker", "status": "status"}


class FeedError(Exception):
    """The bytes are not a market-data stream (section 5.1: close, reconnect)."""


def _enum(table, code, what):
    if code not in table:
        raise FeedError(f"unknown {what} {code}")
    return table[code]


def decode_binary(data):
    """Every message of one binary WebSocket message, in order, each a dict
    in the normalized form `normalize_json` gives (ints, names for codes);
    parts of a split message (flag CONTINUED) are returned as parts, with
    `"continued"`, for `Assembler` to join."""
    out = []
    at = 0
    while at < len(data):
        if len(data) - at < HEADER_LEN:
            raise FeedError(f"{len(data) - at} bytes: shorter than a header")
        length, msg_type, version, flags, symbol, entry_count, seq = HEADER.unpack_from(data, at)
        if not HEADER_LEN <= length <= MAX_LENGTH:
            raise FeedError(f"length {length}")
        if version != VERSION:
            raise FeedError(f"version {version}")
        if msg_type not in TYPES:
            raise FeedError(f"msg_type 0x{msg_type:02X}")
        name, block, fixed, has_entries, allowed = TYPES[msg_type]
        if entry_count > (MAX_ENTRIES if has_entries else 0):
            raise FeedError(f"{name}: entry_count {entry_count}")
        if length != fixed + entry_count * ENTRY.size:
            raise FeedError(f"{name}: length {length} with {entry_count} entries")
        if flags & ~allowed:
            raise FeedError(f"{name}: flags 0x{flags:02X}")
        if len(data) - at < length:
            raise FeedError(f"{name}: {length} bytes announced, {len(data) - at} there")
        fields = block.unpack_from(data, at + HEADER_LEN)
        entries = [ENTRY.unpack_from(data, at + fixed + i * ENTRY.size) for i in range(entry_count)]
        m = {"type": name, "symbol": symbol, "seq": seq}
        decode_block(m, fields, entries, flags)
        out.append(m)
        at += length
    return out


def decode_block(m, f, entries, flags):
    """Fills `m` from the fixed block `f` (a tuple) and the level entries."""
    t = m["type"]
    if t == "book":
        prev, ts, checksum, channel, depth = f
        m.update(prev=prev, ts=ts, checksum=checksum, depth=depth,
                 channel=_enum(CHANNELS, channel, "channel"),
                 changes=[(_enum(SIDES, side, "side"), price, qty, orders)
                          for price, qty, orders, side in entries])
    elif t == "snapshot":
        epoch, ts, checksum, channel, status, depth, bid_count, ask_count = f
        if bid_count + ask_count != len(entries):
            raise FeedError(f"snapshot: {bid_count} + {ask_count} != {len(entries)} entries")
        levels = [(price, qty, orders) for price, qty, orders, _side in entries]
        m.update(epoch=epoch, ts=ts, checksum=checksum, depth=depth,
                 channel=_enum(CHANNELS, channel, "channel"),
                 status=_enum(STATUSES, status, "status"),
                 bids=levels[:bid_count], asks=levels[bid_count:])
    elif t == "trade":
        prev, ts, trade_id, price, qty, aggressor = f
        m.update(prev=prev, ts=ts, trade_id=trade_id, price=price, qty=qty,
                 aggressor=_enum(SIDES, aggressor, "side"))
    elif t == "bbo":
        prev, ts, bid_price, bid_qty, ask_price, ask_qty, bid_orders, ask_orders = f
        m.update(prev=prev, ts=ts,
                 bid=(bid_price, bid_qty, bid_orders) if bid_qty else None,
                 ask=(ask_price, ask_qty, ask_orders) if ask_qty else None)
    elif t == "ticker":
        (prev, ts, trade_count, open_, high, low, last, last_qty, volume,
         notional_lo, notional_hi, vwap) = f
        traded = trade_count != 0
        m.update(prev=prev, ts=ts, trade_count=trade_count, last_qty=last_qty,
                 volume=volume, notional=(notional_hi << 64) | notional_lo,
                 **{k: (v if traded else None) for k, v in
                    (("open", open_), ("high", high), ("low", low), ("last", last),
                     ("vwap", vwap))})
    elif t == "status":
        prev, ts, status, event = f
        m.update(prev=prev, ts=ts, status=_enum(STATUSES, status, "status"),
                 event=None if flags & SNAPSHOT else _enum(EVENTS, event, "event"))
    elif t == "heartbeat":
        epoch, ts, stream_last, channel, status, depth = f
        m.update(epoch=epoch, ts=ts, stream_last=stream_last, depth=depth,
                 channel=_enum(CHANNELS, channel, "channel"),
                 status=_enum(STATUSES, status, "status"))
    if flags & SNAPSHOT:
        m["snapshot"] = True
    if flags & CONTINUED:
        m["continued"] = True


class Assembler:
    """Section 5.2: parts of a split book message (same type, symbol and
    `seq`) are applied together, after the last part."""

    def __init__(self):
        self.pending = None

    def feed(self, m):
        """The whole message once its last part is in, else None."""
        if self.pending is not None:
            p = self.pending
            if (p["type"], p["symbol"], p["seq"]) != (m["type"], m["symbol"], m["seq"]):
                raise FeedError("a split message's parts are interleaved with another message")
            for key in ("changes", "bids", "asks"):
                if key in m:
                    p[key] = p[key] + m[key]
            if m.get("continued"):
                return None
            self.pending = None
            p.pop("continued", None)
            return p
        if m.get("continued"):
            self.pending = m
            return None
        return m


# --- section 8: JSON ---------------------------------------------------------

def _int(v):
    return None if v is None else int(v)


def _level(o):
    return None if o is None else (int(o["price"]), int(o["qty"]), o["orders"])


def normalize_json(o):
    """A JSON data message (a dict) in the form `decode_binary` gives."""
    t = o.get("type")
    m = {"type": t, "symbol": o["symbol"], "seq": int(o["seq"])}
    for key in ("prev", "epoch", "ts", "trade_id", "price", "qty", "stream_last",
                "trade_count", "open", "high", "low", "last", "last_qty", "volume",
                "notional", "vwap"):
        if key in o:
            m[key] = _int(o[key])
    for key in ("channel", "depth", "checksum", "status", "event", "aggressor"):
        if key in o:
            m[key] = o[key]
    if o.get("snapshot"):
        m["snapshot"] = True
    if t == "book":
        m["changes"] = [(c["side"], int(c["price"]), int(c["qty"]), c["orders"])
                        for c in o["changes"]]
    elif t == "snapshot":
        m["bids"] = [_level(c) for c in o["bids"]]
        m["asks"] = [_level(c) for c in o["asks"]]
    elif t == "bbo":
        m["bid"] = _level(o["bid"])
        m["ask"] = _level(o["ask"])
    return m


# --- section 7: checksum -----------------------------------------------------

TOP = 10


class Book:
    """One symbol's levels: price -> (qty, orders), per side."""

    def __init__(self):
        self.bids = {}
        self.asks = {}

    def load(self, bids, asks):
        self.bids = {p: (q, n) for p, q, n in bids}
        self.asks = {p: (q, n) for p, q, n in asks}

    def apply(self, side, price, qty, orders):
        levels = self.bids if side == "buy" else self.asks
        if qty == 0:
            levels.pop(price, None)  # deleting a level it does not have is harmless
        else:
            levels[price] = (qty, orders)

    def top(self, n):
        """(bids best first, asks best first), each [(price, qty, orders)]."""
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:n]
        asks = sorted(self.asks.items())[:n]
        return ([(p, q, o) for p, (q, o) in bids], [(p, q, o) for p, (q, o) in asks])

    def checksum(self):
        return checksum(*self.top(TOP))


def checksum_bytes(bids, asks):
    """The bytes of section 7: counts, then price i64 and qty u64 per level."""
    out = struct.pack("<II", len(bids), len(asks))
    for price, qty, *_ in list(bids) + list(asks):
        out += struct.pack("<qQ", price, qty)
    return out


def checksum(bids, asks):
    return zlib.crc32(checksum_bytes(bids, asks)) & 0xFFFFFFFF


# --- section 4.3: snapshot, increments, recovery -----------------------------

class Stream:
    """One (symbol, channel) of the connection."""

    def __init__(self, symbol, channel):
        self.symbol = symbol
        self.channel = channel
        self.state = "subscribing"  # then "snapshot" (awaited), "live", "resyncing"
        self.S = None  # the sequence the snapshot is valid at
        self.last = None  # seq of the last message since the snapshot
        self.value = None  # bbo, ticker or status: the current message


class Gap(Exception):
    """A failed check: the stream must be resynced (section 4.3 step 4)."""


class FeedState:
    """Everything a connection knows, fed with control answers and data
    messages; `actions` collects the control messages to send (resyncs),
    `events` what happened, for the caller to print."""

    def __init__(self, depth=10):
        self.depth = depth
        self.epoch = None
        self.streams = {}  # (symbol id, channel) -> Stream
        self.books = {}  # symbol id -> Book
        self.trades = {}  # symbol id -> [trade dicts], newest last
        self.names = {}  # symbol id -> name (from the subscribe requests)
        self.requests = {}  # req_id -> [names or ids, as requested], [failed names]
        self.next_req = 1
        self.actions = []
        self.events = []
        self.assembler = Assembler()
        self.stats = {"messages": 0, "checksums": 0, "resyncs": 0, "skipped": 0}

    # control messages out

    def subscribe(self, symbols, channels):
        req = self.next_req
        self.next_req += 1
        self.requests[req] = (list(symbols), set())
        return {"op": "subscribe", "req_id": req, "symbols": list(symbols),
                "channels": list(channels), "depth": self.depth}

    def resync(self, stream, reason):
        """Step 4: unsubscribe and subscribe again for a fresh snapshot; the
        stream's messages until its new snapshot are dropped."""
        self.stats["resyncs"] += 1
        self.events.append({"event": "resync", "symbol": stream.symbol,
                            "channel": stream.channel, "reason": reason})
        stream.state = "resyncing"
        stream.last = None
        req = self.next_req
        self.next_req += 2
        self.actions.append({"op": "unsubscribe", "req_id": req, "symbols": [stream.symbol],
                             "channels": [stream.channel]})
        self.actions.append({"op": "subscribe", "req_id": req + 1, "symbols": [stream.symbol],
                             "channels": [stream.channel], "depth": self.depth})

    def new_epoch(self, epoch):
        """Section 4.2: a new epoch throws away every book and sequence."""
        old = self.epoch
        self.epoch = epoch
        if old is None or old == epoch:
            return
        self.events.append({"event": "epoch", "old": old, "new": epoch})
        for stream in self.streams.values():
            if stream.state in ("live", "snapshot"):
                self.resync(stream, f"new epoch {epoch}")

    # answers

    def answer(self, o):
        """A control answer (section 3)."""
        t = o.get("type")
        self.events.append({"event": "answer", **o})
        req = self.requests.get(o.get("req_id"))
        if t == "error":
            if req is not None and "symbol" in o:
                req[1].add(o["symbol"])
            return
        symbol = o["symbol"]
        if "name" in o:  # `subscribed` names its symbol
            self.names[symbol] = o["name"]
        elif req is not None and symbol not in self.names:
            self.learn_name(symbol, req)
        key = (symbol, o["channel"])
        if t == "subscribed":
            if "epoch" in o:
                self.new_epoch(int(o["epoch"]))
            stream = self.streams.get(key) or Stream(symbol, o["channel"])
            self.streams[key] = stream
            stream.last = None
            if o["channel"] == "trades":
                stream.state = "live"
                stream.S = int(o["seq"])
            else:
                stream.state = "snapshot"
        elif t == "unsubscribed":
            stream = self.streams.get(key)
            if stream is not None and stream.state != "resyncing":
                del self.streams[key]

    def learn_name(self, symbol, req):
        """Answers come symbol by symbol in the request's order: the first
        answer naming an id not seen yet belongs to the first requested
        name not yet placed (and not refused as unknown)."""
        asked, failed = req
        placed = set(self.names.values())
        for name in asked:
            if name == symbol or isinstance(name, int):
                if name == symbol:
                    return
                continue
            if name not in failed and name not in placed:
                self.names[symbol] = name
                return

    # data

    def data(self, m):
        """A decoded data message (binary or JSON, normalized)."""
        self.stats["messages"] += 1
        m = self.assembler.feed(m)
        if m is None:
            return
        t = m["type"]
        if "epoch" in m:
            self.new_epoch(m["epoch"])
        channel = m.get("channel") if t in ("book", "snapshot", "heartbeat") else TYPE_CHANNEL.get(t)
        if channel is None:
            return  # a type this client does not know: ignored
        stream = self.streams.get((m["symbol"], channel))
        if stream is None or stream.state in ("subscribing", "resyncing"):
            self.stats["skipped"] += 1
            return
        try:
            if t == "heartbeat":
                self.heartbeat(stream, m)
            elif stream.state == "snapshot":
                self.snapshot(stream, m)
            else:
                self.increment(stream, m)
        except Gap as gap:
            self.resync(stream, str(gap))

    def snapshot(self, stream, m):
        if m["type"] == "snapshot":
            book = Book()
            book.load(m["bids"], m["asks"])
            self.books[m["symbol"]] = book
            self.check_checksum(m, book)
        elif m.get("snapshot"):
            stream.value = m
        else:
            raise Gap(f"{m['type']} seq {m['seq']} before the stream's snapshot")
        stream.S = m["seq"]
        stream.last = None
        stream.state = "live"
        self.emit(stream, m)

    def increment(self, stream, m):
        seq, prev = m["seq"], m["prev"]
        if seq <= stream.S:
            self.stats["skipped"] += 1  # older than the snapshot
            return
        if stream.last is None:
            if not prev <= stream.S < seq:
                raise Gap(f"first message after the snapshot at {stream.S}: prev {prev} seq {seq}")
        elif prev != stream.last:
            raise Gap(f"prev {prev}, the last message was {stream.last} (seq {seq})")
        stream.last = seq
        if m["type"] == "book":
            book = self.books[m["symbol"]]
            for change in m["changes"]:
                book.apply(*change)
            self.check_checksum(m, book)
        elif m["type"] == "trade":
            trades = self.trades.setdefault(m["symbol"], [])
            trades.append(m)
            del trades[:-50]
        else:
            stream.value = m
        self.emit(stream, m)

    def heartbeat(self, stream, m):
        """Step 5: `stream_last` is the last message's seq (or, with none
        since the snapshot, a seq at or before it)."""
        if stream.state != "live":
            return
        last = m["stream_last"]
        if stream.last is not None:
            ok = last == stream.last
        else:
            ok = last <= stream.S
        if not ok:
            raise Gap(f"heartbeat stream_last {last}, the last message was "
                      f"{stream.last if stream.last is not None else f'at most the snapshot {stream.S}'}")

    def check_checksum(self, m, book):
        mine = book.checksum()
        if mine != m["checksum"]:
            raise Gap(f"checksum {m['checksum']} at seq {m['seq']}, the local book gives {mine}")
        self.stats["checksums"] += 1

    def emit(self, stream, m):
        symbol = m["symbol"]
        if m["type"] in ("book", "snapshot"):
            bids, asks = self.books[symbol].top(self.depth or 1_000_000)
            self.events.append({"event": "book", "symbol": symbol,
                                "name": self.names.get(symbol), "seq": m["seq"],
                                "checksum": m["checksum"], "bids": bids, "asks": asks,
                                "checksums": self.stats["checksums"]})
        elif m["type"] == "trade":
            self.events.append({"event": "trade", "symbol": symbol, "seq": m["seq"],
                                "trade_id": m["trade_id"], "price": m["price"],
                                "qty": m["qty"], "aggressor": m["aggressor"]})
        else:
            self.events.append({"event": m["type"], "symbol": symbol, "seq": m["seq"],
                                "message": m})


# --- printing ----------------------------------------------------------------

def render(state, levels):
    """The books as text: asks (highest first), then bids, then trades."""
    lines = []
    for symbol, book in sorted(state.books.items()):
        bids, asks = book.top(levels)
        name = state.names.get(symbol, symbol)
        lines.append(f"{name} (symbol {symbol})  checksums ok {state.stats['checksums']}  "
                     f"resyncs {state.stats['resyncs']}")
        lines.append(f"{'':>14} {'price':>12} {'qty':>12} {'orders':>7}")
        for price, qty, orders in reversed(asks):
            lines.append(f"{'ask':>14} {price:>12} {qty:>12} {orders:>7}")
        lines.append(f"{'-' * 48}")
        for price, qty, orders in bids:
            lines.append(f"{'bid':>14} {price:>12} {qty:>12} {orders:>7}")
        for trade in state.trades.get(symbol, [])[-5:][::-1]:
            lines.append(f"  trade {trade['trade_id']}: {trade['qty']} at {trade['price']} "
                         f"({trade['aggressor']} took)")
        lines.append("")
    return "\n".join(lines)


# --- the connection ----------------------------------------------------------

async def run(args):
    try:
        import websockets
    except ImportError:
        sys.exit("md_book.py needs the websockets package: pip install websockets")
    url = args.url + ("&" if "?" in args.url else "?") + f"format={args.format}"
    symbols = [int(s) if s.isdigit() else s for s in args.symbols]
    state = FeedState(depth=args.depth)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    last_print = 0.0
    received = 0
    async with websockets.connect(url, max_size=2 ** 24, open_timeout=10) as ws:
        await ws.send(json.dumps(state.subscribe(symbols, args.channels)))
        dirty = False
        while True:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                break
            if dirty and not args.jsonl:
                # Wake up to print what came since the last print.
                wait = max(0.0, last_print + args.interval - time.monotonic())
                timeout = wait if timeout is None else min(timeout, wait)
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=timeout or 3600)
            except asyncio.TimeoutError:
                if dirty and not args.jsonl:
                    last_print = time.monotonic()
                    dirty = False
                    print("\x1b[H\x1b[2J" if sys.stdout.isatty() else "", end="")
                    print(render(state, args.levels), flush=True)
                    continue
                break
            if isinstance(frame, bytes):
                messages = decode_binary(frame)
            else:
                o = json.loads(frame)
                if o.get("type") in ("subscribed", "unsubscribed", "error"):
                    state.answer(o)
                    messages = []
                else:
                    messages = [normalize_json(o)]
            for m in messages:
                received += 1
                if args.drop and received % args.drop == 0 and m["type"] != "snapshot":
                    continue  # --drop: lost on purpose, the checks must notice
                state.data(m)
            for action in state.actions:
                await ws.send(json.dumps(action))
            state.actions.clear()
            if args.jsonl:
                for event in state.events:
                    print(json.dumps(event), flush=True)
            else:
                for event in state.events:
                    if event["event"] in ("resync", "epoch") or (
                            event["event"] == "answer" and event.get("type") == "error"):
                        print(json.dumps(event), file=sys.stderr, flush=True)
                now = time.monotonic()
                dirty = dirty or bool(state.events)
                if dirty and now - last_print >= args.interval:
                    last_print = now
                    dirty = False
                    print("\x1b[H\x1b[2J" if sys.stdout.isatty() else "", end="")
                    print(render(state, args.levels), flush=True)
            state.events.clear()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:7002/md",
                        help="the gateway's market_data endpoint (default: the demo's)")
    parser.add_argument("--symbols", nargs="+", default=["BTC-USD"],
                        help="symbol names (or ids)")
    parser.add_argument("--channels", nargs="+", default=["book", "bbo", "trades"])
    parser.add_argument("--depth", type=int, default=10, choices=DEPTHS)
    parser.add_argument("--format", choices=("binary", "json"), default="binary")
    parser.add_argument("--levels", type=int, default=10, help="levels per side to print")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="seconds between two printed books")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    parser.add_argument("--drop", type=int, default=0, metavar="N",
                        help="discard every Nth data message but snapshots (a test aid: "
                             "the checks must notice and resync)")
    parser.add_argument("--jsonl", action="store_true",
                        help="print one JSON line per event instead of the book")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        # Nothing listens there (the gateway is not running, or another
        # market_data address): say so instead of a traceback.
        sys.exit("cannot connect to %s: %s (is `tradsys serve` running?)" % (args.url, error))
    except Exception as error:  # websockets is imported lazily, in run()
        if not type(error).__name__.startswith("ConnectionClosed"):
            raise
        # The gateway closed the feed (1001 at its shutdown, 4001 for a
        # slow reader, ...): a restart has a new feed epoch, so start again.
        sys.exit("the gateway closed the feed: %s" % error)


if __name__ == "__main__":
    main()
