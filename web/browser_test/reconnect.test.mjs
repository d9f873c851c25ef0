// The page across a chat-service restart on the same port: it shows that it
// is reconnecting, resumes after the last seq it saw (with --data_dir:
// everything said while it was away, once), or says that the room's history
// was reset (without --data_dir). And across a lost connection the server
// has not noticed: the page takes its name back with its resume secret and
// sends again, under the same client_ids, the says the drop left
// unanswered, each posted once; and when another window takes the name back
// from it, it stops instead of fighting that window.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {
  ChatService, TcpUser, cutSocket, interceptSockets, join, launchBrowser, lines, openPage,
  removeDir, say, tempDir, until, waitLine,
} from './lib.mjs';

let browser;
const services = [];
const dirs = [];

async function start(options) {
  const service = await ChatService.start(options);
  services.push(service);
  return service;
}

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const service of services) await service.stop();
  for (const dir of dirs) removeDir(dir);
});

async function stopAndSeeReconnecting(service, page) {
  assert.equal(await service.stop(), 0, `chat-service exit code; stderr: ${service.stderr}`);
  await page.locator('body.reconnecting #status', {hasText: /reconnecting/i}).waitFor();
  assert.ok(await page.locator('#status').isVisible());
}

async function seqsOf(page) {
  return page.locator('#log .line[data-seq]').evaluateAll((ls) => ls.map((l) => l.dataset.seq));
}

test('with --data_dir: resumes after a restart, missing nothing, showing nothing twice', async () => {
  const dataDir = tempDir();
  dirs.push(dataDir);
  const first = await start({dataDir});
  const alice = await openPage(browser, first.url);
  await join(alice, 'alice');
  await say(alice, 'before 1');
  await say(alice, 'before 2');
  // Sequenced before carol says anything, so the order below is known.
  await waitLine(alice, '<alice> before 2');
  const carol = await TcpUser.connect(first.legacy);
  carol.send('/nick carol');
  carol.send('from carol before');
  await waitLine(alice, '<carol> from carol before');

  await stopAndSeeReconnecting(first, alice);
  carol.close();
  // Keep the page away until the others have talked on the new server.
  await alice.context().setOffline(true);
  const second = await start({dataDir, httpPort: first.httpPort});
  const carol2 = await TcpUser.connect(second.legacy);
  const dave = await TcpUser.connect(second.legacy);
  carol2.send('/nick carol');
  carol2.send('while away 1');
  carol2.send('while away 2');
  carol2.send('/me was here');
  await dave.waitFor('* carol was here');
  assert.ok(await alice.locator('body.reconnecting').count(), 'still reconnecting while offline');
  await alice.context().setOffline(false);

  await waitLine(alice, '* carol was here');
  await waitLine(alice, '-- reconnected to #lobby');
  await alice.locator('body:not(.reconnecting)').waitFor();
  assert.deepEqual(await lines(alice, 'msg'), [
    '<alice> before 1', '<alice> before 2', '<carol> from carol before',
    '<carol> while away 1', '<carol> while away 2', '* carol was here',
  ]);
  const seqs = await seqsOf(alice);
  assert.equal(new Set(seqs).size, seqs.length, `no seq shown twice: ${seqs}`);
  assert.equal(await alice.locator('#log .line.notice', {hasText: /reset/}).count(), 0);

  // And it carries on: the page talks, the TCP users hear it.
  await say(alice, 'back');
  await dave.waitFor('<alice> back');
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(alice.warnings.filter((w) => /duplicate/.test(w)), []);
  carol2.close();
  dave.close();
  await alice.context().close();
});

test('without --data_dir: a restart shows that the history was reset, and chat goes on', async () => {
  const first = await start();
  const alice = await openPage(browser, first.url);
  await join(alice, 'alice');
  for (let i = 1; i <= 5; ++i) await say(alice, `old ${i}`);
  await waitLine(alice, '<alice> old 5');

  await stopAndSeeReconnecting(first, alice);
  const second = await start({httpPort: first.httpPort});
  await waitLine(alice, /^!! .*history was reset/);
  await waitLine(alice, '-- reconnected to #lobby; its history was reset');
  await alice.locator('body:not(.reconnecting)').waitFor();

  // The new server's seqs start again, below the ones the page saw: its
  // messages must still show.
  const bob = await TcpUser.connect(second.legacy);
  bob.send('/nick bob');
  bob.send('new server');
  await waitLine(alice, '<bob> new server');
  await say(alice, 'after the reset');
  await bob.waitFor('<alice> after the reset');
  await waitLine(alice, '<alice> after the reset');
  assert.deepEqual(alice.problems, []);
  bob.close();
  await alice.context().close();
});

// A TCP user named `name`, seen joining by `page`.
async function tcpUser(service, page, name) {
  const user = await TcpUser.connect(service.legacy);
  const guest = (await user.waitFor(/^-- guest-\d+ joined$/)).split(' ')[1];
  user.send(`/nick ${name}`);
  await user.waitFor(`-- ${guest} is now known as ${name}`);
  await waitLine(page, `-- ${guest} is now known as ${name}`);
  return user;
}

test('a drop that loses says: the page takes its name back and sends them again, each posted once', async () => {
  const service = await start();
  const alice = await openPage(browser, service.url);
  const sockets = await interceptSockets(alice);
  await join(alice, 'alice');
  const bob = await tcpUser(service, alice, 'bob');
  const first = sockets[0];
  const secret = first.received.find((r) => r.welcome)?.welcome.resume_secret;
  assert.ok(secret, 'the welcome carries a resume secret');

  // One say reaches the server, and its answer is lost...
  first.holdReceived = true;
  await say(alice, 'answer lost');
  await bob.waitFor('<alice> answer lost');
  // ...another never reaches it.
  first.dropSent = true;
  await say(alice, 'never arrived');
  await until(() => first.sent.some((r) => r.say?.text === 'never arrived'), 'the second say sent');
  const mark = bob.lines.length;
  // The server does not notice the drop: alice still holds her name there,
  // and only her resume secret gets it back before that connection times out.
  await cutSocket(first);
  await waitLine(alice, '-- reconnected to #lobby');
  await bob.waitFor('<alice> never arrived', mark);
  await say(alice, 'after');
  await bob.waitFor('<alice> after', mark);
  await waitLine(alice, '<alice> after');

  // The rejoin presented the secret, and sent both says again, first, under
  // their ids; the server posted the lost one and answered the other with a
  // duplicate.
  const second = sockets[1];
  assert.equal(second.sent[0].join?.resume_secret, secret);
  const ids = first.sent.filter((r) => r.say).map((r) => [r.say.text, r.say.client_id]);
  assert.equal(ids.length, 2);
  assert.match(ids[0][1], /^[0-9a-f]{24}-\d+$/);
  assert.notEqual(ids[0][1], ids[1][1]);
  assert.deepEqual(second.sent.slice(1).map((r) => [r.say?.text, r.say?.client_id]),
                   [...ids, ['after', second.sent[3]?.say?.client_id]]);
  assert.deepEqual(second.received.filter((r) => r.duplicate).map((r) => r.duplicate.client_id),
                   [ids[0][1]]);

  // The room saw alice reconnect, not leave and join; everyone saw each
  // line once.
  const since = bob.lines.slice(mark);
  assert.ok(since.includes('-- alice reconnected'), JSON.stringify(since));
  assert.deepEqual(since.filter((l) => /^-- alice (left|joined)/.test(l)), []);
  assert.deepEqual(since.filter((l) => l.startsWith('<alice>')), ['<alice> never arrived', '<alice> after']);
  assert.equal(bob.lines.filter((l) => l === '<alice> answer lost').length, 1);
  assert.deepEqual(await lines(alice, 'msg'),
                   ['<alice> answer lost', '<alice> never arrived', '<alice> after']);
  assert.deepEqual((await lines(alice, 'error')).filter((l) => /not sent/.test(l)), []);
  assert.deepEqual(alice.problems, []);
  bob.close();
  await alice.context().close();
});

test('another window takes the name back: the page says where the chat went, and does not reconnect', async () => {
  const service = await start();
  const alice = await openPage(browser, service.url);
  const connections = [];
  alice.on('websocket', (ws) => {
    const received = [];
    connections.push(received);
    ws.on('framereceived', (f) => received.push(JSON.parse(f.payload)));
  });
  await join(alice, 'alice');
  const bob = await tcpUser(service, alice, 'bob');
  const secret = connections[0].find((r) => r.welcome)?.welcome.resume_secret;
  assert.ok(secret, 'the welcome carries a resume secret');

  // Another window (here a bare WebSocket in another page) joins with
  // alice's secret.
  const other = await openPage(browser, service.url);
  await other.evaluate((secret) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    window.taker = ws;
    ws.onopen = () => ws.send(JSON.stringify({join: {name: 'alice', resume_secret: secret}}));
    ws.onmessage = (e) => { if (JSON.parse(e.data).welcome) resolve(); };
    ws.onclose = (e) => reject(new Error(`closed: ${e.code} ${e.reason}`));
  }), secret);

  await alice.locator('#join-error', {hasText: 'This chat continues in another window or tab.'}).waitFor();
  assert.ok(await alice.locator('#join-view').isVisible());
  assert.equal(await alice.locator('body.reconnecting').count(), 0);
  await bob.waitFor('-- alice reconnected');
  // The other window holds the name, and talks.
  await other.evaluate(() => window.taker.send(JSON.stringify({say: {text: 'from the other window'}})));
  await bob.waitFor('<alice> from the other window');
  assert.equal(connections.length, 1, 'the page did not reconnect');
  assert.deepEqual(bob.lines.filter((l) => /^-- alice (left|joined)/.test(l)), []);
  assert.deepEqual(alice.problems, []);
  bob.close();
  await alice.context().close();
  await other.context().close();
});
