// Makes docs/web-page.png: the page with three people talking, two on pages
// and one on the legacy TCP port.
//
//   CHAT_SERVICE=build/service/chat-service node web/browser_test/screenshot.mjs [OUT.png]
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {ChatService, TcpUser, join, launchBrowser, openPage, say, waitLine} from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? path.join(here, '..', '..', 'docs', 'web-page.png');

const service = await ChatService.start();
const browser = await launchBrowser();
try {
  const alice = await openPage(browser, service.url, {width: 960, height: 470});
  const bob = await openPage(browser, service.url);
  await join(alice, 'alice', 'lobby');
  await join(bob, 'bob', 'lobby');
  const carol = await TcpUser.connect(service.legacy);
  carol.send('/nick carol');
  await waitLine(alice, /is now known as carol$/);

  await say(bob, 'morning! anyone tried the new web page?');
  await waitLine(alice, '<bob> morning! anyone tried the new web page?');
  await say(alice, 'I am on it right now');
  await waitLine(bob, '<alice> I am on it right now');
  carol.send('still on telnet here, works the same');
  await waitLine(alice, '<carol> still on telnet here, works the same');
  await say(bob, '/me waves at carol');
  await waitLine(alice, '* bob waves at carol');
  carol.send('/me waves back');
  await waitLine(alice, '* carol waves back');
  await say(alice, '<b>tags</b> show as typed, nothing runs');
  await waitLine(bob, '<alice> <b>tags</b> show as typed, nothing runs');
  await say(alice, '/nick al');
  await waitLine(alice, '-- alice is now known as al');
  await alice.fill('#line', 'see you at the stand-up');
  await alice.focus('#line');
  await alice.screenshot({path: out});
  console.log(`wrote ${out}`);
  carol.close();
} finally {
  await browser.close();
  await service.stop();
}
