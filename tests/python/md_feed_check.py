#!/usr/bin/env python3
"""A market-data client written from docs/MARKET_DATA.md alone, on the
third-party `websockets` library, checked against orders it places itself
over the order-entry protocol (tradsys_client.py, docs/PROTOCOL.md).

It subscribes to `book` (depth 10) and `trades` of a symbol in binary mode,
keeps a book from the snapshot and the increments, checks every `prev`
chain and every checksum (zlib.crc32 over the bytes of section 7), places
resting orders and trades over TCP, and checks that the trades on the feed
are exactly the fills it was sent and that its book equals a fresh snapshot
(a resubscribe) and the levels its own orders left.

Usage: md_feed_check.py --oe HOST:PORT --md HOST:PORT
Prints one line per check and `N passed, M failed`; exits 1 on a failure.
"""

import argparse
import json
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tradsys_client as oe  # noqa: E402

from websockets.sync.client import connect  # noqa: E402

HEADER = struct.Struct("<IBBBBIHxxQ")  # length, type, version, flags, _, symbol, entries, seq
ENTRY = struct.Struct("<qQIBxxx")  # price, qty, order_count, side
BOOK_UPDATE, BOOK_SNAPSHOT, TRADE, HEARTBEAT = 0xC1, 0xC2, 0xC3, 0xC7
FIXED = {0xC1: 48, 0xC2: 56, 0xC3: 72, 0xC4: 80, 0xC5: 120, 0xC6: 48, 0xC7: 56}
CONTINUED = 0x01

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   %s" % name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def messages(data):
    """Every message of a binary WebSocket message (parts back to back)."""
    out = []
    at = 0
    while at < len(data):
        length, mtype, version, flags, _, symbol, entries, seq = HEADER.unpack_from(data, at)
        assert version == 1 and length == FIXED[mtype] + 24 * entries, (mtype, length)
        out.append((mtype, flags, symbol, seq, data[at:at + length]))
        at += length
    return out


def entries(body, fixed, count):
    return [ENTRY.unpack_from(body, fixed + 24 * i) for i in range(count)]


def checksum(book):
    bids = sorted(book[1].items(), reverse=True)[:10]
    asks = sorted(book[2].items())[:10]
    data = struct.pack("<II", len(bids), len(asks))
    for price, (qty, _) in bids + asks:
        data += struct.pack("<qQ", price, qty)
    return zlib.crc32(data)


class Feed:
    def __init__(self, ws, symbol):
        self.ws = ws
        self.symbol = symbol
        self.book = {1: {}, 2: {}}
        self.last = {"book": None, "trades": None}
        self.trades = []
        self.errors = []

    def subscribe(self, req_id):
        self.ws.send(json.dumps({"op": "subscribe", "req_id": req_id, "symbols": [self.symbol],
                                 "channels": ["book", "trades"], "depth": 10}))
        answers = 0
        snapshot = False
        while answers < 2 or not snapshot:
            frame = self.ws.recv(timeout=10)
            if isinstance(frame, str):
                answer = json.loads(frame)
                if answer["type"] != "subscribed":
                    raise RuntimeError("subscribe refused: %s" % frame)
                answers += 1
                if answer["channel"] == "trades":
                    self.last["trades"] = int(answer["seq"])
                    self.trades_from = int(answer["seq"])
                continue
            parts = messages(frame)
            if parts[0][0] == HEARTBEAT:
                continue
            if parts[0][0] != BOOK_SNAPSHOT:
                self.on_binary(parts)
                continue
            self.book = {1: {}, 2: {}}
            for mtype, flags, symbol, seq, body in parts:
                count = HEADER.unpack_from(body)[6]
                for price, qty, orders, side in entries(body, 56, count):
                    self.book[side][price] = (qty, orders)
                sent = struct.unpack_from("<I", body, 40)[0]
                self.last["book"] = seq
            snapshot = True
            if sent != checksum(self.book):
                self.errors.append("snapshot checksum")
        self.increments = 0

    def on_binary(self, parts):
        mtype, flags, symbol, seq, body = parts[0]
        if mtype == HEARTBEAT:
            return
        if mtype == BOOK_UPDATE:
            prev = struct.unpack_from("<Q", body, 24)[0]
            last = self.last["book"]
            if not (prev == last or (self.increments == 0 and prev <= last < seq)):
                self.errors.append("book gap: last %s prev %s seq %s" % (last, prev, seq))
            for _, _, _, _, part in parts:
                count = HEADER.unpack_from(part)[6]
                for price, qty, orders, side in entries(part, 48, count):
                    if qty == 0:
                        self.book[side].pop(price, None)
                    else:
                        self.book[side][price] = (qty, orders)
            if struct.unpack_from("<I", body, 40)[0] != checksum(self.book):
                self.errors.append("checksum at seq %d" % seq)
            self.last["book"] = seq
            self.increments += 1
        elif mtype == TRADE:
            prev, ts, trade_id, price, qty = struct.unpack_from("<QQQqQ", body, 24)
            last = self.last["trades"]
            if not (prev == last or (not self.trades and prev <= last < seq)):
                self.errors.append("trade gap: last %s prev %s" % (last, prev))
            self.last["trades"] = seq
            self.trades.append((trade_id, price, qty))

    def pump_until(self, done):
        while not done():
            frame = self.ws.recv(timeout=10)
            if isinstance(frame, bytes):
                self.on_binary(messages(frame))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--oe", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args()
    oe_host, oe_port = args.oe.rsplit(":", 1)
    url = "ws://%s/md" % args.md
    symbol = "BTC-USD"

    maker = oe.Session.connect(oe_host, int(oe_port))
    maker.logon(1, b"alice-token")
    taker = oe.Session.connect(oe_host, int(oe_port))
    taker.logon(2, b"bob-token")

    def place(session, coid, side, price, qty):
        session.new_order(coid, 1, side, qty, price=price)
        return session.recv_until(lambda m: m.msg_type == oe.MsgType.ORDER_ACCEPTED)[0]

    # A book before the subscription: the snapshot must carry it.
    place(maker, 1, oe.Side.SELL, 10_020, 7)
    place(maker, 2, oe.Side.BUY, 9_980, 4)

    with connect(url, subprotocols=["tradsys.bin.v1"], open_timeout=10) as ws:
        check("subprotocol confirmed", ws.subprotocol == "tradsys.bin.v1", ws.subprotocol)
        feed = Feed(ws, symbol)
        feed.subscribe(1)
        check("snapshot holds the resting orders",
              feed.book == {1: {9_980: (4, 1)}, 2: {10_020: (7, 1)}}, feed.book)

        fills = []
        coid = 100
        for i in range(20):
            price = 10_000 + (i % 5) * 5
            place(maker, coid, oe.Side.SELL, price, 3)
            coid += 1
            if i % 2 == 1:
                taker.new_order(coid, 1, oe.Side.BUY, 2, price=price, tif=oe.Tif.IOC)
                # Until the IOC is done: it can fill from two levels, and a
                # fill left unread would be taken for the next IOC's while
                # that one had not run yet (the maker's next order, on
                # another shard's session, could then reach the book first).
                done = lambda m, c=coid: (m.msg_type in (oe.MsgType.FILL, oe.MsgType.ORDER_CANCELED)
                                          and m.client_order_id == c)
                filled = 0
                while filled < 2:
                    msg, _ = taker.recv_until(done)
                    if msg.msg_type == oe.MsgType.ORDER_CANCELED:
                        break
                    fills.append((msg.exec_id, msg.price, msg.qty))
                    filled += msg.qty
                coid += 1
        feed.pump_until(lambda: len(feed.trades) >= len(fills))
        check("every fill is a trade on the feed, in order", feed.trades == fills,
              "%s != %s" % (feed.trades, fills))
        # A last order whose level marks the end of what was sent.
        place(maker, coid, oe.Side.BUY, 9_970, 1)
        feed.pump_until(lambda: 9_970 in feed.book[1])

        # Resync: a fresh snapshot must equal the book the increments built.
        rebuilt = {1: dict(feed.book[1]), 2: dict(feed.book[2])}
        feed.subscribe(2)
        check("resubscribe snapshot equals the rebuilt book", feed.book == rebuilt,
              "%s != %s" % (feed.book, rebuilt))
        # The same orders through a price-level model of the matching.
        expected_asks = {10_020: 7}
        for i in range(20):
            price = 10_000 + (i % 5) * 5
            expected_asks[price] = expected_asks.get(price, 0) + 3
            if i % 2 == 1:
                want = 2
                for level in sorted(p for p in expected_asks if p <= price):
                    take = min(want, expected_asks[level])
                    expected_asks[level] -= take
                    want -= take
                    if expected_asks[level] == 0:
                        del expected_asks[level]
                    if want == 0:
                        break
        asks = {p: q for p, (q, _) in feed.book[2].items()}
        bids = {p: q for p, (q, _) in feed.book[1].items()}
        check("the book is what the orders left",
              asks == expected_asks and bids == {9_980: 4, 9_970: 1},
              "%s %s != %s" % (bids, asks, expected_asks))
        check("no gap and every checksum held", not feed.errors, feed.errors)

    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
