// The chatroom page: a client of chat-service's WebSocket at /ws.
//
// Each text frame is one JSON object: a chat.v1.ChatRequest from here, a
// chat.v1.ChatResponse from the server (protobuf's JSON mapping, see
// proto/chat/v1/chat.proto; uint64 seqs travel as strings). The page joins,
// shows every event as the line chatctl prints for it (service/format.h
// FormatEventLine), reads typed lines with the shared slash-command grammar
// (ParseTypedLine), keeps the member list from welcome + joined/left/renamed,
// and when the connection drops it reconnects with backoff and resumes after
// the last seq it saw, with that seq's epoch, so nothing is missed or shown
// twice. Like chatctl (cli/session.cc), it gives each say a client_id and
// rejoins with the welcome's resume_secret: after a resumed welcome it sends
// again every say not yet seen back, with the same id, and the server posts
// each once.
//
// Owned names: on a server run with --auth_secret_file, the join carries
// the token from the form's token field or the address's #token=... (read
// once, then removed from the address bar; a fragment never reaches the
// server). The token stays in this tab only (sessionStorage) and is sent
// again at each rejoin. Without one the member is a guest, whose name the
// server marks "~bob"; a server that admits no guests refuses the join with
// UNAUTHENTICATED, and the form says so.
//
// Text from the server only ever reaches the page through textContent and
// text nodes, never as HTML.
'use strict';

(() => {
  // ------------------------------------------------------------ Constants

  const kHistory = 50;             // Messages replayed at a join.
  const kMaxLines = 1000;          // Lines kept in the page; older ones go.
  const kMaxRecall = 100;          // Sent lines that up-arrow recalls.
  const kFirstBackoffMs = 500;
  const kMaxBackoffMs = 5000;
  const kWelcomeTimeoutMs = 10000; // A connect that gets no welcome is retried.
  const kMaxTakenRetries = 10;     // Reconnects refused as "name taken".

  // cli/render.cc's palette: ANSI colours, each mapped to a CSS class
  // (style.css gives each a colour readable on the page's background).
  const kPalette = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

  // gRPC status codes, as the server's close codes carry them (4000 + code).
  const kClose = {
    normal: 1000,
    invalidArgument: 4003,
    alreadyExists: 4006,
    permissionDenied: 4007,  // A token for another name or room.
    unauthenticated: 4016,   // No token where one is needed, or a bad one.
    // Another connection took our name back with our resume secret (another
    // window or tab of this chat): it is the session now.
    aborted: 4010,
  };
  // Close codes after which a rejoin may succeed: going away, no status,
  // connection lost, server error / restart / try later, and gRPC's
  // CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (too slow,
  // server full), INTERNAL and UNAVAILABLE (shutting down). ALREADY_EXISTS
  // is retried too, on a reconnect only: the server may not have noticed yet
  // that our previous connection is gone. Not ABORTED: see kClose.aborted.
  // Not UNAUTHENTICATED or PERMISSION_DENIED: the same token (or none)
  // would be refused again.
  const kRetryable = new Set([
    1001, 1005, 1006, 1011, 1012, 1013, 1014,
    4001, 4002, 4004, 4008, 4013, 4014,
  ]);

  const kHelpLines = [
    '-- /nick NAME      change your name',
    '-- /who            who is in the room, and how they are connected',
    '-- /me ACTION      an action, shown as "* you ACTION"',
    '-- /join ROOM      move to another room',
    '-- /quit [REASON]  leave (/exit too)',
    '-- /help           this help',
    '-- any other line is said to the room; start it with // to say a line ' +
        'that starts with /',
    '-- up and down arrows recall the lines you sent',
  ];
  const kCommandList =
      '/nick NAME, /who, /me ACTION, /join ROOM, /quit [REASON], /help';

  // Say.client_id: this page load's prefix, 96 random bits in hex, then "-"
  // and a counter (state.nextId). The server keys ids by sender name, so two
  // sessions of one name (two tabs, or a leave and a join) never share one.
  const kIdPrefix = Array.from(crypto.getRandomValues(new Uint8Array(12)),
                               (b) => b.toString(16).padStart(2, '0')).join('');

  // ----------------------------------------------------------- Pure parts

  // NameColor (cli/render.cc): FNV-1a over the UTF-8 bytes of the name with
  // ASCII letters lowercased, an index into the palette.
  function nameColor(name) {
    let h = 2166136261;
    for (const byte of new TextEncoder().encode(name)) {
      const b = byte >= 0x41 && byte <= 0x5a ? byte + 32 : byte;
      h = Math.imul(h ^ b, 16777619) >>> 0;
    }
    return kPalette[h % kPalette.length];
  }

  function stripBlanks(s) {
    return s.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
  }

  function asciiLower(s) {
    return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
  }

  // At most 32 bytes of the word, printable ASCII only ('?' for any other
  // byte), as format.cc quotes an unknown command.
  function quoteWord(word) {
    const bytes = new TextEncoder().encode(word).slice(0, 32);
    let out = '';
    for (const b of bytes) out += b >= 0x21 && b <= 0x7e ? String.fromCharCode(b) : '?';
    return out;
  }

  // ParseTypedLine (service/format.h), the one grammar of typed lines.
  // Returns {kind, argument, error}; kind is one of empty, say, action,
  // nick, who, join, quit, help, badUsage, unknown.
  function parseTypedLine(line) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const make = (kind, argument = '') => ({kind, argument, error: ''});
    const error = (kind, text) => ({kind, argument: '', error: text});
    if (stripBlanks(line) === '') return make('empty');
    if (line[0] !== '/') return make('say', line);
    if (line.startsWith('//')) return make('say', line.slice(1));
    const rest = line.slice(1);
    const blank = rest.search(/[ \t]/);
    const word = blank < 0 ? rest : rest.slice(0, blank);
    const argument = blank < 0 ? '' : stripBlanks(rest.slice(blank));
    switch (asciiLower(word)) {
      case 'me':
        return argument ? make('action', argument) : error('badUsage', 'usage: /me ACTION');
      case 'nick':
        return argument ? make('nick', argument) : error('badUsage', 'usage: /nick NAME');
      case 'join':
        return argument ? make('join', argument) : error('badUsage', 'usage: /join ROOM');
      case 'who':
        return argument ? error('badUsage', 'usage: /who (it lists everyone in the room)')
                        : make('who');
      case 'quit':
      case 'exit':
        return make('quit', argument);
      case 'help':
      case '?':
        return make('help');
      default:
        return error('unknown', `unknown command /${quoteWord(word)}; the commands are ${kCommandList}`);
    }
  }

  function transportName(transport) {
    switch (transport) {
      case 'TRANSPORT_TCP': return 'tcp';
      case 'TRANSPORT_WEB': return 'web';
      default: return 'grpc';
    }
  }

  function toSeq(value) {
    try {
      return value === undefined || value === null ? 0n : BigInt(value);
    } catch {
      return 0n;
    }
  }

  // "HH:MM" in local time from an RFC 3339 timestamp, or "" without one.
  function clock(time) {
    if (typeof time !== 'string') return '';
    const d = new Date(time.replace(/(\.\d{3})\d+/, '$1'));
    if (Number.isNaN(d.getTime())) return '';
    const pad = (n) => String(n).padStart(2, '0');
    return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // ------------------------------------------------------------- Elements

  const $ = (id) => document.getElementById(id);
  const el = {
    title: $('title'),
    status: $('status'),
    leave: $('leave'),
    joinView: $('join-view'),
    joinForm: $('join-form'),
    name: $('name'),
    room: $('room'),
    token: $('token'),
    joinError: $('join-error'),
    join: $('join'),
    chatView: $('chat-view'),
    log: $('log'),
    jump: $('jump'),
    members: $('members'),
    memberCount: $('member-count'),
    sayForm: $('say-form'),
    line: $('line'),
  };

  // ---------------------------------------------------------------- State

  const state = {
    // form: not in a room; joining: first connect; chat: in a room;
    // reconnecting: lost the connection, trying again.
    phase: 'form',
    ws: null,
    welcomeTimer: 0,
    retryTimer: 0,
    backoffMs: kFirstBackoffMs,
    attempt: 0,
    takenRetries: 0,
    leaving: false,
    // The session: who and where we are, and the last seq seen with its
    // epoch, for resume.
    name: '',
    room: '',
    epoch: '',
    lastSeq: 0n,
    welcomed: false,
    // The last welcome's resume_secret, presented at each rejoin to take
    // our name back from a connection the server has not seen die yet.
    resumeSecret: '',
    // The token this session joins with ('' for none: a guest), sent at
    // every rejoin.
    token: '',
    // The current welcome's last_seq: events up to it are replays (history
    // or resume), which do not change the member list (the welcome's list
    // is newer).
    snapshotSeq: 0n,
    // After a fresh (not resumed) welcome: replayed history up to this seq.
    historyUntil: 0n,
    members: [],  // {name, transport}, in the order they came.
    unlisted: 0,  // Members of a big room its welcome did not list.
    // Says sent and not yet answered (by their own message, a duplicate or
    // a refusing notice), in the order sent: a resumed rejoin sends them
    // again, any other rejoin reports them.
    connection: 0,
    unconfirmed: [],  // {text, action, clientId, connection}
    nextId: 0,        // The last client_id's counter, for the page's life.
    // Up-arrow recall.
    sent: [],
    recallIndex: 0,
    draft: '',
    // Follow new lines only while the view is at the bottom.
    stick: true,
    unread: 0,
  };

  // -------------------------------------------------------------- Display

  function nickSpan(name) {
    const span = document.createElement('span');
    span.className = `nick c${nameColor(name)}`;
    span.textContent = name;
    return span;
  }

  function isAtBottom() {
    return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight <= 8;
  }

  function scrollToBottom() {
    el.log.scrollTop = el.log.scrollHeight;
    state.stick = true;
    el.jump.hidden = true;
  }

  // Appends one line: `parts` are strings (text) and nodes (names), in
  // order; `kind` a class (msg, action, member, notice, info, error).
  function addLine(kind, parts, {seq = 0n, time = '', own = false, history = false} = {}) {
    const stick = state.stick || isAtBottom();
    const li = document.createElement('li');
    li.className = `line ${kind}`;
    if (own) li.classList.add('own');
    if (history) li.classList.add('history');
    if (seq > 0n) li.dataset.seq = String(seq);
    const stamp = clock(time);
    if (stamp) {
      const t = document.createElement('time');
      t.dateTime = time;
      t.textContent = stamp;
      li.append(t, ' ');
    }
    const body = document.createElement('span');
    body.className = 'body';
    for (const part of parts) body.append(part);  // Strings become text nodes.
    li.append(body);
    el.log.append(li);
    while (el.log.childElementCount > kMaxLines) el.log.firstElementChild.remove();
    if (stick) {
      scrollToBottom();
    } else {
      el.jump.hidden = false;
    }
  }

  function localInfo(text) { addLine('info', [text]); }
  function localError(text) { addLine('error', [`!! ${text}`]); }

  function setStatus(text, reconnecting = false) {
    el.status.textContent = text;
    document.body.classList.toggle('reconnecting', reconnecting);
  }

  function updateTitle() {
    const unread = state.unread > 0 ? `(${state.unread}) ` : '';
    const where = state.room && state.phase !== 'form' ? `#${state.room} — ` : '';
    document.title = `${unread}${where}chatroom`;
    el.title.textContent = state.room && state.phase !== 'form' ? `#${state.room}` : 'chatroom';
  }

  // A welcome lists the first members of a big room only (member_count
  // counts them all); those not listed are counted in state.unlisted.
  function memberCount() {
    return state.members.length + state.unlisted;
  }

  function renderMembers() {
    el.members.replaceChildren();
    for (const m of state.members) {
      const li = document.createElement('li');
      li.append(nickSpan(m.name));
      const transport = transportName(m.transport);
      if (transport !== 'grpc') {
        const tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = `(${transport})`;
        li.append(' ', tag);
      }
      if (m.name === state.name) {
        li.classList.add('me');
        const you = document.createElement('span');
        you.className = 'tag';
        you.textContent = '(you)';
        li.append(' ', you);
      }
      el.members.append(li);
    }
    el.memberCount.textContent = `(${memberCount()})`;
  }

  function findMember(name) {
    const key = name.toLowerCase();
    return state.members.findIndex((m) => m.name.toLowerCase() === key);
  }

  function showView(chat) {
    el.joinView.hidden = chat;
    el.chatView.hidden = !chat;
    el.leave.hidden = !chat;
  }

  // ------------------------------------------------------------ Connection

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  function send(request) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(request));
    return true;
  }

  function clearTimers() {
    clearTimeout(state.welcomeTimer);
    clearTimeout(state.retryTimer);
    state.welcomeTimer = 0;
    state.retryTimer = 0;
  }

  function connect() {
    clearTimers();
    const ws = new WebSocket(wsUrl());
    state.ws = ws;
    state.connection += 1;
    state.attempt += 1;
    ws.onopen = () => {
      if (ws !== state.ws) return;
      const join = {name: state.name, room: state.room, history: kHistory};
      if (state.welcomed && state.lastSeq > 0n) {
        join.resume_after_seq = String(state.lastSeq);
        join.resume_epoch = state.epoch;
      }
      if (state.welcomed && state.resumeSecret) join.resume_secret = state.resumeSecret;
      if (state.token) join.token = state.token;
      send({join});
    };
    ws.onmessage = (e) => {
      if (ws !== state.ws) return;
      let response;
      try {
        response = JSON.parse(e.data);
      } catch {
        console.warn('chat: a frame that is not JSON:', e.data);
        return;
      }
      onResponse(response);
    };
    ws.onclose = (e) => {
      if (ws !== state.ws) return;
      onClose(e.code, e.reason);
    };
    state.welcomeTimer = setTimeout(() => {
      if (ws !== state.ws) return;
      drop(ws);
      onClose(1006, 'no answer from the server');
    }, kWelcomeTimeoutMs);
  }

  // Forgets a socket: its events are ignored from now on.
  function drop(ws) {
    if (state.ws === ws) state.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try { ws.close(); } catch { /* Already closed. */ }
  }

  function describeClose(code, reason) {
    if (reason) return reason;
    if (code === 1006 || code === 1005) return 'connection lost';
    if (code === 1001) return 'the server went away';
    return `connection closed (code ${code})`;
  }

  function onClose(code, reason) {
    const ws = state.ws;
    if (ws) drop(ws);
    clearTimers();
    const why = describeClose(code, reason);
    if (state.leaving || code === kClose.normal) {
      endSession(state.leaving ? `You left #${state.room}.` : `The server ended the chat: ${why}`);
      return;
    }
    if (state.welcomed && code === kClose.aborted) {
      // Reconnecting would take the name back from the newer session, which
      // would take it back again.
      const text = 'This chat continues in another window or tab.';
      localError(text);
      reportUnsent('maybe not sent (the chat moved to another window)', true);
      endSession(text);
      return;
    }
    // A refused token would be refused again: this tab forgets it.
    if (code === kClose.unauthenticated && state.token) forgetToken();
    if (!state.welcomed) {
      // The first join: the form says what is wrong.
      failJoin(why, fieldToFix(code, why));
      return;
    }
    const taken = code === kClose.alreadyExists;
    state.takenRetries = taken ? state.takenRetries + 1 : 0;
    if ((kRetryable.has(code) || taken) && state.takenRetries <= kMaxTakenRetries) {
      if (state.phase === 'chat') {
        // The server's notice may just have said why.
        const last = el.log.lastElementChild?.querySelector('.body')?.textContent;
        if (last === `!! ${why}`) localInfo('-- reconnecting…');
        else localError(`${why}; reconnecting…`);
      }
      scheduleReconnect();
      return;
    }
    localError(why);
    endSession(`Disconnected: ${why}`);
  }

  function scheduleReconnect() {
    state.phase = 'reconnecting';
    const delay = state.backoffMs;
    state.backoffMs = Math.min(state.backoffMs * 2, kMaxBackoffMs);
    setStatus(`Reconnecting… (attempt ${state.attempt + 1}, in ${(delay / 1000).toFixed(1)} s)`, true);
    state.retryTimer = setTimeout(() => {
      setStatus(`Reconnecting… (attempt ${state.attempt + 1})`, true);
      connect();
    }, delay);
  }

  // The form's field where the fix for a refused join goes.
  function fieldToFix(code, why) {
    switch (code) {
      case kClose.unauthenticated:  // "this server needs a token", "the token expired at ..."
        return el.token;
      case kClose.permissionDenied:  // "the token is for alice, not bob", "... does not allow room dev"
        return /\broom\b/.test(why) ? el.room : el.name;
      case kClose.alreadyExists:
      case kClose.invalidArgument:
        return /^room name/i.test(why) ? el.room : el.name;
      default:
        return el.name;
    }
  }

  function failJoin(why, field) {
    state.phase = 'form';
    setStatus('');
    showView(false);
    el.join.removeAttribute('aria-busy');
    el.joinError.textContent = why;
    updateTitle();
    // Put the cursor where the fix goes.
    field.focus();
    field.select();
  }

  function endSession(text) {
    state.phase = 'form';
    state.leaving = false;
    clearTimers();
    setStatus('');
    reportUnsent('not sent (you left)');
    showView(false);
    el.join.removeAttribute('aria-busy');
    el.joinError.textContent = text;
    el.name.value = state.name || el.name.value;
    el.room.value = state.room || el.room.value;
    updateTitle();
    el.name.focus();
    el.name.select();
  }

  // --------------------------------------------------------------- Events

  function onResponse(r) {
    const seq = toSeq(r.seq);
    if (r.welcome) {
      onWelcome(r.welcome);
      return;
    }
    let history = false;
    if (seq > 0n) {
      if (seq <= state.historyUntil) {
        history = true;
      } else if (seq <= state.lastSeq) {
        console.warn(`chat: dropped a duplicate event, seq ${seq} <= ${state.lastSeq}`);
        return;
      } else {
        state.historyUntil = 0n;
      }
      if (seq > state.lastSeq) state.lastSeq = seq;
    }
    const live = seq > state.snapshotSeq;
    const opts = {seq, time: r.time, history};
    if (r.message) {
      onMessage(r.message, opts);
    } else if (r.member_joined) {
      const m = r.member_joined.member || {};
      const name = m.name || '';
      if (live) {
        if (findMember(name) < 0) state.members.push({name, transport: m.transport});
        renderMembers();
      }
      addLine('member', ['-- ', nickSpan(name), ' joined'], opts);
    } else if (r.member_left) {
      const m = r.member_left.member || {};
      const name = m.name || '';
      // rejoined: the member came back on a new connection and is still
      // here; only its transport may have changed.
      const rejoined = !!r.member_left.rejoined;
      if (live) {
        const i = findMember(name);
        if (rejoined) {
          if (i >= 0) state.members[i] = {name, transport: m.transport};
        } else if (i >= 0) {
          state.members.splice(i, 1);
        } else if (state.unlisted > 0) {
          state.unlisted--;
        }
        renderMembers();
      }
      const reason = r.member_left.reason;
      const what = rejoined ? ' reconnected' : reason ? ` left (${reason})` : ' left';
      addLine('member', ['-- ', nickSpan(name), what], opts);
    } else if (r.member_renamed) {
      const from = r.member_renamed.old_name || '';
      const to = r.member_renamed.new_name || '';
      if (live) {
        const i = findMember(from);
        if (i >= 0) state.members[i].name = to;
        if (from === state.name) {
          state.name = to;
          remember();
          if (state.phase === 'chat') setStatus(`as ${to}`);
        }
        renderMembers();
      }
      addLine('member', ['-- ', nickSpan(from), ' is now known as ', nickSpan(to)], opts);
    } else if (r.notice) {
      // A notice with a client_id refuses that say: it is settled, not sent.
      if (r.notice.client_id) settle(r.notice.client_id);
      addLine('notice', [`!! ${r.notice.text || ''}`], opts);
    } else if (r.duplicate) {
      // A say sent again was posted already, and shown under its seq: only
      // settle it.
      settle(r.duplicate.client_id || '');
    }
  }

  function onMessage(m, opts) {
    const sender = m.sender || '';
    const text = m.text || '';
    const own = sender === state.name;
    if (m.client_id) settle(m.client_id);
    const parts = m.action ? ['* ', nickSpan(sender), ` ${text}`]
                           : ['<', nickSpan(sender), `> ${text}`];
    addLine(m.action ? 'msg action' : 'msg', parts, {...opts, own});
    if (document.hidden && !opts.history) {
      state.unread += 1;
      updateTitle();
    }
  }

  function onWelcome(w) {
    clearTimeout(state.welcomeTimer);
    const first = !state.welcomed;
    const reconnect = state.phase === 'reconnecting';
    const room = w.room || '';
    const epoch = w.epoch || '';
    const lastSeq = toSeq(w.last_seq);
    const resumed = state.welcomed && reconnect && room === state.room && epoch === state.epoch;
    if (resumed) {
      // The replay that follows moves lastSeq on, event by event.
      if (lastSeq < state.lastSeq) state.lastSeq = lastSeq;
      state.historyUntil = 0n;
    } else {
      // A new room, or a history that was reset (the server said so in a
      // notice): our seqs mean nothing here; count from this welcome.
      state.lastSeq = lastSeq;
      state.historyUntil = lastSeq;
      if (reconnect) reportUnsent('maybe not sent: the room\'s history was reset');
    }
    state.snapshotSeq = lastSeq;
    state.welcomed = true;
    state.resumeSecret = w.resume_secret || '';
    state.epoch = epoch;
    state.room = room;
    state.name = w.name || state.name;
    state.members = (w.members || []).map((m) => ({name: m.name || '', transport: m.transport}));
    state.unlisted = Math.max(0, (w.member_count || 0) - state.members.length);
    state.phase = 'chat';
    state.backoffMs = kFirstBackoffMs;
    state.takenRetries = 0;
    state.attempt = 0;
    setStatus(`as ${state.name}`);
    renderMembers();
    remember();
    updateTitle();

    if (reconnect) {
      localInfo(resumed ? `-- reconnected to #${room}` : `-- reconnected to #${room}; its history was reset`);
    }
    // Same history: what the old connections had in flight is sent again,
    // in order and before anything new; the server posts each once.
    if (resumed) resendUnconfirmed();
    if (!resumed) {
      const others = state.members.filter((m) => m.name !== state.name);
      const count = w.member_count ? w.member_count - 1 : others.length;
      const parts = ['-- you are ', nickSpan(state.name), ` in room ${room}`];
      if (count === 0) {
        parts.push(', alone so far');
      } else {
        parts.push(` with ${count} ${count === 1 ? 'other' : 'others'}: `);
        others.forEach((m, i) => parts.push(i ? ', ' : '', nickSpan(m.name)));
        if (count > others.length) parts.push(` and ${count - others.length} more`);
      }
      addLine('info welcome', parts);
    }
    if (first) {
      el.joinError.textContent = '';
      el.join.removeAttribute('aria-busy');
      showView(true);
      scrollToBottom();
      el.line.focus();
    }
  }

  // ---------------------------------------------------- Unconfirmed says

  function sayRequest(u) {
    const say = {text: u.text, client_id: u.clientId};
    if (u.action) say.action = true;
    return {say};
  }

  // Sends a typed say and keeps it until it is answered.
  function sendSay(text, action) {
    state.nextId += 1;
    const u = {text, action, clientId: `${kIdPrefix}-${state.nextId}`, connection: state.connection};
    if (send(sayRequest(u))) state.unconfirmed.push(u);
  }

  // The say with this client_id was answered: posted (its message, or a
  // duplicate) or refused (a notice, shown as such). Ids of other sessions,
  // or settled already, are ignored.
  function settle(clientId) {
    const i = state.unconfirmed.findIndex((u) => u.clientId === clientId);
    if (i >= 0) state.unconfirmed.splice(i, 1);
  }

  function resendUnconfirmed() {
    for (const u of state.unconfirmed) {
      if (u.connection === state.connection) continue;
      u.connection = state.connection;
      send(sayRequest(u));
    }
  }

  // Says of earlier connections (or, with `all`, any) not yet answered: they
  // cannot be sent again, and nobody can tell whether they were posted.
  function reportUnsent(why, all = false) {
    const lost = state.unconfirmed.filter((u) => all || u.connection < state.connection);
    state.unconfirmed = state.unconfirmed.filter((u) => !lost.includes(u));
    for (const u of lost) localError(`${why}: ${u.action ? '/me ' : ''}${u.text}`);
  }

  // ---------------------------------------------------------------- Input

  // Name and room are kept for the next visit; the token, a secret, for
  // this tab only (a reload rejoins with it; closing the tab forgets it).
  function remember() {
    try {
      localStorage.setItem('chatroom.name', state.name);
      localStorage.setItem('chatroom.room', state.room);
      if (state.token) sessionStorage.setItem('chatroom.token', state.token);
      else sessionStorage.removeItem('chatroom.token');
    } catch { /* Storage may be off; nothing to keep then. */ }
    if (state.room) history.replaceState(null, '', `#room=${encodeURIComponent(state.room)}`);
  }

  function forgetToken() {
    try {
      sessionStorage.removeItem('chatroom.token');
    } catch { /* Storage may be off. */ }
  }

  function prefill() {
    // "#room=dev&name=alice&token=...", or just "#dev".
    const fragment = location.hash.replace(/^#/, '');
    const hash = new URLSearchParams(fragment.includes('=') ? fragment : `room=${fragment}`);
    let name = hash.get('name') || '';
    let room = hash.get('room') || '';
    let token = hash.get('token') || '';
    if (hash.has('token')) {
      // Out of the address bar (and so out of the history, bookmarks and
      // screenshots) at once.
      hash.delete('token');
      const rest = hash.toString();
      history.replaceState(null, '', rest ? `#${rest}` : location.pathname + location.search);
    }
    try {
      token = token || sessionStorage.getItem('chatroom.token') || '';
      // With a token the token names us: a name kept from another visit
      // might not be its name.
      if (!token) name = name || localStorage.getItem('chatroom.name') || '';
      room = room || localStorage.getItem('chatroom.room') || '';
    } catch { /* Storage may be off. */ }
    el.name.value = name;
    el.room.value = room;
    el.token.value = token;
  }

  function startJoin(e) {
    e.preventDefault();
    if (state.phase !== 'form') return;
    let name = el.name.value.trim();
    const room = el.room.value.trim();
    const token = el.token.value.trim();
    if (!name && !token) {
      el.joinError.textContent = 'Pick a name, or give a token.';
      el.name.focus();
      return;
    }
    // A guest's marked name ("~bob", kept from a guest session) is never a
    // token's: let the token name us.
    if (token && name.startsWith('~')) name = '';
    el.joinError.textContent = '';
    el.join.setAttribute('aria-busy', 'true');
    if (el.log.childElementCount > 0) localInfo('--');
    Object.assign(state, {
      phase: 'joining', name, room, token, epoch: '', lastSeq: 0n, welcomed: false, resumeSecret: '',
      snapshotSeq: 0n, historyUntil: 0n, members: [], unlisted: 0, unconfirmed: [],
      backoffMs: kFirstBackoffMs, attempt: 0, takenRetries: 0, leaving: false,
    });
    setStatus('Joining…');
    connect();
  }

  function connected() {
    return state.phase === 'chat' && state.ws && state.ws.readyState === WebSocket.OPEN;
  }

  function who() {
    const list = state.members.map((m) => `${m.name} (${transportName(m.transport)})`).join(', ');
    const more = state.unlisted > 0 ? ` and ${state.unlisted} more` : '';
    localInfo(`-- ${memberCount()} in ${state.room}:${list ? ' ' + list : ''}${more}`);
  }

  function leave(reason) {
    if (state.phase === 'reconnecting') {
      state.leaving = true;
      onClose(kClose.normal, '');
      return;
    }
    state.leaving = true;
    if (!send({leave: reason ? {reason} : {}})) onClose(kClose.normal, '');
  }

  function submitLine(e) {
    e.preventDefault();
    const text = el.line.value;
    const typed = parseTypedLine(text);
    if (typed.kind === 'empty') return;
    const local = ['who', 'help', 'badUsage', 'unknown'].includes(typed.kind);
    if (!local && typed.kind !== 'quit' && !connected()) {
      localError('not connected yet: your line is kept; send it again once reconnected');
      return;
    }
    switch (typed.kind) {
      case 'say':
      case 'action':
        sendSay(typed.argument, typed.kind === 'action');
        break;
      case 'nick':
        send({rename: {name: typed.argument}});
        break;
      case 'join':
        send({join: {room: typed.argument, history: kHistory}});
        break;
      case 'who':
        who();
        break;
      case 'quit':
        leave(typed.argument);
        break;
      case 'help':
        kHelpLines.forEach(localInfo);
        break;
      default:  // badUsage, unknown: say so, and keep the line to fix it.
        localError(typed.error);
        recall(text);
        return;
    }
    recall(text);
    el.line.value = '';
    scrollToBottom();
    if (state.phase !== 'form') el.line.focus();
  }

  function recall(text) {
    if (state.sent[state.sent.length - 1] !== text) state.sent.push(text);
    if (state.sent.length > kMaxRecall) state.sent.shift();
    state.recallIndex = state.sent.length;
    state.draft = '';
  }

  function onLineKey(e) {
    if (e.isComposing || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (e.key === 'ArrowUp') {
      if (state.recallIndex === 0) return;
      if (state.recallIndex === state.sent.length) state.draft = el.line.value;
      state.recallIndex -= 1;
      el.line.value = state.sent[state.recallIndex];
    } else if (e.key === 'ArrowDown') {
      if (state.recallIndex >= state.sent.length) return;
      state.recallIndex += 1;
      el.line.value = state.recallIndex === state.sent.length ? state.draft : state.sent[state.recallIndex];
    } else {
      return;
    }
    e.preventDefault();
    const end = el.line.value.length;
    el.line.setSelectionRange(end, end);
  }

  // ------------------------------------------------------------------ Wiring

  el.joinForm.addEventListener('submit', startJoin);
  el.sayForm.addEventListener('submit', submitLine);
  el.line.addEventListener('keydown', onLineKey);
  el.leave.addEventListener('click', () => leave(''));
  el.log.addEventListener('scroll', () => {
    state.stick = isAtBottom();
    if (state.stick) el.jump.hidden = true;
  });
  el.jump.addEventListener('click', () => {
    scrollToBottom();
    el.line.focus();
  });
  // The log's height changes with the window (a phone's keyboard): keep the
  // bottom in view if it was.
  new ResizeObserver(() => { if (state.stick) el.log.scrollTop = el.log.scrollHeight; }).observe(el.log);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.unread) {
      state.unread = 0;
      updateTitle();
    }
  });
  window.addEventListener('online', () => {
    if (state.phase === 'reconnecting' && state.retryTimer) {
      state.backoffMs = kFirstBackoffMs;
      connect();
    }
  });

  prefill();
  showView(false);
  updateTitle();
  el.name.focus();
  el.name.select();
})();
