#!/usr/bin/env python3
"""Issue 13: what 1,000 idle market-data subscribers cost a gateway shard
with no order flow at all. Starts `tradsys serve` (the given binary and
config: one parked shard), attaches K WebSocket subscribers to `book` and
`trades` of symbol 1 (raw sockets, standard library only), lets them sit
idle, and reads the shard thread's CPU time and timeslices
(/proc/PID/task/TID/schedstat) over WINDOW seconds, and how many bytes and
reads the subscribers got (heartbeats only: nothing trades). Prints one
line. Usage: 2026-11-27-md-oe10-idle.py TRADSYS CONFIG MD_PORT K WINDOW"""
import base64, os, selectors, socket, subprocess, sys, time

tradsys, config, port, k, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
try:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    sys.exit(f"port {port} is taken by another program")
except OSError:
    pass
server = subprocess.Popen([tradsys, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, "the gateway exited"
            assert time.time() < deadline, "the gateway did not listen within 30 s"
            time.sleep(0.1)

    def frame(text):
        payload, mask = text.encode(), b"\x01\x02\x03\x04"
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bytes([0x81, 0x80 | len(payload)]) + mask + masked

    sub = frame('{"op":"subscribe","symbols":[1],"channels":["book","trades"]}')
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(k):
        s = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(f"GET /md HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode() + sub)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)

    def pump(seconds):
        reads = got = 0
        end = time.time() + seconds
        while time.time() < end:
            for key, _ in sel.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                assert data, "the gateway closed a subscriber"
                reads += 1
                got += len(data)
        return reads, got

    pump(3.0)  # answers, snapshots, the first heartbeats
    pid = server.pid
    tid = next(t for t in os.listdir(f"/proc/{pid}/task")
               if open(f"/proc/{pid}/task/{t}/comm").read().strip() == "shard-0")
    stat = lambda: [int(x) for x in open(f"/proc/{pid}/task/{tid}/schedstat").read().split()]
    before = stat()
    reads, got = pump(window)
    after = stat()
    run_ms = (after[0] - before[0]) / 1e6 / window
    slices = (after[2] - before[2]) / window
    print(f"idle subscribers={k}: shard-0 cpu {run_ms:.2f} ms/s, {slices:.0f} timeslices/s; "
          f"subscribers got {got / window:.0f} bytes/s in {reads / window:.0f} reads/s")
finally:
    server.terminate()
    server.wait()
