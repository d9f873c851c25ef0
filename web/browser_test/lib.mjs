// Test support for the browser tests: a real chat-service on port 0, a
// legacy TCP user, and pages in Debian's Chromium driven by playwright-core.
//
// Nothing here sleeps to synchronise: every wait is for a specific state
// (a line on stdout, a TCP line, DOM text) with a deadline.
import {spawn} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

export const kTimeoutMs = 10000;

const kChromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Every chat-service still running when the test process ends is killed, so
// a failed test leaves no process behind.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function chatServiceBinary() {
  const binary = process.env.CHAT_SERVICE;
  if (!binary) throw new Error('set CHAT_SERVICE to the chat-service binary to test');
  return binary;
}

// Polls `check` (sync or async) until it returns a truthy value, and returns
// that; throws with `what` and the last value seen after `timeoutMs`.
export async function until(check, what, timeoutMs = kTimeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function tempDir(prefix = 'chat-web-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function removeDir(dir) {
  rmSync(dir, {recursive: true, force: true});
}

// ChatService: one chat-service process.
//   const s = await ChatService.start({dataDir, httpPort});
//   s.url  // "http://127.0.0.1:PORT/"
//   await s.stop();  // SIGTERM; resolves with the exit code
export class ChatService {
  static async start({dataDir = '', httpPort = 0, extraArgs = []} = {}) {
    const args = [
      '--grpc_addr=127.0.0.1:0', '--legacy_addr=127.0.0.1:0', `--http_addr=127.0.0.1:${httpPort}`,
      ...(dataDir ? [`--data_dir=${dataDir}`] : []), ...extraArgs,
    ];
    const child = spawn(chatServiceBinary(), args, {stdio: ['ignore', 'pipe', 'pipe']});
    running.add(child);
    const service = new ChatService(child);
    await service.ready;
    return service;
  }

  constructor(child) {
    this.child = child;
    this.stderr = '';
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        running.delete(child);
        resolve(code ?? signal);
      });
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-20000);
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chat-service printed no ready line in ${kTimeoutMs} ms; stderr: ${this.stderr}`));
      }, kTimeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`chat-service exited (${code}) before it was ready; stderr: ${this.stderr}`));
      });
      child.stdout.on('data', (d) => {
        stdout += d;
        const m = stdout.match(/^chat-service ready (.*)$/m);
        if (!m) return;
        clearTimeout(timer);
        const addr = Object.fromEntries(m[1].trim().split(/\s+/).map((kv) => kv.split('=')));
        this.grpc = addr.grpc;
        this.legacy = addr.legacy;
        this.http = addr.http;
        if (!this.http || !this.legacy) {
          reject(new Error(`no http= or legacy= in the ready line: ${m[0]}`));
          return;
        }
        this.httpPort = Number(this.http.split(':').pop());
        this.url = `http://${this.http}/`;
        resolve();
      });
    });
    this.ready.catch(() => {});
  }

  // SIGTERM, then SIGKILL if it has not exited after kTimeoutMs. Resolves
  // with its exit code (or the signal that ended it).
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), kTimeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

// TcpUser: a person on the legacy TCP port. Lines arrive in `lines`,
// without their "\r\n".
export class TcpUser {
  static async connect(address) {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)];
    const socket = net.connect({host, port: Number(port)});
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const user = new TcpUser(socket);
    await user.waitFor(/^-- welcome to chatroom/);
    return user;
  }

  constructor(socket) {
    this.socket = socket;
    this.lines = [];
    this.closed = false;
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      pending += d;
      let end;
      while ((end = pending.indexOf('\r\n')) >= 0) {
        this.lines.push(pending.slice(0, end));
        pending = pending.slice(end + 2);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  send(line) {
    this.socket.write(`${line}\r\n`);
  }

  // The first line (from index `from` on) that equals `want` (a string) or
  // matches it (a RegExp).
  async waitFor(want, from = 0) {
    const matches = (l) => (want instanceof RegExp ? want.test(l) : l === want);
    return until(() => this.lines.slice(from).find(matches), `TCP line ${want}`);
  }

  close() {
    this.socket.destroy();
  }
}

export async function launchBrowser() {
  const args = [...kChromiumArgs];
  // A page that the test fulfils itself has no address space of its own,
  // and Chromium would block its WebSocket to 127.0.0.1.
  if (process.env.CHAT_PAGE_DIR) args.push('--disable-features=LocalNetworkAccessChecks');
  return chromium.launch({executablePath: '/usr/bin/chromium', args});
}

// For working on the page without rebuilding chat-service: with
// CHAT_PAGE_DIR=web/page, the page's three files come from that folder,
// under the headers (CSP and all) that chat-service sends with its own.
const kPageFiles = {'/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css'};

async function servePageFromDisk(context, dir) {
  await context.route((url) => url.pathname in kPageFiles, async (route) => {
    const response = await route.fetch();
    const file = kPageFiles[new URL(route.request().url()).pathname];
    await route.fulfill({response, body: readFileSync(path.join(dir, file))});
  });
}

// A page in its own browser context (its own storage), with its console
// errors (but failed WebSocket connects) and page errors collected in
// page.problems, its warnings in page.warnings.
export async function openPage(browser, url, {width = 1024, height = 700} = {}) {
  const context = await browser.newContext({viewport: {width, height}});
  if (process.env.CHAT_PAGE_DIR) await servePageFromDisk(context, process.env.CHAT_PAGE_DIR);
  const page = await context.newPage();
  page.problems = [];
  page.warnings = [];
  page.on('console', (m) => {
    // Chromium logs each failed connect; while reconnecting, those are expected.
    if (m.type() === 'error' && !/^WebSocket connection to .* failed/.test(m.text())) {
      page.problems.push(m.text());
    }
    if (m.type() === 'warning') page.warnings.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  await page.goto(url);
  await page.locator('#name').waitFor();
  return page;
}

// Joins from the form and waits for the chat view, with focus in the input.
export async function join(page, name, room = '') {
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#join');
  await page.locator('#line').waitFor({state: 'visible'});
  await page.locator('#log .line.welcome').last().waitFor();
}

// Types a line into the message input and presses Enter.
export async function say(page, line) {
  await page.fill('#line', line);
  await page.press('#line', 'Enter');
}

// The text of every line of the log, or of those of one kind ("msg",
// "member", "notice", ...), as the chatctl prints them ("<alice> hi").
export async function lines(page, kind = '') {
  return page.locator(`#log .line${kind ? '.' + kind : ''} .body`).allTextContents();
}

// Waits until the page shows a line whose text is `want` (a string, exact)
// or matches it (a RegExp).
export async function waitLine(page, want) {
  const text = want instanceof RegExp ? want : new RegExp(`^${want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  await page.locator('#log .line .body').filter({hasText: text}).first().waitFor({timeout: kTimeoutMs});
}

// Waits until the page's message lines are `count` long and returns them.
export async function waitMessages(page, count) {
  return until(async () => {
    const got = await lines(page, 'msg');
    return got.length >= count ? got : null;
  }, `${count} messages`);
}

// The member list as shown: "alice (you)", "bob (web)", "carol (tcp)".
export async function members(page) {
  return (await page.locator('#members li').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
}

// Puts the test between the page and chat-service's /ws: every WebSocket the
// page opens from now on goes through a Playwright route. Returns the list
// of them, in the order opened, each
//   {sent, received,  // the JSON frames each way, parsed
//    dropSent,        // set: frames from the page no longer reach the server
//    holdReceived}    // set: frames from the server no longer reach the page
// Frames flow both ways until a test sets one of those. cutSocket() closes
// the page's side only.
export async function interceptSockets(page) {
  const sockets = [];
  await page.context().routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    const s = {ws, server, sent: [], received: [], dropSent: false, holdReceived: false, cut: false};
    sockets.push(s);
    ws.onMessage((m) => {
      s.sent.push(JSON.parse(m));
      if (!s.dropSent) server.send(m);
    });
    server.onMessage((m) => {
      s.received.push(JSON.parse(m));
      if (!s.holdReceived) ws.send(m);
    });
    ws.onClose((code, reason) => {
      if (!s.cut) server.close({code, reason});
    });
    server.onClose((code, reason) => {
      if (!s.cut) ws.close({code, reason});
    });
  });
  return sockets;
}

// Closes the page's side of an intercepted socket as a lost connection
// would (with UNAVAILABLE's close code, which the page retries), and leaves
// the server's side open: the server does not notice, and keeps the page's
// member in the room.
export async function cutSocket(socket) {
  socket.cut = true;
  await socket.ws.close({code: 4014, reason: 'the test cut the connection'});
}
