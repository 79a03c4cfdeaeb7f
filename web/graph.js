// graph.js: the dashboard's drawings and the colours they share.
// It owns the mapping from a stream's task status and health state to a
// label and a tone (done / active / idle / warn / bad, the colours of Task
// Copilot's watch-status: green complete, yellow in progress, grey not
// started or paused, red blocked or stalled), the dependency graph of the
// streams (an SVG: one column per phase, an arrow from each dependency to
// its dependent, each node coloured by its stream's state) and the
// per-stream progress sparkline.
// Every SVG node is made with createElementNS and every upstream string
// goes in as text (textContent), never as markup.

const SVG = 'http://www.w3.org/2000/svg';

export const PHASES = ['foundation', 'parallel', 'integration'];

const STATUS = {
  completed: { tone: 'done', label: 'complete' },
  in_progress: { tone: 'active', label: 'in progress' },
  pending: { tone: 'idle', label: 'not started' },
  blocked: { tone: 'bad', label: 'blocked' },
  cancelled: { tone: 'idle', label: 'cancelled' },
};

const HEALTH = {
  ok: { tone: null, label: 'ok' },
  'no-progress': { tone: 'bad', label: 'no progress' },
  'context-exhausted': { tone: 'bad', label: 'context exhausted' },
  dead: { tone: 'bad', label: 'session dead' },
  'needs-human': { tone: 'bad', label: 'needs a human' },
  'waiting-input': { tone: 'warn', label: 'waiting for a person' },
  'usage-limited': { tone: 'warn', label: 'usage limit: waiting for its reset' },
  'needs-login': { tone: 'warn', label: 'needs a login' },
  'api-error': { tone: 'warn', label: 'API error' },
  'budget-spent': { tone: 'bad', label: 'budget spent: stopped at its spending limit' },
  idle: { tone: 'idle', label: 'idle: turn ended, work left' },
  'upstream-unhealthy': { tone: 'warn', label: 'upstream says unhealthy' },
};

// A stream in one of these states is stalled: drawn red (as a blocked
// one is) and notified when it enters one of them, even from another of
// them (no-progress -> dead -> needs-human).
export const ALARMING = new Set(['no-progress', 'context-exhausted', 'dead', 'needs-human']);

// States a browser notification is sent for: the stalled ones, and an
// agent that waits for a person or a quota (these "only notify": taskgate
// never kills such a window).
export const NOTIFYING = new Set([...ALARMING, 'waiting-input', 'usage-limited', 'needs-login', 'budget-spent']);

const SEVERITY = { done: 0, idle: 1, active: 2, warn: 3, bad: 4 };

export function statusInfo(status) {
  return STATUS[status] || { tone: 'idle', label: String(status || 'unknown') };
}

export function healthInfo(name) {
  return HEALTH[name] || { tone: 'warn', label: String(name || 'unknown') };
}

export function isStalled(stream) {
  return !!(stream && stream.state && ALARMING.has(stream.state.name));
}

// A stream's status as a person reads it: the upstream's status, except
// that "not started" is only for a stream with nothing done and nothing
// in progress (a pending stream with work done is "paused"), and a
// stalled stream that is not complete is red whatever its status says.
export function statusOf(stream) {
  const s = stream || {};
  let info = statusInfo(s.status);
  if (s.status === 'pending' && ((s.completedTasks || 0) > 0 || (s.inProgressTasks || 0) > 0)) {
    info = { tone: 'idle', label: 'paused' };
  }
  if (s.status !== 'completed' && isStalled(s)) info = { tone: 'bad', label: info.label, stalled: true };
  return info;
}

// The one tone a stream is drawn in: the worse of its status and health.
export function toneOf(stream) {
  const a = statusOf(stream).tone;
  const h = stream.state ? healthInfo(stream.state.name).tone : null;
  if (!h) return a;
  return SEVERITY[h] > SEVERITY[a] ? h : a;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function clip(text, max) {
  const s = String(text);
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

// The dependency graph of all streams, as an <svg> that scales to its box.
export function dependencyGraph(streams) {
  const phases = PHASES.slice();
  for (const s of streams) if (!phases.includes(s.streamPhase)) phases.push(s.streamPhase);
  const cols = phases.filter((p) => streams.some((s) => s.streamPhase === p));
  const NW = 128, NH = 38, GX = 44, GY = 12, PAD = 8, HEAD = 20;
  const place = new Map();
  let rows = 0;
  cols.forEach((phase, c) => {
    const inCol = streams.filter((s) => s.streamPhase === phase);
    inCol.forEach((s, r) => {
      place.set(s.streamId, { x: PAD + c * (NW + GX), y: PAD + HEAD + r * (NH + GY), c, s });
    });
    rows = Math.max(rows, inCol.length);
  });
  const width = PAD * 2 + Math.max(1, cols.length) * NW + Math.max(0, cols.length - 1) * GX;
  const height = PAD * 2 + HEAD + Math.max(1, rows) * (NH + GY) - GY;
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'depgraph', role: 'img',
    'aria-label': 'Dependency graph of the streams: ' + cols.join(', then ') + '.',
  });
  root.appendChild(svg('title', {}, 'Streams by phase; arrows go from a dependency to the stream that waits for it.'));
  const defs = svg('defs');
  for (const kind of ['met', 'unmet']) {
    const m = svg('marker', {
      id: 'arrow-' + kind, viewBox: '0 0 10 10', refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse',
    });
    m.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead ' + kind }));
    defs.appendChild(m);
  }
  root.appendChild(defs);

  cols.forEach((phase, c) => {
    root.appendChild(svg('text', { x: PAD + c * (NW + GX) + NW / 2, y: PAD + 12, class: 'gphase', 'text-anchor': 'middle' }, phase));
  });

  const edges = svg('g', { class: 'edges' });
  for (const s of streams) {
    const to = place.get(s.streamId);
    for (const d of s.dependencies || []) {
      const depId = typeof d === 'string' ? d : d.streamId;
      const from = place.get(depId);
      if (!from || !to) continue;
      const met = from.s.status === 'completed';
      let path;
      if (from.c < to.c) {
        const x1 = from.x + NW, y1 = from.y + NH / 2, x2 = to.x - 2, y2 = to.y + NH / 2;
        const dx = (x2 - x1) / 2;
        path = `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
      } else {
        // Same or earlier column: loop round the left side.
        const x1 = from.x, y1 = from.y + NH / 2, x2 = to.x - 2, y2 = to.y + NH / 2;
        path = `M${x1},${y1} C${x1 - 30},${y1} ${x2 - 30},${y2} ${x2},${y2}`;
      }
      const e = svg('path', { d: path, class: 'edge ' + (met ? 'met' : 'unmet'), 'marker-end': `url(#arrow-${met ? 'met' : 'unmet'})` });
      e.appendChild(svg('title', {}, `${depId} → ${s.streamId}: ${met ? 'dependency met' : 'waiting for ' + depId}`));
      edges.appendChild(e);
    }
  }
  root.appendChild(edges);

  for (const { x, y, s } of place.values()) {
    const link = svg('a', { href: '#stream-' + encodeURIComponent(s.streamId), class: 'gnode tone-' + toneOf(s) });
    const health = s.state && s.state.name !== 'ok' ? ' · ' + healthInfo(s.state.name).label : '';
    link.appendChild(svg('title', {}, `${s.streamId} (${s.streamName || ''}): ${s.progressPercentage}% · ${statusOf(s).label}${health}`));
    link.appendChild(svg('rect', { x, y, width: NW, height: NH, rx: 6 }));
    link.appendChild(svg('rect', { x, y: y + NH - 4, width: Math.round(NW * Math.max(0, Math.min(100, s.progressPercentage || 0)) / 100), height: 4, class: 'gprog', rx: 2 }));
    link.appendChild(svg('text', { x: x + 8, y: y + 15, class: 'gid' }, clip(s.streamId, 17)));
    link.appendChild(svg('text', { x: x + 8, y: y + 28, class: 'gsub' }, clip(`${s.progressPercentage}% · ${statusOf(s).label}`, 22)));
    root.appendChild(link);
  }
  return root;
}

// A step line of progressPercentage over time, oldest sample first.
export function sparkline(samples, streamId, nowMs) {
  const W = 120, H = 28;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'spark', role: 'img' });
  root.appendChild(svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'spark-base' }));
  const pts = (samples || []).filter((p) => p && p.at && Number.isFinite(Date.parse(p.at)));
  if (pts.length === 0) {
    root.setAttribute('aria-label', `${streamId}: no history yet`);
    root.appendChild(svg('title', {}, 'No history yet'));
    root.appendChild(svg('line', { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: 'spark-empty' }));
    return root;
  }
  const t0 = Date.parse(pts[0].at);
  const t1 = Math.max(nowMs || Date.now(), Date.parse(pts[pts.length - 1].at), t0 + 1);
  const X = (t) => ((t - t0) / (t1 - t0)) * W;
  const Y = (v) => H - 1.5 - (Math.max(0, Math.min(100, v)) / 100) * (H - 3);
  let d = '';
  pts.forEach((p, i) => {
    const x = X(Date.parse(p.at)).toFixed(1), y = Y(p.progressPercentage).toFixed(1);
    d += i === 0 ? `M${x},${y}` : `H${x}V${y}`;
  });
  d += `H${W}`;
  root.appendChild(svg('path', { d: d + `V${H}H0Z`, class: 'spark-area' }));
  root.appendChild(svg('path', { d, class: 'spark-line' }));
  const first = pts[0].progressPercentage, last = pts[pts.length - 1].progressPercentage;
  const mins = Math.max(1, Math.round((t1 - t0) / 60000));
  const label = `${streamId}: ${first}% → ${last}% over ${mins} min, ${pts.length} change${pts.length === 1 ? '' : 's'}`;
  root.setAttribute('aria-label', label);
  root.appendChild(svg('title', {}, label));
  return root;
}
