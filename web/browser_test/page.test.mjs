// The page as a person uses it: on a phone-sized screen, with the keyboard
// only, typing while messages arrive, recalling lines, reading back.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {
  ChatService, TcpUser, join, launchBrowser, openPage, say, until, waitLine, waitMessages,
} from './lib.mjs';

let service;
let browser;

// Flood control off: these tests fill the page from one TCP writer (40
// lines at once), which the default 5 a second would refuse; flood control
// is tested in the scenarios.
before(async () => {
  [service, browser] = await Promise.all([
    ChatService.start({extraArgs: ['--flood_rate=0']}), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  const code = await service?.stop();
  assert.equal(code, 0, `chat-service exit code; stderr: ${service?.stderr}`);
});

const focusedId = (page) => page.evaluate(() => document.activeElement?.id ?? '');

// Waits for the page to have painted (two animation frames), so scroll
// events have been handled.
const painted = (page) => page.evaluate(
    () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));

async function assertNoHorizontalScroll(page, width) {
  const scrollWidth = await page.evaluate(() => document.scrollingElement.scrollWidth);
  assert.ok(scrollWidth <= width, `page is ${scrollWidth} px wide at ${width} px`);
}

async function assertInView(page, selector, width, height) {
  const box = await page.locator(selector).boundingBox();
  assert.ok(box, `${selector} is shown`);
  assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height,
      `${selector} is inside the ${width}x${height} screen: ${JSON.stringify(box)}`);
}

test('at 375 px wide: no horizontal scroll, input and send in view', async () => {
  const [width, height] = [375, 667];
  const phone = await openPage(browser, service.url, {width, height});
  await assertNoHorizontalScroll(phone, width);
  await assertInView(phone, '#join', width, height);
  await join(phone, 'phone_user_with_a_long_name', 'narrow');

  const other = await openPage(browser, service.url);
  await join(other, 'someone-else', 'narrow');
  const guests = await Promise.all([1, 2, 3].map(() => TcpUser.connect(service.legacy)));
  for (const g of guests) g.send('/join narrow');
  await until(async () => (await phone.locator('#members li').count()) === 5, 'five members');
  const long = 'x'.repeat(600);
  await say(other, long);
  await say(other, `https://example.invalid/${'path/'.repeat(40)}?q=${'y'.repeat(80)}`);
  await say(other, '/me\ttabs\tand     spaces');
  await waitLine(phone, `<someone-else> ${long}`);
  await waitLine(phone, /^\* someone-else tabs/);

  await assertNoHorizontalScroll(phone, width);
  // Nothing is cut off at the side either: every line wraps inside the log.
  const clipped = await phone.$$eval('#log, #log .line, #members-heading, .members-pane',
      (els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.slice(0, 40)));
  assert.deepEqual(clipped, [], 'lines wider than the screen');
  await assertInView(phone, '#line', width, height);
  await assertInView(phone, '#send', width, height);
  // The member list goes below the messages.
  const log = await phone.locator('#log').boundingBox();
  const list = await phone.locator('.members-pane').boundingBox();
  assert.ok(list.y >= log.y + log.height - 1, 'members below the messages');
  assert.ok(list.x + list.width <= width);

  assert.deepEqual(phone.problems, []);
  for (const g of guests) g.close();
  await phone.context().close();
  await other.context().close();
});

test('keyboard only: join with Tab, typing and Enter, then send', async () => {
  const reader = await openPage(browser, service.url);
  await join(reader, 'reader', 'keys');
  const page = await openPage(browser, service.url);
  assert.equal(await focusedId(page), 'name', 'the name field has focus at load');
  await page.keyboard.type('keyboarder');
  await page.keyboard.press('Tab');
  assert.equal(await focusedId(page), 'room');
  await page.keyboard.type('keys');
  await page.keyboard.press('Enter');
  await page.locator('#line').waitFor({state: 'visible'});
  await until(async () => (await focusedId(page)) === 'line', 'focus in the message input after joining');
  await page.keyboard.type('typed, not clicked');
  await page.keyboard.press('Enter');
  await waitLine(reader, '<keyboarder> typed, not clicked');
  assert.equal(await page.inputValue('#line'), '');

  // Tab to the Send button: its focus outline shows, and Enter sends.
  await page.keyboard.type('by the button');
  await page.keyboard.press('Tab');
  assert.equal(await focusedId(page), 'send');
  const outline = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return {style: s.outlineStyle, width: parseFloat(s.outlineWidth)};
  });
  assert.notEqual(outline.style, 'none', 'a visible focus outline');
  assert.ok(outline.width >= 2, `a visible focus outline: ${JSON.stringify(outline)}`);
  await page.keyboard.press('Enter');
  await waitLine(reader, '<keyboarder> by the button');
  assert.equal(await focusedId(page), 'line', 'focus back in the input after sending');
  await reader.context().close();
  await page.context().close();
});

test('the input keeps its half-typed text and focus while messages arrive', async () => {
  const alice = await openPage(browser, service.url);
  await join(alice, 'alice', 'typing');
  const bob = await TcpUser.connect(service.legacy);
  bob.send('/nick bob');
  bob.send('/join typing');
  await waitLine(alice, '-- bob joined');
  await alice.keyboard.type('half-typ');
  for (let i = 1; i <= 30; ++i) bob.send(`interrupt ${i}`);
  await alice.keyboard.type('ed and');  // While the messages come in.
  await waitLine(alice, '<bob> interrupt 30');
  assert.equal(await alice.inputValue('#line'), 'half-typed and');
  assert.equal(await focusedId(alice), 'line');
  assert.deepEqual(await alice.evaluate(() => [document.activeElement.selectionStart, document.activeElement.selectionEnd]),
      [14, 14], 'the caret stays at the end');
  await alice.keyboard.type(' finished');
  await alice.keyboard.press('Enter');
  await bob.waitFor('<alice> half-typed and finished');
  bob.close();
  await alice.context().close();
});

test('up and down arrows recall sent lines', async () => {
  const page = await openPage(browser, service.url);
  await join(page, 'recaller', 'recall');
  for (const line of ['one', 'two', '/me three']) {
    await page.keyboard.type(line);
    await page.keyboard.press('Enter');
  }
  await waitLine(page, '* recaller three');
  await page.keyboard.type('draft');
  const after = async (key) => {
    await page.keyboard.press(key);
    return page.inputValue('#line');
  };
  assert.equal(await after('ArrowUp'), '/me three');
  assert.equal(await after('ArrowUp'), 'two');
  assert.equal(await after('ArrowUp'), 'one');
  assert.equal(await after('ArrowUp'), 'one');
  assert.equal(await after('ArrowDown'), 'two');
  assert.equal(await after('ArrowDown'), '/me three');
  assert.equal(await after('ArrowDown'), 'draft');
  await page.fill('#line', '');
  assert.equal(await after('ArrowUp'), '/me three');
  await page.keyboard.press('Enter');
  await until(async () => (await page.locator('#log .line.msg', {hasText: 'three'}).count()) === 2, 'the recalled line sent');
  await page.context().close();
});

test('follows new messages only when already at the bottom', async () => {
  const reader = await openPage(browser, service.url, {width: 800, height: 400});
  await join(reader, 'reader', 'scroll');
  const writer = await TcpUser.connect(service.legacy);
  writer.send('/nick writer');
  writer.send('/join scroll');
  await waitLine(reader, '-- writer joined');
  const atBottom = () => reader.$eval('#log', (l) => l.scrollHeight - l.scrollTop - l.clientHeight <= 8);
  for (let i = 1; i <= 40; ++i) writer.send(`line ${i}`);
  await waitMessages(reader, 40);
  await painted(reader);
  assert.ok(await atBottom(), 'followed while at the bottom');

  await reader.$eval('#log', (l) => {
    l.scrollTop = 0;
  });
  await painted(reader);
  for (let i = 41; i <= 45; ++i) writer.send(`line ${i}`);
  await waitLine(reader, '<writer> line 45');
  await painted(reader);
  assert.equal(await reader.$eval('#log', (l) => l.scrollTop), 0, 'stays where the reader is');
  assert.ok(await reader.locator('#jump').isVisible(), 'a way down is offered');
  await reader.click('#jump');
  assert.ok(await atBottom(), 'at the bottom again');
  assert.ok(!(await reader.locator('#jump').isVisible()));
  writer.send('line 46');
  await waitLine(reader, '<writer> line 46');
  await painted(reader);
  assert.ok(await atBottom(), 'follows again');
  writer.close();
  await reader.context().close();
});

test('the form is filled from the URL, then from the last join', async () => {
  const page = await openPage(browser, `${service.url}#room=prefilled&name=zed`);
  assert.equal(await page.inputValue('#name'), 'zed');
  assert.equal(await page.inputValue('#room'), 'prefilled');
  await page.keyboard.press('Enter');
  await waitLine(page, '-- you are zed in room prefilled, alone so far');
  assert.match(page.url(), /#room=prefilled$/);
  await say(page, '/quit');
  await page.locator('#join-view').waitFor({state: 'visible'});
  await page.goto(service.url);
  assert.equal(await page.inputValue('#name'), 'zed', 'remembered');
  assert.equal(await page.inputValue('#room'), 'prefilled', 'remembered');
  await page.context().close();
});
