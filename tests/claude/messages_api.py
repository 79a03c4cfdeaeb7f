#!/usr/bin/env python3
"""A scripted stand-in for the Anthropic Messages API, for taskgate's tests
that run the real Claude Code binary offline.

It owns one loopback HTTP server (python3 stdlib only) on a free port that
answers what Claude Code calls: POST /v1/messages (streamed as server-sent
events, or one JSON body when the request does not ask for a stream),
POST /v1/messages/count_tokens, and a 404 JSON error for anything else.  It
records every request (method, path, headers, parsed body, time) so a test
can check what the agent was told.

What /v1/messages answers is scripted.  A step is a dict:
    {"text": "..."}                         an assistant answer; any step
                                            that answers takes "input_tokens"
                                            (the usage it reports)
    {"tool_use": {"name": "Bash", "input": {...}}, "text": "optional lead"}
    {"error": "rate_limit"}                 429 rate_limit_error; "retry_after"
                                            (s, default 3600) and "reset_in"
                                            (s, the anthropic-ratelimit-*-reset
                                            headers, default 3600)
    {"error": "too_long", "tokens": N, "limit": M}
                                            400 invalid_request_error
    {"error": "overloaded"}                 529 overloaded_error
    {"error": "server"}                     500 api_error
    {"hang": true}                          never answers (until stop()
                                            or release())
Calls with "tools" in their body take the next step of the queue set by
script(); when the queue is empty they get `default`.  Calls without
"tools" (side calls, e.g. a session title) get `side` (a short text unless
set), so an error scenario may set side to the same error.  Claude Code
2.1.332 was seen making only calls with "tools": one per turn, plus the
summary calls of a compaction (see OBSERVED.md).

Use it in-process (MessagesAPI().start()) or as a program
(`messages_api.py [--port N]`, prints the port), with the control
endpoint: POST /_control/script {"steps": [...], "default": step,
"side": step}, GET /_control/requests, POST /_control/reset,
POST /_control/release (lets hung requests go with a 529).
"""

import argparse
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_FALLBACK = "claude-sonnet-4-5"


def _tool_result_text(block):
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return ""


class Request:
    """One request the stand-in received."""

    def __init__(self, method, path, headers, body, raw):
        self.time = time.monotonic()
        self.wall = time.time()
        self.method = method
        self.path = path
        self.headers = headers  # dict, lower-case names
        self.body = body        # parsed JSON or None
        self.raw = raw          # bytes

    @property
    def is_main(self):
        return isinstance(self.body, dict) and bool(self.body.get("tools"))

    def messages(self):
        if isinstance(self.body, dict):
            return self.body.get("messages") or []
        return []

    def last_user_text(self):
        """The text of the last user turn (text blocks and tool results
        joined), or "" when there is none.  Claude Code also puts "system"
        turns among the messages (a Stop hook's reason comes as one):
        those are left out here; see texts()."""
        for msg in reversed(self.messages()):
            if msg.get("role") != "user":
                continue
            content = msg.get("content")
            if isinstance(content, str):
                return content
            parts = []
            for block in content or []:
                if block.get("type") == "text":
                    parts.append(block.get("text", ""))
                elif block.get("type") == "tool_result":
                    parts.append(_tool_result_text(block))
            return "\n".join(parts)
        return ""

    def texts(self):
        """Every text of every message, in order, whatever its role."""
        out = []
        for msg in self.messages():
            content = msg.get("content")
            if isinstance(content, str):
                out.append(content)
                continue
            for block in content or []:
                if block.get("type") == "text":
                    out.append(block.get("text", ""))
                elif block.get("type") == "tool_result":
                    out.append(_tool_result_text(block))
        return out

    def as_dict(self):
        return {"time": self.wall, "method": self.method, "path": self.path,
                "headers": self.headers, "body": self.body}


class MessagesAPI:
    def __init__(self, port=0, host="127.0.0.1"):
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.requests = []
        self.steps = []
        self.default = {"text": "OK."}
        self.side = {"text": "Session"}
        self.served = []        # (path, step) in order, for the main and side calls
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                api._handle(self, "GET")

            def do_POST(self):
                api._handle(self, "POST")

            def do_HEAD(self):
                api._handle(self, "HEAD")

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = None

    # --- lifecycle -------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    # --- the script ------------------------------------------------------

    def script(self, steps=(), default=None, side=None):
        with self._lock:
            self.steps = list(steps)
            if default is not None:
                self.default = default
            if side is not None:
                self.side = side

    def reset(self):
        with self._lock:
            self.requests = []
            self.served = []

    def release(self):
        """Lets every hung request end (with a 529)."""
        self._release.set()

    def message_requests(self, main=None):
        with self._lock:
            reqs = [r for r in self.requests if r.path.split("?")[0] == "/v1/messages"]
        if main is None:
            return reqs
        return [r for r in reqs if r.is_main == main]

    def paths(self):
        with self._lock:
            return [(r.method, r.path) for r in self.requests]

    def _next_step(self, req):
        with self._lock:
            if not req.is_main:
                step = self.side
            elif self.steps:
                step = self.steps.pop(0)
            else:
                step = self.default
            self.served.append((req.path, step))
            return step

    # --- HTTP ------------------------------------------------------------

    def _handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in h.headers.items()}
        req = Request(method, h.path, headers, body, raw)
        path = h.path.split("?")[0]
        if not path.startswith("/_control/"):
            with self._lock:
                self.requests.append(req)
        if path.startswith("/_control/"):
            return self._control(h, method, path, body)
        if method == "POST" and path == "/v1/messages":
            return self._messages(h, req)
        if method == "POST" and path == "/v1/messages/count_tokens":
            return self._json(h, 200, {"input_tokens": self._estimate(req)})
        return self._json(h, 404, {"type": "error", "error": {
            "type": "not_found_error", "message": "Not found: %s" % path}})

    def _control(self, h, method, path, body):
        if path == "/_control/script" and isinstance(body, dict):
            self.script(body.get("steps", ()), body.get("default"), body.get("side"))
            return self._json(h, 200, {"ok": True})
        if path == "/_control/requests":
            with self._lock:
                out = [r.as_dict() for r in self.requests]
            return self._json(h, 200, out)
        if path == "/_control/reset":
            self.reset()
            return self._json(h, 200, {"ok": True})
        if path == "/_control/release":
            self.release()
            return self._json(h, 200, {"ok": True})
        return self._json(h, 404, {"error": "unknown control"})

    @staticmethod
    def _estimate(req):
        return max(1, len(req.raw) // 4)

    def _json(self, h, status, obj, extra=()):
        data = json.dumps(obj).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
            for name, value in extra:
                h.send_header(name, value)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # the client gave up (an interrupt)

    def _error(self, h, step):
        kind = step["error"]
        if kind == "rate_limit":
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
                time.time() + step.get("reset_in", 3600)))
            retry = str(step.get("retry_after", 3600))
            return self._json(h, 429, {"type": "error", "error": {
                "type": "rate_limit_error",
                "message": step.get("message", "This request would exceed your account's "
                                    "rate limit. Please try again later.")}},
                extra=[("retry-after", retry),
                       ("anthropic-ratelimit-requests-limit", "50"),
                       ("anthropic-ratelimit-requests-remaining", "0"),
                       ("anthropic-ratelimit-requests-reset", reset),
                       ("anthropic-ratelimit-tokens-limit", "40000"),
                       ("anthropic-ratelimit-tokens-remaining", "0"),
                       ("anthropic-ratelimit-tokens-reset", reset),
                       ("anthropic-ratelimit-input-tokens-reset", reset),
                       ("anthropic-ratelimit-output-tokens-reset", reset)])
        if kind == "too_long":
            tokens = step.get("tokens", 212000)
            limit = step.get("limit", 200000)
            return self._json(h, 400, {"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: %d tokens > %d maximum" % (tokens, limit)}})
        if kind == "overloaded":
            return self._json(h, 529, {"type": "error", "error": {
                "type": "overloaded_error", "message": "Overloaded"}})
        return self._json(h, 500, {"type": "error", "error": {
            "type": "api_error", "message": "Internal server error"}})

    def _messages(self, h, req):
        step = self._next_step(req)
        if step.get("hang"):
            self._release.wait()
            return self._error(h, {"error": "overloaded"})
        if "error" in step:
            return self._error(h, step)
        body = req.body if isinstance(req.body, dict) else {}
        model = body.get("model") or MODEL_FALLBACK
        blocks = []
        if step.get("text"):
            blocks.append({"type": "text", "text": step["text"]})
        if step.get("tool_use"):
            tool = step["tool_use"]
            blocks.append({"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24],
                           "name": tool["name"], "input": tool.get("input", {})})
        if not blocks:
            blocks.append({"type": "text", "text": "OK."})
        stop = "tool_use" if step.get("tool_use") else "end_turn"
        usage_in = step.get("input_tokens", self._estimate(req))
        usage_out = sum(len(json.dumps(b)) // 4 + 1 for b in blocks)
        msg_id = "msg_" + uuid.uuid4().hex[:24]
        if not body.get("stream"):
            return self._json(h, 200, {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": blocks, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": usage_out,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        h.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        h.end_headers()
        h.close_connection = True

        def event(name, data):
            h.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
            h.wfile.flush()

        try:
            event("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": 1,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})
            for i, block in enumerate(blocks):
                if block["type"] == "text":
                    event("content_block_start", {"type": "content_block_start", "index": i,
                                                  "content_block": {"type": "text", "text": ""}})
                    text = block["text"]
                    for k in range(0, len(text), 40):
                        event("content_block_delta", {
                            "type": "content_block_delta", "index": i,
                            "delta": {"type": "text_delta", "text": text[k:k + 40]}})
                else:
                    event("content_block_start", {"type": "content_block_start", "index": i,
                                                  "content_block": {
                                                      "type": "tool_use", "id": block["id"],
                                                      "name": block["name"], "input": {}}})
                    event("content_block_delta", {
                        "type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta",
                                  "partial_json": json.dumps(block["input"])}})
                event("content_block_stop", {"type": "content_block_stop", "index": i})
            event("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": stop, "stop_sequence": None},
                                    "usage": {"output_tokens": usage_out}})
            event("message_stop", {"type": "message_stop"})
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    api = MessagesAPI(port=args.port).start()
    print(api.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    api.stop()


if __name__ == "__main__":
    main()
