// Tether's demo page: the SDK's browser bundle (global `Tether`) and nothing else.
// Query options for quick experiments and tests:
// ?pollMs=1000&afterFailures=2&reconnectMinMs=200&reconnectMaxMs=1000&ackTimeoutMs=3000&user=alice&peer=bob
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const positive = (name) => {
    const value = Number(params.get(name));
    return Number.isFinite(value) && value > 0 ? value : undefined;
  };
  /** Options without undefined values, so the SDK's defaults apply. */
  const defined = (object) => Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined));

  let tether = null;
  let me = null;
  let chat = null; // { id, peer, sub, messages: Map<key, element>, marks: {delivered, read} }
  let demoServiceId = null;
  const countRows = new Map();

  // ---- sign in -------------------------------------------------------------------------------

  async function mint(userId) {
    const res = await fetch('/demo/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) return body.token;
    const why = (body.details || []).flatMap((d) => d.messages).join('; ') || body.message;
    throw new Error(why || `POST /demo/token answered ${res.status}`);
  }

  /** The user id a pasted token names (`sub`), for display only: the server decides who it is. */
  function subjectOf(token) {
    try {
      const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(payload)).sub || 'unknown';
    } catch {
      return 'unknown';
    }
  }

  function signIn(userId, tokenProvider) {
    me = userId;
    tether = new Tether.TetherClient(
      defined({
        url: location.origin,
        token: tokenProvider,
        ackTimeoutMs: positive('ackTimeoutMs'),
        polling: defined({ intervalMs: positive('pollMs') ?? 5000, afterFailures: positive('afterFailures') }),
        reconnect: defined({ initialDelayMs: positive('reconnectMinMs'), maxDelayMs: positive('reconnectMaxMs') }),
      }),
    );
    tether.on('state', showState);
    tether.on('error', (err) => log(`error: ${err.code || ''} ${err.message || err}`));
    tether.on('session', (session) => log(`session: ${session.userId} (${session.roles.join(', ')})`));
    tether.connect();

    $('me').textContent = `signed in as ${me}`;
    $('sign-in').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    startCounts();
    startAnnouncements();
    if (params.get('peer')) $('peer').value = params.get('peer');
  }

  function showState(state) {
    $('state').textContent = state;
    $('state').dataset.state = state;
    log(`state: ${state}`);
  }

  $('mint-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const userId = $('user-id').value.trim();
    $('sign-in-error').textContent = '';
    try {
      const first = await mint(userId); // fails here on a bad name, before any client exists
      let fresh = first;
      // Asked on every (re)connect, before expiry and after a 401: a new demo token each time.
      signIn(userId, async () => {
        const token = fresh ?? (await mint(userId));
        fresh = null;
        return token;
      });
    } catch (err) {
      $('sign-in-error').textContent = err.message;
    }
  });

  $('paste-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    signIn(subjectOf(token), async () => token);
  });

  $('sign-out').addEventListener('click', () => location.reload());

  // ---- live service counts --------------------------------------------------------------------

  function showCount(service) {
    let row = countRows.get(service.serviceId);
    if (!row) {
      row = document.createElement('tr');
      row.dataset.testid = 'count-row';
      row.dataset.serviceId = service.serviceId;
      row.innerHTML = '<td class="name"></td><td class="total"></td><td class="current"></td>';
      row.querySelector('.name').textContent = service.serviceId.slice(0, 8); // until its name is known
      countRows.set(service.serviceId, row);
      $('counts').append(row);
    }
    if (service.name) row.querySelector('.name').textContent = service.name;
    // A live update and the HTTP list may cross: the newer figures win.
    if (service.timestamp && row.dataset.timestamp > service.timestamp) return;
    if (service.timestamp) row.dataset.timestamp = service.timestamp;
    row.querySelector('.total').textContent = service.totalCheckins;
    row.querySelector('.current').textContent = service.currentAttendance;
  }

  async function loadCounts() {
    const { services } = await tether.http.get('/live/service-counts');
    services.forEach(showCount);
    demoServiceId = demoServiceId ?? services.find((s) => s.name === 'Demo service')?.serviceId ?? null;
  }

  function startCounts() {
    const counts = tether.subscribe('service:counts');
    counts.on('service:count_update', (update) => {
      const known = countRows.has(update.serviceId);
      showCount(update);
      if (!known) loadCounts().catch(logError); // its name
    });
    counts.on('gap', () => void loadCounts().catch(logError));
    loadCounts().catch(logError);
  }

  // Leaders may schedule services and check others in: each click is one more visitor.
  $('check-in').addEventListener('click', async () => {
    try {
      if (!demoServiceId) {
        const service = await tether.http.post('/services', { name: 'Demo service', startsAt: new Date().toISOString() });
        demoServiceId = service.id;
        showCount({ serviceId: service.id, name: service.name, totalCheckins: 0, currentAttendance: 0 });
      }
      await tether.http.post(`/services/${demoServiceId}/checkins`, { userId: `visitor-${Tether.uuid().slice(0, 8)}` });
    } catch (err) {
      logError(err);
    }
  });

  // ---- announcements ---------------------------------------------------------------------------

  function startAnnouncements() {
    const sub = tether.subscribe('announcements');
    sub.on('announcement:new', (a) => {
      const li = document.createElement('li');
      li.dataset.testid = 'announcement';
      li.textContent = a.title;
      $('announcements').prepend(li);
    });
  }

  $('announce-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const title = $('announce-title').value.trim();
    try {
      await tether.http.post('/announcements', { title, content: `Posted from the demo page by ${me}` });
      $('announce-title').value = '';
    } catch (err) {
      logError(err);
    }
  });

  // ---- chat ------------------------------------------------------------------------------------

  $('peer-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const peer = $('peer').value.trim();
    try {
      await openChat(peer);
    } catch (err) {
      logError(err);
    }
  });

  async function openChat(peer) {
    if (chat) chat.sub.unsubscribe();
    const conversation = await tether.http.post('/conversations', { type: 'direct', participantIds: [peer] });
    const sub = tether.subscribe(`conversation:${conversation.id}`);
    chat = { id: conversation.id, peer, sub, messages: new Map(), marks: { delivered: 0, read: 0 }, lastSeq: 0 };
    $('messages').textContent = '';
    $('peer-name').textContent = peer;
    $('chat').hidden = false;
    $('chat').dataset.conversationId = conversation.id;

    sub.on('message:new', (message) => {
      showMessage(message, true);
      if (message.senderId !== me) {
        showTyping(null);
        acknowledge(message.seq);
      }
    });
    sub.on('message:delivered', (p) => p.userId !== me && markOwn('delivered', p.upToSeq));
    sub.on('message:read', (p) => p.userId !== me && markOwn('read', p.upToSeq));
    sub.on('typing:start', (p) => p.userId !== me && showTyping(p.userId));
    sub.on('typing:stop', (p) => p.userId !== me && showTyping(null));
    sub.on('members', showMembers);
    sub.on('gap', () => void loadHistory(chat.lastSeq).catch(logError));
    sub.on('rejected', (reason) => log(`conversation refused: ${reason}`));
    showMembers(sub.members || []);
    followPresence(peer);
    await loadHistory();
  }

  /** History over HTTP (first open, or after a gap): merged by id, never counted as live events. */
  async function loadHistory(after) {
    const page = await tether.http.get(`/conversations/${chat.id}/messages`, { query: after ? { after, limit: 200 } : { limit: 50 } });
    page.messages.forEach((m) => showMessage(m, false));
    markOwn('delivered', page.deliveredUpToSeq);
    markOwn('read', page.readUpToSeq);
    const theirs = page.messages.filter((m) => m.senderId !== me);
    if (theirs.length) acknowledge(theirs[theirs.length - 1].seq);
  }

  /**
   * One list item per message, keyed by clientMessageId (own pending sends have no id yet).
   * `data-events` counts the live `message:new` deliveries of it: more than one is a duplicate.
   */
  function showMessage(message, live) {
    const key = message.clientMessageId || message.id;
    let li = chat.messages.get(key);
    if (!li) {
      li = document.createElement('li');
      li.dataset.testid = 'message';
      li.dataset.events = '0';
      li.innerHTML = '<span class="from"></span> <span class="text"></span> <span class="mark"></span>';
      chat.messages.set(key, li);
    }
    if (message.seq) {
      li.dataset.seq = message.seq;
      li.dataset.id = message.id;
      chat.lastSeq = Math.max(chat.lastSeq, message.seq);
    }
    insertInOrder(li, message.seq);
    if (live) li.dataset.events = String(Number(li.dataset.events) + 1);
    li.dataset.sender = message.senderId;
    li.classList.toggle('mine', message.senderId === me);
    li.querySelector('.from').textContent = message.senderId === me ? 'you' : message.senderId;
    li.querySelector('.text').textContent = message.content ?? '(deleted)';
    if (message.senderId === me) setMark(li, message.seq ? statusFor(message.seq) : 'sending');
    return li;
  }

  /** By seq; messages still being sent (no seq yet) stay at the end. */
  function insertInOrder(li, seq) {
    const list = $('messages');
    if (!seq) {
      if (li.parentNode !== list) list.append(li);
      return;
    }
    const next = [...list.children].find((other) => other !== li && (!other.dataset.seq || Number(other.dataset.seq) > seq));
    if (next) list.insertBefore(li, next);
    else list.append(li);
  }

  function statusFor(seq) {
    return seq <= chat.marks.read ? 'read' : seq <= chat.marks.delivered ? 'delivered' : 'sent';
  }

  const MARKS = { sending: '…', sent: '✓', delivered: '✓✓', read: '✓✓ read' };
  function setMark(li, status) {
    li.dataset.status = status;
    li.querySelector('.mark').textContent = MARKS[status];
  }

  /** The peer's delivered/read pointer moved: marks on my own messages up to it. */
  function markOwn(kind, upToSeq) {
    if (!upToSeq) return;
    chat.marks[kind] = Math.max(chat.marks[kind], upToSeq);
    if (kind === 'read') chat.marks.delivered = Math.max(chat.marks.delivered, upToSeq);
    for (const li of chat.messages.values()) {
      if (li.classList.contains('mine') && li.dataset.seq) setMark(li, statusFor(Number(li.dataset.seq)));
    }
  }

  /** Delivered at once; read while the page is visible (else when it becomes visible). */
  let pendingRead = 0;
  function acknowledge(seq) {
    const api = tether.messages;
    const { id } = chat;
    if (document.visibilityState === 'visible') return api.markRead(id, seq).catch(logError);
    pendingRead = Math.max(pendingRead, seq);
    api.markDelivered(id, seq).catch(logError);
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible' || !chat || !pendingRead) return;
    tether.messages.markRead(chat.id, pendingRead).catch(logError);
    pendingRead = 0;
  });

  $('compose-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const content = $('compose').value;
    $('compose').value = '';
    stopTyping();
    const clientMessageId = Tether.uuid();
    showMessage({ clientMessageId, senderId: me, content }, false);
    try {
      // Resent with the same clientMessageId until stored: over the socket, or HTTP while it is down.
      const message = await tether.messages.send(chat.id, content, { clientMessageId });
      showMessage(message, false);
    } catch (err) {
      logError(err);
    }
  });

  // ---- typing ----------------------------------------------------------------------------------

  let typingSince = 0;
  let typingTimer = null;
  $('compose').addEventListener('input', () => {
    if (!chat) return;
    // Once every 3 s while keys keep coming (the server stops it after 5 s of silence), stop after 3 s idle.
    if (Date.now() - typingSince > 3000) {
      typingSince = Date.now();
      sendTyping(true);
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  });

  function stopTyping() {
    clearTimeout(typingTimer);
    if (!typingSince || !chat) return;
    typingSince = 0;
    sendTyping(false);
  }

  function sendTyping(on) {
    try {
      const result = chat.sub.typing(on);
      if (result && result.catch) result.catch(() => undefined); // live only: nothing to retry
    } catch {
      // not connected: typing is live only
    }
  }

  let typingHide = null;
  function showTyping(userId) {
    clearTimeout(typingHide);
    $('typing').textContent = userId ? `${userId} is typing…` : '';
    $('typing').dataset.user = userId || '';
    if (userId) typingHide = setTimeout(() => showTyping(null), 6000);
  }

  // ---- presence --------------------------------------------------------------------------------

  function showPresence(status) {
    $('peer-presence').textContent = status;
    $('peer-presence').dataset.status = status;
  }

  function showMembers(members) {
    $('peer-here').hidden = !chat || !members.includes(chat.peer);
  }

  let followed = null;
  function followPresence(peer) {
    const presence = tether.presence;
    if (!presence) return;
    if (!followed) presence.on('update', (p) => chat && p.userId === chat.peer && showPresence(p.status));
    if (followed && followed !== peer) presence.unfollow([followed]);
    followed = peer;
    Promise.resolve(presence.follow([peer])).catch(logError);
    presence
      .of([peer])
      .then(([p]) => showPresence(p.status))
      .catch(logError);
  }

  // ---- log -------------------------------------------------------------------------------------

  function log(text) {
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    $('log').prepend(li);
    while ($('log').children.length > 50) $('log').lastElementChild.remove();
  }

  function logError(err) {
    log(`error: ${(err && (err.code || err.message)) || err}`);
  }

  // ---- start -----------------------------------------------------------------------------------

  if (document.body.dataset.tokenRoute === 'true') {
    $('mint-form').hidden = false;
    if (params.get('user')) $('user-id').value = params.get('user');
  } else {
    $('sign-in-error').textContent = 'This server mints no demo tokens (production): paste an access token.';
  }
})();
