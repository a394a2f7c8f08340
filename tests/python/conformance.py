#!/usr/bin/env python3
"""Conformance checks of a tradsys gateway against docs/PROTOCOL.md.

Run against a gateway on its embedded default config (`tradsys serve`):

    python3 tests/python/conformance.py --addr 127.0.0.1:7001

Prints one line per check (`ok ...` / `FAIL ...`), then `N passed, M failed`;
exits non-zero on any failure. Every wait is bounded (<= 5 s).

What it assumes from the default config (configs/tradsys.toml), not from the
protocol: accounts 1 alice / alice-demo-token and 2 bob / bob-demo-token
(traders), 3 viewer / viewer-demo-token (viewer); symbol 1 tick 1 lot 1
reference 5000000 band 10%; symbol 2 tick 5 lot 10; symbol 3 lot 100
reference 15000; heartbeat default 1000 ms, range 100..30000 ms.
"""

import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tradsys_client as t  # noqa: E402
from tradsys_client import MsgType as M  # noqa: E402

ALICE = (1, "alice-demo-token")
BOB = (2, "bob-demo-token")
VIEWER = (3, "viewer-demo-token")
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
    s.send_bytes(t.encode(M.LOGON, 1, version=2, account=1, token=ALICE[1]))
    se = expect(s, M.SESSION_END, "version 2 header: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.WrongVersion, "version 2: WrongVersion (5)")
    s.wait_closed(5.0)
    s.close()

    s = P.connect()
    s.send_bytes(t.encode_raw(8, M.NEW_ORDER, 1, 1))
    se = expect(s, M.SESSION_END, "NewOrder header with length 8: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.LengthMismatch, "length 8 NewOrder: LengthMismatch (6)")
    s.wait_closed(5.0)
    s.close()

    s = P.connect()
    s.send_bytes(t.encode_raw(8, 0x83, 1, 1))
    se = expect(s, M.SESSION_END, "gateway type 0x83 sent to gateway: SessionEnd")
    if se:
        eq(se.reason, t.SessionEndReason.UnknownMessageType, "0x83: UnknownMessageType (4)")
    s.wait_closed(5.0)
    s.close()

    s = P.connect()
    s.send_bytes(t.encode_raw(300, M.NEW_ORDER, 1, 1))
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


def queries(host, port):
    """Section 5.8: open orders page by page, an order by its client order
    id, positions of every symbol, an unknown symbol, a viewer."""
    a = t.Session.connect(host, port)
    a.logon(*ALICE)
    cleanup(a, 1)
    a.drain(0.2)
    base = 300000 * (RUN + 1)
    ids = {}
    for i in range(20):
        a.new_order(base + i, SYM, t.Side.BUY, qty=1, price=REF - 3000 - i)
        acc = expect(a, M.ORDER_ACCEPTED, "queries: order %d rests" % i)
        if acc is not None:
            ids[base + i] = acc.order_id
    a.drain(0.2)
    items, pages, others = a.query_all("orders", base + 100)
    listed = [(m.symbol, m.order_client_order_id, m.order_id) for m in items]
    want = [(SYM, c, ids[c]) for c in sorted(ids)]
    eq(listed, want, "open orders: exactly the 20 resting, in order_id order")
    check(all(m.state == t.OrderState.OPEN and m.leaves_qty == 1 for m in items),
          "open orders: state open, leaves_qty 1")
    check(all(p.count <= 16 for p in pages) and sum(p.count for p in pages) == 20,
          "open orders: pages of at most 16, counts add up", repr(pages))
    check(pages[-1].more == 0 and not others, "open orders: the last page has more 0")

    a.order_query(base + 101, base + 7, SYM)
    st = expect(a, M.ORDER_STATUS, "OrderQuery answered by OrderStatus")
    if st is not None:
        fields_eq(st, "OrderQuery finds the order by its client order id",
                  client_order_id=base + 101, order_id=ids[base + 7],
                  order_client_order_id=base + 7, state=t.OrderState.OPEN)
    a.order_query(base + 102, base + 999, SYM)
    st = expect(a, M.ORDER_STATUS, "OrderQuery for an unknown id")
    if st is not None:
        fields_eq(st, "OrderQuery unknown: state 0, order_id 0",
                  state=t.OrderState.UNKNOWN, order_id=0, reject_reason=0)

    items, pages, _ = a.query_all("positions", base + 103)
    eq(sorted(m.symbol for m in items), [1, 2, 3], "positions: one per symbol")
    check(all(isinstance(t.realized_pnl(m), int) for m in items), "positions: realized PnL")
    btc = [m for m in items if m.symbol == SYM]
    check(btc and btc[0].open_orders == 20 and btc[0].open_buy_qty == 20,
          "positions: open orders and open buy qty of the symbol", repr(btc))
    _, pages, _ = a.query_all("positions", base + 104, symbol=99)
    fields_eq(pages[-1], "positions of an unknown symbol: QueryDone(UnknownSymbol)",
              reject_reason=t.RejectReason.UnknownSymbol, count=0, more=0)

    v = t.Session.connect(host, port)
    v.logon(*VIEWER)
    items, pages, _ = v.query_all("orders", 1)
    check(not items and pages[-1].reject_reason == 0, "a viewer may ask: no open orders")
    cleanup(a, base + 105)
    for x in (a, v):
        x.logout()
        x.wait_closed(2.0)
        x.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1:7001", help="HOST:PORT of order entry")
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    for part in (run, extended, queries):
        try:
            part(host or "127.0.0.1", int(port))
        except Exception as e:  # noqa: BLE001 - any crash is a failed check
            traceback.print_exc()
            check(False, "%s() ran to the end" % part.__name__, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (PASSED, FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
