// Owned names on the page (chat-service --auth_secret_file): without guests
// the page cannot join without a token and says why, once; with a token
// (typed, or from #token=) it joins as the token's owner, keeps the token
// for rejoins in this tab only, and what it says reaches the others; with
// guests, a page without a token is "~name" to everyone.
import assert from 'node:assert/strict';
import {createHmac, randomBytes} from 'node:crypto';
import {writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, test} from 'node:test';

import {
  ChatService, TcpUser, cutSocket, interceptSockets, join, launchBrowser, members, openPage,
  removeDir, say, tempDir, until, waitLine,
} from './lib.mjs';

// service/auth.cc's NeedsTokenError.
const kNeedsToken =
    'this server needs a token: it admits no guests; ask for a token for your name and sign in with it';

let dir;
let secret;
let strict;  // --guests=false
let open;    // guests allowed
let browser;

before(async () => {
  dir = tempDir('chat-web-auth-');
  secret = randomBytes(32).toString('hex');
  const secretFile = path.join(dir, 'secret');
  writeFileSync(secretFile, `${secret}\n`, {mode: 0o600});
  const auth = [`--auth_secret_file=${secretFile}`];
  [strict, open, browser] = await Promise.all([
    ChatService.start({extraArgs: [...auth, '--guests=false']}),
    ChatService.start({extraArgs: auth}),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  for (const service of [strict, open]) {
    const code = await service?.stop();
    assert.equal(code, 0, `chat-service exit code; stderr: ${service?.stderr}`);
  }
  removeDir(dir);
});

// A token as chatctl token makes one (service/auth_token.h): an HS256 JWT
// whose sub is the name, valid for an hour.
function token(name) {
  const part = (json) => Buffer.from(JSON.stringify(json)).toString('base64url');
  const signed = `${part({alg: 'HS256', typ: 'JWT'})}.${
    part({sub: name, exp: Math.floor(Date.now() / 1000) + 3600})}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

const focusedId = (page) => page.evaluate(() => document.activeElement?.id ?? '');

test('without guests: no token, no entry, said once; with one, the owner', async () => {
  const carol = await TcpUser.connect(strict.legacy);
  carol.send(`/auth ${token('carol')}`);
  await carol.waitFor('!! signed in as carol');

  const page = await openPage(browser, strict.url);
  const sockets = await interceptSockets(page);
  // The page's timers run on a clock this test can move forward.
  await page.clock.install();
  await page.fill('#name', 'bob');
  await page.click('#join');
  await page.locator('#join-error', {hasText: kNeedsToken}).waitFor();
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].sent[0].join.token, undefined, 'no token sent');
  assert.equal(await focusedId(page), 'token', 'the cursor where the fix goes');
  assert.ok(await page.locator('#join-view').isVisible());
  assert.ok(!(await page.locator('#chat-view').isVisible()));
  // Refused is final: a minute of the page's time passes, well past every
  // backoff, with no rejoin. A rejoin opens its socket inside the timer
  // that runFor fires, so it would come before the next join's socket:
  // sockets[1] below, the token join, is the anchor.
  await page.clock.runFor(60_000);
  assert.equal(await page.textContent('#join-error'), kNeedsToken);

  // A token, and no name: the token names the member.
  const alice = token('alice');
  await page.fill('#name', '');
  await page.fill('#token', alice);
  await page.click('#join');
  await page.locator('#log .line.welcome').waitFor();
  await waitLine(page, '-- you are alice in room lobby with 1 other: carol');
  assert.equal(await page.textContent('#status'), 'as alice');
  assert.equal(sockets.length, 2, 'no rejoin after the refusal');
  assert.equal(sockets[1].sent[0].join.token, alice, 'the token in the join');
  assert.deepEqual(await members(page), ['carol (tcp)', 'alice (web) (you)']);
  await say(page, 'hello from the page');
  await carol.waitFor('<alice> hello from the page');
  await waitLine(page, '<alice> hello from the page');
  carol.close();
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('#token= is read, leaves the address bar, and serves every rejoin in the tab', async () => {
  const dave = token('dave');
  const page = await openPage(browser, `${strict.url}#room=dev&token=${dave}`);
  assert.doesNotMatch(page.url(), /token/, 'the token left the address bar');
  assert.match(page.url(), /#room=dev$/);
  assert.equal(await page.inputValue('#token'), dave);
  assert.equal(await page.inputValue('#room'), 'dev');
  const sockets = await interceptSockets(page);
  await page.keyboard.press('Enter');
  await waitLine(page, '-- you are dave in room dev, alone so far');

  // A lost connection: the rejoin carries the token (without it this server
  // would refuse it) and resumes.
  await cutSocket(sockets[0]);
  await waitLine(page, '-- reconnected to #dev');
  assert.equal(sockets[1].sent[0].join.token, dave);
  assert.ok(sockets[1].sent[0].join.resume_secret, 'a resume too');

  // A reload: the token is still this tab's; the page rejoins with it.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('chatroom.token')), dave);
  await page.reload();
  await page.locator('#name').waitFor();
  assert.equal(await page.inputValue('#token'), dave);
  await page.click('#join');
  await page.locator('#log .line.welcome').waitFor();
  assert.equal(await page.textContent('#status'), 'as dave');
  // Another tab (a new context: its own session storage) has no token.
  const other = await openPage(browser, strict.url);
  assert.equal(await other.inputValue('#token'), '');
  assert.deepEqual(page.problems, []);
  await Promise.all([page.context().close(), other.context().close()]);
});

test('with guests: a page without a token is ~name; an owner takes its name over', async () => {
  const guest = await openPage(browser, open.url);
  await join(guest, 'bob');
  await waitLine(guest, '-- you are ~bob in room lobby, alone so far');
  assert.equal(await guest.textContent('#status'), 'as ~bob');
  assert.deepEqual(await members(guest), ['~bob (web) (you)']);

  const owner = await openPage(browser, open.url);
  await owner.fill('#token', token('alice'));
  await owner.click('#join');
  await waitLine(owner, '-- you are alice in room lobby with 1 other: ~bob');
  await waitLine(guest, '-- alice joined');
  await say(guest, 'hi, I am a guest');
  await waitLine(owner, '<~bob> hi, I am a guest');
  await waitLine(guest, '<~bob> hi, I am a guest');
  assert.equal(await guest.locator('#log .line.msg.own').count(), 1, 'the guest\'s own line');
  assert.deepEqual(await members(owner), ['~bob (web)', 'alice (web) (you)']);
  // A guest cannot take the owner's name; its new name is marked too.
  await say(guest, '/nick alice');
  await waitLine(guest, '!! alice is taken by its owner: sign in with a token, or pick another name');
  await say(guest, '/nick robert');
  await waitLine(owner, '-- ~bob is now known as ~robert');
  await waitLine(guest, '-- ~bob is now known as ~robert');
  await until(async () => (await guest.textContent('#status')) === 'as ~robert', 'the guest\'s new name');
  assert.deepEqual(await members(owner), ['~robert (web)', 'alice (web) (you)']);

  // The owner in a second window: the first one's chat continues there.
  const again = await openPage(browser, open.url);
  await again.fill('#token', token('alice'));
  await again.click('#join');
  await again.locator('#log .line.welcome').waitFor();
  await owner.locator('#join-error', {hasText: 'This chat continues in another window or tab.'}).waitFor();
  await say(again, 'still alice');
  await waitLine(guest, '<alice> still alice');
  await say(guest, 'and ~robert');
  await waitLine(again, '<~robert> and ~robert');
  for (const page of [guest, owner, again]) assert.deepEqual(page.problems, []);
  await Promise.all([guest, owner, again].map((page) => page.context().close()));
});
