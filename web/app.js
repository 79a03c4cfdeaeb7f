// app.js: the dashboard's script.  It reads /api/streams and /health from
// taskgate and shows them; every upstream string is inserted as text
// (textContent), never as HTML.
'use strict';

const PHASES = ['foundation', 'parallel', 'integration'];

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function bar(percent) {
  const wrap = el('div', undefined, 'bar');
  wrap.setAttribute('role', 'progressbar');
  wrap.setAttribute('aria-valuemin', '0');
  wrap.setAttribute('aria-valuemax', '100');
  wrap.setAttribute('aria-valuenow', String(percent));
  const fill = el('span');
  fill.style.width = percent + '%';
  wrap.appendChild(fill);
  wrap.appendChild(el('em', percent + '%'));
  return wrap;
}

function render(list) {
  const streams = list.streams.slice().sort((a, b) =>
    PHASES.indexOf(a.streamPhase) - PHASES.indexOf(b.streamPhase));
  const byId = new Map(streams.map((s) => [s.streamId, s]));
  const body = document.getElementById('streams');
  body.replaceChildren();
  let total = 0;
  let done = 0;
  for (const s of streams) {
    total += s.totalTasks;
    done += s.completedTasks;
    const row = el('tr');
    row.dataset.stream = s.streamId;
    const name = el('td');
    name.appendChild(el('strong', s.streamId));
    name.appendChild(el('div', s.streamName, 'muted'));
    row.appendChild(name);
    row.appendChild(el('td', s.streamPhase));
    row.appendChild(el('td', s.status.replace('_', ' '), 'state state-' + s.status));
    const progress = el('td');
    progress.appendChild(bar(s.progressPercentage));
    row.appendChild(progress);
    row.appendChild(el('td', s.completedTasks + '/' + s.totalTasks));
    row.appendChild(el('td', s.inProgressTasks));
    row.appendChild(el('td', s.blockedTasks));
    row.appendChild(el('td', s.pendingTasks));
    const deps = el('td');
    for (const d of s.dependencies) {
      const dep = byId.get(d);
      deps.appendChild(el('span', d, 'dep state-' + (dep ? dep.status : 'unknown')));
    }
    row.appendChild(deps);
    body.appendChild(row);
  }
  const percent = total ? Math.round((done / total) * 100) : 0;
  const overall = document.getElementById('overall');
  overall.setAttribute('aria-valuenow', String(percent));
  overall.firstElementChild.style.width = percent + '%';
  document.getElementById('overall-text').textContent =
    done + ' of ' + total + ' tasks complete (' + percent + '%)';
}

async function refresh() {
  const pill = document.getElementById('upstream');
  try {
    const health = await fetch('/health');
    pill.textContent = health.ok ? 'upstream up' : 'upstream down';
    pill.className = 'pill ' + (health.ok ? 'ok' : 'bad');
    const resp = await fetch('/api/streams');
    if (resp.ok) render(await resp.json());
  } catch (e) {
    pill.textContent = 'taskgate unreachable';
    pill.className = 'pill bad';
  }
}

refresh();
setInterval(refresh, 5000);
