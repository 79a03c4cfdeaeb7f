#!/usr/bin/env python3
"""tc-double: a faithful test double of the Task Copilot HTTP API (upstream 4ed4d89).

This file owns the double: it loads the captured fixtures in
../fixtures/task-copilot, keeps a task model built from them, computes the
model-derived routes (/api/streams, /api/streams/{id}, /api/tasks,
/api/activity, checkpoint POST errors) on every request, replays the
routes that cannot be derived (/health, stream health, checkpoint lookups,
successful checkpoint POSTs) from a capture timeline, and offers a control
API under /__double/ plus fault modes and a live demo.  Standard library only.
See README.md next to it for the full description.
"""

import argparse
import functools
import io
import ipaddress
import json
import math
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from http import HTTPStatus
from http.client import parse_headers
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

MAX_HEAD_BYTES = 16384          # Node's default max header size: beyond it, 431
HEAD_READ_CAP = 1 << 20         # read this much of an oversized head before answering
KEEP_ALIVE_SECONDS = 72         # Fastify keepAliveTimeout
ACTIVE_WINDOW_MS = 5 * 60 * 1000
HUGE_BODY_BYTES = 9 * 1024 * 1024
LOG_SIZE = 200
GARBAGE_BODY = b"<html>garbage</html>"
JSON_TYPE = "application/json; charset=utf-8"

PHASE_ORDER = {"foundation": 0, "parallel": 1, "integration": 2}
STATUSES = ("pending", "in_progress", "blocked", "completed", "cancelled")
TRIGGERS = ("auto_status", "auto_subtask", "manual", "error")
TASK_KEYS = ("id", "prdId", "parentId", "title", "description", "assignedAgent",
             "status", "blockedReason", "notes", "metadata", "createdAt", "updatedAt")
MUTABLE_TASK_KEYS = ("status", "title", "notes", "blockedReason", "assignedAgent", "updatedAt", "worktreePath")
AGENT_NAMES = {"me": "Engineer", "ta": "Tech Architect", "qa": "QA Engineer",
               "sec": "Security", "doc": "Documentation", "do": "DevOps",
               "sd": "Service Designer", "uxd": "UX Designer", "uids": "UI Designer",
               "uid": "UI Developer", "cw": "Copywriter"}
# Query parameters that upstream binds into SQL: a repeated one makes
# better-sqlite3 fail with "Too many parameter values were provided".
SQL_BOUND_PARAMS = {
    "streams": ("initiativeId",),
    "tasks": ("status", "streamId", "assignedAgent", "prdId"),
    "activity": ("streamId",),
    "checkpoints": ("streamId", "taskId"),
}
# Node's reason phrases where Python's differ.
NODE_REASONS = {413: "Payload Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable"}
MODES = ("up", "garbage", "slow", "huge", "status", "reset")
PROGRESS_AFTER_PREFIX = "progress-after-"
DEMO_PAUSE_STEPS = 2
# Steps Stream-D waits for its decision in each story: with contrib/demo's
# 8 s steps and one-minute stall timeout, long enough to be seen stalled.
DEMO_STALL_STEPS = 10


class BadInput(Exception):
    """Bad control-API input: answered with 400."""


# --------------------------------------------------------------------------
# Small helpers: JSON, time, query strings


def dump(obj):
    """Compact JSON bytes, as Fastify's serializer writes them."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def iso_from_ms(ms):
    """Epoch milliseconds -> 2026-11-26T10:29:20.802Z."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % millis


def ms_from_iso(text):
    """ISO-8601 (Z or offset; naive means UTC) -> epoch milliseconds."""
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return (stamp - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


def js_round(value):
    """Math.round: halves go up."""
    return math.floor(value + 0.5)


def js_parse_int(text):
    """parseInt(text): the leading integer, or None for NaN."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else None


def parse_query(query_string):
    """Node-style query parsing: name -> str, or list of str when repeated."""
    query = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name not in query:
            query[name] = value
        elif isinstance(query[name], list):
            query[name].append(value)
        else:
            query[name] = [query[name], value]
    return query


def text_param(query, name):
    """A query value as upstream's JS sees it when truthy-tested: '' counts as absent."""
    value = query.get(name)
    if isinstance(value, list):
        return ",".join(value)
    return value or None


def repeated_sql_param(route, query):
    return any(isinstance(query.get(name), list) for name in SQL_BOUND_PARAMS.get(route, ()))


def like_to_regex(pattern):
    """SQLite LIKE (ASCII case-insensitive, % and _ wildcards) as a compiled regex."""
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


class Clock:
    """Real time, or a frozen instant given with --now."""

    def __init__(self, frozen_ms=None):
        self.frozen_ms = frozen_ms

    @property
    def frozen(self):
        return self.frozen_ms is not None

    def now_ms(self):
        return self.frozen_ms if self.frozen else time.time_ns() // 1_000_000

    def now_iso(self):
        return iso_from_ms(self.now_ms())


# --------------------------------------------------------------------------
# Fixtures: the manifest timeline and the data the model starts from


@dataclass(frozen=True)
class Row:
    index: int
    name: str
    method: str
    path_query: str
    request_body: str      # "-" = none
    status: int
    body: bytes


class Fixtures:
    def __init__(self, directory):
        self.directory = directory
        self.rows = self._load_manifest()
        self.ids = self._load_ids()

    def path(self, name):
        return os.path.join(self.directory, name)

    def json(self, name):
        with open(self.path(name + ".json"), encoding="utf-8") as handle:
            return json.load(handle)

    def _load_manifest(self):
        rows = []
        with open(self.path("MANIFEST.tsv"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()[1:]
        for index, line in enumerate(lines):
            name, method, path_query, request_body, status, _ = line.split("\t")
            with open(self.path(name + ".json"), "rb") as body:
                rows.append(Row(index, name, method, path_query, request_body, int(status), body.read()))
        return rows

    def _load_ids(self):
        with open(self.path("IDS.tsv"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()[1:]
        return {fields[0]: fields[2] for fields in (line.split("\t") for line in lines)}

    def row_named(self, name):
        for row in self.rows:
            if row.name == name:
                return row
        raise BadInput("unknown manifest row: %s" % name)

    def first_progress_after(self):
        return next(row.index for row in self.rows if row.name.startswith(PROGRESS_AFTER_PREFIX))


# --------------------------------------------------------------------------
# The task model and the responses computed from it


class Model:
    """Tasks, their archival, PRD->initiative links and per-task agent activity."""

    def __init__(self, tasks=(), archived=None, prd_initiative=None, current_initiative=None, activities=None):
        self.tasks = {task["id"]: task for task in tasks}
        self.archived = archived or {}                # task id -> {archivedAt, archivedByInitiativeId}
        self.prd_initiative = prd_initiative or {}
        self.current_initiative = current_initiative
        self.activities = activities or {}            # task id -> activity record

    @classmethod
    def initial(cls, fixtures):
        ids = fixtures.ids
        current = fixtures.json("tasks-list")["tasks"]
        legacy_stream = fixtures.json("stream-L-include-archived")
        legacy = legacy_stream["tasks"]
        archival = {key: legacy_stream[key] for key in ("archivedAt", "archivedByInitiativeId")}
        prd_initiative = {task["prdId"]: ids["INIT"] for task in current}
        prd_initiative.update({task["prdId"]: ids["INIT_LEGACY"] for task in legacy})
        activities = {}
        for record in fixtures.json("activity-active-false")["activities"]:
            activities[record["taskId"]] = {key: record[key] for key in
                                            ("streamId", "agentId", "activityDescription", "phase",
                                             "startedAt", "lastHeartbeat") if key in record}
        return cls(current + legacy, {task["id"]: dict(archival) for task in legacy},
                   prd_initiative, ids["INIT"], activities)

    # -- queries over the model

    def by_created(self):
        return sorted(self.tasks.values(), key=lambda task: task["createdAt"])

    def is_archived(self, task):
        return task["id"] in self.archived

    @staticmethod
    def stream_of(task):
        return task.get("metadata", {}).get("streamId")

    def stream_tasks(self, stream_id):
        return [task for task in self.by_created() if self.stream_of(task) == stream_id]

    def in_progress_task(self, stream_id):
        return next((task for task in self.stream_tasks(stream_id) if task["status"] == "in_progress"), None)

    # -- mutation

    def mutate(self, task_id, changes, now_iso):
        """Apply control-API changes to one task; a move to in_progress writes a heartbeat."""
        task = dict(self.tasks[task_id])
        entering_progress = changes.get("status") == "in_progress" and task["status"] != "in_progress"
        changes = dict(changes)
        if "worktreePath" in changes:
            # metadata.worktreePath, which agents write and the stream list copies.
            metadata = dict(task.get("metadata", {}))
            metadata["worktreePath"] = changes.pop("worktreePath")
            if not metadata["worktreePath"]:
                del metadata["worktreePath"]
            task["metadata"] = metadata
        task.update(changes)
        if "status" in changes and changes["status"] != "blocked" and "blockedReason" not in changes:
            task.pop("blockedReason", None)
        task["updatedAt"] = changes.get("updatedAt") or now_iso
        task = self.tasks[task_id] = canonical_task(task)
        if entering_progress and task.get("assignedAgent"):
            self._heartbeat(task, now_iso)

    def _heartbeat(self, task, now_iso):
        metadata = task.get("metadata", {})
        record = {"streamId": metadata.get("streamId"), "agentId": task["assignedAgent"],
                  "activityDescription": task["title"], "phase": metadata.get("phase"),
                  "startedAt": now_iso, "lastHeartbeat": now_iso}
        self.activities[task["id"]] = {key: value for key, value in record.items() if value}


def canonical_task(task):
    """A task with its keys in upstream order; empty optional fields omitted."""
    return {key: task[key] for key in TASK_KEYS if task.get(key) not in (None, "")}


def count_status(tasks, status):
    return sum(1 for task in tasks if task["status"] == status)


def progress(tasks):
    return js_round(count_status(tasks, "completed") / len(tasks) * 100) if tasks else 0


def union(lists):
    """Items of all lists, each once, in first-seen order."""
    seen = []
    for items in lists:
        for item in items:
            if item not in seen:
                seen.append(item)
    return seen


def derived_status(tasks):
    if all(task["status"] == "completed" for task in tasks):
        return "completed"
    for status in ("blocked", "in_progress"):
        if any(task["status"] == status for task in tasks):
            return status
    return "pending"


def add_location(entry, first_metadata):
    for key in ("worktreePath", "branchName"):
        if first_metadata.get(key):
            entry[key] = first_metadata[key]


def stream_summary(stream_id, tasks):
    metadata = tasks[0]["metadata"]
    entry = {"streamId": stream_id, "streamName": metadata.get("streamName"),
             "streamPhase": metadata.get("streamPhase"), "totalTasks": len(tasks),
             "completedTasks": count_status(tasks, "completed"),
             "inProgressTasks": count_status(tasks, "in_progress"),
             "blockedTasks": count_status(tasks, "blocked"),
             "pendingTasks": count_status(tasks, "pending"),
             "files": union(task["metadata"].get("files", []) for task in tasks),
             "dependencies": union(task["metadata"].get("streamDependencies", []) for task in tasks)}
    add_location(entry, metadata)
    entry["progressPercentage"] = progress(tasks)
    return entry


def compute_streams(model, query):
    initiative = text_param(query, "initiativeId") or model.current_initiative
    include_archived = query.get("includeArchived") == "true"
    groups = {}
    for task in model.by_created():
        in_scope = model.prd_initiative.get(task.get("prdId")) == initiative
        if in_scope and model.stream_of(task) and (include_archived or not model.is_archived(task)):
            groups.setdefault(model.stream_of(task), []).append(task)
    streams = [stream_summary(stream_id, tasks) for stream_id, tasks in groups.items()]
    streams.sort(key=lambda s: (PHASE_ORDER.get(s["streamPhase"], len(PHASE_ORDER)), s["streamName"] or ""))
    return {"streams": streams, "totalStreams": len(streams)}


def compute_stream(model, stream_id, query):
    """The stream detail, or None for the 404."""
    tasks = model.stream_tasks(stream_id)
    if query.get("includeArchived") != "true":
        tasks = [task for task in tasks if not model.is_archived(task)]
    if not tasks:
        return None
    metadata = tasks[0]["metadata"]
    detail = {"streamId": stream_id, "streamName": metadata.get("streamName"),
              "streamPhase": metadata.get("streamPhase"), "tasks": tasks,
              "dependencies": metadata.get("streamDependencies", []), "status": derived_status(tasks)}
    add_location(detail, metadata)
    archived = [model.archived[task["id"]] for task in tasks if model.is_archived(task)]
    detail["archived"] = bool(archived)
    if archived:
        detail.update(archived[0])
    detail["progressPercentage"] = progress(tasks)
    return detail


def compute_tasks(model, query):
    filters = {"status": lambda t: t["status"], "streamId": model.stream_of,
               "assignedAgent": lambda t: t.get("assignedAgent"), "prdId": lambda t: t.get("prdId")}
    tasks = [task for task in reversed(model.by_created()) if not model.is_archived(task)]
    for name, field in filters.items():
        wanted = text_param(query, name)
        if wanted:
            tasks = [task for task in tasks if field(task) == wanted]
    limit = js_parse_int(text_param(query, "limit") or "")
    if limit is not None and limit >= 1:
        tasks = tasks[:limit]
    return {"tasks": tasks, "totalTasks": len(tasks)}


def compute_activity(model, query, now_ms):
    active_only = query.get("active") != "false"
    stream_id = text_param(query, "streamId")
    listed = []
    for task_id, record in model.activities.items():
        task = model.tasks.get(task_id)
        if task is None or (active_only and task["status"] == "completed"):
            continue
        if stream_id and record["streamId"] != stream_id:
            continue
        listed.append(activity_entry(task, record, now_ms))
    listed.sort(key=lambda entry: entry["lastHeartbeat"], reverse=True)
    active = sum(1 for entry in listed if entry["isActive"])
    return {"activities": listed, "totalActive": active, "totalIdle": len(listed) - active}


def activity_entry(task, record, now_ms):
    entry = {"streamId": record["streamId"],
             "streamName": task["metadata"].get("streamName") or record["streamId"],
             "agentId": record["agentId"], "agentName": AGENT_NAMES.get(record["agentId"], record["agentId"]),
             "taskId": task["id"], "taskTitle": task["title"]}
    for key in ("activityDescription", "phase"):
        if record.get(key):
            entry[key] = record[key]
    entry.update(startedAt=record["startedAt"], lastHeartbeat=record["lastHeartbeat"],
                 isActive=now_ms - ms_from_iso(record["lastHeartbeat"]) < ACTIVE_WINDOW_MS)
    return entry


# --------------------------------------------------------------------------
# Routing


def split_target(target):
    """'/path?query' -> ('/path', 'query')."""
    path, _, query_string = target.partition("?")
    return path, query_string


@dataclass
class Request:
    method: str
    target: str          # as received: path + query
    headers: object      # http.client.HTTPMessage
    body: bytes

    @property
    def raw_path(self):
        return split_target(self.target)[0]

    @property
    def query_string(self):
        return split_target(self.target)[1]

    @property
    def body_text(self):
        """The body as the manifest writes it ("-" = none)."""
        return self.body.decode("utf-8", "replace") if self.body else "-"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    bare: bool = False     # the 431: only Content-Length/Content-Type, then close
    reset: bool = False    # drop the connection without answering


ROUTES = (
    ("GET", ("health",), "health"),
    ("GET", ("api", "streams"), "streams"),
    ("GET", ("api", "streams", None), "stream"),
    ("GET", ("api", "streams", None, "health"), "stream_health"),
    ("POST", ("api", "streams", None, "checkpoint"), "checkpoint_post"),
    ("GET", ("api", "tasks"), "tasks"),
    ("GET", ("api", "activity"), "activity"),
    ("GET", ("api", "checkpoints"), "checkpoints"),
)


def match_route(method, raw_path):
    """(route name, path params) or None.  HEAD uses the GET routes; the
    plugin roots (/api/streams/ ...) also answer with a trailing slash."""
    segments = [unquote(segment) for segment in raw_path.split("/")[1:]]
    if len(segments) == 3 and segments[0] == "api" and segments[2] == "":
        segments.pop()
    method = "GET" if method == "HEAD" else method
    for route_method, pattern, name in ROUTES:
        if route_method != method or len(pattern) != len(segments):
            continue
        if all(part == segment if part else segment != "" for part, segment in zip(pattern, segments)):
            return name, [segment for part, segment in zip(pattern, segments) if part is None]
    return None


def replay_key(name, params, query):
    """What identifies a replayed answer; None for computed routes."""
    if name == "health":
        return ("health",)
    if name in ("stream_health", "checkpoint_post"):
        return (name, params[0])
    if name == "checkpoints":
        stream_id = text_param(query, "streamId")
        return (name, "stream", stream_id) if stream_id else (name, "task", text_param(query, "taskId"))
    return None


def not_found(request):
    return Reply(404, dump({"message": "Route %s:%s not found" % (request.method, request.target),
                            "error": "Not Found", "statusCode": 404}))


def fastify_error(status, code, error, message):
    return Reply(status, dump({"statusCode": status, "code": code, "error": error, "message": message}))


def parse_post_body(request):
    """Fastify's content-type parsing: (body, None) or (None, error reply)."""
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        if not request.body:
            return None, None
        content_type = ""
    essence = content_type.split(";")[0].strip().lower()
    if essence == "text/plain":
        return request.body.decode("utf-8", "replace"), None
    if essence != "application/json":
        return None, fastify_error(415, "FST_ERR_CTP_INVALID_MEDIA_TYPE", "Unsupported Media Type",
                                   "Unsupported Media Type: " + content_type)
    if not request.body:
        return None, fastify_error(400, "FST_ERR_CTP_EMPTY_JSON_BODY", "Bad Request",
                                   "Body cannot be empty when content-type is set to 'application/json'")
    try:
        return json.loads(request.body.decode("utf-8"), parse_constant=reject_constant), None
    except ValueError:
        return None, fastify_error(400, "FST_ERR_CTP_INVALID_JSON_BODY", "Bad Request",
                                   "Body is not valid JSON but content-type is set to 'application/json'")


def reject_constant(name):
    raise ValueError("JSON.parse rejects " + name)


def trigger_of(body):
    """`const { trigger = 'manual' } = request.body || {}` in Python."""
    return body["trigger"] if isinstance(body, dict) and "trigger" in body else "manual"


# --------------------------------------------------------------------------
# The double: model + timeline + modes + request log


class Double:
    def __init__(self, fixtures, clock, scene):
        self.fixtures = fixtures
        self.clock = clock
        self.lock = threading.RLock()
        self.timeline = self._index_timeline()
        self.mode = {"mode": "up"}
        self.reset_requests()
        self.set_scene(scene)

    def _index_timeline(self):
        timeline = {}
        for row in self.fixtures.rows:
            path, query_string = split_target(row.path_query)
            route = match_route(row.method, path)
            if route and row.method in ("GET", "POST"):
                key = replay_key(route[0], route[1], parse_query(query_string))
                if key:
                    timeline.setdefault(key, []).append(row)
        return timeline

    # -- state changes (control API and demo)

    def set_scene(self, name):
        if name not in ("initial", "empty"):
            raise BadInput("scene must be initial or empty")
        with self.lock:
            self.model = Model.initial(self.fixtures) if name == "initial" else Model()
            self.cursor = -1 if name == "initial" else self.fixtures.row_named("empty-streams-list").index
        return {"scene": name, "cursor": self.cursor_name()}

    def cursor_name(self):
        return self.fixtures.rows[self.cursor].name if self.cursor >= 0 else None

    def advance(self, row_name):
        """Move the replay cursor; from the progress-after-* rows on, B2 is the captured completed task."""
        row = self.fixtures.row_named(row_name)
        with self.lock:
            self.cursor = row.index
            b2_id = self.fixtures.ids["B2"]
            if b2_id in self.model.tasks:
                source = ("progress-after-stream-B" if row.index >= self.fixtures.first_progress_after()
                          else "tasks-list")
                tasks = self.fixtures.json(source)["tasks"]
                self.model.tasks[b2_id] = next(task for task in tasks if task["id"] == b2_id)
        return {"cursor": row.name}

    def resolve_task_id(self, key):
        return self.fixtures.ids.get(key, key)

    def mutate_task(self, key, changes):
        if not isinstance(changes, dict):
            raise BadInput("body must be a JSON object")
        unknown = sorted(set(changes) - set(MUTABLE_TASK_KEYS))
        if unknown:
            raise BadInput("unknown task fields: " + ", ".join(unknown))
        if any(not isinstance(value, str) for value in changes.values()):
            raise BadInput("task fields must be strings")
        if changes.get("title") == "":
            raise BadInput("title cannot be empty")
        if "status" in changes and changes["status"] not in STATUSES:
            raise BadInput("status must be one of " + ", ".join(STATUSES))
        if changes.get("updatedAt"):
            try:
                ms_from_iso(changes["updatedAt"])
            except ValueError:
                raise BadInput("updatedAt must be an ISO-8601 timestamp") from None
        with self.lock:
            task_id = self.resolve_task_id(key)
            if task_id not in self.model.tasks:
                return None
            self.model.mutate(task_id, changes, self.clock.now_iso())
            return self.model.tasks[task_id]

    def set_mode(self, body):
        if not isinstance(body, dict) or body.get("mode") not in MODES:
            raise BadInput("mode must be one of " + ", ".join(MODES))
        mode = {"mode": body["mode"]}
        if mode["mode"] == "slow":
            mode["delayMs"] = self._int_field(body, "delayMs", 1000, 0, 600000)
        if mode["mode"] == "status":
            mode["status"] = self._int_field(body, "status", 503, 200, 599)
        with self.lock:
            self.mode = mode
        return mode

    @staticmethod
    def _int_field(body, name, default, low, high):
        value = body.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise BadInput("%s must be an integer in %d..%d" % (name, low, high))
        return value

    # -- request log

    def reset_requests(self):
        with self.lock:
            self.total = 0
            self.by_path = Counter()
            self.by_method = Counter()
            self.log = deque(maxlen=LOG_SIZE)
        return self.requests_report()

    def record(self, request):
        entry = {"method": request.method, "path": request.target,
                 "time": iso_from_ms(time.time_ns() // 1_000_000),
                 "headers": {name: value for name, value in request.headers.items()}}
        if request.body:
            entry["body"] = request.body.decode("utf-8", "replace")
        with self.lock:
            self.total += 1
            self.by_path[request.target] += 1
            self.by_method[request.method] += 1
            self.log.append(entry)

    def requests_report(self):
        with self.lock:
            return {"total": self.total, "byPath": dict(self.by_path),
                    "byMethod": dict(self.by_method), "log": list(self.log)}

    # -- answering

    def handle(self, request):
        """The reply to one parsed request (control or API)."""
        if request.raw_path.startswith("/__double/"):
            return self.control(request)
        self.record(request)
        with self.lock:
            mode = dict(self.mode)
        if mode["mode"] == "reset":
            return Reply(0, reset=True)
        if mode["mode"] == "slow":
            time.sleep(mode["delayMs"] / 1000)
        if mode["mode"] == "garbage":
            return Reply(200, GARBAGE_BODY)
        if mode["mode"] == "huge":
            return Reply(200, huge_body())
        if mode["mode"] == "status":
            return forced_status(mode["status"])
        with self.lock:
            return self.api(request)

    def api(self, request):
        route = match_route(request.method, request.raw_path)
        if route is None:
            return not_found(request)
        name, params = route
        query = parse_query(request.query_string)
        if repeated_sql_param(name, query):
            return Reply(500, dump({"statusCode": 500, "error": "Internal Server Error",
                                    "message": "Too many parameter values were provided"}))
        return getattr(self, "api_" + name)(request, params, query)

    def api_health(self, request, params, query):
        if self.clock.frozen:
            return self.replay(("health",))
        return Reply(200, dump({"status": "ok", "timestamp": self.clock.now_iso()}))

    def api_streams(self, request, params, query):
        return Reply(200, dump(compute_streams(self.model, query)))

    def api_stream(self, request, params, query):
        detail = compute_stream(self.model, params[0], query)
        return Reply(200, dump(detail)) if detail else stream_not_found(params[0])

    def api_stream_health(self, request, params, query):
        if not self.model.stream_tasks(params[0]):
            return stream_not_found(params[0])
        # Every stream of the fixture model has a captured health row; the
        # 404 fallback only matters for a fixtures directory that lacks one.
        return self.replay(("stream_health", params[0])) or stream_not_found(params[0])

    def api_tasks(self, request, params, query):
        return Reply(200, dump(compute_tasks(self.model, query)))

    def api_activity(self, request, params, query):
        return Reply(200, dump(compute_activity(self.model, query, self.clock.now_ms())))

    def api_checkpoints(self, request, params, query):
        stream_id, task_id = text_param(query, "streamId"), text_param(query, "taskId")
        if not stream_id and not task_id:
            return Reply(400, dump({"error": "Must provide either streamId or taskId"}))
        if stream_id:
            missing = Reply(404, dump({"error": "No checkpoint found for stream", "streamId": stream_id}))
            pattern = like_to_regex(stream_id)
            known = any(pattern.fullmatch(self.model.stream_of(task) or "") for task in self.model.tasks.values())
        else:
            missing = Reply(404, dump({"error": "No checkpoint found for task", "taskId": task_id}))
            known = task_id in self.model.tasks
        return (self.replay(replay_key("checkpoints", params, query)) if known else None) or missing

    def api_checkpoint_post(self, request, params, query):
        body, error = parse_post_body(request)
        if error:
            return error
        stream_id = params[0]
        task = self.model.in_progress_task(stream_id)
        if task is None:
            return Reply(400, dump({"error": "No in-progress task found for stream", "streamId": stream_id}))
        if trigger_of(body) not in TRIGGERS:
            return fastify_error(500, "SQLITE_CONSTRAINT_CHECK", "Internal Server Error",
                                 "CHECK constraint failed: trigger IN ('auto_status', 'auto_subtask', "
                                 "'manual', 'error')")
        row = self.next_checkpoint_row(stream_id, request.body_text)
        if row and json.loads(row.body)["taskId"] == task["id"]:
            self.cursor = row.index
            return Reply(201, row.body)
        return Reply(201, dump({"checkpointId": "CP-%s" % uuid.uuid4(), "taskId": task["id"],
                                "createdAt": self.clock.now_iso()}))

    def next_checkpoint_row(self, stream_id, body_text):
        """The next captured 201 for this stream after the cursor, preferring the same request body."""
        later = [row for row in self.timeline.get(("checkpoint_post", stream_id), [])
                 if row.index > self.cursor and row.status == 201]
        same_body = [row for row in later if row.request_body == body_text]
        return (same_body or later or [None])[0]

    def replay(self, key):
        """The last captured answer at or before the cursor, else the first after it."""
        rows = self.timeline.get(key, [])
        earlier = [row for row in rows if row.index <= self.cursor]
        later = [row for row in rows if row.index > self.cursor]
        row = earlier[-1] if earlier else (later[0] if later else None)
        return Reply(row.status, row.body) if row else None

    # -- control API

    def control(self, request):
        try:
            return self._control(request)
        except BadInput as problem:
            return Reply(400, dump({"error": str(problem)}))

    def _control(self, request):
        path, method = request.raw_path, request.method
        if method == "GET" and path == "/__double/requests":
            return Reply(200, dump(self.requests_report()))
        if method != "POST":
            return Reply(404, dump({"error": "unknown control endpoint", "path": path}))
        if path == "/__double/requests/reset":
            return Reply(200, dump(self.reset_requests()))
        body = control_body(request)
        if path == "/__double/mode":
            return Reply(200, dump(self.set_mode(body)))
        if path == "/__double/advance":
            return Reply(200, dump(self.advance(string_field(body, "to"))))
        if path == "/__double/scene":
            return Reply(200, dump(self.set_scene(string_field(body, "name"))))
        if path.startswith("/__double/tasks/"):
            key = unquote(path[len("/__double/tasks/"):])
            task = self.mutate_task(key, body)
            if task is None:
                return Reply(404, dump({"error": "Task not found", "taskId": key}))
            return Reply(200, dump(task))
        return Reply(404, dump({"error": "unknown control endpoint", "path": path}))


def control_body(request):
    try:
        return json.loads(request.body.decode("utf-8") or "{}")
    except ValueError:
        raise BadInput("body is not valid JSON") from None


def string_field(body, name):
    if not isinstance(body, dict) or not isinstance(body.get(name), str):
        raise BadInput("body must be a JSON object with a string %r" % name)
    return body[name]


def stream_not_found(stream_id):
    return Reply(404, dump({"error": "Stream not found", "streamId": stream_id}))


def reason(status):
    if status in NODE_REASONS:
        return NODE_REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unknown"


def forced_status(status):
    return Reply(status, dump({"statusCode": status, "error": reason(status),
                               "message": "tc-double: forced status %d" % status}))


@functools.lru_cache(maxsize=1)
def huge_body():
    """A valid JSON document of exactly HUGE_BODY_BYTES bytes."""
    head, tail = b'{"streams":[],"totalStreams":0,"padding":"', b'"}'
    return head + b"x" * (HUGE_BODY_BYTES - len(head) - len(tail)) + tail


# --------------------------------------------------------------------------
# HTTP/1.1 transport: our own head parsing (for the 431) and header writing


class HeadTooLarge(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_SECONDS

    def handle_one_request(self):
        self.close_connection = True
        try:
            request = self.read_request()
        except HeadTooLarge:
            self.send_reply(Reply(431, dump({"error": "Request Header Fields Too Large",
                                             "message": "Exceeded maximum allowed HTTP header size",
                                             "statusCode": 431}), bare=True), head_only=False)
            return
        except ValueError:
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return
        except OSError:
            return
        if request is None:
            return
        reply = self.server.double.handle(request)
        if reply.reset:
            self.reset_connection()
            return
        self.close_connection = not wants_keep_alive(self.request_version, request.headers)
        self.send_reply(reply, head_only=request.method == "HEAD")

    def read_request(self):
        """Parse one request; None on a clean EOF between requests."""
        head = read_head(self.rfile)
        if head is None:
            return None
        line, _, header_block = head.partition(b"\r\n" if b"\r\n" in head else b"\n")
        method, target, self.request_version = line.decode("latin-1").split()
        headers = parse_headers(io.BytesIO(header_block))
        return Request(method, target, headers, read_body(self.rfile, headers))

    def send_reply(self, reply, head_only):
        body = b"" if head_only else reply.body
        status_line = "HTTP/1.1 %d %s\r\n" % (reply.status, reason(reply.status))
        if reply.bare:
            headers = "Content-Length: %d\r\nContent-Type: application/json\r\n" % len(reply.body)
        else:
            connection = "close" if self.close_connection else "keep-alive"
            headers = ("content-type: %s\r\ncontent-length: %d\r\nDate: %s\r\nConnection: %s\r\n"
                       % (JSON_TYPE, len(reply.body), formatdate(usegmt=True), connection))
            if not self.close_connection:
                headers += "Keep-Alive: timeout=%d\r\n" % KEEP_ALIVE_SECONDS
        self.wfile.write((status_line + headers + "\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def reset_connection(self):
        """Close with an RST and without a byte of answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        self.connection.close()

    def log_message(self, format, *args):
        """Quiet: the request log is served by /__double/requests."""


def read_head(rfile):
    """Request line + headers as bytes (final blank line excluded), None at EOF.
    Raises HeadTooLarge beyond MAX_HEAD_BYTES, after reading (up to a cap) the rest."""
    lines, size = [], 0
    while True:
        line = rfile.readline(HEAD_READ_CAP)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if lines:
                break
            continue
        lines.append(line)
        size += len(line)
        if size > HEAD_READ_CAP:
            break
    if size > MAX_HEAD_BYTES:
        raise HeadTooLarge()
    return b"".join(lines)


def read_body(rfile, headers):
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        return read_chunked(rfile)
    length = int(headers.get("Content-Length") or 0)
    return rfile.read(length) if length > 0 else b""


def read_chunked(rfile):
    chunks = []
    while True:
        size = int(rfile.readline(1024).split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(rfile.read(size))
        rfile.readline(1024)


def wants_keep_alive(version, headers):
    connection = (headers.get("Connection") or "").lower()
    if version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, double):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.double = double
        super().__init__(address, Handler)

    def server_bind(self):
        """Bind without HTTPServer's reverse-DNS lookup of the address."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# --------------------------------------------------------------------------
# Demo: the story a person watching through taskgate sees


def demo_story(double):
    """(description, action) steps, in the plan's own order: Stream-D stays
    stalled on its blocked task for a while, then its question is answered
    and it completes, and only then does integration Stream-Z start."""
    def set_status(key, **changes):
        return lambda: double.mutate_task(key, changes)
    return [
        ("B2 completed (Stream-B 67%)", lambda: double.advance("progress-after-streams-list")),
        ("B3 in_progress (me)", set_status("B3", status="in_progress", assignedAgent="me")),
        ("B3 completed (Stream-B 100%)", set_status("B3", status="completed")),
    ] + [("Stream-D still waits for a decision on D2", lambda: None)] * DEMO_STALL_STEPS + [
        ("D2 decided: in_progress", set_status("D2", status="in_progress")),
        ("D1 completed (Stream-D 50%)", set_status("D1", status="completed")),
        ("D2 completed (Stream-D 100%)", set_status("D2", status="completed")),
        ("Z1 in_progress", set_status("Z1", status="in_progress")),
        ("Z1 completed (Stream-Z 50%)", set_status("Z1", status="completed")),
        ("Z2 in_progress", set_status("Z2", status="in_progress")),
        ("Z2 completed (Stream-Z 100%)", set_status("Z2", status="completed")),
    ]


def run_demo(double, step_seconds, stop):
    story = demo_story(double)
    while not stop.is_set():
        for number, (description, action) in enumerate(story, 1):
            if stop.wait(step_seconds):
                return
            action()
            log("demo step %d/%d: %s" % (number, len(story), description))
        if stop.wait(step_seconds * DEMO_PAUSE_STEPS):
            return
        double.set_scene("initial")
        log("demo: story over, back to the initial state")


# --------------------------------------------------------------------------
# Command line


def log(message):
    print("tc-double: " + message, file=sys.stderr, flush=True)


def loopback_host(host):
    """argparse type: only loopback addresses (or names resolving only to them)."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            raise argparse.ArgumentTypeError("cannot resolve %r" % host) from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not all(address.is_loopback for address in addresses):
        raise argparse.ArgumentTypeError("refusing non-loopback address %r" % host)
    return host


def iso_instant(text):
    try:
        return ms_from_iso(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO-8601 timestamp: %r" % text) from None


def parse_args(argv):
    default_fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "task-copilot")
    parser = argparse.ArgumentParser(
        prog="tc-double",
        description="Test double of the Task Copilot HTTP API: computes /api/streams, /api/streams/{id}, "
                    "/api/tasks and /api/activity from a task model built from the captured fixtures, "
                    "replays the rest from the capture timeline, and offers a control API under /__double/ "
                    "(requests, mode, tasks/{id}, advance, scene).",
        epilog="See tests/double/README.md for the control API and the fault modes.")
    parser.add_argument("--fixtures", default=default_fixtures, metavar="DIR",
                        help="captured fixtures directory (default: ../fixtures/task-copilot next to this script)")
    parser.add_argument("--host", default="127.0.0.1", type=loopback_host,
                        help="loopback address to bind (default 127.0.0.1; others are refused)")
    parser.add_argument("--port", default=9090, type=int, help="port to bind (default 9090; 0 = any free port)")
    parser.add_argument("--port-file", metavar="F", help="write the bound port here once listening (atomically)")
    parser.add_argument("--scene", default="initial", choices=("initial", "empty"),
                        help="initial = the captured data set; empty = the empty-DB server of the empty-* rows")
    parser.add_argument("--now", type=iso_instant, metavar="ISO",
                        help="freeze the clock at this instant (isActive, /health, default updatedAt); "
                             "a frozen /health replays its capture")
    parser.add_argument("--demo", action="store_true",
                        help="move tasks along every --demo-step seconds (B2, B3 complete; Stream-D "
                             "stalls, is answered and completes; then Z1, Z2), then loop back to the "
                             "initial state")
    parser.add_argument("--demo-step", type=float, default=20.0, metavar="SECONDS",
                        help="seconds between demo steps (default 20)")
    args = parser.parse_args(argv)
    if args.demo_step <= 0:
        parser.error("--demo-step must be positive")
    return args


def write_port_file(path, port):
    temporary = "%s.tmp.%d" % (path, os.getpid())
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write("%d\n" % port)
    os.replace(temporary, path)


def main(argv=None):
    args = parse_args(argv)
    try:
        double = Double(Fixtures(args.fixtures), Clock(args.now), args.scene)
    except (OSError, ValueError, KeyError, BadInput) as problem:
        log("cannot load fixtures from %s: %s" % (args.fixtures, problem))
        return 2
    try:
        server = Server((args.host, args.port), double)
    except OSError as problem:
        log("cannot listen on %s:%d: %s" % (args.host, args.port, problem))
        return 1
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    host = "[%s]" % args.host if ":" in args.host else args.host
    print("tc-double: listening on http://%s:%d" % (host, port), flush=True)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.demo:
        threading.Thread(target=run_demo, args=(double, args.demo_step, stop), daemon=True).start()
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
