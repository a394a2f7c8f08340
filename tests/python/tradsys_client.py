"""tradsys order-entry protocol, version 2: a small blocking Python client.

Written from docs/PROTOCOL.md alone (standard library only). Every message is
a fixed-size little-endian record; see the section numbers in the comments.

    from tradsys_client import Session, Side, OrderKind, Tif
    s = Session.connect("127.0.0.1", 7001)   # or, over WebSocket (section 14):
    # s = Session.connect("127.0.0.1", 7002, websocket="/trade")
    acc = s.logon(1, "alice-demo-token")
    s.new_order(client_order_id=1, symbol=1, side=Side.SELL, price=5000000, qty=5)
    msg = s.recv()          # decoded gateway message (a Msg), or raises
"""

import select
import socket
import struct
import time

# --- section 1 / 2 / 3: conventions, header, framing ----------------------

VERSION = 2
HEADER = struct.Struct("<HBBI")  # length, msg_type, version, seq
HEADER_LEN = 8
MAX_MESSAGE_LEN = 256
SEQ_MOD = 1 << 32


def next_seq(seq):
    """Section 4: +1, wrapping from 4294967295 to 0."""
    return (seq + 1) % SEQ_MOD


# --- section 6: message index ---------------------------------------------

class MsgType:
    LOGON = 0x01
    LOGOUT = 0x02
    HEARTBEAT = 0x03
    NEW_ORDER = 0x04
    CANCEL_ORDER = 0x05
    REPLACE_ORDER = 0x06
    MASS_CANCEL = 0x07
    ORDER_STATUS_REQUEST = 0x08
    ORDER_QUERY = 0x09           # section 5.8
    OPEN_ORDERS_REQUEST = 0x0A   # section 5.8
    POSITIONS_REQUEST = 0x0B     # section 5.8
    REPLAY_REQUEST = 0x0C        # section 5.9
    DONE_ORDERS_REQUEST = 0x0D   # section 5.8
    LOGON_ACCEPTED = 0x81
    LOGON_REJECTED = 0x82
    GW_HEARTBEAT = 0x83
    ORDER_ACCEPTED = 0x84
    ORDER_REJECTED = 0x85
    FILL = 0x86
    ORDER_CANCELED = 0x87
    ORDER_REPLACED = 0x88
    CANCEL_REJECTED = 0x89
    MASS_CANCEL_DONE = 0x8A
    ORDER_STATUS = 0x8B
    SESSION_END = 0x8C
    POSITION = 0x8D              # section 5.8
    QUERY_DONE = 0x8E            # section 5.8
    REPLAY_STARTED = 0x8F        # section 5.9
    REPLAY_DONE = 0x90           # section 5.9
    DONE_ORDER = 0x91            # section 5.8


# --- section 9 / 10: enumerations and reason codes ------------------------

class Side:
    BUY = 1
    SELL = 2


class OrderKind:
    LIMIT = 1
    MARKET = 2


class Tif:
    GTC = 1
    DAY = 2
    IOC = 3
    FOK = 4


class Stp:
    DEFAULT = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2
    CANCEL_BOTH = 3


class Liquidity:
    AGGRESSOR = 1
    PASSIVE = 2


class OrderState:
    UNKNOWN = 0
    OPEN = 1
    FILLED = 2
    CANCELED = 3


REJECT_REASONS = {
    1: "UnknownSymbol", 2: "InvalidSide", 3: "InvalidOrderType",
    4: "InvalidTimeInForce", 5: "InvalidQty", 6: "InvalidPrice",
    7: "PriceNotOnTick", 8: "QtyNotOnLot", 9: "InvalidCombination",
    10: "InvalidStpMode",
    100: "UnknownOrder", 101: "WouldCrossPostOnly", 102: "OrderCapacity",
    103: "BookLevelCapacity", 104: "SymbolHalted", 105: "AccountKilled",
    106: "ReplaceBelowFilled", 107: "ReplaceNoChange",
    200: "MaxOrderQty", 201: "MaxOrderNotional", 202: "MaxOpenOrders",
    203: "MaxPosition", 204: "PriceBand", 205: "UnknownAccount",
    300: "NotLoggedOn", 301: "NotAuthorized", 302: "RateLimited",
    303: "SequenceGap", 304: "ShardBusy", 305: "JournalUnavailable",
    306: "UnknownStream", 307: "ReplayBeyondEnd",
}
RejectReason = type("RejectReason", (), {v: k for k, v in REJECT_REASONS.items()})

CANCEL_REASONS = {
    1: "Requested", 2: "ImmediateRemainder", 3: "FillOrKill", 4: "SelfTrade",
    5: "MassCancel", 6: "KillSwitch", 7: "Disconnect", 8: "Expired",
}
CancelReason = type("CancelReason", (), {v: k for k, v in CANCEL_REASONS.items()})

SESSION_END_REASONS = {
    1: "Logout", 2: "IdleTimeout", 3: "BadLength", 4: "UnknownMessageType",
    5: "WrongVersion", 6: "LengthMismatch", 7: "NotLoggedOn",
    8: "SequenceGap", 9: "Shutdown", 10: "LogonRejected",
    11: "SlowConsumer", 12: "DuplicateLogon", 13: "LogonTimeout",
    14: "JournalFailure", 15: "TransportError",
}
SessionEndReason = type("SessionEndReason", (), {v: k for k, v in SESSION_END_REASONS.items()})

LOGON_REJECT_REASONS = {
    1: "InvalidCredentials", 2: "UnsupportedFlags", 3: "SessionLimit",
    4: "ShuttingDown",
}
LogonRejectReason = type("LogonRejectReason", (), {v: k for k, v in LOGON_REJECT_REASONS.items()})


# --- sections 7 / 8: message bodies (after the 8-byte header) --------------
# Each entry: msg_type -> (name, total length, body struct, field names).
# Reserved fields are "x" pad bytes (sent as zero, ignored on receipt).

def _spec(name, length, fmt, fields):
    st = struct.Struct("<" + fmt)
    assert HEADER_LEN + st.size == length, (name, st.size)
    return (name, length, st, fields)


CLIENT_MESSAGES = {
    MsgType.LOGON: _spec("Logon", 56, "II32sB7x",
                         ("account", "heartbeat_interval_ms", "token", "flags")),
    MsgType.LOGOUT: _spec("Logout", 8, "", ()),
    MsgType.HEARTBEAT: _spec("Heartbeat", 8, "", ()),
    MsgType.NEW_ORDER: _spec("NewOrder", 48, "QIBBBBB7xqQ",
                             ("client_order_id", "symbol", "side", "order_kind",
                              "tif", "flags", "stp", "price", "qty")),
    MsgType.CANCEL_ORDER: _spec("CancelOrder", 32, "QQI4x",
                                ("client_order_id", "order_id", "symbol")),
    MsgType.REPLACE_ORDER: _spec("ReplaceOrder", 48, "QQI4xqQ",
                                 ("client_order_id", "order_id", "symbol",
                                  "new_price", "new_qty")),
    MsgType.MASS_CANCEL: _spec("MassCancel", 24, "QI4x",
                               ("client_order_id", "symbol")),
    MsgType.ORDER_STATUS_REQUEST: _spec("OrderStatusRequest", 32, "QQI4x",
                                        ("client_order_id", "order_id", "symbol")),
    # 0x09 OrderQuery: u64 client_order_id @8, u64 order_client_order_id @16,
    # u32 symbol @24, reserved[4] @28.
    MsgType.ORDER_QUERY: _spec("OrderQuery", 32, "QQI4x",
                               ("client_order_id", "order_client_order_id", "symbol")),
    # 0x0A OpenOrdersRequest: u64 client_order_id @8, u32 symbol @16,
    # u32 cursor_place @20, u64 cursor @24.
    MsgType.OPEN_ORDERS_REQUEST: _spec("OpenOrdersRequest", 32, "QIIQ",
                                       ("client_order_id", "symbol", "cursor_place",
                                        "cursor")),
    # 0x0B PositionsRequest: u64 client_order_id @8, u32 symbol @16,
    # u32 cursor_place @20. (No `cursor` field: 24 bytes.)
    MsgType.POSITIONS_REQUEST: _spec("PositionsRequest", 24, "QII",
                                     ("client_order_id", "symbol", "cursor_place")),
    # 0x0C ReplayRequest: u32 stream @8, reserved[4] @12, u64 after_report_seq @16.
    MsgType.REPLAY_REQUEST: _spec("ReplayRequest", 24, "I4xQ",
                                  ("stream", "after_report_seq")),
    # 0x0D DoneOrdersRequest: u64 client_order_id @8, u32 symbol @16,
    # u32 cursor_place @20, u64 cursor @24 (as OpenOrdersRequest).
    MsgType.DONE_ORDERS_REQUEST: _spec("DoneOrdersRequest", 32, "QIIQ",
                                       ("client_order_id", "symbol", "cursor_place",
                                        "cursor")),
}

# Version 2: the six order reports end with u64 report_seq, u32 stream,
# u32 account (section 5.9).
REPORT_TRAILER_FMT = "QII"
REPORT_TRAILER = ("report_seq", "stream", "account")

GATEWAY_MESSAGES = {
    MsgType.LOGON_ACCEPTED: _spec("LogonAccepted", 24, "III4x",
                                  ("account", "heartbeat_interval_ms",
                                   "next_expected_seq")),
    MsgType.LOGON_REJECTED: _spec("LogonRejected", 16, "H6x", ("reason",)),
    MsgType.GW_HEARTBEAT: _spec("Heartbeat", 8, "", ()),
    MsgType.ORDER_ACCEPTED: _spec("OrderAccepted", 72, "QQIBBBxqQQ" + REPORT_TRAILER_FMT,
                                  ("order_id", "client_order_id", "symbol", "side",
                                   "order_kind", "tif", "price", "qty",
                                   "timestamp_ns") + REPORT_TRAILER),
    MsgType.ORDER_REJECTED: _spec("OrderRejected", 48, "QIH2xQ" + REPORT_TRAILER_FMT,
                                  ("client_order_id", "symbol", "reason",
                                   "timestamp_ns") + REPORT_TRAILER),
    MsgType.FILL: _spec("Fill", 88, "QQQIBB2xqQQQ" + REPORT_TRAILER_FMT,
                        ("exec_id", "order_id", "client_order_id", "symbol", "side",
                         "liquidity", "price", "qty", "leaves_qty",
                         "timestamp_ns") + REPORT_TRAILER),
    MsgType.ORDER_CANCELED: _spec("OrderCanceled", 64, "QQIB3xQQ" + REPORT_TRAILER_FMT,
                                  ("order_id", "client_order_id", "symbol", "reason",
                                   "canceled_qty", "timestamp_ns") + REPORT_TRAILER),
    MsgType.ORDER_REPLACED: _spec("OrderReplaced", 80, "QQIB3xqQQQ" + REPORT_TRAILER_FMT,
                                  ("order_id", "client_order_id", "symbol",
                                   "kept_priority", "price", "qty", "leaves_qty",
                                   "timestamp_ns") + REPORT_TRAILER),
    MsgType.CANCEL_REJECTED: _spec("CancelRejected", 56, "QQIH2xQ" + REPORT_TRAILER_FMT,
                                   ("order_id", "client_order_id", "symbol", "reason",
                                    "timestamp_ns") + REPORT_TRAILER),
    MsgType.MASS_CANCEL_DONE: _spec("MassCancelDone", 32, "QIIH6x",
                                    ("client_order_id", "symbol", "canceled_count",
                                     "reject_reason")),
    MsgType.ORDER_STATUS: _spec("OrderStatus", 72, "QQQIBBHqQQQ",
                                ("client_order_id", "order_id",
                                 "order_client_order_id", "symbol", "side", "state",
                                 "reject_reason", "price", "qty", "leaves_qty",
                                 "filled_qty")),
    MsgType.SESSION_END: _spec("SessionEnd", 16, "H2xI", ("reason", "expected_seq")),
    # 0x8D Position: u64 client_order_id @8, u32 symbol @16, u32 open_orders @20,
    # i64 position @24, u64 realized_pnl_lo @32, i64 realized_pnl_hi @40,
    # u64 open_buy_qty @48, u64 open_sell_qty @56.
    MsgType.POSITION: _spec("Position", 64, "QIIqQqQQ",
                            ("client_order_id", "symbol", "open_orders", "position",
                             "realized_pnl_lo", "realized_pnl_hi", "open_buy_qty",
                             "open_sell_qty")),
    # 0x8E QueryDone: u64 client_order_id @8, u64 next_cursor @16,
    # u32 next_cursor_place @24, u32 count @28, u16 reject_reason @32,
    # u8 more @34, reserved[5] @35.
    MsgType.QUERY_DONE: _spec("QueryDone", 40, "QQIIHB5x",
                              ("client_order_id", "next_cursor", "next_cursor_place",
                               "count", "reject_reason", "more")),
    # 0x8F ReplayStarted: u32 stream @8, reserved[4] @12, u64 upto @16.
    MsgType.REPLAY_STARTED: _spec("ReplayStarted", 24, "I4xQ", ("stream", "upto")),
    # 0x90 ReplayDone: u32 stream @8, u16 reject_reason @12, reserved[2] @14,
    # u64 last @16, u64 count @24.
    MsgType.REPLAY_DONE: _spec("ReplayDone", 32, "IH2xQQ",
                               ("stream", "reject_reason", "last", "count")),
    # 0x91 DoneOrder: u64 client_order_id @8, u64 order_id @16,
    # u64 order_client_order_id @24, u32 symbol @32, u8 side @36, u8 state @37,
    # u8 cancel_reason @38, reserved[1] @39, u64 qty @40, u64 filled_qty @48,
    # i64 average_price @56, u64 notional_lo @64, u64 notional_hi @72.
    MsgType.DONE_ORDER: _spec("DoneOrder", 80, "QQQIBBBxQQqQQ",
                              ("client_order_id", "order_id", "order_client_order_id",
                               "symbol", "side", "state", "cancel_reason", "qty",
                               "filled_qty", "average_price", "notional_lo",
                               "notional_hi")),
}


def realized_pnl(position_msg):
    """Section 8, 0x8D: a signed 128-bit integer in two halves,
    realized_pnl_hi * 2^64 + realized_pnl_lo (hi signed, lo unsigned)."""
    return position_msg.realized_pnl_hi * (1 << 64) + position_msg.realized_pnl_lo


def notional(done_order_msg):
    """Section 8, 0x91: an unsigned 128-bit integer in two halves,
    notional_hi * 2^64 + notional_lo."""
    return done_order_msg.notional_hi * (1 << 64) + done_order_msg.notional_lo


def split_pnl(value):
    """The inverse of realized_pnl: (lo, hi) of a signed 128-bit value."""
    if not -(1 << 127) <= value < (1 << 127):
        raise ValueError("not an i128")
    lo = value & ((1 << 64) - 1)
    hi = (value - lo) >> 64
    return lo, hi


class Msg:
    """A decoded message: .name, .msg_type, .seq, .length and one attribute per field."""

    def __init__(self, name, msg_type, seq, length, fields):
        self.name = name
        self.msg_type = msg_type
        self.seq = seq
        self.length = length
        self.fields = fields
        self.__dict__.update(fields)

    def __repr__(self):
        body = ", ".join("%s=%r" % kv for kv in self.fields.items())
        return "%s(seq=%d%s)" % (self.name, self.seq, ", " + body if body else "")


class ProtocolError(Exception):
    """The gateway's bytes failed a framing or sequence check (section 3/4)."""


class Closed(Exception):
    """The gateway closed the connection."""


class Timeout(Exception):
    """Nothing matching arrived in time."""


def encode_token(token):
    raw = token.encode("ascii") if isinstance(token, str) else bytes(token)
    if len(raw) > 32:
        raise ValueError("token longer than 32 bytes")
    return raw  # struct "32s" pads with NUL


def encode(msg_type, seq, version=VERSION, length=None, **fields):
    """Encode a client message. `version` / `length` may be overridden to build
    deliberately malformed messages for tests."""
    name, fixed_len, st, names = CLIENT_MESSAGES[msg_type]
    values = []
    for n in names:
        v = fields.pop(n, 0)
        if n == "token":
            v = encode_token(v)
        values.append(v)
    if fields:
        raise TypeError("unknown fields for %s: %s" % (name, sorted(fields)))
    body = st.pack(*values)
    return HEADER.pack(fixed_len if length is None else length, msg_type, version,
                       seq % SEQ_MOD) + body


def encode_raw(length, msg_type, version, seq, body=b""):
    """Arbitrary header + body, for negative tests."""
    return HEADER.pack(length, msg_type, version, seq % SEQ_MOD) + body


def decode_header(buf):
    return HEADER.unpack_from(buf, 0)


def check_header(length, msg_type, version):
    """Section 3, steps 2-5, applied to gateway bytes. Returns the fixed spec."""
    if not (HEADER_LEN <= length <= MAX_MESSAGE_LEN):
        raise ProtocolError("BadLength: %d" % length)
    if version != VERSION:
        raise ProtocolError("WrongVersion: %d" % version)
    spec = GATEWAY_MESSAGES.get(msg_type)
    if spec is None:
        raise ProtocolError("UnknownMessageType: 0x%02x" % msg_type)
    if length != spec[1]:
        raise ProtocolError("LengthMismatch: %s length %d, expected %d"
                            % (spec[0], length, spec[1]))
    return spec


def decode(buf):
    """Decode one complete gateway message (bytes of exactly `length`)."""
    length, msg_type, version, seq = decode_header(buf)
    name, _, st, names = check_header(length, msg_type, version)
    values = st.unpack_from(buf, HEADER_LEN)
    return Msg(name, msg_type, seq, length, dict(zip(names, values)))


def decode_client(buf):
    """Decode a client message (used by self-tests against the doc's hex dumps)."""
    length, msg_type, version, seq = decode_header(buf)
    name, _, st, names = CLIENT_MESSAGES[msg_type]
    values = st.unpack_from(buf, HEADER_LEN)
    fields = dict(zip(names, values))
    if "token" in fields:
        fields["token"] = fields["token"].rstrip(b"\0").decode("ascii")
    return Msg(name, msg_type, seq, length, fields)


# --- section 14: the WebSocket transport -------------------------------------

WS_SUBPROTOCOL = "tradsys.oe.v1"
WS_MAX_MESSAGE = 65536


class WsSocket:
    """The socket calls Session makes, carried by a WebSocket (section 14):
    what is sent goes in binary messages of at most 65536 bytes; what the
    gateway sends arrives in binary messages that each hold whole protocol
    messages (checked here). Uses the third-party `websockets` package."""

    def __init__(self, url, timeout):
        from websockets.sync.client import connect  # a third-party client
        self.ws = connect(url, open_timeout=timeout, close_timeout=timeout,
                          subprotocols=[WS_SUBPROTOCOL], ping_interval=None,
                          max_size=WS_MAX_MESSAGE)
        self.timeout = timeout
        self.pending = b""
        self.close_code = None     # the gateway's Close code, once closed
        self.messages = 0          # binary messages received

    def setsockopt(self, *args):
        pass

    def settimeout(self, timeout):
        self.timeout = timeout

    def fileno(self):
        return self.ws.socket.fileno()

    def sendall(self, data):
        from websockets.exceptions import ConnectionClosed
        try:
            for i in range(0, max(len(data), 1), WS_MAX_MESSAGE):
                self.ws.send(bytes(data[i:i + WS_MAX_MESSAGE]))
        except ConnectionClosed as e:
            raise BrokenPipeError(str(e))

    def recv(self, n):
        from websockets.exceptions import ConnectionClosed
        if not self.pending:
            try:
                msg = self.ws.recv(timeout=self.timeout)
            except TimeoutError:
                raise socket.timeout()
            except ConnectionClosed as e:
                if e.rcvd is not None:
                    self.close_code = e.rcvd.code
                return b""
            if isinstance(msg, str):
                raise ProtocolError("a text message from the gateway")
            at = 0
            while at < len(msg):  # whole protocol messages only
                if len(msg) - at < HEADER_LEN:
                    raise ProtocolError("a WebSocket message ends inside a header")
                at += HEADER.unpack_from(msg, at)[0]
            if at != len(msg) or not msg:
                raise ProtocolError("a WebSocket message ends inside a message")
            self.messages += 1
            self.pending = msg
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self):
        self.ws.close()


class Session:
    """One TCP connection (or one WebSocket, section 14) = one session
    (section 1)."""

    def __init__(self, sock):
        self.sock = sock
        self.send_seq = 0          # seq of the last message sent
        self.recv_seq = 0          # seq of the last gateway message received
        self.buf = bytearray()
        self.heartbeat_s = None    # granted interval once logged on
        self.last_send = time.monotonic()
        self.last_recv = time.monotonic()
        self.closed = False
        self.check_gateway_seq = True

    # Session.connect's transport when none is given: None (TCP) or a
    # WebSocket path such as "/trade" (conformance.py --websocket).
    default_websocket = None

    @classmethod
    def connect(cls, host, port, timeout=5.0, websocket=None):
        path = websocket or cls.default_websocket
        if path:
            return cls(WsSocket("ws://%s:%d%s" % (host, port, path), timeout))
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # -- sending ---------------------------------------------------------

    def send_bytes(self, data):
        self.sock.sendall(data)
        self.last_send = time.monotonic()

    def send(self, msg_type, seq=None, **fields):
        """Send a client message with the next seq (or an explicit one, which
        then becomes the session's last sent seq). Returns the seq used."""
        if seq is None:
            seq = next_seq(self.send_seq)
        self.send_bytes(encode(msg_type, seq, **fields))
        self.send_seq = seq % SEQ_MOD
        return seq

    def logon(self, account, token, heartbeat_interval_ms=0, flags=0, timeout=5.0):
        """Send Logon, return LogonAccepted; raise on LogonRejected/SessionEnd."""
        self.send(MsgType.LOGON, account=account,
                  heartbeat_interval_ms=heartbeat_interval_ms, token=token, flags=flags)
        msg = self.recv(timeout=timeout)
        if msg.msg_type == MsgType.LOGON_ACCEPTED:
            self.heartbeat_s = msg.heartbeat_interval_ms / 1000.0
        return msg

    def logout(self):
        return self.send(MsgType.LOGOUT)

    def heartbeat(self):
        return self.send(MsgType.HEARTBEAT)

    def new_order(self, client_order_id, symbol, side, qty, price=0,
                  order_kind=OrderKind.LIMIT, tif=Tif.GTC, flags=0, stp=0):
        return self.send(MsgType.NEW_ORDER, client_order_id=client_order_id,
                         symbol=symbol, side=side, order_kind=order_kind, tif=tif,
                         flags=flags, stp=stp, price=price, qty=qty)

    def cancel(self, client_order_id, order_id, symbol):
        return self.send(MsgType.CANCEL_ORDER, client_order_id=client_order_id,
                         order_id=order_id, symbol=symbol)

    def replace(self, client_order_id, order_id, symbol, new_price, new_qty):
        return self.send(MsgType.REPLACE_ORDER, client_order_id=client_order_id,
                         order_id=order_id, symbol=symbol, new_price=new_price,
                         new_qty=new_qty)

    def mass_cancel(self, client_order_id, symbol=0):
        return self.send(MsgType.MASS_CANCEL, client_order_id=client_order_id,
                         symbol=symbol)

    def replay(self, stream, after_report_seq=0):
        """Section 5.9: ask for the reports of `stream` after a number."""
        return self.send(MsgType.REPLAY_REQUEST, stream=stream,
                         after_report_seq=after_report_seq)

    def status(self, client_order_id, order_id, symbol):
        return self.send(MsgType.ORDER_STATUS_REQUEST, client_order_id=client_order_id,
                         order_id=order_id, symbol=symbol)

    # -- section 5.8: account queries ----------------------------------

    def order_query(self, client_order_id, order_client_order_id, symbol):
        """OrderQuery: the account's open order on `symbol` whose current
        client_order_id is `order_client_order_id`; answered by one OrderStatus."""
        return self.send(MsgType.ORDER_QUERY, client_order_id=client_order_id,
                         order_client_order_id=order_client_order_id, symbol=symbol)

    def open_orders_request(self, client_order_id, symbol=0, cursor_place=0, cursor=0):
        """OpenOrdersRequest: one page (symbol 0 = every symbol)."""
        return self.send(MsgType.OPEN_ORDERS_REQUEST, client_order_id=client_order_id,
                         symbol=symbol, cursor_place=cursor_place, cursor=cursor)

    def positions_request(self, client_order_id, symbol=0, cursor_place=0):
        """PositionsRequest: one page (symbol 0 = every symbol). The message
        has only `cursor_place`; QueryDone's `next_cursor` has no field to go to."""
        return self.send(MsgType.POSITIONS_REQUEST, client_order_id=client_order_id,
                         symbol=symbol, cursor_place=cursor_place)

    def done_orders_request(self, client_order_id, symbol=0, cursor_place=0, cursor=0):
        """DoneOrdersRequest: one page (symbol 0 = every symbol)."""
        return self.send(MsgType.DONE_ORDERS_REQUEST, client_order_id=client_order_id,
                         symbol=symbol, cursor_place=cursor_place, cursor=cursor)

    def done_orders(self, client_order_id, symbol=0, max_pages=1000, timeout=5.0):
        """Every page of the account's done orders in the window (see
        open_orders): DoneOrder messages, symbol by symbol, newest first."""
        done_orders, pages, others = [], [], []
        cursor_place, cursor = 0, 0
        for _ in range(max_pages):
            self.done_orders_request(client_order_id, symbol, cursor_place, cursor)
            items, done, other = self.read_page(client_order_id, MsgType.DONE_ORDER,
                                                timeout)
            done_orders += items
            pages.append(done)
            others += other
            if done.reject_reason or not done.more:
                return done_orders, pages, others
            cursor_place, cursor = done.next_cursor_place, done.next_cursor
        raise Timeout("done orders: still `more` after %d pages" % max_pages)

    def read_page(self, client_order_id, item_type, timeout=5.0):
        """Read one page's answer: the OrderStatus (item_type ORDER_STATUS) or
        Position messages carrying the request's client_order_id, up to the
        QueryDone carrying it. Other messages (reports, heartbeats are skipped)
        are returned apart. Returns (items, done, others)."""
        items, others = [], []
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(timeout=max(deadline - time.monotonic(), 0.0))
            if m.msg_type == MsgType.QUERY_DONE and m.client_order_id == client_order_id:
                return items, m, others
            if m.msg_type == item_type and m.client_order_id == client_order_id:
                items.append(m)
            else:
                others.append(m)

    def open_orders_page(self, client_order_id, symbol=0, cursor_place=0, cursor=0,
                         timeout=5.0):
        self.open_orders_request(client_order_id, symbol, cursor_place, cursor)
        return self.read_page(client_order_id, MsgType.ORDER_STATUS, timeout)

    def positions_page(self, client_order_id, symbol=0, cursor_place=0, timeout=5.0):
        self.positions_request(client_order_id, symbol, cursor_place)
        return self.read_page(client_order_id, MsgType.POSITION, timeout)

    def open_orders(self, client_order_id, symbol=0, max_pages=1000, timeout=5.0,
                    cursor_place=0, cursor=0):
        """Every page of the account's open orders: send the request with cursor
        0/0, then again with QueryDone's next cursor while `more` is 1.
        Returns (orders, pages, others): the OrderStatus messages in the order
        received, every QueryDone, and any other message read meanwhile."""
        orders, pages, others = [], [], []
        for _ in range(max_pages):
            items, done, other = self.open_orders_page(client_order_id, symbol,
                                                       cursor_place, cursor, timeout)
            orders += items
            pages.append(done)
            others += other
            if done.reject_reason or not done.more:
                return orders, pages, others
            cursor_place, cursor = done.next_cursor_place, done.next_cursor
        raise Timeout("open orders: still `more` after %d pages" % max_pages)

    def positions(self, client_order_id, symbol=0, max_pages=1000, timeout=5.0):
        """Every page of the account's positions (see open_orders)."""
        positions, pages, others = [], [], []
        cursor_place = 0
        for _ in range(max_pages):
            items, done, other = self.positions_page(client_order_id, symbol,
                                                     cursor_place, timeout)
            positions += items
            pages.append(done)
            others += other
            if done.reject_reason or not done.more:
                return positions, pages, others
            cursor_place = done.next_cursor_place
        raise Timeout("positions: still `more` after %d pages" % max_pages)

    # -- receiving -------------------------------------------------------

    def _try_take(self):
        """Section 3: frame one message from self.buf if complete."""
        if len(self.buf) < HEADER_LEN:
            return None
        length, msg_type, version, seq = decode_header(self.buf)
        check_header(length, msg_type, version)  # before the body arrives
        if len(self.buf) < length:
            return None
        raw = bytes(self.buf[:length])
        del self.buf[:length]
        msg = decode(raw)
        if self.check_gateway_seq:
            want = next_seq(self.recv_seq)
            if msg.seq != want:
                raise ProtocolError("gateway seq %d, expected %d" % (msg.seq, want))
        self.recv_seq = msg.seq
        self.last_recv = time.monotonic()
        return msg

    def _heartbeat_if_writable(self):
        """Send a due Heartbeat without ever blocking the reader: if the socket
        cannot take it now (the gateway is not reading us), try again later."""
        try:
            _, w, _ = select.select([], [self.sock], [], 0)
            if w:
                self.heartbeat()
            else:
                self.last_send = time.monotonic()
        except OSError:  # peer gone; the read path reports it
            self.heartbeat_s = None

    def recv(self, timeout=5.0, skip_heartbeats=True):
        """Next gateway message. Sends our own Heartbeat when due while waiting
        (section 5.2). Raises Timeout, Closed or ProtocolError."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self._try_take()
            if msg is not None:
                if skip_heartbeats and msg.msg_type == MsgType.GW_HEARTBEAT:
                    continue
                return msg
            now = time.monotonic()
            if now >= deadline:
                raise Timeout("no message within %.1f s" % timeout)
            wait = deadline - now
            if self.heartbeat_s:
                due = self.last_send + self.heartbeat_s
                if now >= due:
                    self._heartbeat_if_writable()
                    continue
                wait = min(wait, due - now)
            self.sock.settimeout(max(wait, 0.001))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                raise Closed("connection reset")
            if not data:
                if self.buf:
                    raise Closed("closed mid-message (%d bytes pending)" % len(self.buf))
                raise Closed("connection closed")
            self.buf += data

    def recv_until(self, pred, timeout=5.0):
        """Collect messages until pred(msg) is true; return (matching, all)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            msg = self.recv(timeout=max(deadline - time.monotonic(), 0.0))
            seen.append(msg)
            if pred(msg):
                return msg, seen

    def drain(self, quiet=0.2):
        """Read whatever arrives until `quiet` seconds pass with nothing."""
        out = []
        while True:
            try:
                out.append(self.recv(timeout=quiet))
            except (Timeout, Closed):
                return out

    def wait_closed(self, timeout=5.0):
        """True if the gateway closes the connection (EOF/reset) in time; any
        messages that arrive before the close are returned in the list."""
        deadline = time.monotonic() + timeout
        extra = []
        while True:
            try:
                extra.append(self.recv(timeout=max(deadline - time.monotonic(), 0.0),
                                       skip_heartbeats=False))
            except Closed:
                return True, extra
            except Timeout:
                return False, extra
