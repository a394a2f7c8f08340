#!/usr/bin/env python3
"""Conformance checks of a tradsys gateway against docs/PROTOCOL.md.

Run against a gateway on its embedded default config (`tradsys serve`)
that nothing else trades on: the checks expect exactly the reports their
own orders make, on the demo accounts (a bot such as the market-maker
example, on the same accounts, makes them fail):

    python3 tests/python/conformance.py --addr 127.0.0.1:7001

Prints one line per check (`ok ...` / `FAIL ...`), then `N passed, M failed`;
exits non-zero on any failure. Every wait is bounded (<= 5 s; 30 s for
the first report of a replay, which section 5.9 says comes after the
gateway has re-read its journal with an engine of its own).

What it assumes from the default config (configs/tradsys.toml), not from the
protocol: accounts 1 alice / alice-demo-token and 2 bob / bob-demo-token
(traders), 3 viewer / viewer-demo-token (viewer); symbol 1 tick 1 lot 1
reference 5000000 band 10%; symbol 2 tick 5 lot 10; symbol 3 lot 100
reference 15000; heartbeat default 1000 ms, range 100..30000 ms. For the
account queries (section 5.8, `queries()`, written from the doc alone by a
writer who never read the Rust side): account 9 / ops-demo-token (trader on
this protocol), symbols 1-3 and no others (section 5.6), ETH-USD reference
300000 band 10%, risk limits that let account 9 hold 20 open orders on one
symbol and trade 40 ETH, and a session rate-limit burst of 2000 (the
protocol doc gives neither the demo's risk limits nor its rate limit).
Done orders (section 5.8, in `queries()`): the account's ETH orders the
client saw become done are the newest of the engine's window of 4,096.
Replay on logon (section 5.9, `replay()`): a gateway has at most 64 shards,
numbered from 0, so stream 64 is no matching engine's on any gateway.
"""

import argparse
import os
import sys
import threading
import time
import traceback
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tradsys_client as t  # noqa: E402
from tradsys_client import MsgType as M  # noqa: E402

ALICE = (1, "alice-demo-token")
BOB = (2, "bob-demo-token")
VIEWER = (3, "viewer-demo-token")
OPS = (9, "ops-demo-token")
SYM = 1
REF = 5000000
# Per-run offset so repeated runs against one gateway use distinct prices and
# client ids (resting orders of earlier runs are mass-canceled first anyway).
RUN = int(time.time()) % 1000

PASSED = 0
FAILED = 0


def check(cond, what, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok   %s" % what)
    else:
        FAILED += 1
        print("FAIL %s%s" % (what, (": " + detail) if detail else ""))
    sys.stdout.flush()
    return cond


def eq(got, want, what):
    return check(got == want, what, "got %r, want %r" % (got, want))


def fields_eq(msg, what, **want):
    bad = {k: (getattr(msg, k, None), v) for k, v in want.items()
           if getattr(msg, k, None) != v}
    return check(not bad, what, "%r; mismatched (got, want): %r" % (msg, bad))


def expect(sess, msg_type, what, timeout=5.0):
    """Next non-heartbeat message must be of msg_type."""
    try:
        msg = sess.recv(timeout=timeout)
    except (t.Timeout, t.Closed, t.ProtocolError) as e:
        check(False, what, "%s: %s" % (type(e).__name__, e))
        return None
    name = t.GATEWAY_MESSAGES[msg_type][0]
    if not check(msg.msg_type == msg_type, what, "got %r, want %s" % (msg, name)):
        return None
    return msg


def expect_quiet(sess, what, quiet=0.3):
    extra = sess.drain(quiet)
    return check(not extra, what, "unexpected %r" % extra)


class Parties:
    def __init__(self, host, port):
        self.host, self.port = host, port

    def connect(self):
        return t.Session.connect(self.host, self.port, timeout=5.0)


def cleanup(s, coid):
    """Cancel every resting order of the account (leftovers of earlier runs)."""
    s.mass_cancel(coid, 0)
    done, _ = s.recv_until(lambda m: m.msg_type == M.MASS_CANCEL_DONE)
    return done


def run(host, port):
    P = Parties(host, port)
    coid = 100000 * RUN
    px = REF - 1000 - RUN * 10  # a sell price below the reference, inside band

    def nid():
        nonlocal coid
        coid += 1
        return coid

    # ---- logon ----------------------------------------------------------
    alice = P.connect()
    acc = alice.logon(*ALICE)
    fields_eq(acc, "logon alice: LogonAccepted seq 1, account 1, next_expected_seq 2",
              msg_type=M.LOGON_ACCEPTED, seq=1, account=1, next_expected_seq=2)
    eq(acc.heartbeat_interval_ms, 1000, "logon alice: heartbeat 0 -> gateway default 1000 ms")
    bob = P.connect()
    acc = bob.logon(*BOB, heartbeat_interval_ms=2000)
    fields_eq(acc, "logon bob: LogonAccepted seq 1, account 2, next_expected_seq 2",
              msg_type=M.LOGON_ACCEPTED, seq=1, account=2, next_expected_seq=2)
    eq(acc.heartbeat_interval_ms, 2000, "logon bob: requested 2000 ms granted as is")

    d = cleanup(alice, nid())
    fields_eq(d, "cleanup: alice MassCancel(all) done", reject_reason=0, symbol=0)
    d = cleanup(bob, nid())
    fields_eq(d, "cleanup: bob MassCancel(all) done", reject_reason=0, symbol=0)

    # ---- resting sell, crossing buy ---------------------------------------
    a1 = nid()
    alice.new_order(a1, SYM, t.Side.SELL, qty=5, price=px)
    acc1 = expect(alice, M.ORDER_ACCEPTED, "alice sell 5 @ px: OrderAccepted")
    if acc1:
        fields_eq(acc1, "alice sell: OrderAccepted echoes the order",
                  client_order_id=a1, symbol=SYM, side=t.Side.SELL,
                  order_kind=t.OrderKind.LIMIT, tif=t.Tif.GTC, price=px, qty=5)
        check(acc1.order_id != 0, "alice sell: order_id assigned (non-zero)")
        check(acc1.timestamp_ns > 1_600_000_000 * 10**9, "alice sell: timestamp_ns is epoch ns")
    expect_quiet(alice, "alice sell rests: nothing more for alice")
    a1_id = acc1.order_id if acc1 else 0

    b1 = nid()
    bob.new_order(b1, SYM, t.Side.BUY, qty=3, price=px + 50)
    bacc = expect(bob, M.ORDER_ACCEPTED, "bob buy 3 @ px+50 (crossing): OrderAccepted")
    if bacc:
        fields_eq(bacc, "bob buy: OrderAccepted echoes the order",
                  client_order_id=b1, side=t.Side.BUY, price=px + 50, qty=3)
    bfill = expect(bob, M.FILL, "bob buy: Fill")
    afill = expect(alice, M.FILL, "alice sell: Fill")
    if bfill and bacc:
        fields_eq(bfill, "bob fill: aggressor, trade at resting price, qty 3, leaves 0",
                  order_id=bacc.order_id, client_order_id=b1, symbol=SYM,
                  side=t.Side.BUY, liquidity=t.Liquidity.AGGRESSOR, price=px, qty=3,
                  leaves_qty=0)
    if afill:
        fields_eq(afill, "alice fill: passive, trade at resting price, qty 3, leaves 2",
                  order_id=a1_id, client_order_id=a1, symbol=SYM, side=t.Side.SELL,
                  liquidity=t.Liquidity.PASSIVE, price=px, qty=3, leaves_qty=2)
    if afill and bfill:
        eq(afill.exec_id, bfill.exec_id, "both fills of the trade share exec_id")
        check(afill.exec_id != 0, "exec_id non-zero")
    expect_quiet(bob, "bob buy fully filled: no OrderCanceled after the Fill")

    # ---- replace: qty down keeps priority --------------------------------
    a2 = nid()
    alice.new_order(a2, SYM, t.Side.SELL, qty=1, price=px)  # behind a1 at px
    acc2 = expect(alice, M.ORDER_ACCEPTED, "alice second sell 1 @ px: OrderAccepted")
    a2_id = acc2.order_id if acc2 else 0
    if acc2:
        check(a2_id != a1_id, "order ids distinct")

    a1r = nid()
    alice.replace(a1r, a1_id, SYM, new_price=px, new_qty=4)  # total 5 -> 4, filled 3
    rep = expect(alice, M.ORDER_REPLACED, "replace qty 5 -> 4 same price: OrderReplaced")
    if rep:
        fields_eq(rep, "replace qty down: kept_priority 1, leaves = new_qty - filled",
                  order_id=a1_id, client_order_id=a1r, symbol=SYM, kept_priority=1,
                  price=px, qty=4, leaves_qty=1)
    expect_quiet(alice, "replace qty down: nothing after OrderReplaced")

    b2 = nid()
    bob.new_order(b2, SYM, t.Side.BUY, qty=1, price=px)
    expect(bob, M.ORDER_ACCEPTED, "bob buy 1 @ px: OrderAccepted")
    bf2 = expect(bob, M.FILL, "bob buy 1: Fill")
    af2 = expect(alice, M.FILL, "alice: Fill for bob's buy 1")
    if af2:
        fields_eq(af2, "kept priority: the replaced order (not the newer one) traded, "
                       "with its new client_order_id, leaves 0",
                  order_id=a1_id, client_order_id=a1r, qty=1, leaves_qty=0,
                  liquidity=t.Liquidity.PASSIVE)
    if af2 and bf2:
        eq(af2.exec_id, bf2.exec_id, "second trade: fills share exec_id")
        if afill:
            check(af2.exec_id != afill.exec_id, "second trade: new exec_id")

    # replace with a price change loses priority (kept_priority 0)
    a2r = nid()
    alice.replace(a2r, a2_id, SYM, new_price=px + 10, new_qty=1)
    rep2 = expect(alice, M.ORDER_REPLACED, "replace price change: OrderReplaced")
    if rep2:
        fields_eq(rep2, "replace price change: kept_priority 0",
                  order_id=a2_id, client_order_id=a2r, kept_priority=0, price=px + 10,
                  qty=1, leaves_qty=1)

    # ---- cancel -----------------------------------------------------------
    alice.cancel(nid(), a2_id, SYM)
    can = expect(alice, M.ORDER_CANCELED, "cancel: OrderCanceled")
    if can:
        fields_eq(can, "cancel: reason Requested, canceled_qty 1, order's current coid",
                  order_id=a2_id, client_order_id=a2r, symbol=SYM,
                  reason=t.CancelReason.Requested, canceled_qty=1)
    c = nid()
    alice.cancel(c, a2_id, SYM)
    rej = expect(alice, M.CANCEL_REJECTED, "cancel of a canceled order: CancelRejected")
    if rej:
        fields_eq(rej, "cancel of a done order: UnknownOrder (100), echoes request",
                  order_id=a2_id, client_order_id=c, symbol=SYM,
                  reason=t.RejectReason.UnknownOrder)

    # ---- rejects ----------------------------------------------------------
    c = nid()
    alice.new_order(c, SYM, t.Side.SELL, qty=0, price=px)
    rej = expect(alice, M.ORDER_REJECTED, "NewOrder qty 0: OrderRejected")
    if rej:
        fields_eq(rej, "qty 0: reason InvalidQty (5), echoes coid and symbol",
                  client_order_id=c, symbol=SYM, reason=t.RejectReason.InvalidQty)
    c = nid()
    alice.new_order(c, 2, t.Side.SELL, qty=10, price=300003)
    rej = expect(alice, M.ORDER_REJECTED, "symbol 2 price 300003 (tick 5): OrderRejected")
    if rej:
        eq(rej.reason, t.RejectReason.PriceNotOnTick, "price off tick: PriceNotOnTick (7)")
    c = nid()
    alice.new_order(c, 2, t.Side.SELL, qty=15, price=300000)
    rej = expect(alice, M.ORDER_REJECTED, "symbol 2 qty 15 (lot 10): OrderRejected")
    if rej:
        eq(rej.reason, t.RejectReason.QtyNotOnLot, "qty off lot: QtyNotOnLot (8)")
    c = nid()
    alice.new_order(c, 99, t.Side.SELL, qty=1, price=px)
    rej = expect(alice, M.ORDER_REJECTED, "symbol 99: OrderRejected")
    if rej:
        fields_eq(rej, "unknown symbol: UnknownSymbol (1)", client_order_id=c, symbol=99,
                  reason=t.RejectReason.UnknownSymbol)
    c = nid()
    alice.new_order(c, SYM, 3, qty=1, price=px)
    rej = expect(alice, M.ORDER_REJECTED, "side 3: OrderRejected")
    if rej:
        eq(rej.reason, t.RejectReason.InvalidSide, "side 3: InvalidSide (2)")
    c = nid()
    alice.new_order(c, SYM, t.Side.BUY, qty=1, price=0, order_kind=t.OrderKind.MARKET,
                    tif=t.Tif.GTC)
    rej = expect(alice, M.ORDER_REJECTED, "market GTC: OrderRejected")
    if rej:
        eq(rej.reason, t.RejectReason.InvalidCombination, "market GTC: InvalidCombination (9)")
    c = nid()
    alice.new_order(c, SYM, t.Side.BUY, qty=1, price=REF * 2)
    rej = expect(alice, M.ORDER_REJECTED, "price 2x reference: OrderRejected")
    if rej:
        eq(rej.reason, t.RejectReason.PriceBand, "outside band: PriceBand (204)")

    # IOC remainder canceled
    c = nid()
    alice.new_order(c, SYM, t.Side.SELL, qty=2, price=REF + 400000, tif=t.Tif.IOC)
    acc = expect(alice, M.ORDER_ACCEPTED, "IOC sell far from market: OrderAccepted")
    can = expect(alice, M.ORDER_CANCELED, "IOC: OrderCanceled for the remainder")
    if can and acc:
        fields_eq(can, "IOC: ImmediateRemainder (2), canceled_qty 2",
                  order_id=acc.order_id, client_order_id=c,
                  reason=t.CancelReason.ImmediateRemainder, canceled_qty=2)

    # ---- order status ------------------------------------------------------
    a3 = nid()
    alice.new_order(a3, SYM, t.Side.SELL, qty=7, price=px + 100)
    acc3 = expect(alice, M.ORDER_ACCEPTED, "alice sell 7 @ px+100: OrderAccepted")
    a3_id = acc3.order_id if acc3 else 0
    q = nid()
    alice.status(q, a3_id, SYM)
    st = expect(alice, M.ORDER_STATUS, "OrderStatusRequest (own resting order): OrderStatus")
    if st:
        fields_eq(st, "status: Open, price, qty, leaves, filled 0, side, current coid",
                  client_order_id=q, order_id=a3_id, order_client_order_id=a3,
                  symbol=SYM, side=t.Side.SELL, state=t.OrderState.OPEN,
                  reject_reason=0, price=px + 100, qty=7, leaves_qty=7, filled_qty=0)
    q = nid()
    bob.status(q, a3_id, SYM)
    st = expect(bob, M.ORDER_STATUS, "OrderStatusRequest (another account's order): OrderStatus")
    if st:
        fields_eq(st, "isolation: another account's order is state Unknown, all zero",
                  client_order_id=q, order_id=a3_id, symbol=SYM, state=0,
                  order_client_order_id=0, side=0, price=0, qty=0, leaves_qty=0,
                  filled_qty=0)
    c = nid()
    bob.cancel(c, a3_id, SYM)
    rej = expect(bob, M.CANCEL_REJECTED, "bob cancels alice's order: CancelRejected")
    if rej:
        eq(rej.reason, t.RejectReason.UnknownOrder, "isolation: UnknownOrder (100)")
    q = nid()
    alice.status(q, a1_id, SYM)
    st = expect(alice, M.ORDER_STATUS, "OrderStatusRequest (own filled order): OrderStatus")
    if st:
        check(st.state in (t.OrderState.UNKNOWN, t.OrderState.FILLED),
              "status of a filled order: Filled or Unknown (only resting retained)",
              repr(st))

    # ---- mass cancel --------------------------------------------------------
    a4 = nid()
    alice.new_order(a4, 3, t.Side.BUY, qty=100, price=15000 - RUN % 100 - 1)
    acc4 = expect(alice, M.ORDER_ACCEPTED, "alice buy 100 on symbol 3: OrderAccepted")
    mc = nid()
    alice.mass_cancel(mc, 0)
    cans = []
    done = None
    try:
        done, seen = alice.recv_until(lambda m: m.msg_type == M.MASS_CANCEL_DONE)
        cans = [m for m in seen if m.msg_type == M.ORDER_CANCELED]
        others = [m for m in seen if m.msg_type not in (M.ORDER_CANCELED, M.MASS_CANCEL_DONE)]
        check(not others, "mass cancel: only OrderCanceled then MassCancelDone", repr(others))
    except Exception as e:  # noqa: BLE001
        check(False, "mass cancel: MassCancelDone", "%s: %s" % (type(e).__name__, e))
    if done:
        fields_eq(done, "MassCancelDone: echoes coid, symbol 0, count 2, no reject",
                  client_order_id=mc, symbol=0, canceled_count=2, reject_reason=0)
    got = sorted((m.order_id, m.symbol, m.reason, m.canceled_qty) for m in cans)
    want = sorted([(a3_id, SYM, t.CancelReason.MassCancel, 7),
                   (acc4.order_id if acc4 else 0, 3, t.CancelReason.MassCancel, 100)])
    eq(got, want, "mass cancel: one OrderCanceled(MassCancel) per resting order")
    q = nid()
    alice.mass_cancel(q, 99)
    d = expect(alice, M.MASS_CANCEL_DONE, "MassCancel on unknown symbol 99: MassCancelDone")
    if d:
        # 5.5 gives MassCancel no validation step; 5.1 lists UnknownSymbol among the
        # gateway's own refusals. The doc never says which applies here.
        fields_eq(d, "MassCancel symbol 99: nothing canceled, reject UnknownSymbol (1)",
                  client_order_id=q, symbol=99, canceled_count=0,
                  reject_reason=t.RejectReason.UnknownSymbol)

    # ---- viewer role ---------------------------------------------------------
    viewer = P.connect()
    acc = viewer.logon(*VIEWER)
    if fields_eq(acc, "logon viewer: LogonAccepted", msg_type=M.LOGON_ACCEPTED, account=3):
        c = nid()
        viewer.new_order(c, SYM, t.Side.BUY, qty=1, price=px)
        rej = expect(viewer, M.ORDER_REJECTED, "viewer NewOrder: OrderRejected")
        if rej:
            eq(rej.reason, t.RejectReason.NotAuthorized, "viewer NewOrder: NotAuthorized (301)")
        viewer.logout()
        se = expect(viewer, M.SESSION_END, "viewer Logout: SessionEnd")
        viewer.wait_closed(2.0)
    viewer.close()

    # ---- heartbeat interval clamping -----------------------------------------
    s = P.connect()
    acc = s.logon(*BOB, heartbeat_interval_ms=50)
    if check(acc.msg_type == M.LOGON_ACCEPTED, "logon asking 50 ms heartbeat: accepted"):
        eq(acc.heartbeat_interval_ms, 100, "heartbeat 50 ms: clamped to the minimum 100 ms "
                                           "(section 5.1 step 4)")
        s.logout()
        s.wait_closed(2.0)
    s.close()

    # ---- logon failures and session-state errors -------------------------------
    s = P.connect()
    s.send(M.LOGON, account=1, token="wrong-token")
    r = expect(s, M.LOGON_REJECTED, "bad token: LogonRejected")
    if r:
        fields_eq(r, "bad token: InvalidCredentials (1), gateway seq 1", reason=1, seq=1)
    se = expect(s, M.SESSION_END, "bad token: then SessionEnd")
    if se:
        fields_eq(se, "bad token: SessionEnd(LogonRejected=10), seq 2",
                  reason=t.SessionEndReason.LogonRejected, seq=2)
    closed, extra = s.wait_closed(5.0)
    check(closed and not extra, "bad token: connection closed", repr(extra))
    s.close()

    s = P.connect()
    s.heartbeat()
    se = expect(s, M.SESSION_END, "first message not Logon: SessionEnd")
    if se:
        fields_eq(se, "first message not Logon: NotLoggedOn (7)",
                  reason=t.SessionEndReason.NotLoggedOn)
    closed, extra = s.wait_closed(5.0)
    check(closed, "not logged on: connection closed", repr(extra))
    s.close()

    s = P.connect()
    s.send_bytes(t.encode(M.LOGON, 1, version=1, account=1, token=ALICE[1]))
    se = expect(s, M.SESSION_END, "version 1 header: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.WrongVersion, "version 1: WrongVersion (5)")
    s.wait_closed(5.0)
    s.close()

    s = P.connect()
    s.send_bytes(t.encode_raw(8, M.NEW_ORDER, t.VERSION, 1))
    se = expect(s, M.SESSION_END, "NewOrder header with length 8: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.LengthMismatch, "length 8 NewOrder: LengthMismatch (6)")
    s.wait_closed(5.0)
    s.close()

    s = P.connect()
    s.send_bytes(t.encode_raw(8, 0x83, t.VERSION, 1))
    se = expect(s, M.SESSION_END, "gateway type 0x83 sent to gateway: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.UnknownMessageType, "0x83: UnknownMessageType (4)")
    s.wait_closed(5.0)
    s.close()

    s = P.connect()
    s.send_bytes(t.encode_raw(300, M.NEW_ORDER, t.VERSION, 1))
    se = expect(s, M.SESSION_END, "length 300: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.BadLength, "length 300: BadLength (3)")
    s.wait_closed(5.0)
    s.close()

    s = P.connect()
    s.send(M.LOGON, account=1, token=ALICE[1], flags=0x02)
    r = expect(s, M.LOGON_REJECTED, "Logon flags 0x02: LogonRejected")
    if r:
        eq(r.reason, t.LogonRejectReason.UnsupportedFlags, "Logon flags 0x02: UnsupportedFlags (2)")
    s.wait_closed(5.0)
    s.close()

    # ---- heartbeats and idle timeout (section 5.2) ----------------------------
    s = P.connect()
    acc = s.logon(*ALICE, heartbeat_interval_ms=100)
    eq(acc.heartbeat_interval_ms, 100, "logon asking 100 ms: granted 100 ms")
    s.heartbeat_s = None  # stay silent
    t0 = time.monotonic()
    closed, seen = s.wait_closed(5.0)
    took = time.monotonic() - t0
    hbs = [m for m in seen if m.msg_type == M.GW_HEARTBEAT]
    ends = [m for m in seen if m.msg_type == M.SESSION_END]
    check(len(hbs) >= 1, "silent client: gateway sends Heartbeat each interval", repr(seen))
    check(len(ends) == 1 and ends[0].reason == t.SessionEndReason.IdleTimeout and closed,
          "silent client: SessionEnd(IdleTimeout=2) then close", repr(seen))
    check(0.25 <= took <= 1.0, "idle timeout after about 3 intervals (0.3 s)", "%.2f s" % took)
    s.close()
    s = P.connect()
    acc = s.logon(*ALICE, heartbeat_interval_ms=100)
    s.heartbeat_s = 0.1  # our recv() heartbeats while waiting
    extra = s.drain(0.8)
    check(not s.closed and all(m.msg_type == M.GW_HEARTBEAT for m in extra),
          "client heartbeating every interval keeps the session up for 0.8 s", repr(extra))
    s.logout()
    se = expect(s, M.SESSION_END, "logout after heartbeating: SessionEnd(Logout)")
    s.close()

    # ---- cancel-on-disconnect (section 5.3) -------------------------------------
    mon = P.connect()
    mon.logon(*ALICE)
    tr = P.connect()
    acc = tr.logon(*ALICE, flags=0x01)
    check(acc.msg_type == M.LOGON_ACCEPTED, "alice logon with cancel-on-disconnect flag")
    c = nid()
    tr.new_order(c, SYM, t.Side.BUY, qty=2, price=REF - 200000)
    oa = expect(tr, M.ORDER_ACCEPTED, "COD session: buy rests")
    oa_mon = expect(mon, M.ORDER_ACCEPTED, "other session of the account also gets OrderAccepted")
    tr.sock.close()  # abrupt close, no Logout
    tr.closed = True
    can = expect(mon, M.ORDER_CANCELED, "COD session dropped: OrderCanceled to the other session")
    if can and oa:
        fields_eq(can, "COD: reason Disconnect (7), canceled_qty 2",
                  order_id=oa.order_id, client_order_id=c,
                  reason=t.CancelReason.Disconnect, canceled_qty=2)
    mon.logout()
    mon.wait_closed(2.0)
    mon.close()
    # alice's first session is logged on for the same account: it got both reports too
    seen = alice.drain(0.3)
    check([m.name for m in seen] == ["OrderAccepted", "OrderCanceled"]
          and oa is not None and all(m.order_id == oa.order_id for m in seen),
          "every session of the account got the COD order's OrderAccepted and OrderCanceled",
          repr(seen))

    # ---- duplicate logon ------------------------------------------------------
    s = P.connect()
    acc = s.logon(*ALICE)
    if acc.msg_type == M.LOGON_ACCEPTED:
        s.send(M.LOGON, account=1, token=ALICE[1])
        se = expect(s, M.SESSION_END, "second Logon: SessionEnd")
        if se:
            eq(se.reason, t.SessionEndReason.DuplicateLogon, "second Logon: DuplicateLogon (12)")
            eq(se.expected_seq, 3, "second Logon: SessionEnd.expected_seq = next client seq "
                                   "(section 8 0x8C: 'the client seq the gateway expected next')")
        s.wait_closed(5.0)
    s.close()

    # ---- sequence gap ------------------------------------------------------------
    a5 = nid()
    alice.new_order(a5, SYM, t.Side.SELL, qty=1, price=px + 200)
    acc5 = expect(alice, M.ORDER_ACCEPTED, "alice sell 1 before the gap: OrderAccepted")
    expected = t.next_seq(alice.send_seq)
    alice.heartbeat_s = None  # no automatic heartbeats on a dying session
    gap_seq = expected + 1
    alice.send(M.NEW_ORDER, seq=gap_seq, client_order_id=nid(), symbol=SYM,
               side=t.Side.SELL, order_kind=1, tif=1, price=px + 300, qty=1)
    se = expect(alice, M.SESSION_END, "seq gap: SessionEnd")
    if se:
        fields_eq(se, "seq gap: reason SequenceGap (8), expected_seq = skipped seq",
                  reason=t.SessionEndReason.SequenceGap, expected_seq=expected)
    closed, extra = alice.wait_closed(5.0)
    check(closed and not extra, "seq gap: gateway closes the connection", repr(extra))
    alice.close()
    # the gapped order must not have been processed; alice's cancel_on_disconnect
    # is off, so the order before the gap still rests
    alice2 = P.connect()
    acc = alice2.logon(*ALICE)
    check(acc.msg_type == M.LOGON_ACCEPTED, "alice reconnects: LogonAccepted (seq 1 again)")
    q = nid()
    alice2.status(q, acc5.order_id if acc5 else 0, SYM)
    st = expect(alice2, M.ORDER_STATUS, "after reconnect: OrderStatus of the pre-gap order")
    if st:
        fields_eq(st, "pre-gap order still Open (no cancel-on-disconnect for alice)",
                  state=t.OrderState.OPEN, leaves_qty=1)
    alice2.mass_cancel(nid(), 0)
    done, seen = alice2.recv_until(lambda m: m.msg_type == M.MASS_CANCEL_DONE)
    eq(done.canceled_count, 1, "after the gap: only the pre-gap order rested (gapped "
                               "order not processed)")

    # repeat (lower seq) also ends the session
    s = P.connect()
    s.logon(*BOB)
    s.heartbeat_s = None
    s.send(M.HEARTBEAT, seq=1)
    se = expect(s, M.SESSION_END, "seq repeat (1 after logon): SessionEnd")
    if se:
        fields_eq(se, "seq repeat: SequenceGap (8), expected_seq 2",
                  reason=t.SessionEndReason.SequenceGap, expected_seq=2)
    s.wait_closed(5.0)
    s.close()

    # ---- logout --------------------------------------------------------------------
    bob.logout()
    expected = t.next_seq(bob.send_seq)
    se = expect(bob, M.SESSION_END, "bob Logout: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.Logout, "Logout: SessionEnd reason Logout (1)")
        eq(se.expected_seq, expected, "Logout: SessionEnd.expected_seq = next client seq "
                                      "(section 8 0x8C: 'the client seq the gateway expected next')")
    closed, extra = bob.wait_closed(5.0)
    check(closed and not extra, "Logout: gateway closes the connection", repr(extra))
    bob.close()
    alice2.logout()
    se = expect(alice2, M.SESSION_END, "alice Logout: SessionEnd")
    alice2.close()


def names(msgs):
    return [m.name for m in msgs]


def extended(host, port):
    """Order types, STP, replace edge cases, framing robustness, rate limit."""
    a = t.Session.connect(host, port)
    a.logon(*ALICE)
    b = t.Session.connect(host, port)
    b.logon(*BOB)
    cleanup(a, 1)
    cleanup(b, 2)
    px = REF + 1000 + RUN * 10
    C = t.CancelReason

    # self-trade prevention, account default (cancel_resting)
    a.new_order(10, SYM, t.Side.SELL, qty=2, price=px)
    rest = expect(a, M.ORDER_ACCEPTED, "STP: alice sell rests")
    a.new_order(11, SYM, t.Side.BUY, qty=3, price=px)
    got = a.drain(0.3)
    ok = (names(got) == ["OrderAccepted", "OrderCanceled"] and rest is not None
          and got[1].order_id == rest.order_id and got[1].reason == C.SelfTrade
          and got[1].canceled_qty == 2)
    check(ok, "STP default cancel_resting: OrderAccepted, OrderCanceled(SelfTrade) of the "
              "resting sell; the buy rests", repr(got))
    cleanup(a, 12)
    a.new_order(13, SYM, t.Side.SELL, qty=2, price=px)
    a.drain(0.2)
    a.new_order(14, SYM, t.Side.BUY, qty=3, price=px, stp=t.Stp.CANCEL_INCOMING)
    got = a.drain(0.3)
    ok = (names(got) == ["OrderAccepted", "OrderCanceled"]
          and got[1].order_id == got[0].order_id and got[1].reason == C.SelfTrade
          and got[1].canceled_qty == 3)
    check(ok, "STP cancel_incoming: the incoming buy is canceled (SelfTrade)", repr(got))
    a.new_order(15, SYM, t.Side.BUY, qty=1, price=px, stp=4)
    r = expect(a, M.ORDER_REJECTED, "stp 4: OrderRejected")
    if r:
        eq(r.reason, t.RejectReason.InvalidStpMode, "stp 4: InvalidStpMode (10)")
    cleanup(a, 16)

    # FOK that cannot fill; post-only crossing; market IOC
    b.new_order(20, SYM, t.Side.SELL, qty=1, price=px)
    bs = expect(b, M.ORDER_ACCEPTED, "bob sell 1 rests")
    a.new_order(21, SYM, t.Side.BUY, qty=2, price=px, tif=t.Tif.FOK)
    got = a.drain(0.3)
    ok = (names(got) == ["OrderAccepted", "OrderCanceled"] and got[1].reason == C.FillOrKill
          and got[1].canceled_qty == 2)
    check(ok, "FOK 2 against 1: OrderAccepted then OrderCanceled(FillOrKill), no fill",
          repr(got))
    a.new_order(22, SYM, t.Side.BUY, qty=1, price=px, flags=1)
    r = expect(a, M.ORDER_REJECTED, "post-only buy at the ask: OrderRejected")
    if r:
        eq(r.reason, t.RejectReason.WouldCrossPostOnly, "post-only crossing: WouldCrossPostOnly (101)")
    a.new_order(23, SYM, t.Side.BUY, qty=1, price=px, flags=1, tif=t.Tif.IOC)
    r = expect(a, M.ORDER_REJECTED, "post-only IOC: OrderRejected")
    if r:
        eq(r.reason, t.RejectReason.InvalidCombination, "post-only IOC: InvalidCombination (9)")
    a.new_order(24, SYM, t.Side.BUY, qty=3, price=0, order_kind=t.OrderKind.MARKET,
                tif=t.Tif.IOC)
    got = a.drain(0.3)
    ok = (names(got) == ["OrderAccepted", "Fill", "OrderCanceled"]
          and got[1].price == px and got[1].qty == 1 and got[1].leaves_qty == 2
          and got[2].reason == C.ImmediateRemainder and got[2].canceled_qty == 2)
    check(ok, "market IOC 3 against 1: Fill 1 at the resting price, then "
              "OrderCanceled(ImmediateRemainder) 2", repr(got))
    bf = expect(b, M.FILL, "bob's resting sell: passive Fill")
    if bf and bs and len(got) > 1:
        fields_eq(bf, "bob passive fill matches the market order's exec_id",
                  exec_id=got[1].exec_id, order_id=bs.order_id, liquidity=2, leaves_qty=0)

    # replace edge cases
    a.new_order(30, SYM, t.Side.SELL, qty=5, price=px + 100)
    o = expect(a, M.ORDER_ACCEPTED, "alice sell 5 for replace tests")
    oid = o.order_id if o else 0
    a.replace(31, oid, SYM, px + 100, 5)
    r = expect(a, M.CANCEL_REJECTED, "replace with no change: CancelRejected")
    if r:
        fields_eq(r, "replace no change: ReplaceNoChange (107), echoes request",
                  reason=t.RejectReason.ReplaceNoChange, order_id=oid, client_order_id=31)
    b.new_order(32, SYM, t.Side.BUY, qty=2, price=px + 100)
    b.drain(0.2)
    a.drain(0.2)
    a.replace(33, oid, SYM, px + 100, 2)
    r = expect(a, M.CANCEL_REJECTED, "replace new_qty == filled: CancelRejected")
    if r:
        eq(r.reason, t.RejectReason.ReplaceBelowFilled, "replace at filled: ReplaceBelowFilled (106)")
    a.replace(34, oid, SYM, px + 100, 8)
    r = expect(a, M.ORDER_REPLACED, "replace qty up: OrderReplaced")
    if r:
        fields_eq(r, "replace qty up: kept_priority 0, leaves 8 - 2", kept_priority=0,
                  qty=8, leaves_qty=6)
    b.new_order(35, SYM, t.Side.BUY, qty=1, price=px - 100)
    b.drain(0.2)
    a.replace(36, oid, SYM, px - 100, 8)
    got = a.drain(0.3)
    ok = (names(got) == ["OrderReplaced", "Fill"] and got[1].liquidity == 1
          and got[1].client_order_id == 36 and got[1].leaves_qty == 5
          and got[1].price == px - 100)
    check(ok, "replace to a crossing price: OrderReplaced then aggressor Fill", repr(got))
    b.drain(0.2)
    cleanup(a, 37)
    cleanup(b, 38)

    # framing robustness
    s = t.Session.connect(host, port)
    data = t.encode(M.LOGON, 1, account=ALICE[0], token=ALICE[1])
    for i in range(0, len(data), 5):
        s.send_bytes(data[i:i + 5])
        time.sleep(0.01)
    r = s.recv()
    check(r.msg_type == M.LOGON_ACCEPTED, "Logon sent in 5-byte pieces: LogonAccepted", repr(r))
    two = (t.encode(M.NEW_ORDER, 2, client_order_id=40, symbol=SYM, side=t.Side.SELL,
                    order_kind=1, tif=1, price=px + 500, qty=1)
           + t.encode(M.MASS_CANCEL, 3, client_order_id=41, symbol=SYM))
    s.send_bytes(two)
    s.send_seq = 3
    got = s.drain(0.3)
    a.drain(0.2)
    check(names(got) == ["OrderAccepted", "OrderCanceled", "MassCancelDone"],
          "two messages in one write: both processed in order", repr(got))
    raw = bytearray(t.encode(M.NEW_ORDER, 4, client_order_id=42, symbol=SYM, side=t.Side.SELL,
                             order_kind=1, tif=1, price=px + 500, qty=1))
    raw[25:32] = b"\xff" * 7
    s.send_bytes(bytes(raw))
    s.send_seq = 4
    r = s.recv()
    check(r.msg_type == M.ORDER_ACCEPTED, "non-zero reserved bytes are ignored", repr(r))
    cleanup(s, 43)
    a.drain(0.2)

    # rate limit (default burst 2000): a burst of 4000 status requests
    n = 4000
    base = s.send_seq
    s.send_bytes(b"".join(t.encode(M.ORDER_STATUS_REQUEST, base + 1 + i,
                                   client_order_id=i, order_id=1, symbol=SYM)
                          for i in range(n)))
    s.send_seq = base + n
    got = s.drain(1.0)
    limited = sum(1 for m in got if m.name == "OrderStatus" and m.reject_reason == 302)
    check(len(got) == n and 0 < limited < n,
          "rate limit: every request answered; some OrderStatus(RateLimited=302)",
          "%d answers, %d limited" % (len(got), limited))
    s.heartbeat()
    check(not s.drain(0.2) and not s.closed, "rate limit: session stays up")
    for x in (s, a, b):
        x.logout()
        x.wait_closed(2.0)
        x.close()


class Ledger:
    """What a client knows from its own reports alone: its open orders and,
    from its fills, its position and realized PnL per symbol on an
    average-cost basis (section 8, 0x8D), kept exactly with Fractions."""

    def __init__(self):
        self.open = {}   # (symbol, order_id) -> dict(coid, side, price, qty, leaves, filled)
        self.pos = {}    # symbol -> [position, average cost, realized]
        self.fills = []
        # every order seen accepted: (symbol, order_id) -> [coid, side, filled, notional]
        self.orders = {}
        # orders seen done, in the order of their final reports:
        # (symbol, order_id, coid, side, state, cancel_reason, qty, filled, notional)
        self.done = []

    def apply_all(self, msgs):
        for m in msgs:
            self.apply(m)

    def apply(self, m):
        key = (m.symbol, getattr(m, "order_id", 0))
        if m.msg_type == M.ORDER_ACCEPTED:
            self.open[key] = dict(coid=m.client_order_id, side=m.side, price=m.price,
                                  qty=m.qty, leaves=m.qty, filled=0)
            self.orders[key] = [m.client_order_id, m.side, 0, 0]
        elif m.msg_type == M.FILL:
            self.fills.append(m)
            seen = self.orders.get(key)
            if seen is not None:
                seen[2] += m.qty
                seen[3] += m.price * m.qty
                if m.leaves_qty == 0:
                    self.done.append(key + (m.client_order_id, seen[1], t.OrderState.FILLED,
                                            0, seen[2], seen[2], seen[3]))
            o = self.open.get(key)
            if o is not None:
                o["leaves"] = m.leaves_qty
                o["filled"] += m.qty
                o["coid"] = m.client_order_id
                if m.leaves_qty == 0:
                    del self.open[key]
            self._trade(m.symbol, m.side, m.price, m.qty)
        elif m.msg_type == M.ORDER_REPLACED:
            o = self.open.get(key)
            if o is not None:
                o.update(coid=m.client_order_id, price=m.price, qty=m.qty,
                         leaves=m.leaves_qty)
        elif m.msg_type == M.ORDER_CANCELED:
            self.open.pop(key, None)
            seen = self.orders.get(key)
            if seen is not None:
                self.done.append(key + (m.client_order_id, seen[1], t.OrderState.CANCELED,
                                        m.reason, seen[2] + m.canceled_qty, seen[2],
                                        seen[3]))

    def _trade(self, symbol, side, price, qty):
        p, avg, realized = self.pos.get(symbol, [0, Fraction(0), Fraction(0)])
        d = qty if side == t.Side.BUY else -qty
        if p == 0 or (p > 0) == (d > 0):
            avg = (abs(p) * avg + qty * price) / (abs(p) + qty)
            p += d
        else:
            closing = min(qty, abs(p))
            realized += closing * (price - avg) * (1 if p > 0 else -1)
            p += d
            if p == 0:
                avg = Fraction(0)
            elif (p > 0) != (p - d > 0):  # went through zero: the rest opens at price
                avg = Fraction(price)
        self.pos[symbol] = [p, avg, realized]

    def position(self, symbol):
        return self.pos.get(symbol, [0, Fraction(0), Fraction(0)])[0]

    def realized(self, symbol):
        return self.pos.get(symbol, [0, Fraction(0), Fraction(0)])[2]

    def open_on(self, symbol):
        return {k: v for k, v in self.open.items() if symbol == 0 or k[0] == symbol}

    def open_tuples(self, symbol=0):
        return sorted((k[0], k[1], o["coid"], o["side"], o["price"], o["qty"], o["leaves"],
                       o["filled"]) for k, o in self.open_on(symbol).items())


def status_tuple(m):
    return (m.symbol, m.order_id, m.order_client_order_id, m.side, m.price, m.qty,
            m.leaves_qty, m.filled_qty)


def queries(host, port):
    """Section 5.8, written from docs/PROTOCOL.md alone: after placing,
    filling, replacing and canceling orders, every query answer equals what
    the client saw in its own reports."""
    SUBJ_SYMS = (1, 2, 3)  # the demo configuration's symbols (section 5.6)
    ETH = 2
    s = t.Session.connect(host, port)
    acc = s.logon(*OPS)
    if not check(acc.msg_type == M.LOGON_ACCEPTED, "queries: account 9 logs on", repr(acc)):
        return
    # the counterparty and the monitor may be idle for a while: long heartbeats
    cp = t.Session.connect(host, port)
    cp.logon(*ALICE, heartbeat_interval_ms=30000)
    mon = t.Session.connect(host, port)
    mon.logon(*OPS, heartbeat_interval_ms=30000)
    base = 500000 * (RUN + 1)
    coid = base

    def nid():
        nonlocal coid
        coid += 1
        return coid

    L = Ledger()
    cleanup(s, nid())
    cleanup(cp, nid())
    s.drain(0.2)
    cp.drain(0.2)

    def until_done(sess, order_coid, ledger=None):
        """Read until the order with order_coid is done (a Fill with leaves 0 or
        an OrderCanceled) or rests (OrderAccepted and nothing more for 0.2 s)."""
        seen = []
        while True:
            try:
                m = sess.recv(timeout=0.3 if seen else 5.0)
            except t.Timeout:
                break
            seen.append(m)
            if ledger is not None:
                ledger.apply(m)
            if m.msg_type == M.ORDER_REJECTED:
                check(False, "queries: order %d accepted" % order_coid, repr(m))
                break
            if m.msg_type in (M.FILL, M.ORDER_CANCELED) and m.client_order_id == order_coid \
                    and (m.msg_type == M.ORDER_CANCELED or m.leaves_qty == 0):
                break
        return seen

    def cross(side, price, qty, symbol=ETH, subject_passive=False):
        """One trade of `qty` at `price` between account 9 (side `side`) and alice."""
        opp = t.Side.SELL if side == t.Side.BUY else t.Side.BUY
        sc, cc = nid(), nid()
        if subject_passive:
            s.new_order(sc, symbol, side, qty=qty, price=price)
            expect_one(s, M.ORDER_ACCEPTED, L)
            cp.new_order(cc, symbol, opp, qty=qty, price=price, tif=t.Tif.IOC)
            until_done(cp, cc)
            until_done(s, sc, L)
        else:
            cp.new_order(cc, symbol, opp, qty=qty, price=price)
            expect_one(cp, M.ORDER_ACCEPTED, None)
            s.new_order(sc, symbol, side, qty=qty, price=price, tif=t.Tif.IOC)
            until_done(s, sc, L)
            until_done(cp, cc)
        return sc

    def expect_one(sess, msg_type, ledger):
        m = expect(sess, msg_type, "queries: %s" % t.GATEWAY_MESSAGES[msg_type][0])
        if m is not None and ledger is not None:
            ledger.apply(m)
        return m

    def positions_by_symbol(what, symbol=0):
        items, pages, others = s.positions(nid(), symbol)
        L.apply_all(others)
        check(all(p.reject_reason == 0 for p in pages), what + ": answered", repr(pages))
        return {m.symbol: m for m in items}, pages, others

    # ---- baseline: positions of every symbol; make ETH flat ----------------
    before, pages, _ = positions_by_symbol("positions (baseline)")
    eq(sorted(before), sorted(SUBJ_SYMS),
       "positions, symbol 0: one Position per symbol of the gateway (1, 2, 3)")
    if before.get(ETH) is not None and before[ETH].position != 0:
        p = before[ETH].position
        cross(t.Side.SELL if p > 0 else t.Side.BUY, 300000, abs(p))
        before, _, _ = positions_by_symbol("positions (after flattening ETH)")
    eth0 = before.get(ETH)
    check(eth0 is not None and eth0.position == 0, "ETH position flat before the trades",
          repr(eth0))
    r0 = t.realized_pnl(eth0) if eth0 is not None else 0
    L = Ledger()  # from here on the ledger starts flat on every symbol

    # ---- trades on ETH (tick 5, lot 10, band 270000..330000) -------------
    cross(t.Side.BUY, 300000, 30)
    cross(t.Side.BUY, 300100, 10, subject_passive=True)   # 40 at average 300025
    cross(t.Side.SELL, 300200, 20)                         # +20 * 175 = +3500
    eq(len(L.fills), 3, "queries: 3 fills seen by account 9")
    mid, _, _ = positions_by_symbol("positions after a profitable sale", ETH)
    m = mid.get(ETH)
    want_pnl = L.realized(ETH)
    check(want_pnl == 3500 and want_pnl.denominator == 1,
          "client's own average-cost PnL from its fills is +3500", repr(want_pnl))
    if check(m is not None, "positions ETH: one Position", repr(mid)):
        fields_eq(m, "Position ETH equals the fills: position 20, no open orders",
                  symbol=ETH, position=L.position(ETH), open_orders=0, open_buy_qty=0,
                  open_sell_qty=0)
        got = t.realized_pnl(m) - r0
        check(got == want_pnl and got > 0,
              "Position ETH realized PnL: +3500 more than before the trades (positive)",
              "got %r, want %r" % (got, want_pnl))
    cross(t.Side.SELL, 299700, 20, subject_passive=True)  # 20 * (299700-300025) = -6500
    cross(t.Side.SELL, 299700, 10)                         # opens a short 10 at 299700
    cross(t.Side.BUY, 299800, 10)                          # -10 * 100 = -1000
    want_pnl = L.realized(ETH)
    check(want_pnl == -4000, "client's own average-cost PnL from its 6 fills is -4000",
          repr(want_pnl))
    mid, _, _ = positions_by_symbol("positions after losing sales", ETH)
    m = mid.get(ETH)
    if check(m is not None, "positions ETH: one Position after the losses", repr(mid)):
        fields_eq(m, "Position ETH equals the fills: position 0, no open orders",
                  position=L.position(ETH), open_orders=0, open_buy_qty=0, open_sell_qty=0)
        got = t.realized_pnl(m) - r0
        check(got == want_pnl and got < 0,
              "Position ETH realized PnL: 4000 less than before the trades (negative)",
              "got %r, want %r" % (got, want_pnl))
        if r0 == 0:
            fields_eq(m, "PnL -4000 sent as two halves: hi -1, lo 2^64 - 4000",
                      realized_pnl_hi=-1, realized_pnl_lo=(1 << 64) - 4000)

    # ---- open orders on three symbols, more than one page -------------------
    for i in range(20):  # BTC buys well below the reference
        s.new_order(nid(), 1, t.Side.BUY, qty=1 + i % 3, price=REF - 20000 - 7 * i)
        expect_one(s, M.ORDER_ACCEPTED, L)
    for i in range(18):  # SOL sells above the reference (lot 100)
        s.new_order(nid(), 3, t.Side.SELL, qty=100 * (1 + i % 2), price=15500 + i)
        expect_one(s, M.ORDER_ACCEPTED, L)
    # ETH: one partially filled buy, one replaced sell, one canceled, two
    # with the same client order id
    part = nid()
    s.new_order(part, ETH, t.Side.BUY, qty=50, price=299000)
    expect_one(s, M.ORDER_ACCEPTED, L)
    cc = nid()
    cp.new_order(cc, ETH, t.Side.SELL, qty=20, price=299000, tif=t.Tif.IOC)
    until_done(cp, cc)
    f = expect_one(s, M.FILL, L)
    if f is not None:
        fields_eq(f, "partial fill: 20 of 50, leaves 30", qty=20, leaves_qty=30)
    rep_old, rep_new = nid(), nid()
    s.new_order(rep_old, ETH, t.Side.SELL, qty=30, price=301000)
    ra = expect_one(s, M.ORDER_ACCEPTED, L)
    s.replace(rep_new, ra.order_id if ra else 0, ETH, new_price=301000, new_qty=40)
    expect_one(s, M.ORDER_REPLACED, L)
    gone = nid()
    s.new_order(gone, ETH, t.Side.BUY, qty=10, price=298500)
    ga = expect_one(s, M.ORDER_ACCEPTED, L)
    s.cancel(nid(), ga.order_id if ga else 0, ETH)
    expect_one(s, M.ORDER_CANCELED, L)
    dup = nid()
    for px in (298000, 298005):
        s.new_order(dup, ETH, t.Side.BUY, qty=10, price=px)
        expect_one(s, M.ORDER_ACCEPTED, L)
    expect_quiet(s, "queries: nothing more after placing the orders")
    mon.drain(0.3)  # the monitor session got the same reports

    n_open = len(L.open)
    check(n_open == 20 + 18 + 4, "client sees 42 open orders", str(n_open))

    def list_open(what, symbol, min_pages):
        req = nid()
        items, pages, others = s.open_orders(req, symbol)
        L.apply_all(others)
        check(not others, what + ": only OrderStatus and QueryDone answer", repr(others))
        got = sorted(status_tuple(m) for m in items)
        eq(got, L.open_tuples(symbol), what + ": exactly the orders the client holds open, "
                                              "with their current fields")
        ids = [(m.symbol, m.order_id) for m in items]
        check(len(ids) == len(set(ids)), what + ": no order listed twice")
        check(all(m.client_order_id == req and m.state == t.OrderState.OPEN
                  and m.reject_reason == 0 for m in items),
              what + ": every OrderStatus echoes the request id, state Open, no reject")
        check(all(0 <= p.count <= 16 and p.client_order_id == req and p.reject_reason == 0
                  for p in pages) and sum(p.count for p in pages) == len(items),
              what + ": pages of 0..16, QueryDone counts add up to what was sent",
              repr(pages))
        check(len(pages) >= min_pages and all(p.more == 1 for p in pages[:-1])
              and pages[-1].more == 0 and pages[-1].next_cursor == 0
              and pages[-1].next_cursor_place == 0,
              what + ": %d pages or more, the last with more 0 and cursor 0" % min_pages,
              repr(pages))
        order = [(m.symbol, m.order_id) for m in items]
        syms = [sym for sym, _ in order]
        runs = [sym for i, sym in enumerate(syms) if i == 0 or syms[i - 1] != sym]
        check(len(runs) == len(set(runs)) and all(
            order[i][1] < order[i + 1][1] for i in range(len(order) - 1)
            if order[i][0] == order[i + 1][0]),
            what + ": symbol by symbol, oldest order first within a symbol", repr(order))
        return items, pages

    items, pages = list_open("open orders, symbol 0", 0, 3)
    quiet = mon.drain(0.3)
    check(not quiet, "query answers reach only the requester (not the account's other "
                     "session)", repr(quiet))
    list_open("open orders, symbol 1 (20 orders)", 1, 2)
    list_open("open orders, symbol 2", ETH, 1)
    list_open("open orders, symbol 3 (18 orders)", 3, 2)

    # a viewer of another account, and the counterparty, see none of them
    iv, pv, _ = cp.open_orders(nid(), 0)
    check(not iv and pv[-1].reject_reason == 0, "alice's open orders: none of account 9's",
          repr(iv))
    if len(pages) > 1:
        p0 = pages[0]
        req = nid()
        ic, pc, _ = cp.open_orders(req, 0, cursor_place=p0.next_cursor_place,
                                   cursor=p0.next_cursor)
        check(not ic and pc[-1].more == 0,
              "account 9's cursor used by alice: none of account 9's orders", repr(ic))

    # a cursor not made by the gateway: only own orders, each once, and an end
    mine = {(k[0], k[1]) for k in L.open}
    for place, cur in ((1, 5), (2, 1 << 40), (0xFFFFFFFF, (1 << 64) - 1), (7, 3)):
        try:
            items, pages, _ = s.open_orders(nid(), 0, max_pages=50, cursor_place=place,
                                            cursor=cur)
            ids = [(m.symbol, m.order_id) for m in items]
            check(set(ids) <= mine and len(ids) == len(set(ids)) and pages[-1].more == 0,
                  "made-up cursor (%d, %d): own orders only, none twice, ends" % (place, cur),
                  repr(ids))
        except t.Timeout as e:
            check(False, "made-up cursor (%d, %d) ends" % (place, cur), str(e))

    # ---- OrderQuery by client order id --------------------------------------
    # ---- done orders (section 5.8): what the client saw become done -------
    req = nid()
    done, dpages, others = s.done_orders(req, ETH)
    L.apply_all(others)
    check(all(p.reject_reason == 0 and p.count <= 16 for p in dpages)
          and sum(p.count for p in dpages) == len(done),
          "done orders ETH: pages of 0..16, QueryDone counts add up", repr(dpages))
    check(all(m.client_order_id == req and m.symbol == ETH for m in done),
          "done orders ETH: each echoes the request id, symbol 2")
    saw = [d for d in L.done if d[0] == ETH]
    got = [(m.symbol, m.order_id, m.order_client_order_id, m.side, m.state, m.cancel_reason,
            m.qty, m.filled_qty, t.notional(m)) for m in done[:len(saw)]]
    eq(got, list(reversed(saw)), "done orders ETH: newest first, exactly the orders the "
                                 "client saw done (state, reason, quantities, notional of "
                                 "its fills)")
    check(all(m.average_price == (t.notional(m) // m.filled_qty if m.filled_qty else 0)
              for m in done),
          "done orders ETH: average_price is notional / filled_qty rounded down (0 if "
          "nothing traded)", repr([(m.average_price, t.notional(m), m.filled_qty)
                                   for m in done[:5]]))
    check(any(m.state == t.OrderState.CANCELED and m.cancel_reason == 1  # CancelReason Requested (section 10)
              for m in done[:len(saw)]),
          "done orders ETH: the canceled buy is there, reason Requested")
    quiet = mon.drain(0.3)
    check(not quiet, "done orders reach only the requester", repr(quiet))
    _, upages, _ = s.done_orders(nid(), 99)
    fields_eq(upages[-1], "done orders of symbol 99: QueryDone(UnknownSymbol), count 0",
              reject_reason=1, count=0, more=0)

    by_coid = {}
    for (sym, oid), o in sorted(L.open.items()):
        by_coid.setdefault((sym, o["coid"]), (sym, oid))
    bad = []
    for (sym, c), key in sorted(by_coid.items()):
        req = nid()
        s.order_query(req, c, sym)
        try:
            st = s.recv()
        except (t.Timeout, t.Closed, t.ProtocolError) as e:
            st = e
        o = L.open[key]
        want = (sym, key[1], c, o["side"], o["price"], o["qty"], o["leaves"], o["filled"])
        if not isinstance(st, t.Msg) or st.msg_type != M.ORDER_STATUS \
                or status_tuple(st) != want or st.client_order_id != req \
                or st.state != t.OrderState.OPEN or st.reject_reason != 0:
            bad.append((st, want))
    check(not bad and len(by_coid) == 41,
          "OrderQuery of each open order's client order id (41 ids): the order as the "
          "client holds it", repr(bad[:3]))
    dups = sorted(oid for (sym, oid), o in L.open.items() if o["coid"] == dup)
    req = nid()
    s.order_query(req, dup, ETH)
    st = expect(s, M.ORDER_STATUS, "OrderQuery of a client order id two orders carry")
    if st is not None and dups:
        fields_eq(st, "two open orders with one client order id: the oldest answers",
                  order_id=dups[0], price=298000, state=t.OrderState.OPEN)
    zero = dict(order_id=0, order_client_order_id=0, side=0, state=t.OrderState.UNKNOWN,
                reject_reason=0, price=0, qty=0, leaves_qty=0, filled_qty=0)
    for what, c, sym, sess in (
            ("a client order id never used", base + 499999, ETH, s),
            ("the client order id before a replace", rep_old, ETH, s),
            ("a canceled order's client order id", gone, ETH, s),
            ("a filled order's client order id", L.fills[0].client_order_id
             if L.fills else 0, ETH, s),
            ("an open order's client order id on another symbol", part, 1, s),
            ("another account's open order's client order id", part, ETH, cp)):
        req = nid()
        sess.order_query(req, c, sym)
        st = expect(sess, M.ORDER_STATUS, "OrderQuery of %s" % what)
        if st is not None:
            fields_eq(st, "OrderQuery of %s: state 0, order_id 0, all zero, no reject" % what,
                      client_order_id=req, symbol=sym, **zero)
    # OrderStatusRequest of the partly filled order equals the client's view too
    pk = [k for k, o in L.open.items() if o["coid"] == part]
    if pk:
        req = nid()
        s.status(req, pk[0][1], ETH)
        st = expect(s, M.ORDER_STATUS, "OrderStatusRequest of the partly filled order")
        if st is not None:
            o = L.open[pk[0]]
            eq(status_tuple(st), (ETH, pk[0][1], part, o["side"], o["price"], o["qty"],
                                  o["leaves"], o["filled"]),
               "OrderStatusRequest: qty 50, leaves 30, filled 20 as the client saw")

    # ---- positions now: every symbol, open quantities from the open orders ---
    now, pages, _ = positions_by_symbol("positions after placing the open orders")
    check(all(p.count <= 16 for p in pages) and sum(p.count for p in pages) == len(now)
          and pages[-1].more == 0, "positions: pages of at most 16 adding up", repr(pages))
    bad = []
    for sym in SUBJ_SYMS:
        m = now.get(sym)
        opens = L.open_on(sym).values()
        b = before.get(sym)
        want = dict(
            open_orders=len(opens),
            open_buy_qty=sum(o["leaves"] for o in opens if o["side"] == t.Side.BUY),
            open_sell_qty=sum(o["leaves"] for o in opens if o["side"] == t.Side.SELL),
            position=(b.position if b else 0) + L.position(sym),
            pnl=(t.realized_pnl(b) if b else 0) + L.realized(sym))
        got = m and dict(open_orders=m.open_orders, open_buy_qty=m.open_buy_qty,
                         open_sell_qty=m.open_sell_qty, position=m.position,
                         pnl=t.realized_pnl(m))
        if got != want or m.client_order_id != pages[0].client_order_id:
            bad.append((sym, got, want))
    check(not bad, "positions of symbols 1-3: open orders, open buy / sell quantity, "
                   "position and PnL as the client's own reports give them", repr(bad))
    items, _, _ = positions_by_symbol("positions of one symbol", 3)
    eq(sorted(items), [3], "positions, symbol 3: only symbol 3")

    # ---- pages are not a snapshot: changes between pages ----------------------
    req = nid()
    first, done, others = s.open_orders_page(req, 0)
    L.apply_all(others)
    listed = [(m.symbol, m.order_id) for m in first]
    check(done.more == 1 and done.count == 16 and len(first) == 16,
          "paging with changes: a first page of 16, more 1", repr(done))
    unlisted_syms = [sym for sym in SUBJ_SYMS if sym not in {k[0] for k in listed}]
    later = sorted(k for k in L.open if k not in set(listed) and k[0] in unlisted_syms)
    if check(listed and later and unlisted_syms,
             "paging with changes: a symbol not listed yet", repr(listed)):
        # cancel the last listed order (the page's end) and one not listed yet;
        # add an order on a symbol not listed yet
        for k in (listed[-1], later[0]):
            s.cancel(nid(), k[1], k[0])
            expect_one(s, M.ORDER_CANCELED, L)
        sym = unlisted_syms[0]
        newc = nid()
        if sym == 3:
            s.new_order(newc, 3, t.Side.SELL, qty=100, price=16000)
        elif sym == ETH:
            s.new_order(newc, ETH, t.Side.SELL, qty=10, price=302000)
        else:
            s.new_order(newc, 1, t.Side.BUY, qty=1, price=REF - 30000)
        na = expect_one(s, M.ORDER_ACCEPTED, L)
        rest, pages, others = s.open_orders(req, 0, cursor_place=done.next_cursor_place,
                                            cursor=done.next_cursor)
        L.apply_all(others)
        ids = listed + [(m.symbol, m.order_id) for m in rest]
        check(len(ids) == len(set(ids)), "paging with changes: no order listed twice",
              repr(ids))
        check(later[0] not in ids, "paging with changes: an order canceled before its "
                                   "page is not listed")
        check(na is not None and (na.symbol, na.order_id) in ids,
              "paging with changes: an order accepted meanwhile on a symbol not yet "
              "listed is listed")
        eq(sorted(set(ids) - {listed[-1]}), sorted(L.open),
           "paging with changes: every other open order listed exactly once")

    # ---- refused requests -----------------------------------------------------
    req = nid()
    s.order_query(req, part, 99)
    st = expect(s, M.ORDER_STATUS, "OrderQuery on unknown symbol 99")
    if st is not None:
        fields_eq(st, "OrderQuery symbol 99: OrderStatus state 0, reject UnknownSymbol (1)",
                  client_order_id=req, symbol=99, state=0, order_id=0,
                  reject_reason=t.RejectReason.UnknownSymbol)
    req = nid()
    s.order_query(req, part, 0)
    st = expect(s, M.ORDER_STATUS, "OrderQuery on symbol 0")
    if st is not None:
        fields_eq(st, "OrderQuery symbol 0 (no 'all symbols' in its table; symbol 0 is never "
                      "a symbol): state 0, reject UnknownSymbol (1)",
                  client_order_id=req, symbol=0, state=0, order_id=0,
                  reject_reason=t.RejectReason.UnknownSymbol)
    for what, fn in (("OpenOrdersRequest", s.open_orders_page),
                     ("PositionsRequest", s.positions_page)):
        req = nid()
        items, done, others = fn(req, 99)
        check(not items and not others, "%s symbol 99: nothing but QueryDone" % what,
              repr(items + others))
        fields_eq(done, "%s symbol 99: QueryDone(UnknownSymbol), count 0, more 0" % what,
                  client_order_id=req, reject_reason=t.RejectReason.UnknownSymbol,
                  count=0, more=0, next_cursor=0, next_cursor_place=0)

    # ---- a viewer may ask ---------------------------------------------------------
    v = t.Session.connect(host, port)
    v.logon(*VIEWER, heartbeat_interval_ms=30000)
    iv, pv, _ = v.open_orders(nid(), 0)
    check(not iv and pv[-1].reject_reason == 0 and pv[-1].more == 0,
          "viewer: OpenOrdersRequest answered (its account has no open orders)", repr(pv))
    iv, pv, _ = v.positions(nid(), 0)
    check(sorted(m.symbol for m in iv) == list(SUBJ_SYMS) and pv[-1].reject_reason == 0,
          "viewer: PositionsRequest answered, one Position per symbol", repr(pv))

    # ---- rate limit: a query that finds the bucket empty -------------------------
    rl = t.Session.connect(host, port)
    rl.logon(*OPS, heartbeat_interval_ms=30000)
    n = 4000  # twice the demo burst (2000)
    burst = b"".join(t.encode(M.POSITIONS_REQUEST, 2 + i, client_order_id=i, symbol=3)
                     for i in range(n))
    rl.send_seq = 1 + n
    rl.heartbeat_s = None  # the reader must not write while the sender thread does
    sender = threading.Thread(target=rl.send_bytes, args=(burst,))
    sender.start()  # read while the requests go out: the gateway applies back-pressure
    dones, positions, other = {}, {}, []
    try:
        while len(dones) < n:
            m = rl.recv(timeout=5.0)
            if m.msg_type == M.QUERY_DONE:
                dones[m.client_order_id] = m
            elif m.msg_type == M.POSITION:
                positions[m.client_order_id] = positions.get(m.client_order_id, 0) + 1
            else:
                other.append(m)
    except (t.Timeout, t.Closed, t.ProtocolError) as e:
        other.append(e)
    sender.join(10.0)
    limited = [c for c, d in dones.items() if d.reject_reason == t.RejectReason.RateLimited]
    check(len(dones) == n and not other, "rate limit: each of %d PositionsRequest answered "
                                         "by one QueryDone" % n,
          "%d answered; %r" % (len(dones), other[:3]))
    check(0 < len(limited) < n and all(
        dones[c].count == 0 and dones[c].more == 0 and c not in positions for c in limited),
        "rate limit: some QueryDone(RateLimited=302), count 0, more 0, no Position",
        "%d limited" % len(limited))
    check(all(positions.get(c) == 1 and d.count == 1 for c, d in dones.items()
              if d.reject_reason == 0), "rate limit: the others one Position, count 1")
    rl.logout()
    rl.wait_closed(2.0)
    rl.close()

    # ---- after a mass cancel nothing is open --------------------------------------
    n_open = len(L.open)
    s.mass_cancel(nid(), 0)
    done, seen = s.recv_until(lambda m: m.msg_type == M.MASS_CANCEL_DONE)
    L.apply_all(seen)
    eq(done.canceled_count if done else None, n_open, "mass cancel: every open order")
    items, pages, _ = s.open_orders(nid(), 0)
    check(not items and len(pages) == 1 and pages[0].more == 0 and pages[0].count == 0,
          "open orders after the mass cancel: one empty page, more 0", repr(items))
    now, _, _ = positions_by_symbol("positions after the mass cancel")
    check(all(m.open_orders == 0 and m.open_buy_qty == 0 and m.open_sell_qty == 0
              for m in now.values()), "positions after the mass cancel: nothing open",
          repr(now))
    cleanup(cp, nid())
    for x in (s, cp, mon, v):
        x.logout()
        x.wait_closed(2.0)
        x.close()


def websocket(host, port):
    """Section 14, what only the WebSocket transport has: the subprotocol,
    Close codes after SessionEnd, text and oversized messages, pings,
    fragmented messages. Run with --websocket only."""
    from websockets.exceptions import ConnectionClosed

    def ended(s, what, reason, close, expected_seq=None):
        se = expect(s, M.SESSION_END, "%s: SessionEnd" % what)
        if se:
            eq(se.reason, reason, "%s: SessionEnd reason %d" % (what, reason))
            if expected_seq is not None:
                eq(se.expected_seq, expected_seq, "%s: expected_seq %d" % (what, expected_seq))
        closed, extra = s.wait_closed(5.0)
        check(closed and not extra, "%s: then the WebSocket closes" % what, repr(extra))
        eq(s.sock.close_code, close, "%s: Close code %d" % (what, close))
        s.close()

    s = t.Session.connect(host, port)
    eq(s.sock.ws.subprotocol, t.WS_SUBPROTOCOL, "handshake: subprotocol tradsys.oe.v1 confirmed")
    s.logon(*ALICE)
    pong = s.sock.ws.ping(b"are you there")
    check(pong.wait(5.0), "a ping is answered with a pong")
    order = t.encode(M.NEW_ORDER, 2, client_order_id=7001, symbol=SYM, side=t.Side.SELL,
                     order_kind=1, tif=1, price=REF + 4000 + RUN, qty=1)
    s.sock.ws.send([order[:20], order[20:]])  # one message, two frames
    s.send_seq = 2
    expect(s, M.ORDER_ACCEPTED, "a message in two fragments (continuation frame): accepted")
    cleanup(s, 7002)
    s.logout()
    ended(s, "Logout", t.SessionEndReason.Logout, 1000)

    s = t.Session.connect(host, port)
    s.logon(*ALICE)
    s.send(M.HEARTBEAT, seq=7)
    ended(s, "sequence gap", t.SessionEndReason.SequenceGap, 4108, expected_seq=2)

    s = t.Session.connect(host, port)
    s.logon(*ALICE)
    s.sock.ws.send("a text message")
    ended(s, "text message", t.SessionEndReason.TransportError, 1003, expected_seq=2)

    s = t.Session.connect(host, port)
    s.logon(*ALICE)
    s.sock.ws.send(b"\0" * (t.WS_MAX_MESSAGE + 1))
    ended(s, "message over 65536 bytes", t.SessionEndReason.TransportError, 1009,
          expected_seq=2)

    s = t.Session.connect(host, port)
    s.sock.ws.send("{}")
    ended(s, "text before Logon", t.SessionEndReason.TransportError, 1003, expected_seq=1)

    s = t.Session.connect(host, port)
    s.send(M.LOGON, account=1, token="wrong-token")
    expect(s, M.LOGON_REJECTED, "bad token over WebSocket: LogonRejected")
    ended(s, "bad token", t.SessionEndReason.LogonRejected, 4110, expected_seq=2)

    s = t.Session.connect(host, port)
    s.logon(*ALICE)
    s.sock.ws.close(4000, "bye")
    rcvd = s.sock.ws.protocol.close_rcvd
    eq(rcvd.code if rcvd else None, 4000,
       "the client's Close: echoed with its code, no SessionEnd")
    try:
        s.sock.ws.recv(timeout=1.0)
        check(False, "nothing after the client's Close")
    except ConnectionClosed:
        pass


def replay(host, port):
    """Section 5.9, written from docs/PROTOCOL.md alone: every engine report
    carries its stream, its report_seq and the account; a second session
    sees the same numbers; a replay answers ReplayStarted, the reports after
    the number asked, then ReplayDone; a number above the stream's is
    refused with ReplayBeyondEnd (307), an unknown stream with
    UnknownStream (306); gateway refusals carry report_seq 0."""
    s = t.Session.connect(host, port)
    acc = s.logon(*ALICE, heartbeat_interval_ms=30000)
    if not check(acc.msg_type == M.LOGON_ACCEPTED, "replay: alice logs on", repr(acc)):
        return
    mon = t.Session.connect(host, port)
    mon.logon(*ALICE, heartbeat_interval_ms=30000)
    s.drain(0.2)
    mon.drain(0.2)
    coid = 900000 + RUN * 100
    # Far below the market: it rests (section 11.1 band: 4,500,000 is inside).
    s.new_order(coid, SYM, t.Side.BUY, qty=1, price=4500000 + RUN)
    a = expect(s, M.ORDER_ACCEPTED, "replay: the order is accepted")
    if a is None:
        return
    check(a.report_seq >= 1 and a.account == ALICE[0],
          "replay: OrderAccepted has report_seq >= 1 and the account", repr(a))
    m = expect(mon, M.ORDER_ACCEPTED, "replay: the second session gets the report too")
    if m:
        fields_eq(m, "replay: ... with the same stream and report_seq",
                  stream=a.stream, report_seq=a.report_seq, order_id=a.order_id)
    stream, n = a.stream, a.report_seq
    # A gateway refusal is in no stream: symbol 99 is no symbol.
    s.new_order(coid + 1, 99, t.Side.BUY, qty=1, price=4500000)
    r = expect(s, M.ORDER_REJECTED, "replay: an order for symbol 99 is refused")
    if r:
        fields_eq(r, "replay: the refusal has report_seq 0 and stream 0",
                  reason=t.RejectReason.UnknownSymbol, report_seq=0, stream=0)
    # Up to date: started and done at once.
    s.replay(stream, n)
    st = expect(s, M.REPLAY_STARTED, "replay: up to date: ReplayStarted")
    if st:
        fields_eq(st, "replay: ReplayStarted.upto is the stream's number", stream=stream, upto=n)
    d = expect(s, M.REPLAY_DONE, "replay: up to date: ReplayDone")
    if d:
        fields_eq(d, "replay: nothing replayed", stream=stream, reject_reason=0, last=n, count=0)
    # One back: the accept again, with its number.
    s.replay(stream, n - 1)
    expect(s, M.REPLAY_STARTED, "replay: one back: ReplayStarted")
    again = expect(s, M.ORDER_ACCEPTED, "replay: the OrderAccepted is replayed", timeout=30.0)
    if again:
        fields_eq(again, "replay: ... the same report, the same number",
                  order_id=a.order_id, client_order_id=coid, report_seq=n, stream=stream)
    d = expect(s, M.REPLAY_DONE, "replay: one back: ReplayDone")
    if d:
        fields_eq(d, "replay: one report replayed", reject_reason=0, last=n, count=1)
    # Beyond the end, and an unknown stream.
    s.replay(stream, n + 5)
    d = expect(s, M.REPLAY_DONE, "replay: beyond the end: ReplayDone without ReplayStarted")
    if d:
        fields_eq(d, "replay: ReplayBeyondEnd (307), last = the stream's number",
                  reject_reason=307, last=n, count=0)
    s.replay(64, 0)  # streams are shards 0..63 (section 5.9): 64 is never one
    d = expect(s, M.REPLAY_DONE, "replay: stream 64: ReplayDone")
    if d:
        fields_eq(d, "replay: UnknownStream (306)", stream=64, reject_reason=306, count=0)
    # The next report of the stream takes the next number.
    s.cancel(coid + 2, a.order_id, SYM)
    c = expect(s, M.ORDER_CANCELED, "replay: the cancel is reported")
    if c:
        fields_eq(c, "replay: ... numbered next", stream=stream, report_seq=n + 1)
    for x in (s, mon):
        x.logout()
        x.wait_closed(2.0)
        x.close()


def layouts():
    """Section 7/8 tables of the query messages, byte by byte, without a gateway."""
    b = t.encode(M.ORDER_QUERY, 7, client_order_id=0x0102030405060708,
                 order_client_order_id=0x1112131415161718, symbol=0x21222324)
    eq(b.hex(), "2000090207000000" "0807060504030201" "1817161514131211" "2423222100000000",
       "OrderQuery 0x09: 32 bytes, client_order_id @8, order_client_order_id @16, symbol @24")
    b = t.encode(M.OPEN_ORDERS_REQUEST, 8, client_order_id=1, symbol=0x21222324,
                 cursor_place=0x31323334, cursor=0x4142434445464748)
    eq(b.hex(), "20000a0208000000" "0100000000000000" "2423222134333231" "4847464544434241",
       "OpenOrdersRequest 0x0A: 32 bytes, symbol @16, cursor_place @20, cursor @24")
    b = t.encode(M.POSITIONS_REQUEST, 9, client_order_id=1, symbol=2, cursor_place=3)
    eq(b.hex(), "18000b0209000000" "0100000000000000" "0200000003000000",
       "PositionsRequest 0x0B: 24 bytes, symbol @16, cursor_place @20")
    raw = bytes.fromhex("40008d0205000000" "0900000000000000" "0200000003000000"
                        "ecffffffffffffff" "60f0ffffffffffff" "ffffffffffffffff"
                        "0700000000000000" "0800000000000000")
    m = t.decode(raw)
    fields_eq(m, "Position 0x8D decodes: position -20, hi -1, open qtys",
              client_order_id=9, symbol=2, open_orders=3, position=-20,
              realized_pnl_hi=-1, open_buy_qty=7, open_sell_qty=8)
    eq(t.realized_pnl(m), -4000, "Position: realized_pnl = hi * 2^64 + lo = -4000")
    eq([t.split_pnl(v) for v in (0, 1, -1, (1 << 64) + 5)],
       [(0, 0), (1, 0), ((1 << 64) - 1, -1), (5, 1)], "i128 PnL halves round-trip")
    raw = bytes.fromhex("28008e0206000000" "0a00000000000000" "0b00000000000000"
                        "0c0000000d000000" "0e00010000000000")
    fields_eq(t.decode(raw), "QueryDone 0x8E decodes: next_cursor @16, place @24, count @28, "
                             "reject_reason @32, more @34",
              client_order_id=10, next_cursor=11, next_cursor_place=12, count=13,
              reject_reason=14, more=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1:7001", help="HOST:PORT of order entry")
    ap.add_argument("--websocket", metavar="PATH",
                    help="run every check over WebSocket (section 14): --addr is then the "
                         "market-data address and PATH its order-entry path, e.g. /trade")
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    t.Session.default_websocket = args.websocket
    layouts()
    parts = (run, extended, queries, replay) + ((websocket,) if args.websocket else ())
    for part in parts:
        try:
            part(host or "127.0.0.1", int(port))
        except Exception as e:  # noqa: BLE001 - any crash is a failed check
            traceback.print_exc()
            check(False, "%s() ran to the end" % part.__name__, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (PASSED, FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
