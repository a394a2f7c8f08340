"""examples/md_book.py held to docs/MARKET_DATA.md, with no gateway.

Reads the document itself: its hex dumps (section 7's checksum bytes and
section 10's worked example) and its JSON examples (sections 3 and 8) go
through the example's decoder, book and checks, which must agree with the
values the document states. Then the recovery rules of section 4.3 on
messages built from the same layouts: a gap, a checksum mismatch, a heartbeat
that disagrees, a new epoch each cause exactly one resync (`unsubscribe`,
then `subscribe`); split messages are joined; broken headers are refused.
Standard library only. Prints one line per check and `N passed, M failed`.

    python3 tests/python/md_doc_check.py [path/to/MARKET_DATA.md]
"""

import json
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import md_book as md  # noqa: E402

DOC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "MARKET_DATA.md")
TEXT = open(DOC, encoding="utf-8").read()


def hex_dumps():
    """Each ```hex block as bytes (the offset column and the notes dropped)."""
    out = []
    for block in re.findall(r"```hex\n(.*?)```", TEXT, re.S):
        data = b""
        for line in block.splitlines():
            cells = line.split()
            if not cells:
                continue
            data += bytes(int(c, 16) for c in cells[1:9])
        out.append(data)
    return out


def json_examples():
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", TEXT, re.S)]


DUMPS = hex_dumps()
JSONS = json_examples()
CHECKSUM_DUMP, SNAPSHOT_DUMP, TRADE_DUMP, UPDATE_DUMP, HEARTBEAT_DUMP = DUMPS
SUBSCRIBED_BOOK, SUBSCRIBED_TRADES = [o for o in JSONS if o.get("type") == "subscribed"]


def by_type(t, snapshot=False):
    return [o for o in JSONS if o.get("type") == t and bool(o.get("snapshot")) == snapshot]


# --- builders, from the layouts of section 5 ----------------------------------

def message(msg_type, symbol, seq, block, entries=(), flags=0, version=1):
    name, struct_, fixed, _has, _allowed = md.TYPES[msg_type]
    body = struct_.pack(*block)
    data = b"".join(md.ENTRY.pack(p, q, n, s) for p, q, n, s in entries)
    length = fixed + len(data)
    return md.HEADER.pack(length, msg_type, version, flags, symbol, len(entries), seq) + body + data


def book_update(seq, prev, changes, checksum, symbol=1, flags=0):
    """`changes`: (side code, price, qty, orders)."""
    return message(md.BOOK_UPDATE, symbol, seq, (prev, 0, checksum, 1, 10),
                   [(p, q, n, s) for s, p, q, n in changes], flags)


def fresh_state():
    """A state that has had the worked example's answers and snapshot."""
    state = md.FeedState(depth=10)
    req = state.subscribe(["BTC-USD"], ["book", "trades"])["req_id"]
    state.answer(dict(SUBSCRIBED_BOOK, req_id=req))
    state.answer(dict(SUBSCRIBED_TRADES, req_id=req))
    for m in md.decode_binary(SNAPSHOT_DUMP):
        state.data(m)
    return state


# --- the checks ----------------------------------------------------------------

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def the_documents_examples_are_all_there():
    assert len(DUMPS) == 5, len(DUMPS)
    types = sorted({o["type"] for o in JSONS if "type" in o})
    for t in ("book", "bbo", "heartbeat", "snapshot", "status", "subscribed", "ticker", "trade"):
        assert t in types, types


@check
def checksum_bytes_and_value_match_section_7():
    bids, asks = [(10040, 5, 2)], [(10050, 3, 1)]
    assert md.checksum_bytes(bids, asks) == CHECKSUM_DUMP, CHECKSUM_DUMP.hex()
    assert md.checksum(bids, asks) == 3836372188 == 0xE4AA64DC
    assert md.checksum([], []) == md.zlib.crc32(bytes(8))


@check
def snapshot_dump_decodes_to_the_documented_fields():
    [m] = md.decode_binary(SNAPSHOT_DUMP)
    assert m == {"type": "snapshot", "symbol": 1, "seq": 2, "epoch": 1700000000000000000,
                 "ts": 1700000000123456790, "checksum": 0xE4AA64DC, "depth": 10,
                 "channel": "book", "status": "trading",
                 "bids": [(10040, 5, 2)], "asks": [(10050, 3, 1)]}, m


@check
def trade_update_and_heartbeat_dumps_decode():
    [t] = md.decode_binary(TRADE_DUMP)
    assert (t["seq"], t["prev"], t["trade_id"], t["price"], t["qty"], t["aggressor"]) == \
        (3, 0, 17, 10050, 2, "buy"), t
    [u] = md.decode_binary(UPDATE_DUMP)
    assert (u["seq"], u["prev"], u["checksum"], u["channel"], u["depth"]) == \
        (4, 2, 0xA68F63A1, "book", 10), u
    assert u["changes"] == [("sell", 10050, 1, 1)], u
    [h] = md.decode_binary(HEARTBEAT_DUMP)
    assert (h["seq"], h["epoch"], h["ts"], h["stream_last"], h["channel"], h["status"],
            h["depth"]) == (4, 1700000000000000000, 1700000001122456789, 4, "book",
                            "trading", 10), h


@check
def several_messages_in_one_binary_frame():
    frame = SNAPSHOT_DUMP + TRADE_DUMP + UPDATE_DUMP + HEARTBEAT_DUMP
    assert [m["type"] for m in md.decode_binary(frame)] == \
        ["snapshot", "trade", "book", "heartbeat"]


@check
def json_examples_equal_the_binary_ones():
    pairs = [(by_type("snapshot")[0], SNAPSHOT_DUMP), (by_type("trade")[0], TRADE_DUMP),
             (by_type("book")[0], UPDATE_DUMP), (by_type("heartbeat")[0], HEARTBEAT_DUMP)]
    for o, dump in pairs:
        [b] = md.decode_binary(dump)
        j = md.normalize_json(o)
        assert j == b, f"\njson   {j}\nbinary {b}"


@check
def worked_example_in_binary_keeps_the_book_and_verifies_both_checksums():
    state = fresh_state()
    for dump in (TRADE_DUMP, UPDATE_DUMP, HEARTBEAT_DUMP):
        for m in md.decode_binary(dump):
            state.data(m)
    assert state.stats["checksums"] == 2 and state.stats["resyncs"] == 0, state.stats
    assert state.actions == [], state.actions
    assert state.books[1].top(10) == ([(10040, 5, 2)], [(10050, 1, 1)])
    assert state.names == {1: "BTC-USD"}, state.names
    assert [t["trade_id"] for t in state.trades[1]] == [17]


@check
def worked_example_in_json_keeps_the_same_book():
    state = md.FeedState(depth=10)
    state.subscribe(["BTC-USD"], ["book", "trades", "bbo", "status"])
    state.answer(SUBSCRIBED_BOOK)
    state.answer(SUBSCRIBED_TRADES)
    for t in ("bbo", "status"):
        state.answer(dict(SUBSCRIBED_TRADES, channel=t))
    flow = [by_type("snapshot")[0], by_type("bbo", True)[0], by_type("status", True)[0],
            by_type("trade")[0], by_type("book")[0],
            by_type("heartbeat")[0]]
    for o in flow:
        state.data(md.normalize_json(o))
    assert state.stats["checksums"] == 2 and state.stats["resyncs"] == 0, \
        (state.stats, state.events)
    assert state.books[1].top(10) == ([(10040, 5, 2)], [(10050, 1, 1)])
    assert state.streams[(1, "bbo")].value["ask"] == (10050, 1, 1)
    # The halt and end of day follow on the status stream.
    for o in by_type("status"):
        state.data(md.normalize_json(o))
    assert state.stats["resyncs"] == 0, state.events
    assert state.streams[(1, "status")].value["event"] == "end_of_day"


@check
def json_tickers_keep_exact_integers_and_nulls():
    first, fresh = [md.normalize_json(o) for o in by_type("ticker")]
    assert (first["vwap"], first["notional"], first["volume"], first["trade_count"]) == \
        (10050, 20100, 2, 1), first
    assert first["notional"] == first["vwap"] * first["volume"]
    assert [fresh[k] for k in ("open", "high", "low", "last", "vwap")] == [None] * 5, fresh
    assert (fresh["seq"], fresh["prev"]) == (6, 3), fresh


@check
def a_gap_in_prev_resyncs_by_unsubscribe_then_subscribe():
    state = fresh_state()
    state.data(md.decode_binary(book_update(5, 3, [(2, 10050, 0, 0)], 0))[0])
    assert state.stats["resyncs"] == 1, state.events
    assert [(a["op"], a["symbols"], a["channels"]) for a in state.actions] == \
        [("unsubscribe", [1], ["book"]), ("subscribe", [1], ["book"])], state.actions
    # Until the fresh snapshot the stream's messages are dropped.
    state.data(md.decode_binary(UPDATE_DUMP)[0])
    assert state.stats["resyncs"] == 1
    state.answer({"type": "unsubscribed", "req_id": 2, "symbol": 1, "channel": "book"})
    state.answer(dict(SUBSCRIBED_BOOK, req_id=3))
    assert state.streams[(1, "book")].state == "snapshot"
    state.data(md.decode_binary(SNAPSHOT_DUMP)[0])
    state.data(md.decode_binary(UPDATE_DUMP)[0])
    assert state.stats["resyncs"] == 1 and state.stats["checksums"] == 3, state.stats


@check
def the_first_increment_must_straddle_the_snapshot():
    state = fresh_state()
    # prev 3 > S = 2: a message between the snapshot and this one is missing.
    state.data(md.decode_binary(book_update(5, 3, [(2, 10050, 1, 1)], 0xA68F63A1))[0])
    assert state.stats["resyncs"] == 1, state.events
    state = fresh_state()
    # seq <= S: older than the snapshot, skipped without harm.
    state.data(md.decode_binary(book_update(2, 1, [(2, 10050, 7, 1)], 0))[0])
    assert state.stats["resyncs"] == 0 and state.stats["skipped"] == 1, state.stats


@check
def a_checksum_mismatch_resyncs():
    state = fresh_state()
    state.data(md.decode_binary(book_update(4, 2, [(2, 10050, 1, 1)], 0xA68F63A2))[0])
    assert state.stats["resyncs"] == 1, state.events
    assert "checksum" in state.events[-1]["reason"], state.events[-1]


@check
def deleting_a_level_it_does_not_have_is_harmless():
    state = fresh_state()
    bids, asks = [(10040, 5, 2)], [(10050, 3, 1)]
    state.data(md.decode_binary(book_update(3, 2, [(1, 9000, 0, 0)],
                                            md.checksum(bids, asks)))[0])
    assert state.stats["resyncs"] == 0 and state.stats["checksums"] == 2, state.events


@check
def a_heartbeat_that_disagrees_resyncs():
    state = fresh_state()
    for dump in (TRADE_DUMP, UPDATE_DUMP):
        state.data(md.decode_binary(dump)[0])
    bad = bytearray(HEARTBEAT_DUMP)
    bad[0x28] = 5  # stream_last 5, but the last message of the stream was 4
    state.data(md.decode_binary(bytes(bad))[0])
    assert state.stats["resyncs"] == 1, state.events
    # Before any increment, stream_last may be any seq up to the snapshot's.
    state = fresh_state()
    quiet = bytearray(HEARTBEAT_DUMP)
    quiet[0x28] = 1
    state.data(md.decode_binary(bytes(quiet))[0])
    assert state.stats["resyncs"] == 0, state.events


@check
def a_new_epoch_resyncs_every_stream():
    state = fresh_state()
    new = bytearray(HEARTBEAT_DUMP)
    new[0x18] = 1
    state.data(md.decode_binary(bytes(new))[0])
    assert state.stats["resyncs"] == 2, state.events  # book and trades
    assert sorted(a["channels"][0] for a in state.actions if a["op"] == "subscribe") == \
        ["book", "trades"]


@check
def split_snapshot_and_update_are_applied_after_the_last_part():
    bids = [(10000 - i, i + 1, 1) for i in range(1500)]
    asks = [(10001 + i, i + 1, 1) for i in range(700)]
    levels = [(p, q, n, 1) for p, q, n in bids] + [(p, q, n, 2) for p, q, n in asks]
    crc = md.checksum(bids[:10], asks[:10])
    parts = []
    for at in range(0, len(levels), 1024):
        chunk = levels[at:at + 1024]
        nb = sum(1 for e in chunk if e[3] == 1)
        last = at + 1024 >= len(levels)
        parts.append(message(md.BOOK_SNAPSHOT, 1, 2,
                             (1700000000000000000, 0, crc, 1, 1, 0, nb, len(chunk) - nb),
                             chunk, 0 if last else md.CONTINUED))
    state = md.FeedState(depth=0)
    state.subscribe(["BTC-USD"], ["book"])
    state.answer(dict(SUBSCRIBED_BOOK, depth=0))
    for m in md.decode_binary(b"".join(parts)):
        state.data(m)
    assert state.stats == {"messages": 3, "checksums": 1, "resyncs": 0, "skipped": 0}, \
        state.stats
    assert len(state.books[1].bids) == 1500 and len(state.books[1].asks) == 700
    # An update of 1100 deletes in two parts, then checked once.
    deletes = [(1, p, 0, 0) for p, _q, _n in bids[:1100]]
    left = md.checksum(bids[1100:1110], asks[:10])
    frame = (book_update(3, 2, deletes[:1024], left, flags=md.CONTINUED)
             + book_update(3, 2, deletes[1024:], left))
    for m in md.decode_binary(frame):
        state.data(m)
    assert state.stats["checksums"] == 2 and state.stats["resyncs"] == 0, state.events
    assert len(state.books[1].bids) == 400


@check
def broken_headers_are_refused():
    good = UPDATE_DUMP
    cases = {
        "short": good[:20],
        "version 2": good[:5] + b"\x02" + good[6:],
        "unknown type": good[:4] + b"\xc8" + good[5:],
        "length off": struct.pack("<I", 96) + good[4:],
        "flag not used": good[:6] + b"\x02" + good[7:],
        "truncated": good[:-8],
        "entries on a trade": TRADE_DUMP[:12] + b"\x01\x00" + TRADE_DUMP[14:],
    }
    for name, data in cases.items():
        try:
            md.decode_binary(data)
        except md.FeedError:
            continue
        raise AssertionError(f"{name}: accepted")


@check
def unknown_types_and_fields_of_json_are_ignored():
    state = fresh_state()
    state.data(md.normalize_json({"type": "news", "symbol": 1, "seq": "9"}))
    o = dict(by_type("book")[0], extra="field")
    state.data(md.normalize_json(o))
    assert state.stats["resyncs"] == 0 and state.stats["checksums"] == 2, state.events


@check
def names_are_learned_from_the_answers_in_request_order():
    state = md.FeedState()
    state.subscribe(["BTC-USD", "DOGE-USD", "ETH-USD"], ["book"])
    state.answer(dict(SUBSCRIBED_BOOK, req_id=1))
    state.answer({"type": "error", "req_id": 1, "code": "unknown_symbol", "field": "symbols",
                  "symbol": "DOGE-USD", "message": "no such symbol"})
    state.answer(dict(SUBSCRIBED_BOOK, req_id=1, symbol=2, name="ETH-USD"))
    assert state.names == {1: "BTC-USD", 2: "ETH-USD"}, state.names
    state = md.FeedState()
    state.subscribe(["BTC-USD"], ["book"])
    state.answer(dict(SUBSCRIBED_BOOK, req_id=1, symbol=5, name="SOL-USD"))
    assert state.names == {5: "SOL-USD"}, "the answer's name wins"



def main():
    passed = failed = 0
    for fn in CHECKS:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
