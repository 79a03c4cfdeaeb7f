// dashboard.test.mjs: the dashboard in a real headless Chromium.
//
// It starts the upstream double (tests/double/tc-double.py) and the real
// taskgate binary on free loopback ports, in a private temporary state
// directory (--poll 0.3), opens the page in Debian's /usr/bin/chromium
// through playwright-core (no browser download; a fresh user data dir),
// and checks what a person would: every stream and its percentage, a
// task change arriving without a reload, upstream text shown as text
// (no <img>, no dialog), the upstream outage alert coming and going,
// progress bars with their ARIA values, "paused" against "not started",
// the read-only notice and the buttons off until sign-in, then following
// the gates with a reason, a stall in red, notifications, and no console
// error or CSP violation all along; and people: a viewer's page without
// action buttons (saying why) and an operator's with them, and signing
// out.  It
// writes screenshots to $TASKGATE_E2E_OUT (default tests/e2e/out/).
// Every process it started is killed when it ends, however it ends.
//
// Paths: the binary from $TASKGATE_BIN, else server/taskgate; the double
// and web/ from $srcdir when set, else from this file's source tree.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = (() => {
  const src = process.env.srcdir;
  if (src && fs.existsSync(path.join(src, 'tests', 'double', 'tc-double.py'))) return path.resolve(src);
  return path.resolve(HERE, '..', '..');
})();
const DOUBLE = path.join(ROOT, 'tests', 'double', 'tc-double.py');
const FIXTURES = path.join(ROOT, 'tests', 'fixtures', 'task-copilot');
const WEB = path.join(ROOT, 'web');
const BIN = process.env.TASKGATE_BIN || path.join(ROOT, 'server', 'taskgate');
const CHROMIUM = process.env.TASKGATE_E2E_CHROMIUM || '/usr/bin/chromium';
const OUT = process.env.TASKGATE_E2E_OUT || path.join(HERE, 'out');
const AGENT = path.join(ROOT, 'tests', 'agent', 'fake-claude');
const XSS_TITLE = '<img src=x onerror=alert(1)>';
// Why Start, Stop and Recover are off in a browser that is not signed in.
const SIGN_IN = 'sign in first: open the link taskgate printed (…/?token=…)';
const RED = 'rgb(207, 34, 46)'; // --bad in the light scheme
const TMUX = ['/usr/bin/tmux', '/usr/local/bin/tmux', '/bin/tmux'].find((p) => fs.existsSync(p));

// ------------------------------------------------------------ processes

const children = new Set();
function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL'); } catch (e) { /* already gone */ }
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAll(); process.exit(1); });
}

function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', resolve));
}

async function stop(child, signal = 'SIGTERM', graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch (e) { /* gone */ } }, graceMs);
  await exited(child);
  clearTimeout(timer);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(fn, what, timeoutMs = 10000, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await sleep(stepMs);
  }
}

class Double {
  constructor(dir) {
    this.dir = dir;
    this.port = 0;
    this.proc = null;
  }

  async start() {
    const portFile = path.join(this.dir, 'double.port');
    fs.rmSync(portFile, { force: true });
    const log = fs.openSync(path.join(this.dir, 'double.log'), 'a');
    this.proc = track(spawn('python3', [DOUBLE, '--fixtures', FIXTURES, '--port', String(this.port), '--port-file', portFile],
      { stdio: ['ignore', 'ignore', log] }));
    fs.closeSync(log);
    await until(() => fs.existsSync(portFile) || this.proc.exitCode !== null, 'the double to listen');
    if (this.proc.exitCode !== null) throw new Error('the double exited: ' + fs.readFileSync(path.join(this.dir, 'double.log'), 'utf8'));
    this.port = Number(fs.readFileSync(portFile, 'utf8').trim());
    return this;
  }

  async kill() {
    await stop(this.proc, 'SIGKILL');
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async mode(mode, extra = {}) {
    const resp = await fetch(`${this.url}/__double/mode`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ mode, ...extra }),
    });
    assert.equal(resp.status, 200, `double control mode ${mode}: ${resp.status}`);
  }

  async setTask(task, fields) {
    const resp = await fetch(`${this.url}/__double/tasks/${task}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fields),
    });
    const body = await resp.text();
    assert.equal(resp.status, 200, `double control tasks/${task}: ${resp.status} ${body}`);
    return JSON.parse(body);
  }
}

async function startTaskgate(dir, upstream, { listen = '127.0.0.1:0', extra = [] } = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TASKGATE_')));
  env.XDG_STATE_HOME = path.join(dir, 'xdg');
  // A tmux server of its own (socket under dir), never the user's.
  env.TMUX_TMPDIR = dir;
  delete env.TMUX;
  delete env.TMUX_PANE;
  const log = fs.openSync(path.join(dir, 'taskgate.log'), 'a');
  const proc = track(spawn(BIN, ['serve', '--listen', listen, '--upstream', upstream, '--poll', '0.3', ...extra,
    '--db', path.join(dir, 'history.db'), '--token-file', path.join(dir, 'token'), '--web-root', WEB,
    '--tmux-session', 'tg-e2e-' + process.pid, '--agent-command', 'python3 ' + AGENT],
  { cwd: dir, env, stdio: ['ignore', 'pipe', log] }));
  fs.closeSync(log);
  const lines = readline.createInterface({ input: proc.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    exited(proc).then(() => null),
    sleep(15000).then(() => null),
  ]);
  const m = first && /^taskgate: dashboard at http:\/\/([^/]+):(\d+)\/\?token=([0-9a-f]{64})$/.exec(first);
  if (!m) {
    throw new Error(`taskgate did not start (${JSON.stringify(first)}): ${fs.readFileSync(path.join(dir, 'taskgate.log'), 'utf8')}`);
  }
  proc.stdout.resume();
  return { proc, env, port: Number(m[2]), token: m[3], url: `http://127.0.0.1:${m[2]}/` };
}

// Ends the private tmux server taskgate's windows ran in, if any.
async function killTmux(env) {
  if (!TMUX || !env) return;
  const proc = spawn(TMUX, ['kill-server'], { env, stdio: 'ignore' });
  await Promise.race([exited(proc), sleep(5000)]);
}

// Headless Debian chromium with a fresh profile; never a downloaded browser.
async function launchBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
  });
  return { context, profile };
}

function removeDirs(...dirs) {
  for (const d of dirs) {
    try {
      if (d) fs.rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (e) {
      // A straggling writer; the directory is in the system's temp.
    }
  }
}

// Runs in the page before its own scripts: records CSP violations.
// Ends what a suite started: the browser, taskgate, its tmux server, the
// double, any stray child, and their directories.
async function tearDown({ context, tg, double, dir, profile }) {
  if (context) await context.close().catch(() => {});
  if (tg) await stop(tg.proc);
  if (tg) await killTmux(tg.env);
  if (double) await double.kill();
  killAll();
  removeDirs(dir, profile);
}

function watchCsp() {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
  });
}

// ------------------------------------------------------------ the page

const PAGE_DOM = {
  // The percentage shown on a stream's card, as a number.
  percent: (id) => {
    const card = document.querySelector(`[data-stream="${CSS.escape(id)}"]`);
    if (!card) return null;
    const bar = card.querySelector('[role="progressbar"]');
    return { text: card.querySelector('.s-pct').textContent.trim(), now: Number(bar.getAttribute('aria-valuenow')) };
  },
};

describe('dashboard in headless Chromium', () => {
  let dir, profile, double, tg, context, page;
  const consoleErrors = [];
  const dialogs = [];
  let navigations = 0;
  let expect401 = false;
  let expectRefused = false;

  before(async () => {
    assert.ok(fs.existsSync(BIN), `taskgate binary not found at ${BIN}: run make first (or set TASKGATE_BIN)`);
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: run contrib/install-e2e`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-e2e-'));
    double = await new Double(dir).start();
    tg = await startTaskgate(dir, double.url);
    ({ context, profile } = await launchBrowser());
    page = context.pages()[0] || await context.newPage();
    await page.addInitScript(watchCsp);
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      // The one error the browser logs by design: the refused write of
      // the unsigned test, which the page then explains.
      // While taskgate restarts: its event stream cut, then refused.
      if (expectRefused && (/ERR_CONNECTION_REFUSED/.test(msg.text()) ||
          (/ERR_INCOMPLETE_CHUNKED_ENCODING/.test(msg.text()) && /\/api\/events$/.test(msg.location().url || '')))) return;
      if (expect401 && /status of 401/.test(msg.text()) && /\/api\/streams\/[^/]+\/(start|stop|recover)$/.test(msg.location().url || '')) return;
      consoleErrors.push(msg.text() + ' @ ' + (msg.location().url || ''));
    });
    page.on('pageerror', (err) => consoleErrors.push('pageerror: ' + err.message));
    page.on('dialog', (d) => { dialogs.push(d.type() + ': ' + d.message()); d.dismiss().catch(() => {}); });
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations += 1; });
    await page.goto(tg.url);
    await page.waitForSelector('[data-stream="Stream-Z"]', { timeout: 15000 });
  });

  after(() => tearDown({ context, tg, double, dir, profile }));

  const percentOf = (id) => page.evaluate(PAGE_DOM.percent, id);
  const overall = () => page.evaluate(() => Number(document.getElementById('overall-bar').getAttribute('aria-valuenow')));

  test('every stream of the double, grouped by phase, with its percentage', async () => {
    const want = { 'Stream-A': 100, 'Stream-B': 33, 'Stream-C': 100, 'Stream-D': 0, 'Stream-Z': 0 };
    for (const [id, p] of Object.entries(want)) {
      const got = await percentOf(id);
      assert.deepEqual(got, { text: p + '%', now: p }, id);
    }
    assert.equal(await overall(), 57);
    assert.equal(await page.textContent('#overall-figure'), '57%');
    const phases = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-stream]')]
      .map((c) => [c.dataset.stream, c.closest('[data-phase]').dataset.phase])));
    assert.deepEqual(phases, {
      'Stream-A': 'foundation', 'Stream-B': 'parallel', 'Stream-C': 'parallel', 'Stream-D': 'parallel', 'Stream-Z': 'integration',
    });
    // The graph has a node per stream and an arrow per dependency.
    const graph = await page.evaluate(() => ({
      nodes: document.querySelectorAll('#graph .gnode').length,
      edges: document.querySelectorAll('#graph .edge').length,
    }));
    assert.deepEqual(graph, { nodes: 5, edges: 5 });
    // The live connection says so.
    await until(async () => (await page.getAttribute('#conn', 'data-state')) === 'connected', 'the connection indicator');
  });

  test('a task change in the upstream shows without a reload', async () => {
    const before = navigations;
    await page.evaluate(() => {
      window.__sameDocument = true;
      window.__startButton = document.querySelector('[data-stream="Stream-B"] button[data-action="start"]');
    });
    await double.setTask('B2', { status: 'completed' });
    await until(async () => (await percentOf('Stream-B')).now === 67, 'Stream-B at 67%', 8000);
    assert.equal((await percentOf('Stream-B')).text, '67%');
    assert.equal(await overall(), 64);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
    assert.equal(navigations, before);
    assert.ok(await page.evaluate(() => window.__startButton === document.querySelector('[data-stream="Stream-B"] button[data-action="start"]')),
      'the card was updated in place, its buttons kept');
    // Its sparkline learns the new sample.
    await until(() => page.evaluate(() => /33% → 67%/.test(document.querySelector('[data-stream="Stream-B"] .spark').getAttribute('aria-label'))),
      'the sparkline to show 33% → 67%', 8000);
  });

  test('upstream text is shown as text, never as markup', async () => {
    await double.setTask('B3', { title: XSS_TITLE, status: 'blocked', blockedReason: '<b>x</b>' });
    await until(() => page.evaluate((t) => [...document.querySelectorAll('[data-stream="Stream-B"] .s-blocked .title')]
      .some((n) => n.textContent === t), XSS_TITLE), 'the blocked task in Stream-B', 8000);
    const found = await page.evaluate((t) => ({
      imgs: document.querySelectorAll('img').length,
      bold: [...document.querySelectorAll('b')].filter((n) => n.textContent === 'x').length,
      reason: [...document.querySelectorAll('.s-blocked .reason')].some((n) => n.textContent === '<b>x</b>'),
      alert: [...document.querySelectorAll('#alerts .msg')].some((n) => n.textContent.includes(t)),
    }), XSS_TITLE);
    assert.deepEqual(found, { imgs: 0, bold: 0, reason: true, alert: true });
    await sleep(300);
    assert.deepEqual(dialogs, []);
  });

  test('the upstream going down shows an alert, and its return clears it', async () => {
    const port = double.port;
    await double.kill();
    await until(async () => (await page.getAttribute('#upstream-pill', 'data-state')) === 'down', 'the upstream pill to say down', 8000);
    await until(() => page.locator('#alerts [data-kind="upstream"]').count(), 'the upstream alert', 8000);
    assert.match(await page.textContent('#alerts [data-kind="upstream"]'), /Task Copilot does not answer/);
    // The figures stay (the last good answer), and the page is still live.
    assert.equal((await percentOf('Stream-A')).now, 100);
    double.port = port;
    await double.start();
    assert.equal(double.port, port);
    await until(async () => (await page.getAttribute('#upstream-pill', 'data-state')) === 'up', 'the upstream pill to say up', 10000);
    await until(async () => (await page.locator('#alerts [data-kind="upstream"]').count()) === 0, 'the upstream alert to clear', 8000);
    // The restarted double has its initial data again: Stream-B back to 33%.
    await until(async () => (await percentOf('Stream-B')).now === 33, 'Stream-B back at 33%', 8000);
  });

  test('progress bars carry role, ARIA values and a label', async () => {
    const bars = await page.evaluate(() => [...document.querySelectorAll('[role="progressbar"]')].map((b) => {
      const ids = (b.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
      const label = b.getAttribute('aria-label') || ids.map((id) => document.getElementById(id)?.textContent || '').join(' ');
      return { min: b.getAttribute('aria-valuemin'), max: b.getAttribute('aria-valuemax'), now: b.getAttribute('aria-valuenow'), label: label.trim() };
    }));
    assert.equal(bars.length, 6, 'the overall bar and one per stream');
    for (const b of bars) {
      assert.equal(b.min, '0');
      assert.equal(b.max, '100');
      assert.match(b.now, /^\d+$/);
      assert.ok(b.label.length > 0, 'a progress bar without a label');
    }
  });

  test('a pending stream with work done reads "paused", not "not started"', async () => {
    const status = (id) => page.evaluate((sid) => {
      const b = document.querySelector(`[data-stream="${CSS.escape(sid)}"] .s-status`);
      return b ? b.textContent + ' ' + [...b.classList].filter((c) => c.startsWith('tone-')).join(' ') : null;
    }, id);
    const tally = () => page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#overall-tally [data-tally]')]
      .map((n) => [n.dataset.tally, n.textContent.trim()])));
    assert.equal(await status('Stream-Z'), 'not started tone-idle');
    assert.equal((await tally())['not started'], '1 not started');
    // B2 (in progress) back to pending: Stream-B has 1 of 3 done, none in
    // progress, and its upstream status is "pending".
    await double.setTask('B2', { status: 'pending' });
    await until(async () => (await status('Stream-B')) === 'paused tone-idle', 'Stream-B to read paused', 8000);
    const t = await tally();
    assert.equal(t['not started'], '1 not started', JSON.stringify(t));
    assert.equal(t.paused, '1 paused', JSON.stringify(t));
    assert.match(await page.textContent('#graph .gnode[href="#stream-Stream-B"] > title'), /paused/, 'the graph says so too');
    // Back in progress without a fresh heartbeat (a move to in_progress by
    // its agent would write one, and an agent Task Copilot reports active
    // closes Start for the tests that follow).
    await double.setTask('B2', { status: 'in_progress', assignedAgent: '' });
    await double.setTask('B2', { assignedAgent: 'me' });
    await until(async () => (await status('Stream-B')) === 'in progress tone-active', 'Stream-B in progress again', 8000);
    assert.equal((await tally()).paused, undefined);
  });

  test('a write without sign-in is refused and the page says how to sign in', async () => {
    // Read-only up front: the notice, before any click, and every
    // Start / Stop / Recover off with the reason.
    assert.equal(await page.isVisible('#signin'), true, 'the read-only notice shows at load');
    assert.match(await page.textContent('#signin'), /\?token=/);
    const controls = () => page.evaluate(() => [...document.querySelectorAll('[data-stream] button[data-action]')].map((b) => ({
      stream: b.closest('[data-stream]').dataset.stream,
      action: b.dataset.action,
      disabled: b.disabled,
      reason: b.dataset.reason || '',
      why: (b.getAttribute('aria-describedby') || '').split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' '),
    })));
    const allSayToSignIn = async () => {
      const all = await controls();
      return all.length === 15 && all.every((b) => b.disabled && b.reason === SIGN_IN && b.why.includes(SIGN_IN)) && all;
    };
    assert.ok(await allSayToSignIn(), JSON.stringify(await controls()));
    // The pane view needs the token too.
    await page.click('[data-stream="Stream-B"] .btn-pane');
    await until(async () => (await page.textContent('#pane-status')).includes(SIGN_IN), 'the pane view to say to sign in', 5000);
    await page.click('[data-stream="Stream-B"] .btn-pane');
    await until(async () => (await page.getAttribute('[data-stream="Stream-B"] .btn-pane', 'aria-pressed')) === 'false', 'the pane to close', 5000);

    // Signed in by the link: the notice goes, the buttons follow the gates.
    await page.goto(tg.url + '?token=' + tg.token);
    assert.equal(page.url(), tg.url, 'the token leaves the address bar');
    await page.waitForSelector('[data-stream="Stream-B"] button[data-action="start"]:not([disabled])', { timeout: 10000 });
    assert.equal(await page.isVisible('#signin'), false);

    // A direct 401 (here the cookie is gone while the page thought it
    // signed in) still shows the notice, and the buttons go off again.
    await context.clearCookies();
    expect401 = true;
    await page.click('[data-stream="Stream-B"] button[data-action="start"]');
    await page.waitForSelector('#signin', { state: 'visible', timeout: 5000 });
    assert.match(await page.textContent('#signin'), /\?token=/);
    assert.match(await page.textContent('[data-stream="Stream-B"] .s-msg'), /not signed in/);
    await until(allSayToSignIn, 'the buttons to say to sign in again', 5000);
    expect401 = false;

    // Signed in again for the tests that follow.
    await page.goto(tg.url + '?token=' + tg.token);
    await page.waitForSelector('[data-stream="Stream-B"] button[data-action="start"]:not([disabled])', { timeout: 10000 });
    assert.equal(await page.isVisible('#signin'), false);
  });

  test('Start, Stop and Recover follow the gates and say why they are off', async () => {
    const overview = await (await fetch(tg.url + 'api/overview')).json();
    const buttons = await page.evaluate(() => [...document.querySelectorAll('[data-stream] button[data-action]')].map((b) => ({
      stream: b.closest('[data-stream]').dataset.stream,
      action: b.dataset.action,
      disabled: b.disabled,
      why: (b.getAttribute('aria-describedby') || '').split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim(),
      title: b.title,
    })));
    assert.equal(buttons.length, 15);
    for (const b of buttons) {
      const s = overview.streams.find((x) => x.streamId === b.stream);
      if (b.action === 'start') assert.equal(b.disabled, !s.gate.canStart, `${b.stream} start`);
      else assert.equal(b.disabled, true, `${b.stream} ${b.action}: no session runs yet`);
      if (b.disabled) {
        assert.ok(b.why.length > 0, `${b.stream} ${b.action} says why on the page`);
        assert.ok(b.title.length > 0, `${b.stream} ${b.action} has a title`);
      }
    }
    const why = (stream, action) => buttons.find((b) => b.stream === stream && b.action === action).why;
    assert.match(why('Stream-A', 'start'), /Stream-A is already complete/);
    assert.match(why('Stream-Z', 'start'), /parallel phase is not complete/);
    assert.match(why('Stream-Z', 'start'), /taskgate start Stream-Z --force overrides this/, 'the page names the way past a gate it does not offer');
    assert.match(why('Stream-A', 'stop'), /no session is running/);
    assert.match(why('Stream-A', 'recover'), /no session to recover/);
    assert.ok(await page.isVisible('[data-stream="Stream-A"] .s-why .why-start'), 'the gate\'s reason is on the page, not only in a tooltip');
  });

  test('keyboard: the pane view opens from a real button and explains itself', async () => {
    await page.focus('[data-stream="Stream-B"] .btn-pane');
    await page.keyboard.press('Enter');
    await until(async () => /No session is running for Stream-B/.test(await page.textContent('#pane-status')), 'the pane view to explain', 5000);
    await until(async () => (await page.getAttribute('[data-stream="Stream-B"] .btn-pane', 'aria-pressed')) === 'true', 'the Pane button to be pressed', 5000);
    assert.ok(await page.evaluate(() => document.activeElement === document.querySelector('[data-stream="Stream-B"] .btn-pane')),
      'focus kept across re-render');
    // Tab moves on to the next real control.
    await page.keyboard.press('Tab');
    const reached = await page.evaluate(() => {
      const n = document.activeElement;
      return { tag: n ? n.tagName.toUpperCase() : '', html: n ? n.outerHTML.slice(0, 200) : '' };
    });
    assert.ok(['A', 'BUTTON'].includes(reached.tag), 'Tab reaches the next link or button, not ' + reached.html);
    await page.focus('[data-stream="Stream-B"] .btn-pane');
    await page.keyboard.press('Space');
    await until(async () => (await page.getAttribute('[data-stream="Stream-B"] .btn-pane', 'aria-pressed')) === 'false', 'the pane to close', 5000);
  });

  test('on a phone the pane opens next to the card whose Pane button was tapped', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    try {
      await sleep(300);
      await page.click('[data-stream="Stream-B"] .btn-pane');
      await until(async () => /Stream-B/.test(await page.textContent('#pane-stream')), 'the pane to open', 5000);
      const where = await page.evaluate(() => {
        const card = document.querySelector('[data-stream="Stream-B"]').getBoundingClientRect();
        const pane = document.querySelector('section.pane').getBoundingClientRect();
        return { gap: pane.top - card.top, cardHeight: card.height, paneTop: pane.top + window.scrollY };
      });
      assert.ok(where.gap >= 0 && where.gap <= where.cardHeight + 40,
        `the pane is ${Math.round(where.gap)} px below the top of a ${Math.round(where.cardHeight)} px card`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px with the pane open`);
      // Closed, it is back in the side column; on a wide screen it stays there.
      await page.click('[data-stream="Stream-B"] .btn-pane');
      await until(async () => page.evaluate(() => !!document.querySelector('aside.side > section.pane')), 'the pane back in its column', 5000);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await page.click('[data-stream="Stream-B"] .btn-pane');
    await until(async () => page.evaluate(() => !!document.querySelector('aside.side > section.pane')
      && /Stream-B/.test(document.getElementById('pane-stream').textContent)), 'the pane in the side column', 5000);
    await page.click('[data-stream="Stream-B"] .btn-pane');
  });

  test('"Suggested next" says which task blocks a stream, its question, and where to answer', async () => {
    const item = await until(async () => page.evaluate(() => [...document.querySelectorAll('#next li')]
      .map((li) => ({ text: li.textContent, link: (li.querySelector('a[href]') || {}).hash || null }))
      .find((x) => x.text.startsWith('unblock Stream-D'))), 'the unblock suggestion', 5000);
    assert.match(item.text, /Threat model the checkpoint endpoint/);
    assert.match(item.text, /Need decision: should POST \/api\/streams\/:id\/checkpoint require auth\?/);
    assert.match(item.text, /How: /);
    assert.equal(item.link, '#stream-Stream-D', 'a link to the card, where its reply box is');
  });

  test('a stream\'s health says since when, as a time of day', async () => {
    const row = await page.textContent('[data-stream="Stream-D"] .s-row.evidence');
    const since = await page.evaluate(() => fetch('/api/overview').then((r) => r.json())
      .then((o) => o.streams.find((s) => s.streamId === 'Stream-D').state.since));
    const clock = new Date(since);
    assert.ok(Number.isFinite(clock.getTime()), 'the overview gives the state\'s since');
    const shown = await page.evaluate((iso) => new Date(iso).toLocaleTimeString(), since);
    assert.ok(row.includes('since ' + shown), `the health row "${row}" shows ${shown}`);
  });

  test('signed in: Start opens a session and its pane shows the agent', { skip: !TMUX && 'tmux is not installed' }, async () => {
    await page.waitForSelector('[data-stream="Stream-B"] button[data-action="start"]:not([disabled])', { timeout: 10000 });
    assert.equal(await page.isVisible('#signin'), false);
    await page.click('[data-stream="Stream-B"] button[data-action="start"]');
    await until(async () => /Started Stream-B/.test(await page.textContent('[data-stream="Stream-B"]')), 'the start to be confirmed', 20000);
    await page.waitForSelector('[data-stream="Stream-B"] button[data-action="stop"]:not([disabled])', { timeout: 10000 });
    await page.click('[data-stream="Stream-B"] .btn-pane');
    await until(async () => /working on: \/continue Stream-B/.test(await page.textContent('#pane-output')),
      'the pane to show the agent at work', 20000);
    assert.match(await page.textContent('[data-stream="Stream-B"] .session'), /live/);
  });

  test('signed in: an agent that waits gets a reply box, and the reply reaches it', { skip: !TMUX && 'tmux is not installed' }, async () => {
    // The agent asks a question (its pane says so) after a line it is given.
    fs.writeFileSync(path.join(dir, '.fake-agent-mode'), 'ask');
    const env = tg.env;
    const send = spawn(TMUX, ['send-keys', '-t', `=tg-e2e-${process.pid}:Stream-B`, '-l', 'go on'], { env, stdio: 'ignore' });
    await exited(send);
    await exited(spawn(TMUX, ['send-keys', '-t', `=tg-e2e-${process.pid}:Stream-B`, 'Enter'], { env, stdio: 'ignore' }));
    const box = '[data-stream="Stream-B"] form.s-reply';
    await page.waitForSelector(`${box}:not([hidden]) input`, { timeout: 20000 });
    // A plain question: no Allow once / Deny to press.
    assert.equal(await page.isVisible(`${box} .btn-allow`), false);
    fs.writeFileSync(path.join(dir, '.fake-agent-mode'), 'work');
    await page.fill(`${box} input`, 'yes, go on');
    await page.press(`${box} input`, 'Enter');
    await until(async () => /Sent your reply to Stream-B/.test(await page.textContent('[data-stream="Stream-B"]')), 'the reply to be confirmed', 10000);
    await until(() => / yes, go on$/m.test(fs.readFileSync(path.join(dir, '.fake-agent.log'), 'utf8')), 'the agent to get the reply', 10000);
    assert.equal(await page.inputValue(`${box} input`), '');
  });

  test('screenshots at 1280 px, 400 px and in the dark', async () => {
    fs.mkdirSync(OUT, { recursive: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await sleep(300);
    await page.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
    await page.setViewportSize({ width: 400, height: 800 });
    await sleep(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at 400 px`);
    await page.screenshot({ path: path.join(OUT, 'dashboard-400.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await sleep(300);
    await page.screenshot({ path: path.join(OUT, 'dashboard-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    for (const f of ['dashboard.png', 'dashboard-400.png', 'dashboard-dark.png']) {
      assert.ok(fs.statSync(path.join(OUT, f)).size > 10000, f);
    }
  });

  test('signed in: Stop ends the session', { skip: !TMUX && 'tmux is not installed' }, async () => {
    await page.click('[data-stream="Stream-B"] button[data-action="stop"]');
    await until(async () => /Stopped Stream-B/.test(await page.textContent('[data-stream="Stream-B"]')), 'the stop to be confirmed', 20000);
    await page.waitForSelector('[data-stream="Stream-B"] button[data-action="stop"][disabled]', { timeout: 10000 });
    await page.waitForSelector('[data-stream="Stream-B"] button[data-action="start"]:not([disabled])', { timeout: 10000 });
  });

  test('taskgate restarting: the page says so, reconnects by itself and catches up', async () => {
    const port = tg.port;
    // Whether the stream cards ever all went away.
    await page.evaluate(() => {
      window.__emptied = false;
      new MutationObserver(() => {
        if (!document.querySelector('[data-stream]')) window.__emptied = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    expectRefused = true;
    await stop(tg.proc);
    await until(async () => ['reconnecting', 'offline'].includes(await page.getAttribute('#conn', 'data-state')), 'the indicator to say reconnecting', 8000);
    // Once taskgate has not answered for a while the page is stale: greyed,
    // every action off saying since when, Task Copilot's state unknown.
    await until(async () => (await page.getAttribute('#conn', 'data-state')) === 'offline', 'the indicator to say offline', 30000);
    assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), true);
    assert.match(await page.textContent('#conn'), /^offline since /);
    assert.match(await page.getAttribute('[data-stream="Stream-B"] button[data-action="start"]', 'data-reason') || '', /cannot be reached since/);
    assert.notEqual(await page.textContent('#upstream-pill'), 'Task Copilot up');
    // The upstream moves on while taskgate is away, and answers slowly:
    // the page is back before taskgate's first poll is done.
    await double.setTask('B2', { status: 'completed' });
    await double.mode('slow', { delayMs: 1500 });
    tg = await startTaskgate(dir, double.url, { listen: '127.0.0.1:' + port });
    await until(async () => (await page.getAttribute('#conn', 'data-state')) === 'connected', 'the indicator to say live again', 15000);
    assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), false, 'live again: not stale');
    await double.mode('up');
    await until(async () => (await percentOf('Stream-B')).now === 67, 'Stream-B at 67% after the restart', 20000);
    assert.equal(await page.evaluate(() => window.__emptied), false, 'the cards stay while taskgate has not read Task Copilot yet');
    expectRefused = false;
  });

  test('no console error and no CSP violation all along', async () => {
    const csp = await page.evaluate(() => window.__csp);
    assert.deepEqual(csp, []);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(dialogs, []);
  });
});

// Runs in the page before its own scripts: a Notification that records
// what it is asked to show, so the test can see it (headless Chromium
// shows none).  Permission starts at "default", as for a new visitor.
function fakeNotifications() {
  window.__notes = [];
  class RecordingNotification {
    constructor(title, opts) {
      window.__notes.push({ title, body: (opts && opts.body) || '' });
    }

    static requestPermission() {
      RecordingNotification.permission = 'granted';
      return Promise.resolve('granted');
    }
  }
  RecordingNotification.permission = 'default';
  window.Notification = RecordingNotification;
}

describe('opt-in notifications when a stream stalls', () => {
  let dir, profile, double, tg, context, page;
  const consoleErrors = [];

  before(async () => {
    assert.ok(fs.existsSync(BIN), `taskgate binary not found at ${BIN}: run make first (or set TASKGATE_BIN)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-e2e-'));
    // A stall timeout of 22.5 s: Stream-D (in progress, never moving) goes
    // no-progress some time after the page is up, and after "Notify me" is
    // clicked even if Chromium is slow to launch (a stall the page saw with
    // notifications off is never notified).
    const config = path.join(dir, 'orchestration-config.json');
    fs.writeFileSync(config, JSON.stringify({ contextRecovery: { stallTimeoutMinutes: 0.375, autoRecoveryEnabled: false } }));
    double = await new Double(dir).start();
    tg = await startTaskgate(dir, double.url, { extra: ['--config', config] });
    ({ context, profile } = await launchBrowser());
    page = context.pages()[0] || await context.newPage();
    await page.addInitScript(watchCsp);
    await page.addInitScript(fakeNotifications);
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => consoleErrors.push('pageerror: ' + err.message));
    await page.goto(tg.url);
    await page.waitForSelector('[data-stream="Stream-D"]', { timeout: 15000 });
  });

  after(() => tearDown({ context, tg, double, dir, profile }));

  test('the button asks for permission, then a stall notifies once', async () => {
    assert.equal(await page.textContent('#notify-btn'), 'Notify me');
    await page.click('#notify-btn');
    await until(async () => (await page.getAttribute('#notify-btn', 'aria-pressed')) === 'true', 'notifications to be on', 5000);
    assert.equal(await page.textContent('#notify-btn'), 'Notifications on');
    const notes = await until(async () => {
      const n = await page.evaluate(() => window.__notes);
      return n.some((x) => x.title === 'Stream-D: no progress') && n;
    }, 'a notification of Stream-D\'s stall', 45000, 250);
    assert.equal(notes.filter((x) => x.title === 'Stream-D: no progress').length, 1, JSON.stringify(notes));
    // The page shows it too: the card's badge and the alert.
    assert.match(await page.textContent('[data-stream="Stream-D"] .s-head'), /no progress/);
    const alert = page.locator('#alerts [data-kind="state"]', { hasText: 'Stream-D is no-progress' });
    assert.ok(await alert.count());
    assert.match(await alert.first().textContent(), /unchanged for .* \(limit /, 'the alert says why, from the state\'s evidence');
    fs.mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, 'dashboard-stalled.png'), fullPage: true });
  });

  test('a stalled stream is red: its bar and its status badge', async () => {
    // Stream-B is in progress (yellow) until its counts stand still past
    // the stall timeout; Stream-D is blocked and stalled.
    const look = (id) => page.evaluate((sid) => {
      const card = document.querySelector(`[data-stream="${CSS.escape(sid)}"]`);
      const bar = card.querySelector('[role="progressbar"]');
      const badge = card.querySelector('.s-status');
      const tone = (n) => [...n.classList].filter((c) => c.startsWith('tone-')).join(' ');
      return {
        state: card.querySelector('.s-head').textContent,
        bar: tone(bar), fill: getComputedStyle(bar.querySelector('.fill')).backgroundColor,
        badge: tone(badge), badgeColor: getComputedStyle(badge).color, label: badge.textContent,
      };
    }, id);
    await until(async () => /no progress/.test((await look('Stream-B')).state), 'Stream-B to stall', 30000, 250);
    for (const id of ['Stream-B', 'Stream-D']) {
      const got = await look(id);
      assert.equal(got.bar, 'tone-bad', id + ' bar');
      assert.equal(got.fill, RED, id + ' bar colour');
      assert.equal(got.badge, 'tone-bad', id + ' status badge');
      assert.equal(got.badgeColor, RED, id + ' status badge colour');
    }
    assert.equal((await look('Stream-B')).label, 'in progress', 'the status still says what the upstream says');
  });

  test('a stalled stream that goes from one alarming state to another notifies again', { skip: !TMUX && 'tmux is not installed' }, async () => {
    // Stream-D's agent (the fake one, in taskgate's working directory)
    // runs out of context at its first line (context-exhausted); then it
    // dies (dead): two alarming states in a row, two notifications.
    fs.writeFileSync(path.join(dir, '.fake-agent-mode'), 'exhaust');
    const resp = await fetch(tg.url + 'api/streams/Stream-D/start', {
      method: 'POST', headers: { Authorization: 'Bearer ' + tg.token, 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(resp.status, 201, await resp.text());
    const titles = () => page.evaluate(() => window.__notes.map((x) => x.title));
    await until(async () => (await titles()).includes('Stream-D: context exhausted'), 'a notification of Stream-D out of context', 30000, 250);
    await until(async () => /context exhausted/.test(await page.textContent('[data-stream="Stream-D"] .s-head')), 'the card to say so', 5000);
    const typed = fs.readFileSync(path.join(dir, '.fake-agent.log'), 'utf8').split('\n').find((l) => / \/continue Stream-D$/.test(l));
    assert.ok(typed, 'the agent was typed /continue');
    process.kill(Number(typed.split(' ')[0]), 'SIGTERM');
    await until(async () => (await titles()).includes('Stream-D: session dead'), 'a notification of Stream-D\'s dead session', 30000, 250);
    const all = await titles();
    for (const t of ['Stream-D: no progress', 'Stream-D: context exhausted', 'Stream-D: session dead']) {
      assert.equal(all.filter((x) => x === t).length, 1, t + ' once: ' + JSON.stringify(all));
    }
    // The card follows once the page has drawn it (the notice comes first).
    await until(async () => /session dead/.test(await page.textContent('[data-stream="Stream-D"] .s-head')), 'the card to say session dead', 5000);
  });

  test('turning them off again, and no console error or CSP violation', async () => {
    await page.click('#notify-btn');
    assert.equal(await page.textContent('#notify-btn'), 'Notify me');
    assert.deepEqual(await page.evaluate(() => window.__csp), []);
    assert.deepEqual(consoleErrors, []);
  });
});

// ------------------------------------------------------------ people

// `taskgate user add NAME --role ROLE` on tg's database; the token of
// the sign-in link it prints once.
async function addPerson(dir, tg, name, role) {
  const proc = spawn(BIN, ['user', 'add', name, '--role', role, '--db', path.join(dir, 'history.db'),
    '--listen', `127.0.0.1:${tg.port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  await exited(proc);
  const m = /\/\?token=([0-9a-f]{64})$/m.exec(out);
  assert.ok(m, `user add ${name}: ${out}`);
  return m[1];
}

describe('people: what each role sees', () => {
  let dir, profile, double, tg, context, page, vera, otto;
  const consoleErrors = [];

  before(async () => {
    assert.ok(fs.existsSync(BIN), `taskgate binary not found at ${BIN}: run make first (or set TASKGATE_BIN)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-e2e-'));
    double = await new Double(dir).start();
    tg = await startTaskgate(dir, double.url);
    vera = await addPerson(dir, tg, 'vera', 'viewer');
    otto = await addPerson(dir, tg, 'otto', 'operator');
    ({ context, profile } = await launchBrowser());
    page = context.pages()[0] || await context.newPage();
    await page.addInitScript(watchCsp);
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => consoleErrors.push('pageerror: ' + err.message));
  });

  after(() => tearDown({ context, tg, double, dir, profile }));

  const visibleActions = () => page.evaluate(() => [...document.querySelectorAll('[data-stream] button[data-action]')]
    .filter((b) => b.offsetParent !== null).length);

  test("a viewer's page has no action buttons, says why, and still opens panes", async () => {
    await page.goto(tg.url + '?token=' + vera);
    assert.equal(page.url(), tg.url, 'the token leaves the address bar');
    await page.waitForSelector('[data-stream="Stream-Z"]', { timeout: 15000 });
    await until(async () => (await page.textContent('#who')) === 'vera · viewer', 'the page to name vera', 5000);
    await until(async () => (await visibleActions()) === 0, 'no Start, Stop or Recover', 5000);
    assert.equal(await page.isVisible('#control-note'), true);
    assert.match(await page.textContent('#control-note'), /vera is a viewer: .*need the operator role/);
    assert.equal(await page.isVisible('#signin'), false, 'a viewer is signed in, not read-only for want of a token');
    assert.equal(await page.isVisible('[data-stream="Stream-B"] .btn-pane'), true, 'a viewer reads panes');
    // Signing out ends the sign-in: the page is read-only again.
    await page.click('#signout-btn');
    await page.waitForSelector('#signin', { state: 'visible', timeout: 5000 });
    assert.equal(await page.isVisible('#who'), false);
    const again = await fetch(tg.url + 'api/whoami', { headers: { Cookie: (await context.cookies())
      .map((c) => `${c.name}=${c.value}`).join('; ') } });
    assert.equal((await again.json()).signedIn, false);
  });

  test("an operator's page has them, following the gates", async () => {
    await context.clearCookies();
    await page.goto(tg.url + '?token=' + otto);
    await page.waitForSelector('[data-stream="Stream-B"] button[data-action="start"]:not([disabled])', { timeout: 10000 });
    assert.equal(await visibleActions(), 15);
    assert.equal(await page.textContent('#who'), 'otto · operator');
    assert.equal(await page.isVisible('#control-note'), false);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(await page.evaluate(() => window.__csp), []);
  });
});

describe('an agent that asks, and one parked by a usage limit', { skip: !TMUX && 'tmux is not installed' }, () => {
  let dir, profile, double, tg, context, page;
  const consoleErrors = [];
  const start = async (id) => {
    const resp = await fetch(tg.url + `api/streams/${id}/start?force=true`, {
      method: 'POST', headers: { Authorization: 'Bearer ' + tg.token, 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(resp.status, 201, await resp.text());
  };

  before(async () => {
    assert.ok(fs.existsSync(BIN), `taskgate binary not found at ${BIN}: run make first (or set TASKGATE_BIN)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-e2e-'));
    const config = path.join(dir, 'orchestration-config.json');
    fs.writeFileSync(config, JSON.stringify({ contextRecovery: { autoRecoveryEnabled: false, maxNudges: 0 } }));
    double = await new Double(dir).start();
    // The fake agent posts Claude Code's hooks and status line.
    tg = await startTaskgate(dir, double.url, { extra: ['--config', config, '--agent-hooks', 'on'] });
    ({ context, profile } = await launchBrowser());
    page = context.pages()[0] || await context.newPage();
    await page.addInitScript(watchCsp);
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => consoleErrors.push('pageerror: ' + err.message));
    await page.goto(tg.url + '?token=' + tg.token);
    await page.waitForSelector('[data-stream="Stream-B"]', { timeout: 15000 });
  });

  after(() => tearDown({ context, tg, double, dir, profile }));

  test('a permission prompt shows its tool and exact input, as text, beside Allow once and Deny', async () => {
    fs.writeFileSync(path.join(dir, '.fake-agent-mode'), 'ask');
    await start('Stream-B');
    const box = '[data-stream="Stream-B"] form.s-reply';
    await page.waitForSelector(`${box} .s-perm:not([hidden]) .perm-input`, { timeout: 20000 });
    assert.equal(await page.textContent(`${box} .perm-tool`), 'Bash');
    const input = await page.textContent(`${box} .perm-input`);
    assert.match(input, /"command": "touch x && echo '<b>made<\/b>' > y"/, input);
    assert.match(input, /"description": "Create x"/);
    assert.equal(await page.locator(`${box} .s-perm b:not(.perm-tool)`).count(), 0, 'the input is text, never markup');
    assert.ok(await page.isVisible(`${box} .btn-allow`));
    assert.ok(await page.isVisible(`${box} .btn-deny`));
    assert.deepEqual(consoleErrors, []);
  });

  test('a parked stream counts down to its resume', async () => {
    // Its status line says the limit resets 100 s after the refusal.
    fs.writeFileSync(path.join(dir, '.fake-agent-mode'), 'limit-for 100');
    await start('Stream-D');
    const timer = '[data-stream="Stream-D"] .session .countdown';
    await page.waitForSelector(timer, { timeout: 20000 });
    const left = async () => {
      const m = /^parked by a usage limit: resumes in (\d+) s$/.exec((await page.textContent(timer)).trim());
      assert.ok(m, await page.textContent(timer));
      return Number(m[1]);
    };
    const first = await left();
    // The reset, 100 s away, and at most a quarter of the 60-s spread of
    // jitter (usageLimitSpreadSeconds).
    assert.ok(first > 60 && first <= 116, String(first));
    await until(async () => (await left()) < first, 'the countdown to move without a reload', 5000, 250);
    fs.mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, 'dashboard-parked.png'), fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });
});
