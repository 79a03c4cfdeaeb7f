// app.js: the dashboard's state and its conversation with taskgate.
// It owns the model (the last /api/overview document, patched by events),
// the live connection to GET /api/events (EventSource, which resumes with
// Last-Event-ID by itself; a snapshot re-renders everything, stream /
// state / upstream / session events update the model in place and ask
// for a fresh overview shortly after, and a 30 s refetch catches what
// has no event, such as agent heartbeats), the sparkline histories, the
// Start / Stop / Recover requests and what their answers mean (401: the
// read-only notice; 404/405: session control is not there yet; 409: the
// gate's reasons), whether this browser is signed in (GET /api/whoami at
// load, on every reconnect and after a 401: when it is not, the notice is
// shown up front and the buttons and the pane view say to sign in), the
// pane view's polling, and opt-in notifications.  Who is signed in, and
// with what role, comes from whoami too: a viewer's page has no Start,
// Stop, Recover or reply (the note says why), and a browser signed in by
// a link can sign out.
// Drawing is render.js's job; the SVGs are graph.js's.

import { NOTIFYING, healthInfo } from './graph.js';
import {
  renderAlerts, renderConnection, renderGraph, renderNext, renderNotifyButton, renderOverall,
  renderPane, renderPolled, renderSignIn, renderStreams, renderUpstream, renderWho, parkedText,
} from './render.js';

const UNAVAILABLE = 'session control is not available yet';
const SIGN_IN = 'sign in first: open the link taskgate printed (…/?token=…)';
const READS_NEED_TOKEN = 'This taskgate asks for its token even to read, so this browser sees nothing until it is signed in.';
const OFFLINE_AFTER_MS = 20000;

const model = {
  overview: null,
  history: new Map(), // streamId -> samples, oldest first
  busy: new Map(), // streamId -> action in flight
  messages: new Map(), // streamId -> {tone, text, reasons}
  unavailable: null, // a sentence once a control endpoint answered 404/405
  auth: null, // GET /api/whoami's answer: {signedIn, via, tokenRequired, name, role, mayOperate}; null: not known
  paneStream: null,
  paneText: null,
  paneMessage: null,
  paneInfo: null,
  stopped: new Map(), // streamId -> the window a Stop ended, until a new one starts
  // streamId -> {key, perm}: what a waiting permission prompt would run,
  // read with the pane's rights (the overview names only the tool).
  permissions: new Map(),
};

const streamsOf = () => (model.overview && Array.isArray(model.overview.streams) ? model.overview.streams : []);
const byId = () => new Map(streamsOf().map((s) => [String(s.streamId), s]));

// ------------------------------------------------------------ rendering

// Session control is off when every gate gives the "not available"
// reason, or once one of its endpoints answered 404/405; else it is off
// for this browser while it is not signed in.
function controlUnavailable() {
  if (model.lostSince) {
    return `taskgate cannot be reached since ${new Date(model.lostSince).toLocaleTimeString()}: what you see is from then`;
  }
  return sessionsMissing() || (model.auth && !model.auth.signedIn ? SIGN_IN : null);
}

// The connection's state, and whether the page is stale: once taskgate
// has not answered for a while, its data is greyed, every action is off
// (saying since when), and Task Copilot's state is unknown, not green.
function setConnection(state, detail) {
  const stale = state === 'offline';
  if (stale && !model.lostSince) model.lostSince = Date.now();
  if (state === 'connected') model.lostSince = null;
  document.body.classList.toggle('stale', !!model.lostSince);
  renderConnection(state, model.lostSince ? `${detail || 'No connection to taskgate'} (since ${new Date(model.lostSince).toLocaleTimeString()})` : detail);
  if (model.lostSince) document.getElementById('conn').textContent = 'offline since ' + new Date(model.lostSince).toLocaleTimeString();
  render();
}

// Why this person may not act (a viewer), or null: their page then has
// no action buttons, and says so.  An older taskgate does not say.
function roleRefusal() {
  const a = model.auth;
  if (!a || !a.signedIn || a.mayOperate !== false) return null;
  return `${a.name || 'this browser'} is a ${a.role || 'viewer'}: starting, stopping, recovering and replying need the operator role`;
}

function sessionsMissing() {
  if (model.unavailable) return model.unavailable;
  const streams = streamsOf();
  if (!streams.length) return null;
  let sentence = null;
  for (const s of streams) {
    const reasons = (s.gate && s.gate.reasons) || [];
    const r = reasons.find((x) => /not available/i.test(String(x)));
    if (!r || s.session) return null;
    sentence = String(r);
  }
  return sentence;
}

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderNow();
  });
}

// A permission prompt's exact input is read from its pane's endpoint, as
// the pane is (a viewer's right); once per prompt, then the card shows it.
function fetchPermissions(streams) {
  for (const s of streams) {
    const agent = (s.session && s.session.agent) || {};
    const id = String(s.streamId);
    if (!agent.permission || !model.auth || !model.auth.signedIn) {
      model.permissions.delete(id);
      continue;
    }
    const key = `${agent.since}|${agent.permission.tool}`;
    const known = model.permissions.get(id);
    if (known && known.key === key) continue;
    model.permissions.set(id, { key, perm: null });
    fetch(`/api/sessions/${encodeURIComponent(id)}/output?lines=1`, { cache: 'no-store', credentials: 'same-origin' })
      .then((resp) => (resp.ok ? resp.json() : null))
      .then((body) => {
        const now = model.permissions.get(id);
        if (!now || now.key !== key || !body || typeof body.permission !== 'object') return;
        now.perm = body.permission;
        renderNow();
      })
      .catch(() => {});
  }
}

function renderNow() {
  const o = model.overview;
  if (!o) return;
  const streams = streamsOf();
  const ids = byId();
  fetchPermissions(streams);
  renderOverall(o.overall, streams);
  renderUpstream(model.lostSince ? { url: o.upstream && o.upstream.url } : o.upstream);
  renderStreams(streams, {
    byId: ids, history: model.history, busy: model.busy, messages: model.messages,
    controlUnavailable: controlUnavailable(), viewOnly: roleRefusal(), paneStream: model.paneStream,
    permissions: model.permissions,
    now: Date.now(), minute: Math.floor(Date.now() / 30000), onAction: act, onPane: togglePane, onReply: replyTo,
  });
  renderAlerts(o.alerts, ids);
  renderNext(o.nextActions);
  renderGraph(streams);
  renderPolled(o);
  renderPaneView();
}

// ------------------------------------------------------------ the model

function recomputeOverall() {
  const o = model.overview;
  let total = 0, done = 0;
  for (const s of streamsOf()) { total += s.totalTasks || 0; done += s.completedTasks || 0; }
  o.overall = Object.assign({}, o.overall, {
    totalTasks: total, completedTasks: done, streams: streamsOf().length,
    progressPercentage: total ? Math.round((done / total) * 100) : 0,
  });
}

function applyOverview(doc, first) {
  if (!doc || !Array.isArray(doc.streams)) return;
  const old = model.overview;
  // A taskgate that has not read Task Copilot yet (it just started) knows
  // no streams: keep what the page shows and ask again shortly.
  if (doc.polledAt == null) {
    refetchSoon(500);
    if (old && old.polledAt != null) return;
  }
  if (old && !first && old.generatedAt && doc.generatedAt && Date.parse(doc.generatedAt) < Date.parse(old.generatedAt)) return;
  const before = old ? byId() : null;
  keepForgotten(doc);
  model.overview = doc;
  if (before) {
    for (const s of doc.streams) {
      const was = before.get(String(s.streamId));
      noteState(String(s.streamId), was && was.state ? was.state.name : null, s.state ? s.state.name : null, s.state);
    }
  }
  render();
}

function applyStream(d) {
  const s = byId().get(String(d.streamId));
  if (!s) { refetchSoon(); return; }
  for (const k of ['totalTasks', 'completedTasks', 'inProgressTasks', 'blockedTasks', 'pendingTasks', 'progressPercentage', 'status']) {
    if (d[k] !== undefined) s[k] = d[k];
  }
  recomputeOverall();
  loadHistory(String(d.streamId));
  render();
  refetchSoon();
}

function applyState(d) {
  const id = String(d.streamId);
  const s = byId().get(id);
  if (!s) { refetchSoon(); return; }
  const was = s.state ? s.state.name : null;
  s.state = { name: d.state, since: d.since, evidence: d.evidence || {} };
  const o = model.overview;
  o.alerts = (o.alerts || []).filter((a) => !(a.kind === 'state' && a.streamId === id));
  if (d.state !== 'ok') o.alerts.push({ kind: 'state', streamId: id, message: `${id} is ${d.state}` });
  noteState(id, was, d.state, s.state);
  render();
  refetchSoon();
}

function applyUpstream(d) {
  const o = model.overview;
  if (!o) { refetchSoon(); return; }
  o.upstream = Object.assign({}, o.upstream, { status: d.status });
  if (d.url) o.upstream.url = d.url;
  if (d.error) o.upstream.lastError = d.error;
  o.alerts = (o.alerts || []).filter((a) => a.kind !== 'upstream');
  if (d.status === 'down') {
    o.alerts.unshift({ kind: 'upstream', message: 'Task Copilot does not answer' + (d.error ? ` (${d.error})` : '') + '; the figures are from the last time it did' });
  }
  render();
  refetchSoon();
}

// ------------------------------------------------------------ fetching

async function getJSON(path) {
  const resp = await fetch(path, { cache: 'no-store', credentials: 'same-origin' });
  if (resp.status === 401) signedOut();
  if (!resp.ok) throw new Error(`${path}: ${resp.status}`);
  return resp.json();
}

// ------------------------------------------------------------ sign-in

function setAuth(auth) {
  const was = model.auth;
  model.auth = auth;
  renderSignIn(!auth.signedIn, auth.tokenRequired && !auth.signedIn ? READS_NEED_TOKEN : null);
  renderWho(auth);
  if (!was || was.signedIn !== auth.signedIn || was.mayOperate !== auth.mayOperate) {
    render();
    if (model.paneStream) pollPane();
  }
}

// A 401: this browser is not (or no longer) signed in.  Says so at once,
// then asks taskgate to be sure.
function signedOut() {
  setAuth({ signedIn: false, via: null, tokenRequired: !!(model.auth && model.auth.tokenRequired) });
  loadWhoami();
}

let whoamiAsked = 0;
async function loadWhoami() {
  const asked = ++whoamiAsked;
  try {
    const resp = await fetch('/api/whoami', { cache: 'no-store', credentials: 'same-origin' });
    if (asked !== whoamiAsked) return;
    if (resp.status === 401) {
      // Only where reads need the token too.
      setAuth({ signedIn: false, via: null, tokenRequired: true });
      return;
    }
    if (!resp.ok) return; // an older taskgate: the first 401 will tell
    const d = await resp.json();
    if (asked !== whoamiAsked || !d || typeof d !== 'object') return;
    setAuth({
      signedIn: d.signedIn === true, via: d.via || null, tokenRequired: d.tokenRequired === true,
      name: typeof d.name === 'string' ? d.name : null, role: typeof d.role === 'string' ? d.role : null,
      mayOperate: typeof d.mayOperate === 'boolean' ? d.mayOperate : undefined,
    });
  } catch (e) {
    // Not reachable now: asked again on the next connection.
  }
}

// Signing out ends this browser's sign-in at taskgate and its cookie.
async function signOut() {
  try {
    await fetch('/api/signout', { method: 'POST', credentials: 'same-origin' });
  } catch (e) {
    // Asked again below: whoami says what is true.
  }
  loadWhoami();
}

let refetchTimer = null;
let refetching = false;
let refetchAgain = false;
function refetchSoon(delay) {
  if (refetchTimer) return;
  refetchTimer = setTimeout(async () => {
    refetchTimer = null;
    if (refetching) { refetchAgain = true; return; }
    refetching = true;
    try {
      applyOverview(await getJSON('/api/overview'), false);
    } catch (e) {
      // The connection indicator tells; the next event brings a retry.
    } finally {
      refetching = false;
      if (refetchAgain) { refetchAgain = false; refetchSoon(); }
    }
  }, delay === undefined ? 250 : delay);
}

const historyLoading = new Set();
async function loadHistory(id) {
  if (historyLoading.has(id)) return;
  historyLoading.add(id);
  try {
    const doc = await getJSON(`/api/streams/${encodeURIComponent(id)}/history?limit=200`);
    if (Array.isArray(doc.samples)) {
      model.history.set(id, doc.samples);
      render();
    }
  } catch (e) {
    // No history to draw: the sparkline says so.
  } finally {
    historyLoading.delete(id);
  }
}

function loadAllHistory() {
  for (const s of streamsOf()) loadHistory(String(s.streamId));
}

// ------------------------------------------------------------ live events

let source = null;
let offlineTimer = null;
let retryTimer = null;
let retryDelay = 2000;
let opened = false;

function parse(e) {
  try { return JSON.parse(e.data); } catch (err) { return null; }
}

function connect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  const es = new EventSource('/api/events');
  source = es;
  es.onopen = () => {
    // A taskgate that restarted may have a new token: ask again.
    if (opened) loadWhoami();
    opened = true;
    retryDelay = 2000;
    clearTimeout(offlineTimer);
    offlineTimer = null;
    setConnection('connected');
  };
  es.addEventListener('snapshot', (e) => {
    const d = parse(e);
    if (!d) return;
    setConnection('connected');
    applyOverview(d, true);
    loadAllHistory();
  });
  es.addEventListener('stream', (e) => { const d = parse(e); if (d) applyStream(d); });
  es.addEventListener('state', (e) => { const d = parse(e); if (d) applyState(d); });
  es.addEventListener('upstream', (e) => { const d = parse(e); if (d) applyUpstream(d); });
  es.addEventListener('session', (e) => {
    const d = parse(e);
    refetchSoon(100);
    if (d && d.event === 'stopped') forgetSession(String(d.streamId));
    if (d && ['started', 'recovered'].includes(d.event)) model.stopped.delete(String(d.streamId));
    if (d && d.streamId === model.paneStream) setTimeout(pollPane, 300);
  });
  es.onerror = () => {
    if (es !== source) return;
    if (es.readyState === EventSource.CLOSED || !navigator.onLine) {
      // The browser gave up (taskgate answered something else than a
      // stream): try again ourselves, slower each time.
      setConnection('offline', 'No connection to taskgate; retrying in ' + Math.round(retryDelay / 1000) + ' s');
      retryTimer = setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
      return;
    }
    // Each retry that fails says so again: once offline, it stays so.
    if (model.lostSince) setConnection('offline', 'taskgate has not answered for a while; still trying');
    else setConnection('reconnecting', 'The connection to taskgate dropped; resuming where it stopped');
    if (!offlineTimer) {
      offlineTimer = setTimeout(() => {
        offlineTimer = null;
        if (source && source.readyState !== EventSource.OPEN) setConnection('offline', 'taskgate has not answered for a while; still trying');
      }, OFFLINE_AFTER_MS);
    }
  };
}

window.addEventListener('offline', () => setConnection('offline', 'This computer is offline'));
// A tab that slept (a phone's) may hold a dead stream: look again.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && (!source || source.readyState !== EventSource.OPEN)) connect();
});
window.addEventListener('online', () => { if (!source || source.readyState === EventSource.CLOSED) connect(); });

// ------------------------------------------------------------ control

async function readError(resp) {
  try {
    const body = await resp.json();
    return body && typeof body === 'object' ? body : {};
  } catch (e) {
    return {};
  }
}

// A 404/405 from taskgate's router (no "code" of its own, or a 405) means
// the endpoint is not there yet; a 404 with a code is a real answer.
function missingEndpoint(resp, body) {
  return resp.status === 405 || (resp.status === 404 && !body.code);
}

// A stopped session has no pane left to read: the model says so at once,
// before the overview comes again (reading it meanwhile would be a 404).
// A Stop ended id's window: the page forgets it at once, and an overview
// made before the Stop (still in flight) does not bring it back.
function forgetSession(id) {
  const s = byId().get(id);
  if (s && s.session && s.session.window) model.stopped.set(id, s.session.window);
  if (s && s.session) s.session = Object.assign({}, s.session, { window: '', live: false });
}

function keepForgotten(doc) {
  for (const s of doc.streams) {
    const id = String(s.streamId);
    if (!model.stopped.has(id)) continue;
    if (s.session && s.session.window === model.stopped.get(id)) {
      s.session = Object.assign({}, s.session, { window: '', live: false });
    } else if (s.session && s.session.window) {
      model.stopped.delete(id); // a new window
    }
  }
}

async function act(id, action) {
  if (model.busy.get(id)) return;
  model.busy.set(id, action);
  model.messages.delete(id);
  render();
  let resp, body = {};
  try {
    resp = await fetch(`/api/streams/${encodeURIComponent(id)}/${action}`, {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    body = resp.ok ? await readError(resp) : await readError(resp);
  } catch (e) {
    model.messages.set(id, { tone: 'bad', text: `Could not reach taskgate to ${action} ${id}.` });
  }
  model.busy.delete(id);
  if (resp) {
    const verb = { start: 'Start', stop: 'Stop', recover: 'Recovery' }[action];
    if (resp.ok) {
      const done = { start: 'Started', stop: 'Stopped', recover: 'Recovering' }[action];
      model.messages.set(id, { tone: 'done', text: `${done} ${id}` + (body.window ? ` (window ${body.window}).` : '.') });
      refetchSoon(100);
      if (action === 'stop') forgetSession(id);
      else model.stopped.delete(id);
      if (model.paneStream === id) setTimeout(pollPane, 500);
    } else if (resp.status === 401) {
      model.messages.set(id, { tone: 'warn', text: 'Refused: this browser is not signed in (read-only).' });
      signedOut();
    } else if (resp.status === 403 && body.code === 'forbidden-role') {
      model.messages.set(id, { tone: 'warn', text: `Refused: ${body.error ? String(body.error) : 'your role may not do this'}.` });
      loadWhoami();
    } else if (missingEndpoint(resp, body)) {
      model.unavailable = UNAVAILABLE;
      model.messages.set(id, { tone: 'warn', text: `Session control is not available yet in this taskgate.` });
    } else {
      const reasons = Array.isArray(body.reasons) ? body.reasons.map(String) : [];
      model.messages.set(id, { tone: resp.status === 409 ? 'warn' : 'bad', text: body.error ? String(body.error) : `${verb} failed (${resp.status}).`, reasons });
    }
  }
  render();
}

// A person's answer to an agent that waits: a line typed into its window,
// or its permission prompt allowed once or denied.
async function replyTo(id, body, sent) {
  if (model.busy.get(id)) return;
  model.busy.set(id, 'reply');
  model.messages.delete(id);
  render();
  let resp, answer = {};
  try {
    resp = await fetch(`/api/streams/${encodeURIComponent(id)}/reply`, {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    answer = await readError(resp);
  } catch (e) {
    model.messages.set(id, { tone: 'bad', text: `Could not reach taskgate to reply to ${id}.` });
  }
  model.busy.delete(id);
  if (resp && resp.ok) {
    const what = body.text !== undefined ? 'Sent your reply to' : body.answer === 'allow' ? 'Allowed once for' : 'Denied for';
    model.messages.set(id, { tone: 'done', text: `${what} ${id}.` });
    if (sent) sent();
    refetchSoon(300);
  } else if (resp && resp.status === 401) {
    model.messages.set(id, { tone: 'warn', text: 'Refused: this browser is not signed in (read-only).' });
    signedOut();
  } else if (resp) {
    model.messages.set(id, { tone: resp.status === 409 ? 'warn' : 'bad', text: answer.error ? String(answer.error) : `The reply failed (${resp.status}).` });
  }
  render();
}

// ------------------------------------------------------------ pane view

let paneTimer = null;

function togglePane(id) {
  model.paneStream = model.paneStream === id ? null : id;
  model.paneText = null;
  model.paneMessage = null;
  model.paneInfo = null;
  clearInterval(paneTimer);
  paneTimer = null;
  if (model.paneStream) {
    pollPane();
    paneTimer = setInterval(pollPane, 2000);
  }
  render();
}

// On a phone (the one-column layout) the pane opens inside the card whose
// Pane button was tapped, not below every stream; on a wide screen, and
// once closed, it is back in the side column.
const narrow = window.matchMedia('(max-width: 900px)');
narrow.addEventListener('change', () => placePane());
function placePane() {
  const pane = document.querySelector('section.pane');
  if (!pane) return;
  const card = model.paneStream && narrow.matches
    ? document.getElementById('stream-' + encodeURIComponent(model.paneStream)) : null;
  const home = document.querySelector('aside.side');
  const where = card || home;
  if (where && pane.parentElement !== where) where.appendChild(pane);
}

function renderPaneView() {
  placePane();
  if (!model.paneStream) {
    renderPane({ message: 'Choose “Pane” on a stream to watch its agent\'s terminal.' });
    return;
  }
  renderPane({ streamId: model.paneStream, message: model.paneMessage, text: model.paneText });
}

async function pollPane() {
  const id = model.paneStream;
  if (!id) return;
  // An action on it is under way (a Stop may end the pane meanwhile): its
  // answer asks again.
  if (model.busy.get(id)) return;
  const s = byId().get(id);
  const off = controlUnavailable();
  if (off) {
    model.paneText = null;
    model.paneMessage = `No pane to show: ${off}.`;
    renderPaneView();
    return;
  }
  if (!s || !s.session || (!s.session.window && !s.session.live)) {
    model.paneText = null;
    model.paneMessage = `No session is running for ${id}: Start opens one.`;
    renderPaneView();
    return;
  }
  const sid = s.session.streamId || id;
  try {
    const resp = await fetch(`/api/sessions/${encodeURIComponent(sid)}/output?lines=200`, { cache: 'no-store', credentials: 'same-origin' });
    if (model.paneStream !== id) return;
    if (resp.ok) {
      const type = resp.headers.get('Content-Type') || '';
      let text;
      if (type.includes('json')) {
        const body = await resp.json();
        text = typeof body.text === 'string' ? body.text : String(body.output ?? '');
        model.paneInfo = body;
      } else {
        text = await resp.text();
      }
      model.paneText = text;
      const info = model.paneInfo || {};
      model.paneMessage = [info.window ? 'window ' + info.window : '', info.live === false ? 'not running' : (info.live ? 'live' : ''),
        info.state && info.state !== 'ok' ? healthInfo(info.state).label : ''].filter(Boolean).join(' · ') || null;
    } else {
      const body = await readError(resp);
      model.paneText = null;
      if (resp.status === 401) {
        model.paneMessage = `Reading a pane needs sign-in: ${SIGN_IN}.`;
        renderPaneView();
        signedOut(); // pollPane asks no more while signed out
        return;
      } else if (missingEndpoint(resp, body)) {
        model.unavailable = UNAVAILABLE;
        model.paneMessage = `No pane to show: ${UNAVAILABLE}.`;
        render();
      } else {
        model.paneMessage = body.error ? String(body.error) : `taskgate answered ${resp.status}.`;
      }
    }
  } catch (e) {
    model.paneMessage = 'Could not reach taskgate.';
  }
  renderPaneView();
}

// ------------------------------------------------------------ notifications

const NOTIFY_KEY = 'taskgate.notify';

function notifyState() {
  if (!('Notification' in window)) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  return Notification.permission === 'granted' && localStorage.getItem(NOTIFY_KEY) === 'on' ? 'on' : 'off';
}

async function toggleNotify() {
  if (!('Notification' in window)) return;
  if (notifyState() === 'on') {
    localStorage.removeItem(NOTIFY_KEY);
  } else {
    let perm = Notification.permission;
    if (perm !== 'granted') {
      try { perm = await Notification.requestPermission(); } catch (e) { perm = 'denied'; }
    }
    if (perm === 'granted') localStorage.setItem(NOTIFY_KEY, 'on');
  }
  renderNotifyButton(notifyState());
}

// A notification each time a stream enters a NOTIFYING state, even from
// another one (no-progress -> dead -> needs-human), and never twice for
// the same entry (state and since), should an older overview flap back.
const notified = new Map(); // streamId -> Set of "state@since"

function noteState(id, was, now, state) {
  if (!now || was === now || !NOTIFYING.has(now)) return;
  const key = now + '@' + (state && state.since ? String(state.since) : '');
  let seen = notified.get(id);
  if (!seen) notified.set(id, (seen = new Set()));
  if (seen.has(key)) return;
  if (seen.size > 50) seen.clear();
  seen.add(key);
  if (notifyState() !== 'on') return;
  const ev = state && state.evidence && state.evidence.reason ? String(state.evidence.reason) : '';
  try {
    const n = new Notification(`${id}: ${healthInfo(now).label}`, { body: ev || `${id} is ${now}`, tag: `taskgate-${id}-${now}` });
    n.onclick = () => { window.focus(); location.hash = 'stream-' + encodeURIComponent(id); };
  } catch (e) {
    // Some browsers allow notifications only from a service worker.
  }
}

// ------------------------------------------------------------ start

document.getElementById('notify-btn').addEventListener('click', toggleNotify);
document.getElementById('signout-btn').addEventListener('click', signOut);
renderNotifyButton(notifyState());
setConnection('connecting');
// Agent heartbeats and activity change without an event: every 30 s
// (and when the tab comes back) fetch the overview again, which also
// keeps every "x min ago" true.
setInterval(() => { if (!document.hidden) refetchSoon(0); else render(); }, 30000);
// A parked stream's countdown moves each second, without a re-render.
setInterval(() => {
  if (document.hidden) return;
  for (const n of document.querySelectorAll('[data-until]')) n.textContent = parkedText(n.dataset.until, Date.now());
}, 1000);
document.addEventListener('visibilitychange', () => { if (!document.hidden) refetchSoon(0); });
loadWhoami();
getJSON('/api/overview').then((d) => { applyOverview(d, !model.overview); if (model.history.size === 0) loadAllHistory(); }).catch(() => {});
connect();
