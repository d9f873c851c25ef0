// The page across a chat-service restart on the same port: it shows that it
// is reconnecting, resumes after the last seq it saw (with --data_dir:
// everything said while it was away, once), or says that the room's history
// was reset (without --data_dir).
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {
  ChatService, TcpUser, join, launchBrowser, lines, openPage, removeDir, say, tempDir, until,
  waitLine,
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
