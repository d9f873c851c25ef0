// Two pages and a TCP user in one room: same messages, same order; the
// page's rendering (own lines, colours, members, commands); HTML in messages
// stays text; a taken name is reported at the form.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {
  ChatService, TcpUser, join, launchBrowser, lines, members, openPage, say, until,
  waitLine, waitMessages,
} from './lib.mjs';

let service;
let browser;

before(async () => {
  [service, browser] = await Promise.all([ChatService.start(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  const code = await service?.stop();
  assert.equal(code, 0, `chat-service exit code; stderr: ${service?.stderr}`);
});

// The CSP forbids inline script and style: the page must need neither.
function assertNoProblems(page) {
  assert.deepEqual(page.problems, [], 'console errors on the page');
  assert.deepEqual(page.warnings.filter((w) => /duplicate/.test(w)), [], 'duplicates dropped');
}

test('two pages and a TCP user see the same messages in the same order', async () => {
  const alice = await openPage(browser, service.url);
  const bob = await openPage(browser, service.url);
  await join(alice, 'alice', 'lobby');
  await join(bob, 'bob');  // "" is the lobby.
  assert.equal(await alice.title(), '#lobby — chatroom');

  const tcp = await TcpUser.connect(service.legacy);
  const guest = (await tcp.waitFor(/^-- guest-\d+ joined$/)).split(' ')[1];
  await waitLine(alice, `-- ${guest} joined`);
  tcp.send('/nick carol');
  await tcp.waitFor(`-- ${guest} is now known as carol`);
  await waitLine(alice, `-- ${guest} is now known as carol`);
  await waitLine(bob, `-- ${guest} is now known as carol`);
  const typedFrom = tcp.lines.length;

  // Everyone talks at once; the server picks one order.
  const talk = async (page, prefix) => {
    for (let i = 1; i <= 4; ++i) await say(page, `${prefix}${i}`);
  };
  for (let i = 1; i <= 4; ++i) tcp.send(`c${i}`);
  await Promise.all([talk(alice, 'a'), talk(bob, 'b')]);
  await say(alice, '/me waves');
  tcp.send('/me nods');

  const seenByAlice = await waitMessages(alice, 14);
  const seenByBob = await waitMessages(bob, 14);
  assert.equal(seenByAlice.length, 14);
  assert.deepEqual(seenByBob, seenByAlice, 'both pages, same order');
  for (const [who, prefix] of [['alice', 'a'], ['bob', 'b'], ['carol', 'c']]) {
    assert.deepEqual(seenByAlice.filter((l) => l.startsWith(`<${who}> `)),
        [1, 2, 3, 4].map((i) => `<${who}> ${prefix}${i}`), `${who}'s lines, in the order sent`);
  }
  assert.ok(seenByAlice.includes('* alice waves'));
  assert.ok(seenByAlice.includes('* carol nods'));

  // The TCP user sees the others' messages (its own are not echoed), in the
  // same order.
  const fromOthers = seenByAlice.filter((l) => !l.startsWith('<carol>') && !l.startsWith('* carol '));
  const tcpMessages = await until(() => {
    const got = tcp.lines.slice(typedFrom).filter((l) => /^(<[\w-]+> |\* [\w-]+ )/.test(l));
    return got.length >= fromOthers.length ? got : null;
  }, 'the TCP user to see every message');
  assert.deepEqual(tcpMessages, fromOthers);

  // Seqs strictly increase down the page.
  const seqs = (await alice.locator('#log .line[data-seq]').evaluateAll(
      (ls) => ls.map((l) => Number(l.dataset.seq))));
  assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `increasing seqs: ${seqs}`);

  // Own lines are marked, on each page its own.
  const own = (page) => page.locator('#log .line.msg.own .body').allTextContents();
  assert.deepEqual(await own(alice), ['<alice> a1', '<alice> a2', '<alice> a3', '<alice> a4', '* alice waves']);
  assert.deepEqual(await own(bob), ['<bob> b1', '<bob> b2', '<bob> b3', '<bob> b4']);

  // Names are coloured as chatctl colours them (cli/render.cc NameColor).
  const color = (page, name) => page.locator('#log .line.msg .nick', {hasText: new RegExp(`^${name}$`)})
      .first().getAttribute('class');
  assert.equal(await color(alice, 'alice'), 'nick c96');
  assert.equal(await color(alice, 'bob'), 'nick c93');
  assert.equal(await color(bob, 'carol'), 'nick c33');

  // The member list, with how each is connected.
  assert.deepEqual(await members(alice), ['alice (web) (you)', 'bob (web)', 'carol (tcp)']);
  tcp.send('/quit off now');
  await waitLine(bob, '-- carol left (off now)');
  assert.deepEqual(await members(bob), ['alice (web)', 'bob (web) (you)']);
  tcp.close();

  assertNoProblems(alice);
  assertNoProblems(bob);
  await alice.context().close();
  await bob.context().close();
});

test('HTML in a message is shown as text and never runs', async () => {
  const alice = await openPage(browser, service.url);
  const bob = await openPage(browser, service.url);
  await join(alice, 'alice', 'html');
  await join(bob, 'bob', 'html');
  const payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>';
  await say(alice, payload);
  await say(alice, '/me <b>bold</b> &amp; <i>');
  await waitLine(bob, `<alice> ${payload}`);
  await waitLine(bob, '* alice <b>bold</b> &amp; <i>');
  for (const page of [alice, bob]) {
    assert.equal(await page.evaluate(() => typeof window.__pwned), 'undefined');
    assert.equal(await page.locator('#log img, #log script, #log b, #log i').count(), 0);
  }
  assertNoProblems(alice);
  assertNoProblems(bob);
  await alice.context().close();
  await bob.context().close();
});

test('slash commands: /nick, /me, /join, /who, /help, //x, unknown, /quit', async () => {
  const alice = await openPage(browser, service.url);
  const bob = await openPage(browser, service.url);
  await join(alice, 'alice', 'cmds');
  await join(bob, 'bob', 'cmds');

  await say(alice, '/NICK alicia');
  await waitLine(bob, '-- alice is now known as alicia');
  await waitLine(alice, '-- alice is now known as alicia');
  await say(alice, '//etc/passwd');
  await waitLine(bob, '<alicia> /etc/passwd');
  assert.equal(await alice.locator('#log .line.msg.own').count(), 1, 'own after a rename');

  await say(alice, '/who');
  await waitLine(alice, '-- 2 in cmds: alicia (web), bob (web)');
  await say(alice, '/help');
  await waitLine(alice, '-- /nick NAME      change your name');
  await say(alice, '/frob x');
  await waitLine(alice, /^!! unknown command \/frob; the commands are/);
  assert.equal(await alice.inputValue('#line'), '/frob x', 'a mistyped command stays to fix');
  await say(alice, '/me');
  await waitLine(alice, '!! usage: /me ACTION');
  await say(alice, '   ');  // Blank: ignored.

  await say(alice, '/nick bob');  // Taken: the server says so.
  await waitLine(alice, /^!! .*bob/);

  await say(alice, '/join dev');
  await waitLine(alice, '-- you are alicia in room dev, alone so far');
  await until(async () => (await alice.title()) === '#dev — chatroom', 'the title to show #dev');
  await waitLine(bob, /^-- alicia left/);
  assert.deepEqual(await members(alice), ['alicia (web) (you)']);
  await say(bob, 'only in cmds');
  await say(alice, 'only in dev');
  await waitLine(alice, '<alicia> only in dev');
  assert.ok(!(await lines(alice)).includes('<bob> only in cmds'));

  await say(alice, '/quit see you');
  await alice.locator('#join-view').waitFor({state: 'visible'});
  assert.match(await alice.textContent('#join-error'), /left/);
  assert.equal(await alice.inputValue('#name'), 'alicia');
  await alice.context().close();
  await bob.context().close();
});

test('a taken or bad name is reported at the form, and another one works', async () => {
  const first = await openPage(browser, service.url);
  const second = await openPage(browser, service.url);
  await join(first, 'dana', 'names');
  await second.fill('#name', 'DANA');
  await second.fill('#room', 'names');
  await second.press('#name', 'Enter');
  await second.locator('#join-error', {hasText: /taken|exists|in use/i}).waitFor();
  assert.equal(await second.evaluate(() => document.activeElement.id), 'name');
  assert.ok(await second.locator('#join-view').isVisible());

  await second.fill('#name', 'no spaces');
  await second.press('#name', 'Enter');
  await second.locator('#join-error', {hasText: /letters, digits/}).waitFor();

  await second.fill('#name', 'dana2');
  await second.press('#name', 'Enter');
  await second.locator('#line').waitFor({state: 'visible'});
  await waitLine(first, '-- dana2 joined');
  await first.context().close();
  await second.context().close();
});
