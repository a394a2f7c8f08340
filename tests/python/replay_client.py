#!/usr/bin/env python3
"""A replay-on-logon client for the tradsys gateway, written from
docs/PROTOCOL.md (version 2) alone: sections 4, 5.1, 5.3, 5.5, 5.6, 5.8, 5.9, 6-10, 12.
Standard library only.

It logs on two accounts, finds the report streams (PROTOCOL 5.9 "Asking": a
client that kept nothing asks streams 0, 1, 2, ... from 0 until
UnknownStream), trades a seeded flow in which the two accounts trade with each
other on two symbols, and keeps, per (account, stream), the last report number
delivered and every report seen. Phases (a harness runs them as processes):

  trade   --state FILE [--kill-point N | --exit-after N | --unread K] ...
          trades; with --kill-point N it prints "KILL-POINT" once N numbered
          reports were delivered, then keeps sending orders until the gateway
          goes away (killed), writes FILE and exits 0. With --exit-after N
          it sends 8 more orders once N reports were delivered, writes FILE
          and exits at once (no Logout, orders in flight). With --unread K it
          trades the flow, mass-cancels, checks both accounts' done orders
          (as in resume), then one account sends K orders whose reports it
          never reads (the other account's fills prove they were matched) and
          the process exits abruptly, without Logout, after writing FILE.
  resume  --state FILE ...
          reconnects, asks for replay of every stream after its cursor while
          trading live, merges by the rule of 5.9, and checks: no gap, no
          duplicate, every replayed report equal to the one seen live (all
          fields but timestamp_ns), the replay's framing (ReplayStarted,
          reports after..upto in order, ReplayDone count/last), open orders,
          OrderQuery and positions from the queries (5.8) equal to what the
          reports say, and the refusals of 5.9 (beyond the end, unknown
          stream) and the up-to-date answer. Then the done orders (5.8
          DoneOrdersRequest): all symbols through every page, then per symbol,
          each account against its reports: every order its reports show
          filled or canceled listed once, in the documented order (engines in
          shard order, symbols in --symbol order, latest final report first),
          with its state, cancel reason, order id, client order id, side,
          qty (filled + canceled), filled qty, notional (sum of its fills'
          price x qty, in two halves) and average price (notional / filled
          rounded down, 0 if nothing traded); no open order and no order it
          has no report of listed; a symbol-0 page holds one engine's orders;
          UnknownSymbol for a symbol no engine owns; cursors not made by the
          gateway list only the account's own done orders; a second session
          of the first account receives none of the answers. Last, a session
          of the first account with the cancel-on-disconnect flag logs out:
          its open orders are canceled (Disconnect) and the done orders are
          checked again. Prints
          "done: listed=<n> checked=<n> pages=<p> per_symbol=<n> ..." and
          "replay: streams=<n> replayed=<r> live=<l> gaps=0 duplicates=0"
          and exits 0 only if every check held.

Every check that fails prints a "FAIL ..." line; the process then exits 1.
"""

import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time
from fractions import Fraction

VERSION = 2

# ---------------------------------------------------------------- codes (sections 6, 9, 10)
LOGON, LOGOUT, HEARTBEAT_C, NEW_ORDER, CANCEL_ORDER, REPLACE_ORDER, MASS_CANCEL = 1, 2, 3, 4, 5, 6, 7
ORDER_STATUS_REQ, ORDER_QUERY, OPEN_ORDERS_REQ, POSITIONS_REQ, REPLAY_REQ = 8, 9, 10, 11, 12
DONE_ORDERS_REQ = 0x0D
LOGON_ACCEPTED, LOGON_REJECTED, HEARTBEAT_G = 0x81, 0x82, 0x83
ORDER_ACCEPTED, ORDER_REJECTED, FILL, ORDER_CANCELED, ORDER_REPLACED, CANCEL_REJECTED = (
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89)
MASS_CANCEL_DONE, ORDER_STATUS, SESSION_END, POSITION, QUERY_DONE = 0x8A, 0x8B, 0x8C, 0x8D, 0x8E
REPLAY_STARTED, REPLAY_DONE = 0x8F, 0x90
DONE_ORDER = 0x91

GATEWAY_LENGTHS = {
    0x81: 24, 0x82: 16, 0x83: 8, 0x84: 72, 0x85: 48, 0x86: 88, 0x87: 64, 0x88: 80,
    0x89: 56, 0x8A: 32, 0x8B: 72, 0x8C: 16, 0x8D: 64, 0x8E: 40, 0x8F: 24, 0x90: 32,
    0x91: 80,
}
REPORT_TYPES = {ORDER_ACCEPTED, ORDER_REJECTED, FILL, ORDER_CANCELED, ORDER_REPLACED, CANCEL_REJECTED}
NAMES = {
    0x84: "OrderAccepted", 0x85: "OrderRejected", 0x86: "Fill", 0x87: "OrderCanceled",
    0x88: "OrderReplaced", 0x89: "CancelRejected",
}

BUY, SELL = 1, 2
LIMIT = 1
GTC, IOC = 1, 3
SHARD_BUSY, UNKNOWN_STREAM, REPLAY_BEYOND_END = 304, 306, 307
UNKNOWN_SYMBOL, RATE_LIMITED = 1, 302
FILLED, CANCELED = 2, 3     # OrderState (section 9)
DONE_WINDOW = 4096          # 5.8 "The window": each matching engine keeps its last 4,096 done orders
MAX_SHARDS = 64  # 5.9: "a gateway has at most 64 shards"

# Field layouts after the 8-byte header (offsets from section 8).
REPORT_LAYOUTS = {
    ORDER_ACCEPTED: ("<QQIBBBxqQQQII", ["order_id", "client_order_id", "symbol", "side", "order_kind",
                                        "tif", "price", "qty", "timestamp_ns", "report_seq", "stream",
                                        "account"]),
    ORDER_REJECTED: ("<QIH2xQQII", ["client_order_id", "symbol", "reason", "timestamp_ns", "report_seq",
                                    "stream", "account"]),
    FILL: ("<QQQIBB2xqQQQQII", ["exec_id", "order_id", "client_order_id", "symbol", "side", "liquidity",
                                "price", "qty", "leaves_qty", "timestamp_ns", "report_seq", "stream",
                                "account"]),
    ORDER_CANCELED: ("<QQIB3xQQQII", ["order_id", "client_order_id", "symbol", "reason", "canceled_qty",
                                      "timestamp_ns", "report_seq", "stream", "account"]),
    ORDER_REPLACED: ("<QQIB3xqQQQQII", ["order_id", "client_order_id", "symbol", "kept_priority", "price",
                                        "qty", "leaves_qty", "timestamp_ns", "report_seq", "stream",
                                        "account"]),
    CANCEL_REJECTED: ("<QQIH2xQQII", ["order_id", "client_order_id", "symbol", "reason", "timestamp_ns",
                                      "report_seq", "stream", "account"]),
    LOGON_ACCEPTED: ("<III4x", ["account", "heartbeat_interval_ms", "next_expected_seq"]),
    LOGON_REJECTED: ("<H6x", ["reason"]),
    HEARTBEAT_G: ("<", []),
    MASS_CANCEL_DONE: ("<QIIH6x", ["client_order_id", "symbol", "canceled_count", "reject_reason"]),
    ORDER_STATUS: ("<QQQIBBHqQQQ", ["client_order_id", "order_id", "order_client_order_id", "symbol", "side",
                                    "state", "reject_reason", "price", "qty", "leaves_qty", "filled_qty"]),
    SESSION_END: ("<H2xI", ["reason", "expected_seq"]),
    POSITION: ("<QIIqQqQQ", ["client_order_id", "symbol", "open_orders", "position", "realized_pnl_lo",
                             "realized_pnl_hi", "open_buy_qty", "open_sell_qty"]),
    QUERY_DONE: ("<QQIIHB5x", ["client_order_id", "next_cursor", "next_cursor_place", "count",
                               "reject_reason", "more"]),
    REPLAY_STARTED: ("<I4xQ", ["stream", "upto"]),
    REPLAY_DONE: ("<IH2xQQ", ["stream", "reject_reason", "last", "count"]),
    DONE_ORDER: ("<QQQIBBBxQQqQQ", ["client_order_id", "order_id", "order_client_order_id", "symbol", "side",
                                    "state", "cancel_reason", "qty", "filled_qty", "average_price",
                                    "notional_lo", "notional_hi"]),
}
for _t, (_f, _n) in REPORT_LAYOUTS.items():
    assert struct.calcsize(_f) + 8 == GATEWAY_LENGTHS[_t], (hex(_t), struct.calcsize(_f))


class GatewayGone(Exception):
    """The connection dropped (EOF, reset) or the gateway ended the session."""


FAILURES = []
PNL_STATS = {"exact": 0, "rounded": 0, "integer_basis": 0}


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL " + what, flush=True)
    return cond


def same_report(a, b):
    """Equal in every field but timestamp_ns (5.9: a replayed report is exactly as
    first sent except timestamp_ns and the header seq, which is not kept here)."""
    ka = {k: v for k, v in a.items() if k != "timestamp_ns"}
    kb = {k: v for k, v in b.items() if k != "timestamp_ns"}
    return ka == kb


# ---------------------------------------------------------------- one session


class Session:
    def __init__(self, addr, account, token, heartbeat_ms=5000, flags=0):
        host, port = addr.rsplit(":", 1)
        self.account = account
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.out = bytearray()
        self.send_seq = 0
        self.recv_seq = 0
        self.last_sent = time.monotonic()
        self.last_heard = time.monotonic()
        self.hb = heartbeat_ms / 1000.0
        self.closed = False
        self.pending = []
        tok = token.encode()
        self.send(LOGON, struct.pack("<II32sB7x", account, heartbeat_ms, tok, flags))
        msg = self.next_message(timeout=10)
        if msg is None or msg["type"] != LOGON_ACCEPTED:
            raise SystemExit("logon of account %d refused: %r" % (account, msg))
        check(msg["account"] == account and msg["next_expected_seq"] == 2, "LogonAccepted fields %r" % msg)
        self.hb = msg["heartbeat_interval_ms"] / 1000.0

    # ---- sending
    def send(self, msg_type, body):
        self.send_seq = (self.send_seq + 1) & 0xFFFFFFFF
        self.out += struct.pack("<HBBI", 8 + len(body), msg_type, VERSION, self.send_seq) + body
        self.last_sent = time.monotonic()
        self.flush()

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            except OSError as e:
                raise GatewayGone(str(e))
            del self.out[:n]

    def new_order(self, coid, symbol, side, price, qty, tif=GTC):
        self.send(NEW_ORDER, struct.pack("<QIBBBBB7xqQ", coid, symbol, side, LIMIT, tif, 0, 0, price, qty))

    def cancel(self, coid, order_id, symbol):
        self.send(CANCEL_ORDER, struct.pack("<QQI4x", coid, order_id, symbol))

    def replace(self, coid, order_id, symbol, price, qty):
        self.send(REPLACE_ORDER, struct.pack("<QQI4xqQ", coid, order_id, symbol, price, qty))

    def mass_cancel(self, coid, symbol):
        self.send(MASS_CANCEL, struct.pack("<QI4x", coid, symbol))

    def order_status(self, coid, order_id, symbol):
        self.send(ORDER_STATUS_REQ, struct.pack("<QQI4x", coid, order_id, symbol))

    def order_query(self, coid, order_coid, symbol):
        self.send(ORDER_QUERY, struct.pack("<QQI4x", coid, order_coid, symbol))

    def open_orders(self, coid, symbol, place, cursor):
        self.send(OPEN_ORDERS_REQ, struct.pack("<QIIQ", coid, symbol, place, cursor))

    def done_orders(self, coid, symbol, place, cursor):
        self.send(DONE_ORDERS_REQ, struct.pack("<QIIQ", coid, symbol, place, cursor))

    def positions(self, coid, symbol, place):
        self.send(POSITIONS_REQ, struct.pack("<QII", coid, symbol, place))

    def replay(self, stream, after):
        self.send(REPLAY_REQ, struct.pack("<I4xQ", stream, after))

    def logout(self):
        self.send(LOGOUT, b"")

    # ---- receiving
    def _parse_one(self):
        if len(self.buf) < 8:
            return None
        length, msg_type, version, seq = struct.unpack_from("<HBBI", self.buf, 0)
        if not (8 <= length <= 256) or version != VERSION or msg_type not in GATEWAY_LENGTHS \
                or length != GATEWAY_LENGTHS[msg_type]:
            raise SystemExit("FAIL framing from gateway: length %d type %#x version %d" %
                             (length, msg_type, version))
        if len(self.buf) < length:
            return None
        fmt, names = REPORT_LAYOUTS[msg_type]
        values = struct.unpack_from(fmt, self.buf, 8)
        del self.buf[:length]
        expected = (self.recv_seq + 1) & 0xFFFFFFFF
        if seq != expected:
            raise SystemExit("FAIL gateway seq %d, expected %d (section 4)" % (seq, expected))
        self.recv_seq = seq
        msg = dict(zip(names, values))
        msg["type"] = msg_type
        return msg

    def poll(self):
        """Reads what is there without blocking; returns the parsed messages."""
        out, self.pending = self.pending, []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as e:
                raise GatewayGone(str(e))
            if not data:
                self.closed = True
                break
            self.buf += data
            self.last_heard = time.monotonic()
        while True:
            msg = self._parse_one()
            if msg is None:
                break
            if msg["type"] == SESSION_END:
                raise GatewayGone("SessionEnd %r" % msg)
            if msg["type"] != HEARTBEAT_G:
                out.append(msg)
        if self.closed and not out:
            raise GatewayGone("EOF")
        return out

    def keepalive(self):
        self.flush()
        now = time.monotonic()
        if now - self.last_sent >= self.hb / 2:
            self.send(HEARTBEAT_C, b"")
        if now - self.last_heard > 3 * self.hb + 5:
            raise GatewayGone("nothing heard for three heartbeat intervals")

    def next_message(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.poll()
            if msgs:
                self.pending = msgs[1:] + self.pending
                return msgs[0]
            if time.monotonic() > deadline:
                return None
            select.select([self.sock], [], [], 0.05)


def wait_any(sessions, timeout=0.2):
    """Blocks until one of the sessions' sockets is readable (or timeout)."""
    socks = [s.sock for s in sessions if not s.closed]
    if not socks:
        return
    wsocks = [s.sock for s in sessions if s.out and not s.closed]
    select.select(socks, wsocks, [], timeout)


# ---------------------------------------------------------------- merge and book keeping


class Account:
    """One account's report streams, merged per 5.9, and its orders as the
    reports say."""

    def __init__(self, account, token):
        self.account = account
        self.token = token
        self.streams = []            # every stream of the gateway (from the discovery)
        self.last = {}               # stream -> last report_seq delivered
        self.delivered = {}          # stream -> {report_seq: report}
        self.held = {}               # stream -> {report_seq: report}
        self.seen_before = {}        # stream -> {report_seq: report} from the state file
        self.unnumbered = []
        self.sent = []               # client_order_ids of the NewOrders sent
        self.duplicates_delivered = 0
        self.live = 0
        self.replayed_new = 0       # replayed reports never seen live before the resume
        self.replay = {}             # stream -> {"after", "upto", "next", "count", "done"}
        self.replay_total = 0
        self.session = None
        self.next_coid = 1
        self.orders = {}
        self.pos = {}
        self.first_answer = set()    # requests sent and not answered yet
        self.cancel_pending = {}     # (symbol, order_id) -> [CancelOrder client_order_ids]

    # ---- state file
    def to_json(self):
        return {
            "account": self.account, "token": self.token, "streams": self.streams,
            "cursors": {str(s): self.last.get(s, 0) for s in self.streams},
            "reports": {str(s): [self.delivered[s][n] for n in sorted(self.delivered.get(s, {}))]
                        for s in self.streams},
            "sent": self.sent, "next_coid": self.next_coid,
        }

    @classmethod
    def from_json(cls, j):
        a = cls(j["account"], j["token"])
        a.streams = j["streams"]
        a.sent = j["sent"]
        a.next_coid = j["next_coid"]
        for s in a.streams:
            reports = j["reports"][str(s)]
            a.last[s] = j["cursors"][str(s)]
            a.delivered[s] = {r["report_seq"]: r for r in reports}
            a.seen_before[s] = dict(a.delivered[s])
            a.held[s] = {}
            for r in reports:
                a.apply(r)
            check(sorted(a.delivered[s]) == list(range(1, a.last[s] + 1)),
                  "state of account %d stream %d is 1..cursor" % (a.account, s))
        return a

    def coid(self):
        c = self.account * 1_000_000_000 + self.next_coid
        self.next_coid += 1
        return c

    # ---- incoming reports
    def on_report(self, r):
        check(r["account"] == self.account, "report for account %d on account %d's session: %r" %
              (r["account"], self.account, r))
        if r["report_seq"] == 0:
            check(r["stream"] == 0, "unnumbered report has stream 0: %r" % r)
            self.unnumbered.append(r)
            return
        s = r["stream"]
        rep = self.replay.get(s)
        if rep is not None and rep.get("upto") is not None and not rep["done"] \
                and r["report_seq"] <= rep["upto"]:
            # 5.9: after ReplayStarted, reports numbered at or below upto are the
            # replay's, in order after+1 .. upto.
            check(r["report_seq"] == rep["next"],
                  "account %d stream %d: replayed report %d, expected %d" %
                  (self.account, s, r["report_seq"], rep["next"]))
            rep["next"] = r["report_seq"] + 1
            rep["count"] += 1
            self.replay_total += 1
            seen = self.seen_before.get(s, {}).get(r["report_seq"])
            if seen is not None:
                check(same_report(seen, r), "replayed report differs from the one seen live:\n  live   %r\n"
                      "  replay %r" % (seen, r))
            elif r["report_seq"] > self.last_before(s):
                self.replayed_new += 1
        elif s not in self.streams:
            check(False, "report on stream %d, not found by the discovery: %r" % (s, r))
            return
        else:
            self.live += 1
        self.merge(s, r)

    def last_before(self, s):
        return max(self.seen_before.get(s, {}), default=0)

    def merge(self, s, r):
        n = r["report_seq"]
        last = self.last.setdefault(s, 0)
        held = self.held.setdefault(s, {})
        got = self.delivered.setdefault(s, {})
        if n <= last:
            # a duplicate: dropped; it must be the same report
            check(same_report(got[n], r), "duplicate %d of stream %d differs:\n  %r\n  %r" % (n, s, got[n], r))
            return
        if n > last + 1:
            if n in held:
                check(same_report(held[n], r), "held %d of stream %d differs" % (n, s))
            held[n] = r
            return
        self.deliver(s, r)
        while self.last[s] + 1 in held:
            self.deliver(s, held.pop(self.last[s] + 1))

    def deliver(self, s, r):
        n = r["report_seq"]
        if n in self.delivered[s]:
            self.duplicates_delivered += 1
        self.delivered[s][n] = r
        self.last[s] = n
        self.apply(r)

    def gaps(self):
        g = 0
        for s in self.streams:
            g += len(self.held.get(s, {}))
            got = self.delivered.get(s, {})
            g += sum(1 for n in range(1, self.last.get(s, 0) + 1) if n not in got)
        return g

    def delivered_count(self):
        return sum(len(v) for v in self.delivered.values())

    # ---- orders and positions as the reports say (kept as reports are delivered)
    def book(self):
        """(symbol, order_id) -> order state; symbol -> position."""
        return self.orders, self.pos

    def apply(self, r):
        t = r["type"]
        orders, pos = self.orders, self.pos
        if t == ORDER_ACCEPTED:
            orders[(r["symbol"], r["order_id"])] = {
                "symbol": r["symbol"], "order_id": r["order_id"], "coid": r["client_order_id"],
                "side": r["side"], "price": r["price"], "qty": r["qty"], "leaves": r["qty"],
                "filled": 0, "open": True,
                # for the done orders (5.8): the exact notional of its fills, its final
                # state and cancel reason, and the number of its final report in the
                # stream (the window lists a symbol's done orders latest first)
                "stream": r["stream"], "notional": 0, "state": 1, "reason": 0, "final_seq": 0, "canceled": 0}
        elif t == FILL:
            o = orders.get((r["symbol"], r["order_id"]))
            if not check(o is not None, "Fill of an order never accepted: %r" % r):
                return
            check(o["open"], "Fill of an order already done: %r" % r)
            o["filled"] += r["qty"]
            o["notional"] += r["price"] * r["qty"]
            o["leaves"] = r["leaves_qty"]
            o["open"] = r["leaves_qty"] > 0
            if not o["open"]:
                o.update(state=FILLED, reason=0, final_seq=r["report_seq"])
            check(o["coid"] == r["client_order_id"], "Fill carries the current client_order_id: %r" % r)
            check(o["filled"] + o["leaves"] == o["qty"], "filled + leaves = qty: %r" % o)
            p = pos.setdefault(r["symbol"], {"qty": 0, "cost": Fraction(0), "pnl": Fraction(0),
                                             "closing_fills": 0})
            apply_fill(p, r["qty"] if r["side"] == BUY else -r["qty"], r["price"])
        elif t == ORDER_CANCELED:
            o = orders.get((r["symbol"], r["order_id"]))
            if check(o is not None, "OrderCanceled of an order never accepted: %r" % r):
                check(r["canceled_qty"] == o["leaves"], "canceled_qty is the open quantity: %r %r" % (r, o))
                check(o["coid"] == r["client_order_id"], "OrderCanceled carries the current client_order_id")
                check(o["open"], "OrderCanceled of an order already done: %r" % r)
                o["open"] = False
                o["leaves"] = 0
                o.update(state=CANCELED, reason=r["reason"], final_seq=r["report_seq"], canceled=r["canceled_qty"])
            if r["reason"] == 1:
                pending = self.cancel_pending.get((r["symbol"], r["order_id"]))
                if pending:
                    self.first_answer.discard(pending.pop(0))
        elif t == ORDER_REPLACED:
            o = orders.get((r["symbol"], r["order_id"]))
            if check(o is not None and o["open"], "OrderReplaced of an order not open: %r" % r):
                o.update(coid=r["client_order_id"], price=r["price"], qty=r["qty"], leaves=r["leaves_qty"],
                         replaced=True)
                check(r["leaves_qty"] == r["qty"] - o["filled"], "OrderReplaced leaves = qty - filled")


def apply_fill(p, signed, price):
    """Average-cost position keeping (section 8, Position): realized PnL on the
    closing part of a fill, at (price - average cost) x closed quantity. Kept
    exactly (Fraction) and, as "int_pnl", with an integer cost basis whose
    closed part is cost x closed / position rounded toward zero (the doc does
    not say how the gateway rounds; this is the reading the report compares)."""
    q = p["qty"]
    p.setdefault("int_cost", 0)
    p.setdefault("int_pnl", 0)
    if q == 0 or (q > 0) == (signed > 0):
        p["cost"] += Fraction(price) * abs(signed)
        p["int_cost"] += price * abs(signed)
        p["qty"] = q + signed
        return
    avg = p["cost"] / abs(q)
    closed = min(abs(signed), abs(q))
    p["closing_fills"] += 1
    part = abs(p["int_cost"]) * closed // abs(q)
    if q > 0:
        p["pnl"] += (price - avg) * closed
        p["int_pnl"] += price * closed - part
    else:
        p["pnl"] += (avg - price) * closed
        p["int_pnl"] += part - price * closed
    p["cost"] -= avg * closed
    p["int_cost"] -= part
    p["qty"] = q + signed
    rest = abs(signed) - closed
    if rest:
        p["cost"] = Fraction(price) * rest
        p["int_cost"] = price * rest


# ---------------------------------------------------------------- the driver


class Client:
    def __init__(self, addr, accounts, symbols, seed):
        self.addr = addr
        self.accounts = accounts
        self.symbols = symbols  # list of dicts id, tick, lot, ref
        self.rng = random.Random(seed)
        self.reports_delivered = 0
        self.answers = {}  # (account, request coid) -> list of answers
        self.busy = 0      # ReplayDone(ShardBusy) answers, each retried
        self.last_done = {}  # account -> the DoneOrder messages of its last all-symbols walk
        self.monitors = {}  # account -> a second session of the account (answers go only to the requester)
        self.monitor_msgs = {}  # account -> every message its monitor session received
        self.done_stats = {"listed": 0, "checked": 0, "pages": 0, "per_symbol": 0, "unknown_symbol": 0,
                           "requester_only": 0, "rate_limited": 0, "forged_cursor": 0, "forged_listed": 0,
                           "fractional_avg": 0, "replaced": 0,
                           "reasons": {}}

    def sessions(self):
        return [a.session for a in self.accounts]

    def pump(self, timeout=0.2):
        """One round: wait for input, read every session, dispatch."""
        retries = [r["retry_at"] for a in self.accounts for r in a.replay.values() if r.get("retry_at")]
        if retries:
            timeout = max(0, min(timeout, min(retries) - time.monotonic()))
        wait_any(self.sessions(), timeout)
        now = time.monotonic()
        for a in self.accounts:
            for stream, rep in a.replay.items():
                if rep.get("retry_at") and rep["retry_at"] <= now:
                    rep["retry_at"] = None
                    a.session.replay(stream, rep["after"])
            a.session.keepalive()
            for m in a.session.poll():
                self.dispatch(a, m)
        for account, mon in self.monitors.items():
            mon.keepalive()
            self.monitor_msgs[account] += mon.poll()

    def dispatch(self, a, m):
        t = m["type"]
        if t in REPORT_TYPES:
            before = a.delivered_count()
            a.on_report(m)
            self.reports_delivered += a.delivered_count() - before
            a.first_answer.discard(m.get("client_order_id"))
        elif t == REPLAY_STARTED:
            rep = a.replay.get(m["stream"])
            if check(rep is not None and rep.get("upto") is None,
                     "ReplayStarted for a stream not asked (or twice): %r" % m):
                rep["upto"] = m["upto"]
                check(m["upto"] >= rep["after"], "ReplayStarted upto %d below after %d" % (m["upto"], rep["after"]))
        elif t == REPLAY_DONE:
            rep = a.replay.get(m["stream"])
            if rep is None:
                self.answers.setdefault((a.account, "replay", m["stream"]), []).append(m)
                return
            if m["reject_reason"] == SHARD_BUSY and rep["upto"] is None:
                # 5.9: the session's core already runs 2 replays (of any session):
                # retry later, with a back-off.
                check(m["count"] == 0 and m["stream"] == rep["stream"], "ShardBusy answer: %r" % m)
                self.busy += 1
                rep["backoff"] = min(rep.get("backoff", 0.01) * 2, 0.5)
                rep["retry_at"] = time.monotonic() + rep["backoff"]
                return
            rep["done"] = True
            rep["answer"] = m
        else:
            self.answers.setdefault((a.account, m["client_order_id"]), []).append(m)

    def run_until(self, cond, what, timeout=60):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise SystemExit("FAIL timed out waiting for %s" % what)
            self.pump()

    def connect_all(self):
        for a in self.accounts:
            a.session = Session(self.addr, a.account, a.token)

    # ---- replay
    def ask_replay(self, a, stream, after):
        a.replay[stream] = {"stream": stream, "after": after, "upto": None, "next": after + 1, "count": 0,
                            "done": False}
        a.session.replay(stream, after)

    def check_replay_done(self, a, stream):
        rep = a.replay.pop(stream)
        m = rep["answer"]
        if m["reject_reason"] != 0:
            return m
        check(rep["upto"] is not None, "ReplayDone without ReplayStarted: %r" % m)
        check(m["last"] == rep["upto"], "ReplayDone.last %d = upto %d" % (m["last"], rep["upto"]))
        check(m["count"] == rep["upto"] - rep["after"] == rep["count"],
              "ReplayDone.count %d = upto - after = %d = reports received %d (stream %d)" %
              (m["count"], rep["upto"] - rep["after"], rep["count"], stream))
        return m

    def discover(self, a):
        """5.9 Asking: streams 0, 1, 2, ... from 0 until UnknownStream."""
        for stream in range(MAX_SHARDS + 1):
            self.ask_replay(a, stream, 0)
            self.run_until(lambda: a.replay[stream]["done"], "discovery of stream %d" % stream)
            m = a.replay[stream]["answer"]
            if m["reject_reason"] == UNKNOWN_STREAM:
                a.replay.pop(stream)
                check(m["last"] == 0 and m["count"] == 0 and m["stream"] == stream,
                      "UnknownStream answer: last 0, count 0: %r" % m)
                break
            check(m["reject_reason"] == 0, "replay of stream %d from 0 answered %r" % (stream, m))
            self.check_replay_done(a, stream)
            a.streams.append(stream)
        check(1 <= len(a.streams) <= MAX_SHARDS, "found %d streams" % len(a.streams))

    # ---- the flow
    def price(self, sym, side, aggressive):
        ticks = self.rng.randint(1, 8)
        if aggressive:
            return sym["ref"] + (10 if side == BUY else -10) * sym["tick"]
        return sym["ref"] + (-ticks if side == BUY else ticks) * sym["tick"]

    def step(self):
        """One seeded order-entry action by one account."""
        a = self.rng.choice(self.accounts)
        sym = self.rng.choice(self.symbols)
        action = self.rng.random()
        orders, _ = a.book()
        mine = [o for o in orders.values() if o["open"] and o["symbol"] == sym["id"]]
        coid = a.coid()
        if action < 0.5 or (action >= 0.8 and not mine):
            side = self.rng.choice([BUY, SELL])
            qty = sym["lot"] * self.rng.randint(1, 5)
            a.sent.append(coid)
            a.session.new_order(coid, sym["id"], side, self.price(sym, side, False), qty)
        elif action < 0.8:
            side = self.rng.choice([BUY, SELL])
            qty = sym["lot"] * self.rng.randint(1, 8)
            a.sent.append(coid)
            a.session.new_order(coid, sym["id"], side, self.price(sym, side, True), qty, tif=IOC)
        elif action < 0.9:
            o = self.rng.choice(mine)
            a.cancel_pending.setdefault((o["symbol"], o["order_id"]), []).append(coid)
            a.session.cancel(coid, o["order_id"], o["symbol"])
        else:
            o = self.rng.choice(mine)
            new_qty = o["filled"] + o["leaves"] + sym["lot"] * self.rng.choice([-1, 1])
            if new_qty <= o["filled"]:
                new_qty = o["filled"] + o["leaves"] + sym["lot"]
            a.session.replace(coid, o["order_id"], o["symbol"], o["price"], new_qty)
        a.first_answer.add(coid)
        return a

    def trade(self, n, in_flight=16):
        for _ in range(n):
            while sum(len(a.first_answer) for a in self.accounts) >= in_flight:
                self.pump()
            self.step()
            self.pump(0)

    def quiesce(self):
        """Waits until every request has its first answer, then uses one query per
        account and symbol as a barrier: its answer comes after every report the
        symbol's engine made for the account's earlier requests (5.1: answers on one
        symbol come back in request order; reports of one symbol in engine order)."""
        self.run_until(lambda: not any(a.first_answer for a in self.accounts), "first answers")
        for a in self.accounts:
            for sym in self.symbols:
                coid = a.coid()
                a.session.order_query(coid, 0, sym["id"])
                self.run_until(lambda: (a.account, coid) in self.answers, "barrier query")
                self.answers.pop((a.account, coid))

    # ---- queries
    def query_pages(self, a, kind):
        out = []
        place, cursor = 0, 0
        for _ in range(10_000):
            coid = a.coid()
            if kind == "open":
                a.session.open_orders(coid, 0, place, cursor)
            else:
                a.session.positions(coid, 0, place)
            key = (a.account, coid)
            self.run_until(lambda: key in self.answers and self.answers[key][-1]["type"] == QUERY_DONE,
                           "QueryDone")
            msgs = self.answers.pop(key)
            done = msgs[-1]
            page = msgs[:-1]
            check(done["reject_reason"] == 0, "%s query refused: %r" % (kind, done))
            check(done["count"] == len(page) <= 16, "QueryDone.count %d = %d answers, at most 16" %
                  (done["count"], len(page)))
            out += page
            if not done["more"]:
                check(done["next_cursor"] == 0 and done["next_cursor_place"] == 0, "cursor 0 when more is 0")
                return out
            place, cursor = done["next_cursor_place"], done["next_cursor"]
        raise SystemExit("FAIL %s query never ended" % kind)

    def check_queries(self, a):
        orders, pos = a.book()
        open_reports = {k: o for k, o in orders.items() if o["open"]}
        listed = self.query_pages(a, "open")
        got = {}
        for m in listed:
            check(m["state"] == 1 and m["reject_reason"] == 0, "OpenOrders answer is an open order: %r" % m)
            key = (m["symbol"], m["order_id"])
            check(key not in got, "order listed twice: %r" % m)
            got[key] = m
        check(set(got) == set(open_reports),
              "account %d open orders: queries %s, reports %s" %
              (a.account, sorted(set(got) - set(open_reports)), sorted(set(open_reports) - set(got))))
        for key in set(got) & set(open_reports):
            m, o = got[key], open_reports[key]
            check((m["order_client_order_id"], m["side"], m["price"], m["qty"], m["leaves_qty"], m["filled_qty"])
                  == (o["coid"], o["side"], o["price"], o["qty"], o["leaves"], o["filled"]),
                  "open order %r: query %r, reports %r" % (key, m, o))
        # OrderQuery by client order id: every open order, and sent orders of which
        # no report exists (not journaled before the crash) are not open.
        known_coids = {o["coid"] for o in orders.values()}
        asked = [(o["symbol"], o["coid"], o["order_id"]) for o in open_reports.values()][:20]
        lost = [c for c in a.sent if c not in known_coids and c not in {
            r["client_order_id"] for s in a.streams for r in a.delivered.get(s, {}).values()}]
        for sym in self.symbols:
            asked += [(sym["id"], c, 0) for c in lost[:10]]
        for symbol, order_coid, order_id in asked:
            coid = a.coid()
            a.session.order_query(coid, order_coid, symbol)
            self.run_until(lambda: (a.account, coid) in self.answers, "OrderQuery")
            m = self.answers.pop((a.account, coid))[0]
            if order_id:
                check(m["state"] == 1 and m["order_id"] == order_id and m["order_client_order_id"] == order_coid,
                      "OrderQuery(%d) finds order %d: %r" % (order_coid, order_id, m))
            else:
                check(m["state"] == 0 and m["order_id"] == 0, "OrderQuery of an order never reported: %r" % m)
        # Positions
        plist = self.query_pages(a, "positions")
        seen_syms = set()
        for m in plist:
            seen_syms.add(m["symbol"])
            p = pos.get(m["symbol"], {"qty": 0, "pnl": Fraction(0), "closing_fills": 0})
            opens = [o for o in open_reports.values() if o["symbol"] == m["symbol"]]
            check(m["position"] == p["qty"], "account %d symbol %d position %d, reports %d" %
                  (a.account, m["symbol"], m["position"], p["qty"]))
            check(m["open_orders"] == len(opens), "Position.open_orders %d, reports %d" %
                  (m["open_orders"], len(opens)))
            check(m["open_buy_qty"] == sum(o["leaves"] for o in opens if o["side"] == BUY) and
                  m["open_sell_qty"] == sum(o["leaves"] for o in opens if o["side"] == SELL),
                  "Position open quantities %r" % m)
            pnl = m["realized_pnl_hi"] * 2 ** 64 + m["realized_pnl_lo"]
            # The doc does not say how a fractional average cost is rounded: allow
            # less than one unit per closing fill.
            PNL_STATS["exact" if pnl == p["pnl"] else "rounded"] += 1
            PNL_STATS["integer_basis"] += pnl == p.get("int_pnl", 0)
            check(abs(pnl - p["pnl"]) <= max(p["closing_fills"], 1),
                  "account %d symbol %d realized PnL %d, reports %s" % (a.account, m["symbol"], pnl, p["pnl"]))
        check({s["id"] for s in self.symbols} <= seen_syms, "a Position for every traded symbol")
        return len(open_reports)

    # ---- done orders (5.8 DoneOrdersRequest, 8 DoneOrder)
    def done_pages(self, a, symbol, place=0, cursor=0):
        """Every page of a DoneOrdersRequest for symbol (0: all), cursor copied from
        QueryDone until more is 0. Returns (pages, request client_order_ids)."""
        pages, coids = [], []
        backoff = 0.1
        for _ in range(10_000):
            coid = a.coid()
            coids.append(coid)
            a.session.done_orders(coid, symbol, place, cursor)
            key = (a.account, coid)
            self.run_until(lambda: key in self.answers and self.answers[key][-1]["type"] == QUERY_DONE,
                           "QueryDone of a DoneOrdersRequest")
            msgs = self.answers.pop(key)
            done, page = msgs[-1], msgs[:-1]
            if done["reject_reason"] == RATE_LIMITED and not page:
                # 5.4: refused with RateLimited, no other effect: ask again later
                self.done_stats["rate_limited"] += 1
                t = time.monotonic() + backoff
                backoff = min(backoff * 2, 5.0)
                while time.monotonic() < t:
                    self.pump(0.05)
                continue
            check(done["reject_reason"] == 0, "DoneOrdersRequest(symbol %d) refused: %r" % (symbol, done))
            check(all(m["type"] == DONE_ORDER for m in page),
                  "a DoneOrdersRequest page holds DoneOrder messages only: %r" % page)
            check(done["count"] == len(page) <= 16, "DoneOrders QueryDone.count %d = %d DoneOrder, at most 16" %
                  (done["count"], len(page)))
            pages.append(page)
            self.done_stats["pages"] += 1
            if not done["more"]:
                check(done["next_cursor"] == 0 and done["next_cursor_place"] == 0,
                      "DoneOrders: cursor 0 when more is 0: %r" % done)
                return pages, coids
            place, cursor = done["next_cursor_place"], done["next_cursor"]
        raise SystemExit("FAIL DoneOrdersRequest(symbol %d) never ended" % symbol)

    def expected_done(self, a):
        """The account's done orders as its reports say, in the documented order
        (5.8 "Order"): symbols grouped by engine (shard order = stream number),
        each engine's symbols in configuration order (the order of --symbol), and
        within a symbol latest final report first. Also whether the window can
        hold them all."""
        orders, _ = a.book()
        config_rank = {sym["id"]: i for i, sym in enumerate(self.symbols)}
        sym_stream = {o["symbol"]: o["stream"] for o in orders.values()}
        done = [o for o in orders.values() if not o["open"]]
        done.sort(key=lambda o: (sym_stream[o["symbol"]], config_rank.get(o["symbol"], 1 << 32), o["symbol"],
                                 -o["final_seq"]))
        # The window is per engine, all accounts together: the client knows its own
        # accounts' done orders only, so every one can be expected only while the
        # client's accounts together have no more than the window on that engine.
        per_engine = {}
        for acc in self.accounts:
            for o in acc.orders.values():
                if not o["open"]:
                    per_engine[o["stream"]] = per_engine.get(o["stream"], 0) + 1
        fits = all(n <= DONE_WINDOW for n in per_engine.values())
        return done, sym_stream, fits

    @staticmethod
    def done_fields(o):
        """What DoneOrder must say about an order, from its reports (section 8
        DoneOrder, 5.8): average_price is notional / filled_qty rounded down, 0 if
        nothing traded; qty is filled plus canceled; the client order id the one
        it had when it became done."""
        avg = o["notional"] // o["filled"] if o["filled"] else 0
        return {"order_id": o["order_id"], "order_client_order_id": o["coid"], "symbol": o["symbol"],
                "side": o["side"], "state": o["state"], "cancel_reason": o["reason"],
                "qty": o["filled"] + o["canceled"],
                "filled_qty": o["filled"], "average_price": avg,
                "notional_lo": o["notional"] & (2 ** 64 - 1), "notional_hi": o["notional"] >> 64}

    def compare_done(self, a, listed, expected, fits, what):
        """listed (DoneOrder messages) against expected (orders from the reports), in
        order. Returns how many listed orders matched in every field."""
        got = [(m["symbol"], m["order_id"]) for m in listed]
        check(len(set(got)) == len(got), "%s: an order listed twice: %r" %
              (what, sorted(k for k in got if got.count(k) > 1)[:5]))
        want = [(o["symbol"], o["order_id"]) for o in expected]
        orders = a.orders
        for m in listed:
            o = orders.get((m["symbol"], m["order_id"]))
            if not check(o is not None, "%s: account %d lists an order it never had a report of: %r" %
                         (what, a.account, m)):
                continue
            check(not o["open"], "%s: account %d lists an order its reports say is open: %r %r" %
                  (what, a.account, m, o))
        if fits:
            check(got == want, "%s: account %d done orders in the documented order\n  listed   %s\n  reports  %s%s" %
                  (what, a.account, got[:12], want[:12],
                   "" if set(got) != set(want) else "\n  (same orders, another order)"))
        else:
            # Past the window, the newest ones per symbol: a prefix of each symbol's list.
            for sym in {k[0] for k in want}:
                g = [k for k in got if k[0] == sym]
                w = [k for k in want if k[0] == sym]
                check(g == w[:len(g)], "%s: symbol %d lists the newest done orders" % (what, sym))
        matched = 0
        for m in listed:
            o = orders.get((m["symbol"], m["order_id"]))
            if o is None or o["open"]:
                continue
            exp = self.done_fields(o)
            have = {k: m[k] for k in exp}
            if check(have == exp, "%s: account %d DoneOrder differs from its reports:\n  listed  %r\n  reports %r"
                     % (what, a.account, have, exp)):
                matched += 1
                if what.endswith("(all symbols)"):
                    st = self.done_stats
                    st["fractional_avg"] += bool(o["filled"]) and o["notional"] % o["filled"] != 0
                    st["replaced"] += o.get("replaced", False)
                    name = "filled" if o["state"] == FILLED else "canceled(%d)" % o["reason"]
                    st["reasons"][name] = st["reasons"].get(name, 0) + 1
        return matched

    def check_done(self, a, monitor=False):
        """5.8 DoneOrdersRequest against the reports: all symbols through every page,
        then per symbol, the refusal of a symbol no engine owns, and (monitor) that
        the answers reach only the requesting session."""
        expected, sym_stream, fits = self.expected_done(a)
        if monitor and a.account not in self.monitors:
            try:
                self.monitors[a.account] = Session(self.addr, a.account, a.token)
                self.monitor_msgs[a.account] = []
            except SystemExit as e:
                print("note: no second session for account %d (%s): answers-to-requester check skipped" %
                      (a.account, e), flush=True)
        pages, coids = self.done_pages(a, 0)
        for page in pages:
            engines = {sym_stream.get(m["symbol"]) for m in page}
            check(len(engines) <= 1, "5.8: a symbol-0 page is one engine's: %r" %
                  [(m["symbol"], m["order_id"]) for m in page])
        listed = [m for page in pages for m in page]
        self.last_done[a.account] = listed
        self.done_stats["listed"] += len(listed)
        self.done_stats["checked"] += self.compare_done(a, listed, expected, fits, "DoneOrders(all symbols)")
        for sym in self.symbols:
            sym_pages, more = self.done_pages(a, sym["id"])
            coids += more
            got = [m for page in sym_pages for m in page]
            check(all(m["symbol"] == sym["id"] for m in got), "DoneOrders(symbol %d) lists only that symbol" %
                  sym["id"])
            self.compare_done(a, got, [o for o in expected if o["symbol"] == sym["id"]], fits,
                              "DoneOrders(symbol %d)" % sym["id"])
            self.done_stats["per_symbol"] += len(got)
        # 5.8: "a cursor not made by the gateway gets an empty last page or another
        # part of the list, never another account's orders": every order listed
        # from a made-up cursor is one of the account's done orders, as reported.
        for place, cursor in ((0, 12345), (1, 1), (7, 1 << 63), (0xFFFFFFFF, 2 ** 64 - 1)):
            forged, more = self.done_pages(a, 0, place, cursor)
            coids += more
            got = [m for page in forged for m in page]
            before = len(FAILURES)
            self.compare_done(a, got, [], False, "DoneOrders(cursor place %d, cursor %d not made by the gateway)"
                              % (place, cursor))
            self.done_stats["forged_cursor"] += len(FAILURES) == before
            self.done_stats["forged_listed"] += len(got)
        # 5.6: a symbol id no engine owns: QueryDone with reject_reason UnknownSymbol
        # (section 8 QueryDone: count 0, more 0; cursors 0 when more is 0)
        known = {sym["id"] for sym in self.symbols}
        for bad in (0xFFFFFFFF, max(known) + 1000):
            coid = a.coid()
            coids.append(coid)
            a.session.done_orders(coid, bad, 0, 0)
            key = (a.account, coid)
            self.run_until(lambda: key in self.answers and self.answers[key][-1]["type"] == QUERY_DONE,
                           "QueryDone of a DoneOrdersRequest for an unknown symbol")
            msgs = self.answers.pop(key)
            m = msgs[-1]
            if check(len(msgs) == 1 and (m["reject_reason"], m["count"], m["more"], m["next_cursor"],
                                         m["next_cursor_place"]) == (UNKNOWN_SYMBOL, 0, 0, 0, 0),
                     "DoneOrdersRequest(symbol %d): QueryDone(UnknownSymbol, count 0, more 0) alone, got %r" %
                     (bad, msgs)):
                self.done_stats["unknown_symbol"] += 1
        # 5.8: "answers reach only the requester": the account's other session got
        # none of them. Its own query per symbol is a barrier: that engine made it
        # after the requester's pages, and anything the engine had sent this
        # session before would have arrived first.
        mon = self.monitors.get(a.account)
        if mon is not None:
            for sym in self.symbols:
                bcoid = a.account * 1_000_000_000 + 900_000_000 + len(self.monitor_msgs[a.account])
                mon.order_query(bcoid, 0, sym["id"])
                self.run_until(lambda: any(m["type"] == ORDER_STATUS and m["client_order_id"] == bcoid
                                           for m in self.monitor_msgs[a.account]), "the monitor's barrier")
            mine = set(coids)
            leaked = [m for m in self.monitor_msgs[a.account]
                      if m["type"] in (DONE_ORDER, QUERY_DONE) or m.get("client_order_id") in mine]
            if check(not leaked, "answers to account %d's DoneOrdersRequest reached its other session: %r" %
                     (a.account, leaked[:3])):
                self.done_stats["requester_only"] += 1
        return len(listed)

    # ---- the documented refusals and the up-to-date answer (5.9 table)
    def check_refusals(self, a):
        for s in a.streams:
            cur = a.last.get(s, 0)
            self.ask_replay(a, s, cur)
            self.run_until(lambda: a.replay[s]["done"], "up-to-date replay")
            rep = a.replay[s]
            m = self.check_replay_done(a, s)
            check(m["reject_reason"] == 0 and rep["upto"] == cur and m["last"] == cur and m["count"] == 0,
                  "up to date: ReplayStarted(upto %d) then ReplayDone(last %d, count 0): %r" % (cur, cur, m))
            beyond = cur + 1_000_000
            self.ask_replay(a, s, beyond)
            self.run_until(lambda: a.replay[s]["done"], "beyond-end replay")
            rep = a.replay.pop(s)
            m = rep["answer"]
            check(rep["upto"] is None, "no ReplayStarted before ReplayBeyondEnd")
            check((m["stream"], m["reject_reason"], m["last"], m["count"]) == (s, REPLAY_BEYOND_END, cur, 0),
                  "beyond the end: ReplayDone(stream %d, ReplayBeyondEnd, last %d, count 0), got %r" % (s, cur, m))
        for bad in (len(a.streams), MAX_SHARDS, 0xFFFFFFFF):
            self.ask_replay(a, bad, 0)
            self.run_until(lambda: a.replay[bad]["done"], "unknown-stream replay")
            rep = a.replay.pop(bad)
            m = rep["answer"]
            check(rep["upto"] is None, "no ReplayStarted before UnknownStream")
            check((m["stream"], m["reject_reason"], m["last"], m["count"]) == (bad, UNKNOWN_STREAM, 0, 0),
                  "unknown stream %d: ReplayDone(UnknownStream, last 0, count 0), got %r" % (bad, m))
        check(not a.unnumbered, "no unnumbered report (refusal) in this flow: %r" % a.unnumbered[:3])


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["trade", "resume"])
    p.add_argument("--addr", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--account", action="append", default=[], help="ID:TOKEN (two)")
    p.add_argument("--symbol", action="append", default=[], help="ID:TICK:LOT:REFERENCE (two)")
    p.add_argument("--orders", type=int, default=300, help="orders of the flow before the crash point")
    p.add_argument("--kill-point", type=int, default=0,
                   help="print KILL-POINT after this many reports, then trade until the gateway is gone")
    p.add_argument("--exit-after", type=int, default=0,
                   help="exit abruptly (no Logout, requests in flight) after this many reports")
    p.add_argument("--unread", type=int, default=0,
                   help="end with this many orders whose reports are never read, then exit abruptly")
    p.add_argument("--live", type=int, default=40, help="orders traded live during the resume's replay")
    args = p.parse_args(argv)
    if not args.account:
        args.account = ["1:alice-demo-token", "2:bob-demo-token"]
    if not args.symbol:
        args.symbol = ["1:1:1:5000000", "2:5:10:300000"]
    args.accounts = [(int(x.split(":", 1)[0]), x.split(":", 1)[1]) for x in args.account]
    args.symbols = [dict(zip(["id", "tick", "lot", "ref"], map(int, x.split(":")))) for x in args.symbol]
    return args


def write_state(path, client, extra):
    state = {"accounts": [a.to_json() for a in client.accounts], **extra}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def phase_trade(args):
    client = Client(args.addr, [Account(i, t) for i, t in args.accounts], args.symbols, args.seed)
    client.connect_all()
    for a in client.accounts:
        client.discover(a)
    if args.exit_after:
        # Trade with up to 32 requests unanswered; once this many reports were
        # delivered, write the state and exit at once: no Logout, requests in
        # flight, their answers (if the gateway processed them) never read.
        while client.reports_delivered < args.exit_after:
            while sum(len(a.first_answer) for a in client.accounts) >= 32:
                client.pump()
            client.step()
            client.pump(0)
        for _ in range(8):
            client.step()
        in_flight = sum(len(a.first_answer) for a in client.accounts)
        write_state(args.state, client, {"phase": "exited"})
        print("trade: exit without logout, reports=%d in_flight=%d" % (client.reports_delivered, in_flight),
              flush=True)
        os._exit(1 if FAILURES else 0)
    if args.kill_point:
        printed = False
        snapshot = {}
        try:
            for _ in range(args.orders + 1_000_000):
                while sum(len(a.first_answer) for a in client.accounts) >= 32:
                    client.pump()
                client.step()
                client.pump(0)
                if not printed and client.reports_delivered >= args.kill_point:
                    # Before the kill: the done orders as the gateway lists them
                    # now (checked against the reports); after the restart each
                    # must be listed the same (5.8: the window is rebuilt from
                    # the journal). Then trading goes on until the kill.
                    client.quiesce()
                    for a in client.accounts:
                        client.check_done(a)
                    snapshot = {str(a.account): client.last_done[a.account] for a in client.accounts}
                    print("KILL-POINT reports=%d done=%d" % (client.reports_delivered,
                                                            sum(map(len, snapshot.values()))), flush=True)
                    printed = True
            raise SystemExit("FAIL the gateway was not killed")
        except GatewayGone as e:
            check(printed, "gateway gone only after KILL-POINT (%s)" % e)
        in_flight = sum(len(a.first_answer) for a in client.accounts)
        write_state(args.state, client, {"phase": "killed", "done_before_kill": snapshot})
        print("trade: gateway gone, reports=%d in_flight=%d" % (client.reports_delivered, in_flight), flush=True)
        sys.stdout.flush()
        os._exit(1 if FAILURES else 0)
    # --unread K
    client.trade(args.orders)
    client.quiesce()
    # A clean book for the last step: both accounts cancel everything.
    for a in client.accounts:
        coid = a.coid()
        a.session.mass_cancel(coid, 0)
        client.run_until(lambda: (a.account, coid) in client.answers, "MassCancelDone")
        check(client.answers.pop((a.account, coid))[0]["reject_reason"] == 0, "mass cancel done")
    client.quiesce()
    # Every order is done now (filled, IOC remainders, cancels, the mass cancel):
    # the done orders of both accounts against their reports.
    for a in client.accounts:
        client.check_done(a)
    d = client.done_stats
    print("trade: done orders listed=%d checked=%d" % (d["listed"], d["checked"]), flush=True)
    blind, witness = client.accounts
    sym = client.symbols[0]
    k = max(args.unread, 1)
    lot = sym["lot"]
    wcoid = witness.coid()
    witness.sent.append(wcoid)
    witness.session.new_order(wcoid, sym["id"], SELL, sym["ref"], k * lot)
    witness.first_answer.add(wcoid)
    client.run_until(lambda: not witness.first_answer, "the witness's resting order")
    write_state(args.state, client, {"phase": "unread"})
    blind_before = blind.delivered_count()
    for _ in range(k):
        c = blind.coid()
        blind.sent.append(c)
        blind.session.new_order(c, sym["id"], BUY, sym["ref"], lot, tif=IOC)
    blind_state = blind.to_json()

    def witness_filled():
        wait_any([witness.session], 0.2)
        witness.session.keepalive()
        for m in witness.session.poll():
            client.dispatch(witness, m)
        orders, _ = witness.book()
        return any(o["coid"] == wcoid and not o["open"] and o["filled"] == k * lot for o in orders.values())

    deadline = time.monotonic() + 60
    while not witness_filled():
        if time.monotonic() > deadline:
            raise SystemExit("FAIL the witness's order was not filled")
    check(blind.delivered_count() == blind_before, "the blind session read nothing")
    state = {"accounts": [blind_state, witness.to_json()], "phase": "unread"}
    with open(args.state, "w") as f:
        json.dump(state, f)
    print("trade: %d orders sent and never read on account %d, reports seen %d" %
          (k, blind.account, client.reports_delivered), flush=True)
    os._exit(1 if FAILURES else 0)  # abrupt: no Logout, unread reports in the socket


def phase_resume(args):
    with open(args.state) as f:
        state = json.load(f)
    accounts = [Account.from_json(j) for j in state["accounts"]]
    client = Client(args.addr, accounts, args.symbols, args.seed + 1000)
    client.connect_all()
    # Ask every stream after its cursor at once, and trade live meanwhile.
    for a in accounts:
        for s in a.streams:
            client.ask_replay(a, s, a.last.get(s, 0))
    client.trade(args.live, in_flight=8)
    client.run_until(lambda: all(r["done"] for a in accounts for r in a.replay.values()), "ReplayDone",
                     timeout=120)
    streams = replayed = 0
    for a in accounts:
        for s in list(a.replay):
            m = client.check_replay_done(a, s)
            check(m["reject_reason"] == 0, "replay of account %d stream %d answered %r" % (a.account, s, m))
            streams += 1
            replayed += m["count"]
    client.quiesce()
    # Every report seen before, still delivered and equal.
    for a in accounts:
        for s in a.streams:
            for n, r in a.seen_before.get(s, {}).items():
                check(same_report(a.delivered[s][n], r), "report %d of stream %d kept" % (n, s))
    gaps = sum(a.gaps() for a in accounts)
    dups = sum(a.duplicates_delivered for a in accounts)
    check(gaps == 0, "no gap: %d" % gaps)
    check(dups == 0, "no duplicate delivered: %d" % dups)
    open_orders = 0
    for a in accounts:
        # checked one account at a time, the other idle (the queries' answers then
        # follow every report made before them)
        open_orders += client.check_queries(a)
    # Done orders (5.8), each account in turn with the other idle; the first
    # one with a second session of its account that must receive none of the
    # answers. After a kill -9 and restart the window is rebuilt from the
    # journal (5.8 "The window"), so it must still equal what the reports say.
    for i, a in enumerate(accounts):
        client.check_done(a, monitor=(i == 0))
    # After a kill -9: every done order listed before the kill is listed the
    # same now (the restarted gateway rebuilt the window from its journal).
    kept = 0
    for a in accounts:
        now = {(m["symbol"], m["order_id"]): m for m in client.last_done.get(a.account, [])}
        for m in state.get("done_before_kill", {}).get(str(a.account), []):
            n = now.get((m["symbol"], m["order_id"]))
            strip = lambda d: {k: v for k, v in d.items() if k != "client_order_id"}  # noqa: E731
            if check(n is not None and strip(n) == strip(m),
                     "done order listed before the kill -9 listed the same after the restart:\n  before %r\n"
                     "  after  %r" % (m, n)):
                kept += 1
    client.done_stats["kept_after_restart"] = kept
    for a in accounts:
        client.check_refusals(a)
    # Cancel-on-disconnect (5.3): a second session of the first account logs on
    # with flag bit 0 and logs out; every resting order of the account is
    # canceled with reason Disconnect, its reports reach the trading session,
    # and the done orders list those orders too (latest first).
    a = accounts[0]
    was_open = [k for k, o in a.orders.items() if o["open"]]
    cod = Session(args.addr, a.account, a.token, flags=1)
    cod.logout()
    try:
        while True:
            client.pump()
            cod.keepalive()
            cod.poll()
    except GatewayGone as e:
        check("'reason': 1," in str(e), "the cancel-on-disconnect session ended by its Logout: %s" % e)
    client.run_until(lambda: not any(a.orders[k]["open"] for k in was_open), "the Disconnect cancels", timeout=30)
    check(all(a.orders[k]["state"] == CANCELED and a.orders[k]["reason"] == 7 for k in was_open),
          "cancel-on-disconnect canceled every open order with reason Disconnect (7)")
    client.quiesce()
    client.check_done(a)
    client.done_stats["disconnect_canceled"] = len(was_open)
    live = sum(a.live for a in accounts)
    new = sum(a.replayed_new for a in accounts)
    for a in accounts:
        a.session.logout()
    for mon in client.monitors.values():
        mon.logout()
    d = client.done_stats
    print("done: listed=%d checked=%d pages=%d per_symbol=%d unknown_symbol=%d requester_only=%d "
          "forged_cursor=%d disconnect_canceled=%d kept_after_restart=%d rate_limited=%d" %
          (d["listed"], d["checked"], d["pages"], d["per_symbol"], d["unknown_symbol"], d["requester_only"],
           d["forged_cursor"], d.get("disconnect_canceled", 0), d["kept_after_restart"], d["rate_limited"]),
          flush=True)
    print("done orders by final state (every all-symbols walk): %s; %d with a fractional average price, "
          "%d replaced before done; %d listed from cursors not made by the gateway, all the account's own" %
          (", ".join("%s %d" % kv for kv in sorted(d["reasons"].items())), d["fractional_avg"], d["replaced"],
           d["forged_listed"]))
    print("open orders %d, positions checked, reports held %d" %
          (open_orders, sum(a.delivered_count() for a in accounts)))
    print("realized PnL: %d positions equal to the exact average-cost value, %d within rounding; "
          "%d equal to an integer cost basis rounded toward zero" %
          (PNL_STATS["exact"], PNL_STATS["rounded"], PNL_STATS["integer_basis"]))
    print("replay requests refused with ShardBusy and retried: %d" % client.busy)
    print("missed: %d replayed reports were never seen live" % new)
    if FAILURES:
        print("%d checks failed" % len(FAILURES))
        return 1
    print("replay: streams=%d replayed=%d live=%d gaps=%d duplicates=%d" % (streams, replayed, live, gaps, dups),
          flush=True)
    return 0


def main(argv):
    args = parse_args(argv)
    if args.phase == "trade":
        return phase_trade(args)
    try:
        return phase_resume(args)
    except GatewayGone as e:
        print("FAIL gateway gone during resume: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
