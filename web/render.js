// render.js: turns the dashboard's model into DOM.  It owns everything a
// person sees: the header (overall progress, upstream, connection), the
// stream cards grouped by phase (bar, counts, state, dependencies, agent,
// blocked tasks, sparkline, Start/Stop/Recover/Pane buttons with the
// reason they are disabled), the alerts and next-action panels, the
// dependency graph's box, the pane view and the read-only notice.  It
// fetches nothing and holds no state of its own but the card elements,
// kept by stream id so an update rebuilds only the cards that changed.
// Every upstream string is inserted with textContent, never as HTML.

import {
  PHASES, dependencyGraph, healthInfo, sparkline, statusOf, toneOf,
} from './graph.js';

const $ = (id) => document.getElementById(id);

// A new element: h('div', {class: 'x', text: 'y', attrs: {...}}, children).
export function h(tag, opts, children) {
  const node = document.createElement(tag);
  const o = opts || {};
  if (o.class) node.className = o.class;
  if (o.text !== undefined && o.text !== null) node.textContent = String(o.text);
  for (const [k, v] of Object.entries(o.attrs || {})) {
    if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children || []) if (c) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

export function ago(iso, nowMs) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'never';
  const s = Math.round(((nowMs || Date.now()) - t) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return m + ' min ago';
  const hrs = Math.round(m / 60);
  if (hrs < 48) return hrs + ' h ago';
  return Math.round(hrs / 24) + ' d ago';
}

function clockTime(iso) {
  const t = new Date(iso);
  return Number.isFinite(t.getTime()) ? t.toLocaleTimeString() : '–';
}

function pct(v) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.max(0, Math.min(100, Math.round(n))) : 0;
}

// A labelled progress bar: role="progressbar" with aria values.
export function progressBar(percent, label, tone, big) {
  const p = pct(percent);
  const bar = h('div', {
    class: 'bar' + (big ? ' bar-lg' : '') + ' tone-' + (tone || 'done'),
    attrs: { role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': p, 'aria-label': label, 'aria-valuetext': p + '%' },
  });
  const fill = h('span', { class: 'fill' });
  fill.style.width = p + '%';
  bar.appendChild(fill);
  return bar;
}

function badge(text, tone, title) {
  return h('span', { class: 'badge tone-' + tone, text, attrs: { title } });
}

// ---------------------------------------------------------------- header

export function renderOverall(overall, streams) {
  const o = overall || {};
  const p = pct(o.progressPercentage);
  const bar = $('overall-bar');
  bar.setAttribute('aria-valuenow', String(p));
  bar.setAttribute('aria-valuetext', `${p}%, ${o.completedTasks || 0} of ${o.totalTasks || 0} tasks complete`);
  bar.firstElementChild.style.width = p + '%';
  $('overall-figure').textContent = p + '%';
  // Streams by tone; the grey ones by what they are ("not started" is
  // only a stream with nothing done and nothing in progress: a paused
  // or cancelled one is counted as such).
  const by = new Map();
  for (const s of streams) {
    const tone = toneOf(s);
    const word = tone === 'idle' ? statusOf(s).label : TALLY_WORDS[tone];
    const key = tone + '\n' + word;
    const had = by.get(key);
    if (had) had.n += 1;
    else by.set(key, { tone, word, n: 1 });
  }
  const tally = $('overall-tally');
  tally.replaceChildren(h('span', { text: `${o.completedTasks || 0} of ${o.totalTasks || 0} tasks` }));
  const order = (t) => TALLY_ORDER.indexOf(t.tone);
  for (const t of [...by.values()].sort((a, b) => order(a) - order(b))) {
    tally.appendChild(h('span', { class: 'tally tone-' + t.tone, attrs: { 'data-tally': t.word } }, [h('i', { class: 'dot' }), `${t.n} ${t.word}`]));
  }
}

const TALLY_WORDS = { done: 'complete', active: 'in progress', bad: 'blocked or stalled', warn: 'need a look' };
const TALLY_ORDER = ['done', 'active', 'bad', 'warn', 'idle'];

export function renderUpstream(up) {
  const pill = $('upstream-pill');
  const u = up || {};
  const down = u.status === 'down';
  pill.dataset.state = down ? 'down' : (u.status === 'up' ? 'up' : 'unknown');
  pill.textContent = down ? 'Task Copilot down' : (u.status === 'up' ? 'Task Copilot up' : 'Task Copilot …');
  const bits = [];
  if (u.url) bits.push(String(u.url));
  if (u.lastOk) bits.push('last answer ' + ago(u.lastOk));
  if (down && u.lastError) bits.push(String(u.lastError));
  pill.title = bits.join(' · ');
  $('upstream-url').textContent = u.url ? 'in front of ' + u.url : '';
}

const CONN_TEXT = { connecting: 'connecting…', connected: 'live', reconnecting: 'reconnecting…', offline: 'offline' };

export function renderConnection(state, detail) {
  const pill = $('conn');
  pill.dataset.state = state;
  pill.textContent = CONN_TEXT[state] || state;
  pill.title = detail || (state === 'connected' ? 'Receiving live updates from taskgate' : '');
}

export function renderPolled(overview) {
  const bits = [];
  if (overview.polledAt) bits.push('Task Copilot read at ' + clockTime(overview.polledAt));
  if (overview.generatedAt) bits.push('overview of ' + clockTime(overview.generatedAt));
  bits.push('updates arrive by themselves');
  $('polled').textContent = bits.join(' · ');
}

// ---------------------------------------------------------------- streams


function minutes(m) {
  const n = Number(m);
  if (!Number.isFinite(n)) return String(m);
  if (n < 1) return Math.round(n * 60) + ' s';
  return (n < 10 ? Math.round(n * 10) / 10 : Math.round(n)) + ' min';
}

// The evidence of a health state in a sentence; every field in a tooltip.
function evidenceText(ev) {
  if (!ev || typeof ev !== 'object') return { text: '', all: '' };
  const parts = [];
  if (ev.reason) parts.push(String(ev.reason));
  if (ev.unchangedMinutes !== undefined) {
    parts.push('unchanged for ' + minutes(ev.unchangedMinutes) + (ev.stallTimeoutMinutes !== undefined ? ' (limit ' + minutes(ev.stallTimeoutMinutes) + ')' : ''));
  }
  if (ev.match) parts.push('pane says “' + String(ev.match) + '”');
  if (Array.isArray(ev.warnings)) parts.push(ev.warnings.filter((x) => typeof x !== 'object').map(String).join('; '));
  const all = Object.entries(ev).filter(([, v]) => v === null || typeof v !== 'object')
    .map(([k, v]) => `${k}: ${v}`).join('\n');
  return { text: parts.filter(Boolean).join(' · '), all };
}

// What each button may do now and, when it may not, why: taskgate's own
// answer (gate.canStart, canStop, canRecover and their reasons), so that
// the rules of a start and of a recovery live once, in the daemon.
function controlsOf(s, ctx) {
  const gate = s.gate || {};
  const off = ctx.controlUnavailable;
  const pick = (can, reasons) => {
    if (off) return { enabled: false, why: off };
    return { enabled: !!can, why: can ? '' : (reasons || []).join('; ') || 'not allowed now' };
  };
  let startWhy = (gate.reasons || []).join('; ') || 'not allowed now';
  // The page offers no forced start on purpose; the terminal does.
  if (gate.forceable && !gate.canStart) startWhy += ` (taskgate start ${s.streamId} --force overrides this)`;
  const start = off ? { enabled: false, why: off } : { enabled: !!gate.canStart, why: gate.canStart ? '' : startWhy };
  return {
    start,
    stop: pick(gate.canStop, gate.stopReasons),
    recover: pick(gate.canRecover, gate.recoverReasons),
  };
}

// "parked by a usage limit: resumes in 42 s" (minutes past two of them).
export function parkedText(until, nowMs) {
  const left = Math.ceil((Date.parse(until) - (nowMs || Date.now())) / 1000);
  if (!Number.isFinite(left)) return 'parked by a usage limit';
  const when = left <= 0 ? 'resumes now' : left < 120 ? `resumes in ${left} s` : `resumes in ${Math.round(left / 60)} min`;
  return 'parked by a usage limit: ' + when;
}

function sessionRow(sess, ctx) {
  const bits = [];
  if (sess.window) bits.push('window ' + sess.window);
  bits.push(sess.dead ? 'exited' + (sess.exitStatus !== undefined ? ' (' + sess.exitStatus + ')' : '') : sess.phase || (sess.live ? 'running' : 'stopped'));
  const agent = sess.agent || {};
  if (agent.state && agent.state !== 'unknown') {
    bits.push('agent ' + agent.state + (agent.since ? ' since ' + ago(agent.since, ctx.now) : '') +
      (agent.hooks ? '' : ' (from its pane)'));
  }
  if (typeof agent.contextPercent === 'number') bits.push('context ' + Math.round(agent.contextPercent) + ' %');
  if (typeof sess.spentUsd === 'number' && (sess.spentUsd > 0 || typeof sess.maxCostUsd === 'number')) {
    bits.push('$' + sess.spentUsd.toFixed(2) + (typeof sess.maxCostUsd === 'number' ? ' of $' + sess.maxCostUsd.toFixed(2) : ''));
  } else if (typeof agent.costUsd === 'number') bits.push('$' + agent.costUsd.toFixed(2));
  if (agent.typed && agent.typed.delivery === 'undelivered') bits.push('“' + agent.typed.text + '” was not delivered');
  if (sess.startedAt) bits.push('started ' + ago(sess.startedAt, ctx.now));
  if (sess.recoveryAttempts) bits.push(`${sess.recoveryAttempts} of ${sess.maxRecoveryAttempts} recoveries`);
  const tone = sess.dead || sess.needsHuman ? 'bad' : (sess.live ? 'done' : 'idle');
  // A stream parked by a usage limit counts down to its resume, each
  // second (the page's ticker rewrites every [data-until]).
  const parked = agent.parkedUntil ? h('span', { class: 'countdown', text: parkedText(agent.parkedUntil, ctx.now), attrs: { 'data-until': agent.parkedUntil, role: 'timer' } }) : null;
  return h('div', { class: 's-row session' }, [
    h('span', { class: 'k', text: 'Session' }),
    h('span', { class: 'badge tone-' + tone, text: sess.needsHuman ? 'needs a human' : (sess.live ? 'live' : (sess.dead ? 'dead' : 'not running')) }),
    parked,
    h('span', { class: 'muted', text: bits.join(' · ') }),
  ]);
}

// The informative part of a card: head, bar, counts and details.  It is
// rebuilt whenever its stream changes; the buttons are not (see below).
function cardMain(s, ctx, main) {
  const id = String(s.streamId);
  const st = statusOf(s);
  const health = s.state ? s.state.name : 'ok';
  const status = badge(st.label, st.tone, st.stalled ? 'stalled: ' + healthInfo(health).label : undefined);
  status.classList.add('s-status');
  const head = h('div', { class: 's-head' }, [
    h('h3', { class: 's-id', text: id, attrs: { id: 'st-' + encodeURIComponent(id) } }),
    s.streamName ? h('span', { class: 's-name', text: s.streamName }) : null,
    status,
    health !== 'ok' ? badge(healthInfo(health).label, healthInfo(health).tone, 'since ' + ago(s.state.since)) : null,
    h('span', { class: 's-pct', text: pct(s.progressPercentage) + '%' }),
  ]);
  main.appendChild(head);
  main.appendChild(progressBar(s.progressPercentage, id + ' progress', st.tone));

  const total = s.totalTasks || 0;
  main.appendChild(h('ul', { class: 's-counts', attrs: { 'aria-label': id + ' task counts' } }, [
    h('li', { class: 'c-done' }, [h('b', { text: s.completedTasks || 0 }), `/${total} done`]),
    h('li', { class: 'c-active' + (s.inProgressTasks ? '' : ' zero') }, [h('b', { text: s.inProgressTasks || 0 }), ' in progress']),
    h('li', { class: 'c-bad' + (s.blockedTasks ? '' : ' zero') }, [h('b', { text: s.blockedTasks || 0 }), ' blocked']),
    h('li', { class: 'c-idle' + (s.pendingTasks ? '' : ' zero') }, [h('b', { text: s.pendingTasks || 0 }), ' pending']),
  ]));

  const details = h('div', { class: 's-details' });
  const deps = s.dependencies || [];
  if (deps.length) {
    const row = h('div', { class: 's-row' }, [h('span', { class: 'k', text: 'Needs' })]);
    for (const d of deps) {
      const depId = typeof d === 'string' ? d : d.streamId;
      const other = ctx.byId.get(depId);
      const dep = other || (typeof d === 'object' ? d : { streamId: depId });
      const t = other ? toneOf(other) : statusOf(dep).tone;
      const label = other || dep.status ? `${depId} ${pct(dep.progressPercentage)}%` : `${depId} (unknown)`;
      const chip = h('a', { class: 'chip tone-' + t, attrs: { href: '#stream-' + encodeURIComponent(depId), title: `${depId}: ${statusOf(dep).label}${other && other.state && other.state.name !== 'ok' ? ', ' + healthInfo(other.state.name).label : ''}` } },
        [h('i', { class: 'dot' }), label]);
      row.appendChild(chip);
    }
    details.appendChild(row);
  }

  const a = s.agent;
  if (a) {
    const active = !!a.isActive;
    const what = a.activityDescription || a.taskTitle || '';
    details.appendChild(h('div', { class: 's-row agent' }, [
      h('span', { class: 'k', text: 'Agent' }),
      h('b', { text: a.agentName || a.agentId || 'agent' }),
      h('span', { class: 'badge ' + (active ? 'tone-done' : 'tone-idle'), text: active ? 'active' : 'idle' }),
      h('span', { class: 'muted', text: 'heartbeat ' + ago(a.lastHeartbeat, ctx.now), attrs: { title: String(a.lastHeartbeat || '') } }),
      what ? h('span', { class: 'activity', text: what, attrs: { title: a.taskTitle && a.taskTitle !== what ? String(a.taskTitle) : null } }) : null,
    ]));
  } else if (s.status !== 'completed') {
    details.appendChild(h('div', { class: 's-row agent muted' }, [h('span', { class: 'k', text: 'Agent' }), 'no agent activity']));
  }

  if (s.session) details.appendChild(sessionRow(s.session, ctx));

  const blocked = s.blockedTaskList || [];
  if (blocked.length) {
    const ul = h('ul', { class: 's-blocked', attrs: { 'aria-label': id + ' blocked tasks' } });
    for (const t of blocked) {
      ul.appendChild(h('li', {}, [
        h('span', { class: 'title', text: t.title || t.taskId || 'a task' }),
        h('span', { class: 'reason', text: t.blockedReason ? t.blockedReason : 'no reason given' }),
      ]));
    }
    details.appendChild(ul);
  }

  if (health !== 'ok') {
    const ev = evidenceText(s.state.evidence);
    details.appendChild(h('div', { class: 's-row evidence tone-' + healthInfo(health).tone }, [
      h('span', { class: 'k', text: 'Health' }),
      // Since when, as a clock time: "just now" would say nothing of a
      // label that had kept for a while.
      h('span', { class: 'since', text: `${healthInfo(health).label} since ${clockTime(s.state.since)} (${ago(s.state.since, ctx.now)})`,
        attrs: { title: String(s.state.since || '') } }),
      ev.text ? h('span', { class: 'muted', text: ev.text, attrs: { title: ev.all || null } }) : null,
    ]));
  }
  if (s.lastAction && s.lastAction.action && s.lastAction.actor) {
    // Who did what last: "stopped by alice, 3 min ago".
    const past = { start: 'started', stop: 'stopped', recover: 'recovered', reply: 'replied to', resume: 'resumed', checkpoint: 'checkpointed', handoff: 'handed off' };
    const a = s.lastAction;
    details.appendChild(h('div', { class: 's-row s-last' }, [
      h('span', { class: 'k', text: 'Last' }),
      h('span', { text: `${past[a.action] || String(a.action)} by ${String(a.actor)}, ${ago(a.at, ctx.now)}`, attrs: { title: String(a.at || '') } }),
    ]));
  }
  main.appendChild(details);
}

const ACTIONS = [['start', 'Start'], ['stop', 'Stop'], ['recover', 'Recover']];
const handlers = { onAction: () => {}, onPane: () => {}, onReply: () => {} };

// Whether the stream's agent waits for a person, and whether what it
// waits on is a permission prompt (then Allow once / Deny answer it).
function waitsForPerson(s) {
  const agent = (s.session && s.session.agent) || {};
  const state = s.state ? s.state.name : '';
  const waiting = state === 'waiting-input' || agent.state === 'waiting-input';
  const why = String(agent.evidence || '') + ' ' + String((s.state && s.state.evidence && s.state.evidence.reason) || '');
  return { waiting, dialog: waiting && /permission/i.test(why) };
}

// A card's frame, made once per stream: its buttons live as long as the
// card, so a click or a key press is never lost to a re-render and the
// focus stays where it is.
function createCard(id) {
  const enc = encodeURIComponent(id);
  const node = h('article', { attrs: { id: 'stream-' + enc, 'data-stream': id, 'aria-labelledby': 'st-' + enc } });
  const main = h('div', { class: 's-main' });
  const spark = h('div', { class: 's-spark' });
  const actions = h('div', { class: 's-actions', attrs: { role: 'group', 'aria-label': id + ' session control' } });
  const buttons = {};
  for (const [name, label] of ACTIONS) {
    const b = h('button', { class: 'btn btn-' + name, text: label, attrs: { type: 'button', 'data-action': name } });
    b.addEventListener('click', () => handlers.onAction(id, name));
    buttons[name] = b;
    actions.appendChild(b);
  }
  buttons.pane = h('button', { class: 'btn btn-quiet btn-pane', text: 'Pane', attrs: { type: 'button', title: 'Show this stream\'s session pane' } });
  buttons.pane.addEventListener('click', () => handlers.onPane(id));
  actions.appendChild(buttons.pane);
  // A reply to an agent that waits: made once, so what is being typed
  // survives every re-render; shown only while it waits.
  const input = h('input', { attrs: { type: 'text', maxlength: '1000', 'aria-label': 'Reply to the agent of ' + id, placeholder: 'Reply to its agent…', autocomplete: 'off' } });
  const send = h('button', { class: 'btn btn-reply', text: 'Send', attrs: { type: 'submit' } });
  const allow = h('button', { class: 'btn btn-allow', text: 'Allow once', attrs: { type: 'button' } });
  const deny = h('button', { class: 'btn btn-deny', text: 'Deny', attrs: { type: 'button' } });
  // What a permission prompt asks: the tool and its exact input (as text).
  const perm = h('div', { class: 's-perm', attrs: { hidden: '' } });
  const reply = h('form', { class: 's-reply', attrs: { hidden: '' } }, [perm, input, send, allow, deny]);
  reply.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (text) handlers.onReply(id, { text }, () => { input.value = ''; });
  });
  allow.addEventListener('click', () => handlers.onReply(id, { answer: 'allow' }));
  deny.addEventListener('click', () => handlers.onReply(id, { answer: 'deny' }));
  const extra = h('div', { class: 's-extra' });
  node.append(main, h('div', { class: 's-side' }, [spark, actions, reply, extra]));
  return { node, main, spark, buttons, extra, reply: { form: reply, perm, input, send, allow, deny }, key: null };
}

// The tool a permission prompt is for and its exact input, as the agent's
// PermissionRequest hook said it: text nodes only, so nothing in it is
// ever read as markup.
function showPermission(box, perm) {
  const valid = perm && typeof perm === 'object';
  box.hidden = !valid;
  if (!valid) {
    box.replaceChildren();
    return;
  }
  let input = '';
  if (perm.input !== undefined) input = typeof perm.input === 'string' ? perm.input : JSON.stringify(perm.input, null, 2);
  else if (typeof perm.inputText === 'string') input = perm.inputText + (perm.truncated ? ' …(cut)' : '');
  box.replaceChildren(
    h('span', { class: 'k', text: 'Asks to use' }),
    h('b', { class: 'perm-tool', text: String(perm.tool || 'a tool') }),
    input ? h('pre', { class: 'perm-input', text: input }) : null,
  );
}

function setAttr(node, name, value) {
  if (value === null || value === undefined) node.removeAttribute(name);
  else node.setAttribute(name, String(value));
}

function updateCard(card, s, ctx) {
  const id = String(s.streamId);
  const tone = toneOf(s);
  card.node.className = 'stream tone-' + tone;
  card.node.dataset.tone = tone;
  // A focused link in the body (a dependency chip) gets its focus back.
  const focusKey = (n) => n.tagName + '|' + (n.getAttribute('href') || '') + '|' + n.textContent;
  const had = card.main.contains(document.activeElement) ? focusKey(document.activeElement) : null;
  card.main.replaceChildren();
  cardMain(s, ctx, card.main);
  if (had) {
    const again = [...card.main.querySelectorAll('a[href], button, [tabindex]')].find((n) => focusKey(n) === had);
    if (again) again.focus({ preventScroll: true });
  }

  card.spark.replaceChildren(
    sparkline(ctx.history.get(id), id, ctx.now),
    h('span', { class: 'muted small', text: s.lastChange ? 'last change ' + ago(s.lastChange, ctx.now) : '' }),
  );

  // Why each button is off: one shared note when session control is off
  // everywhere; else a line per button.
  const ctl = controlsOf(s, ctx);
  const whys = h('ul', { class: 's-why' });
  const busy = ctx.busy.get(id);
  for (const [name, label] of ACTIONS) {
    const c = ctl[name];
    const b = card.buttons[name];
    const whyId = ctx.controlUnavailable ? 'control-note' : `why-${name}-${encodeURIComponent(id)}`;
    b.textContent = busy === name ? label + '…' : label;
    b.hidden = !!ctx.viewOnly; // a viewer's page: the note says why
    b.disabled = !c.enabled || !!busy;
    b.title = c.enabled ? `${label} ${id}` : `${label}: ${c.why}`;
    setAttr(b, 'aria-describedby', c.enabled ? null : whyId);
    setAttr(b, 'data-reason', c.enabled ? null : c.why);
    if (!c.enabled && !ctx.controlUnavailable) {
      whys.appendChild(h('li', { class: 'why-' + name, attrs: { id: whyId } }, [h('span', { class: 'k', text: label + ': ' }), c.why]));
    }
  }
  const waits = waitsForPerson(s);
  const offline = !!ctx.controlUnavailable;
  card.reply.form.hidden = !waits.waiting || !!ctx.viewOnly;
  card.reply.allow.hidden = !waits.dialog;
  card.reply.deny.hidden = !waits.dialog;
  const asked = ctx.permissions && ctx.permissions.get(id);
  showPermission(card.reply.perm, waits.dialog ? ((asked && asked.perm) || ((s.session && s.session.agent) || {}).permission) : null);
  for (const b of [card.reply.send, card.reply.allow, card.reply.deny, card.reply.input]) {
    b.disabled = offline || !!busy;
    b.title = offline ? ctx.controlUnavailable : '';
  }
  const open = ctx.paneStream === id;
  card.buttons.pane.classList.toggle('on', open);
  card.buttons.pane.setAttribute('aria-pressed', open ? 'true' : 'false');

  const extra = [];
  if (whys.childElementCount) extra.push(whys);
  const msg = ctx.messages.get(id);
  if (msg) {
    const box = h('div', { class: 's-msg tone-' + msg.tone, attrs: { role: 'status' } }, [h('span', { text: msg.text })]);
    if (msg.reasons && msg.reasons.length) box.appendChild(h('ul', {}, msg.reasons.map((r) => h('li', { text: r }))));
    extra.push(box);
  }
  card.extra.replaceChildren(...extra);
}

function cardKey(s, ctx) {
  const hist = ctx.history.get(String(s.streamId));
  return JSON.stringify([s, hist ? hist.length : -1, hist && hist.length ? hist[hist.length - 1].at : null,
    ctx.controlUnavailable, ctx.viewOnly || null, ctx.busy.get(String(s.streamId)) || null, ctx.messages.get(String(s.streamId)) || null,
    ctx.paneStream === String(s.streamId), ctx.minute,
    ((ctx.permissions && ctx.permissions.get(String(s.streamId))) || {}).perm || null]);
}

const cards = new Map(); // streamId -> card (createCard)
const sections = new Map(); // phase -> {node, count}

// Puts exactly these children, in this order, in parent, moving only
// what is out of place (a moved node loses focus; a kept one does not).
function placeChildren(parent, wanted) {
  wanted.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  while (parent.children.length > wanted.length) parent.lastElementChild.remove();
}

// Renders the phases and their cards, updating in place what changed.
export function renderStreams(streams, ctx) {
  handlers.onAction = ctx.onAction;
  handlers.onPane = ctx.onPane;
  handlers.onReply = ctx.onReply || handlers.onReply;
  const host = $('phases');
  $('loading').hidden = true;
  const phases = PHASES.slice();
  for (const s of streams) if (!phases.includes(s.streamPhase)) phases.push(s.streamPhase);
  const seen = new Set();
  const shown = [];
  for (const phase of phases) {
    const inPhase = streams.filter((s) => s.streamPhase === phase);
    if (!inPhase.length) continue;
    let total = 0, done = 0;
    for (const s of inPhase) { total += s.totalTasks || 0; done += s.completedTasks || 0; }
    const p = total ? Math.round((done / total) * 100) : 0;
    let sec = sections.get(phase);
    if (!sec) {
      const count = h('span', { class: 'muted' });
      const title = h('h2', { class: 'phase-title', attrs: { id: 'ph-' + phase } }, [h('span', { text: phase.charAt(0).toUpperCase() + phase.slice(1) }), count]);
      const list = h('div', { class: 'phase-streams' });
      sec = { node: h('section', { class: 'phase', attrs: { 'aria-labelledby': 'ph-' + phase, 'data-phase': phase } }, [title, list]), count, list };
      sections.set(phase, sec);
    }
    sec.count.textContent = `${inPhase.length} stream${inPhase.length === 1 ? '' : 's'} · ${done}/${total} tasks · ${p}%`;
    const nodes = [];
    for (const s of inPhase) {
      const id = String(s.streamId);
      seen.add(id);
      let card = cards.get(id);
      if (!card) {
        card = createCard(id);
        cards.set(id, card);
      }
      const key = cardKey(s, ctx);
      if (card.key !== key) {
        updateCard(card, s, ctx);
        card.key = key;
      }
      nodes.push(card.node);
    }
    placeChildren(sec.list, nodes);
    shown.push(sec.node);
  }
  for (const id of [...cards.keys()]) if (!seen.has(id)) cards.delete(id);
  if (!streams.length) shown.push(h('p', { class: 'muted', text: 'Task Copilot lists no streams yet.' }));
  const note = $('control-note');
  note.hidden = !ctx.controlUnavailable && !ctx.viewOnly;
  note.textContent = ctx.viewOnly ? `Start, Stop, Recover and replies are hidden: ${ctx.viewOnly}.`
    : ctx.controlUnavailable ? `Start, Stop and Recover are off: ${ctx.controlUnavailable}.` : '';
  placeChildren(host, shown);
}

// ---------------------------------------------------------------- panels

const KIND_ORDER = { upstream: 0, state: 1, blocked: 2 };
const KIND_TONE = { upstream: 'bad', state: 'warn', blocked: 'bad' };
const KIND_LABEL = { upstream: 'upstream', state: 'state', blocked: 'blocked' };

export function renderAlerts(alerts, byId) {
  const list = $('alerts');
  const sorted = (alerts || []).slice().sort((a, b) => (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9));
  $('alerts-count').textContent = sorted.length ? String(sorted.length) : '';
  if (!sorted.length) {
    list.replaceChildren(h('li', { class: 'quiet', text: 'All quiet: nothing blocked or stalled, Task Copilot answers.' }));
    return;
  }
  list.replaceChildren(...sorted.map((a) => {
    let tone = KIND_TONE[a.kind] || 'warn';
    if (a.kind === 'state' && a.streamId && byId.get(a.streamId)) {
      const st = byId.get(a.streamId).state;
      if (st) tone = healthInfo(st.name).tone || 'warn';
    }
    // A state alert says why: the evidence of the stream's state.
    const ev = a.kind === 'state' && a.streamId && byId.get(a.streamId) && byId.get(a.streamId).state
      ? evidenceText(byId.get(a.streamId).state.evidence) : { text: '', all: '' };
    const li = h('li', { class: 'alert tone-' + tone, attrs: { 'data-kind': a.kind || 'other' } }, [
      h('span', { class: 'badge tone-' + tone, text: KIND_LABEL[a.kind] || String(a.kind || 'alert') }),
      h('span', { class: 'msg' }, [a.message || '',
        ev.text ? h('span', { class: 'why muted', text: ' — ' + ev.text, attrs: { title: ev.all } }) : null]),
    ]);
    if (a.streamId) {
      li.appendChild(h('a', { class: 'goto', text: a.streamId, attrs: { href: '#stream-' + encodeURIComponent(a.streamId) } }));
    }
    return li;
  }));
}

export function renderNext(actions) {
  const list = actions || [];
  $('next-panel').hidden = list.length === 0;
  // An unblock says where and how: the blocked task's question, then the
  // control (the card's reply box, or taskgate reply), with a link to the card.
  $('next').replaceChildren(...list.map((n) => h('li', {}, [
    h('b', { text: [n.action, n.streamId].filter(Boolean).join(' ') }),
    n.reason ? h('span', { class: 'muted', text: ' — ' + n.reason }) : null,
    n.how ? h('div', { class: 'next-how' }, [
      h('span', { text: 'How: ' + n.how + ' ' }),
      n.streamId && document.getElementById('stream-' + encodeURIComponent(n.streamId))
        ? h('a', { text: 'Go to ' + n.streamId, attrs: { href: '#stream-' + encodeURIComponent(n.streamId) } })
        : null,
    ]) : null,
  ])));
}

let graphKey = '';
export function renderGraph(streams) {
  const key = JSON.stringify(streams.map((s) => [s.streamId, s.streamPhase, s.status, s.progressPercentage, s.state && s.state.name,
    (s.dependencies || []).map((d) => (typeof d === 'string' ? d : d.streamId))]));
  if (key === graphKey) return;
  graphKey = key;
  $('graph').replaceChildren(streams.length ? dependencyGraph(streams) : h('p', { class: 'muted', text: 'No streams.' }));
}

export function renderPane(view) {
  $('pane-stream').textContent = view.streamId ? '· ' + view.streamId : '';
  $('pane-status').textContent = view.message || '';
  $('pane-status').hidden = !view.message;
  const out = $('pane-output');
  out.hidden = view.text === undefined || view.text === null;
  if (!out.hidden) {
    const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.textContent = view.text;
    if (atBottom) out.scrollTop = out.scrollHeight;
  }
}

// The read-only notice: shown (with why, else its first sentence) or
// hidden.  It explains the ?token= link.
let signinWhy = null;
export function renderSignIn(show, why) {
  if (signinWhy === null) signinWhy = $('signin-why').textContent;
  $('signin').hidden = !show;
  $('signin-why').textContent = show && why ? why : signinWhy;
}

// Who this browser is signed in as, and the sign-out button for a
// browser signed in by a link (a cookie; a token in a header is not
// the page's to end).
export function renderWho(auth) {
  const who = $('who');
  const named = auth && auth.signedIn && auth.name;
  who.hidden = !named;
  who.textContent = named ? `${auth.name} · ${auth.role || 'signed in'}` : '';
  who.title = named ? `Signed in as ${auth.name}${auth.role ? ', ' + auth.role : ''}` : '';
  $('signout-btn').hidden = !(auth && auth.signedIn && auth.via === 'cookie');
}

export function renderNotifyButton(state) {
  const b = $('notify-btn');
  b.hidden = state === 'unsupported';
  b.disabled = state === 'denied';
  b.setAttribute('aria-pressed', state === 'on' ? 'true' : 'false');
  b.textContent = { on: 'Notifications on', off: 'Notify me', denied: 'Notifications blocked' }[state] || 'Notify me';
  b.title = {
    on: 'You will be notified when a stream stalls, runs out of context, dies, needs a human or its agent asks a question. Click to turn off.',
    off: 'Get a browser notification when a stream stalls, runs out of context, dies, needs a human or its agent asks a question.',
    denied: 'This browser blocks notifications for this page; allow them in the site settings.',
  }[state] || '';
}
