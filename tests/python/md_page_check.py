"""Drives headless Chromium on examples/md.html and reads the page's text.

Chromium runs headless with a DevTools port; this script (Python
`websockets`) navigates it to the page and reads `document.body.innerText`
until the page shows what is expected, in real time (no virtual time: the
page holds a live WebSocket).

    md_page_check.py --browser chromium --url URL --ready TEXT... [--expect TEXT...]

1. waits (deadline) until every `--ready` text is in the page, prints
   `READY` and the page's text;
2. with `--expect`: reads one line from stdin (the caller makes trades
   meanwhile), then waits until every `--expect` text is in the page;
3. prints the page's text between `TEXT-BEGIN` and `TEXT-END`; exits 0 when
   everything expected was seen, 1 (with the text) when a deadline passed.

With `--doc-feed DOC`, the script first serves a feed itself, on loopback,
that answers a subscribe with the JSON examples of docs/MARKET_DATA.md (the
worked example: answers, snapshot and bbo, then after stdin's line the
trade, the book update and the bbo), and `{ws}` in `--url` is its address.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets


async def doc_feed(doc, go):
    """A WebSocket server that plays the document's worked example in JSON."""
    text = open(doc, encoding="utf-8").read()
    examples = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, re.S)]

    def first(t, snapshot=False, **match):
        return next(o for o in examples if o.get("type") == t
                    and bool(o.get("snapshot")) == snapshot
                    and all(o.get(k) == v for k, v in match.items()))

    async def serve(ws):
        request = json.loads(await ws.recv())
        assert request["op"] == "subscribe", request
        req = request["req_id"]
        await ws.send(json.dumps(dict(first("subscribed", channel="book"), req_id=req)))
        await ws.send(json.dumps(first("snapshot")))
        await ws.send(json.dumps(dict(first("subscribed", channel="book"), req_id=req,
                                      channel="bbo")))
        await ws.send(json.dumps(dict(first("bbo", True), seq="2")))
        await ws.send(json.dumps(dict(first("subscribed", channel="trades"), req_id=req)))
        await go.wait()
        for o in (first("trade"), first("book"), first("bbo")):
            await ws.send(json.dumps(o))
        await ws.wait_closed()

    server = await websockets.serve(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/md"


async def page_text(cdp, ids):
    ids[0] += 1
    await cdp.send(json.dumps({"id": ids[0], "method": "Runtime.evaluate", "params": {
        "expression": "document.body ? document.body.innerText : ''", "returnByValue": True}}))
    while True:
        answer = json.loads(await cdp.recv())
        if answer.get("id") == ids[0]:
            return answer["result"]["result"].get("value", "")


async def wait_for(cdp, ids, wanted, seconds):
    deadline = time.monotonic() + seconds
    while True:
        text = await page_text(cdp, ids)
        if all(w.replace("\\t", "\t") in text for w in wanted):
            return True, text
        if time.monotonic() > deadline:
            return False, text
        await asyncio.sleep(0.1)


def start_browser(browser, profile):
    process = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1000,1100", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + 60
    while not os.path.exists(port_file) or not open(port_file).read().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"{browser} did not start: {process.stderr.read().decode(errors='replace')}")
        time.sleep(0.05)
    port = int(open(port_file).read().split()[0])
    while True:
        try:
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        except OSError:
            targets = []
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return process, pages[0]["webSocketDebuggerUrl"]
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"{browser}: no page target")
        time.sleep(0.05)


async def main(args):
    go = asyncio.Event()
    url = args.url
    server = None
    if args.doc_feed:
        server, feed = await doc_feed(args.doc_feed, go)
        url = url.replace("{ws}", feed)
    profile = tempfile.mkdtemp(prefix="md-page-")
    browser, target = start_browser(args.browser, profile)
    try:
        async with websockets.connect(target, max_size=2 ** 26) as cdp:
            ids = [1]
            await cdp.send(json.dumps({"id": 1, "method": "Page.navigate",
                                       "params": {"url": url}}))
            ok, text = await wait_for(cdp, ids, args.ready, args.timeout)
            if not ok:
                print(f"TIMEOUT waiting for {args.ready}\nTEXT-BEGIN\n{text}\nTEXT-END")
                return 1
            print(f"READY\nTEXT-BEGIN\n{text}\nTEXT-END", flush=True)
            if not args.expect:
                return 0
            await asyncio.to_thread(sys.stdin.readline)
            go.set()
            ok, text = await wait_for(cdp, ids, args.expect, args.timeout)
            print(("DONE" if ok else f"TIMEOUT waiting for {args.expect}")
                  + f"\nTEXT-BEGIN\n{text}\nTEXT-END", flush=True)
            return 0 if ok else 1
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
        if server is not None:
            server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--browser", default="chromium")
    parser.add_argument("--url", required=True)
    parser.add_argument("--ready", nargs="+", default=[])
    parser.add_argument("--expect", nargs="*", default=[])
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--doc-feed", help="serve docs/MARKET_DATA.md's JSON examples")
    sys.exit(asyncio.run(main(parser.parse_args())))
