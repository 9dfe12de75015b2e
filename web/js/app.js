// The chat page: sign in with an API key, conversations, streamed answers, ratings, and the
// assistant's knowledge of the user (knowledge.js). Plain ES modules, no build step.

import { Client, GraphQLError } from './client.js';
import { $, announce, confirmDialog, h, icon, iconButton } from './dom.js';
import { Knowledge, STYLE_FIELDS } from './knowledge.js';
import { renderMarkdown } from './markdown.js';

const KEY = 'assistant.apiKey'; // sessionStorage: this tab only; localStorage only if asked
const PAGE = 30;
const MESSAGE = 'id role content status errorCode createdAt';

const Q = {
  me: 'query { me { id displayName } }',
  conversations: `query($after: String) { conversations(first: ${PAGE}, after: $after) {
    edges { node { id title updatedAt } } pageInfo { hasNextPage endCursor } } }`,
  messages: `query($id: ID!, $before: String) { conversation(id: $id) { id title
    messages(last: ${PAGE}, before: $before) { edges { node { ${MESSAGE} } } pageInfo { hasPreviousPage startCursor } } } }`,
  latest: `query($id: ID!) { conversation(id: $id) { messages(last: 2) { nodes { ${MESSAGE} } } } }`,
  create: 'mutation($title: String) { createConversation(input: {title: $title}) { id title updatedAt } }',
  rename: 'mutation($id: ID!, $title: String) { renameConversation(id: $id, title: $title) { id title updatedAt } }',
  remove: 'mutation($id: ID!) { deleteConversation(id: $id) }',
  chat: `subscription($input: ChatInput!) { chat(input: $input) { __typename
    ... on ChatStarted { userMessageId assistantMessageId }
    ... on ChatDelta { text }
    ... on ChatCompleted { message { ${MESSAGE} } }
    ... on ChatFailed { code message retryable partialMessage { ${MESSAGE} } } } }`,
  rate: `mutation($input: RateMessageInput!) { rateMessage(input: $input) { rating
    styleProfile { dimensions { ${STYLE_FIELDS} } } } }`,
  export: 'query { exportMyData }',
  deleteAll: 'mutation { deleteMyData }',
};

const STATUS_TEXT = {
  STREAMING: 'Writing…',
  INTERRUPTED: 'Interrupted: stopped before the end',
  FAILED: 'Failed before the end',
};

const REASONS = {
  UP: ['Just right', 'Helpful', 'Nice and short', 'Good examples'],
  DOWN: ['Too long', 'Too short', 'Too technical', 'Too formal', 'Wrong'],
};

let client = null;
let knowledge = null;
const view = {
  me: null,
  conversations: [],
  after: null,
  current: null, // { id, title }
  before: null, // cursor of the earliest message shown
  streaming: null, // { stop, assistant, ... } while an answer is being written
  messages: new Map(), // id -> element
};

// ---------- sign in ----------

function storedKey() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
}

async function signIn(key, remember) {
  const candidate = new Client(key);
  const body = await candidate.execute(Q.me);
  if (body.errors?.length) {
    const code = body.errors[0].extensions?.code;
    if (code === 'UNAUTHENTICATED') throw new Error('That key is not valid: it is unknown or was revoked.');
    if (code === 'FORBIDDEN' || code === 'BAD_USER_INPUT') {
      throw new Error('That looks like the admin token. Create a user with it (see the README), then sign in with the user’s key.');
    }
    throw new GraphQLError(body.errors);
  }
  sessionStorage.setItem(KEY, key);
  if (remember) localStorage.setItem(KEY, key);
  client = candidate;
  client.onUnauthenticated = () => signOut('Your key stopped working. Sign in again.');
  view.me = body.data.me;
  startApp();
}

function signOut(message, { forget = true } = {}) {
  if (forget) {
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
  }
  view.streaming?.stop();
  client?.close();
  client = null;
  knowledge?.destroy();
  knowledge = null;
  $('#app').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message || '';
  $('#signin-key').value = forget ? '' : storedKey() || '';
  $('#signin-key').focus();
}

function setUpSignIn() {
  $('#signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = $('#signin-key').value.trim();
    const button = $('#signin-form button[type=submit]');
    if (!key) return;
    button.disabled = true;
    $('#signin-error').textContent = '';
    try {
      await signIn(key, $('#signin-remember').checked);
    } catch (error) {
      $('#signin-error').textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });
}

// ---------- the app ----------

function startApp() {
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#account-name').textContent = view.me.displayName;
  view.conversations = [];
  view.after = null;
  $('#conversation-list').replaceChildren();
  knowledge = new Knowledge(client, $('#knowledge'), { onOpenChange: (open) => $('#open-knowledge').setAttribute('aria-expanded', String(open)) });
  knowledge.start();
  loadConversations().then(() => {
    const wanted = new URLSearchParams(location.hash.slice(1)).get('c');
    const found = view.conversations.find((c) => c.id === wanted);
    if (found) openConversation(found);
    else showEmpty();
  });
  $('#message-input').focus();
}

function report(error, where = '#chat-status') {
  const text = error instanceof GraphQLError ? describeError(error) : error.message;
  const target = $(where);
  target.textContent = text;
  target.classList.add('is-error');
  announce(text);
}

function clearStatus() {
  $('#chat-status').textContent = '';
  $('#chat-status').classList.remove('is-error');
}

function describeError(error) {
  switch (error.code) {
    case 'RATE_LIMITED':
      return `Too many answers at once${error.retryAfter ? `: try again in ${error.retryAfter} s` : ': wait for one to finish, then try again'}.`;
    case 'UPSTREAM_ERROR':
      return `The assistant could not answer: ${error.message}`;
    case 'NOT_FOUND':
      return 'That conversation no longer exists.';
    case 'BAD_USER_INPUT':
      return error.message;
    case 'NETWORK':
      return error.message;
    default:
      return 'Something went wrong on the server. Try again.';
  }
}

// ---------- conversations ----------

async function loadConversations() {
  try {
    const data = await client.request(Q.conversations, { after: view.after });
    const page = data.conversations;
    for (const edge of page.edges) addConversation(edge.node, false);
    view.after = page.pageInfo.endCursor;
    $('#more-conversations').hidden = !page.pageInfo.hasNextPage;
  } catch (error) {
    report(error);
  }
}

function conversationTitle(c) {
  return c.title || 'Untitled conversation';
}

function addConversation(conversation, atTop) {
  view.conversations = atTop ? [conversation, ...view.conversations] : [...view.conversations, conversation];
  const item = conversationItem(conversation);
  if (atTop) $('#conversation-list').prepend(item);
  else $('#conversation-list').append(item);
}

function conversationItem(conversation) {
  const select = h('button', { type: 'button', class: 'conversation-open', onclick: () => { openConversation(conversation); closeSidebar(); } },
    h('span', { class: 'conversation-title', text: conversationTitle(conversation) }));
  const rename = iconButton('edit', `Rename “${conversationTitle(conversation)}”`, () => startRename(conversation, item));
  const remove = iconButton('trash', `Delete “${conversationTitle(conversation)}”`, () => deleteConversation(conversation));
  const item = h('li', { class: 'conversation', 'data-id': conversation.id }, select, h('span', { class: 'row-actions' }, rename, remove));
  if (view.current?.id === conversation.id) {
    item.classList.add('is-current');
    select.setAttribute('aria-current', 'page');
  }
  return item;
}

function refreshConversationItem(conversation) {
  const old = $(`#conversation-list li[data-id="${CSS.escape(conversation.id)}"]`);
  if (old) old.replaceWith(conversationItem(conversation));
}

function startRename(conversation, item) {
  const input = h('input', { type: 'text', value: conversation.title || '', maxLength: 200, 'aria-label': 'New title' });
  const done = async (save) => {
    if (save) {
      try {
        const data = await client.request(Q.rename, { id: conversation.id, title: input.value.trim() || null });
        Object.assign(conversation, data.renameConversation);
        if (view.current?.id === conversation.id) setTitle(conversation);
        announce('Conversation renamed.');
      } catch (error) {
        report(error);
      }
    }
    refreshConversationItem(conversation);
    $(`#conversation-list li[data-id="${CSS.escape(conversation.id)}"] .conversation-open`)?.focus();
  };
  const form = h('form', { class: 'rename', onsubmit: (e) => { e.preventDefault(); done(true); } },
    input,
    iconButton('check', 'Save title', () => done(true)),
    iconButton('close', 'Cancel renaming', () => done(false)));
  input.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); done(false); } });
  item.replaceChildren(form);
  input.focus();
  input.select();
}

async function deleteConversation(conversation) {
  const ok = await confirmDialog({
    title: 'Delete this conversation?',
    body: `“${conversationTitle(conversation)}” and all its messages will be deleted. What the assistant learned about you stays (manage it in “What I know about you”).`,
    confirm: 'Delete conversation',
  });
  if (!ok) return;
  try {
    await client.request(Q.remove, { id: conversation.id });
  } catch (error) {
    report(error);
    return;
  }
  view.conversations = view.conversations.filter((c) => c.id !== conversation.id);
  $(`#conversation-list li[data-id="${CSS.escape(conversation.id)}"]`)?.remove();
  if (view.current?.id === conversation.id) showEmpty();
  announce('Conversation deleted.');
}

async function newConversation(title) {
  const data = await client.request(Q.create, { title: title || null });
  const conversation = data.createConversation;
  addConversation(conversation, true);
  return conversation;
}

function setTitle(conversation) {
  $('#conversation-title').textContent = conversation ? conversationTitle(conversation) : '';
  document.title = conversation ? `${conversationTitle(conversation)} · Assistant` : 'Assistant';
}

function markCurrent() {
  for (const li of document.querySelectorAll('#conversation-list li')) {
    const current = li.dataset.id === view.current?.id;
    li.classList.toggle('is-current', current);
    const button = $('.conversation-open', li);
    if (current) button?.setAttribute('aria-current', 'page');
    else button?.removeAttribute('aria-current');
  }
}

function showEmpty() {
  view.streaming?.stop();
  view.current = null;
  view.messages.clear();
  setTitle(null);
  markCurrent();
  history.replaceState(null, '', location.pathname);
  $('#earlier').hidden = true;
  $('#messages').replaceChildren(h('div', { class: 'empty' },
    h('div', { class: 'empty-mark' }, icon('brain')),
    h('h2', { text: `Hello, ${view.me.displayName}.` }),
    h('p', { text: 'Start a conversation below. What you tell the assistant about yourself is remembered, and you can see and correct all of it in “What I know about you”.' })));
}

async function openConversation(conversation) {
  if (view.streaming) view.streaming.stop();
  view.current = conversation;
  view.before = null;
  view.messages.clear();
  setTitle(conversation);
  markCurrent();
  history.replaceState(null, '', `#c=${encodeURIComponent(conversation.id)}`);
  $('#messages').replaceChildren();
  clearStatus();
  await loadMessages(true);
}

async function loadMessages(latest) {
  const conversation = view.current;
  let data;
  try {
    data = await client.request(Q.messages, { id: conversation.id, before: latest ? null : view.before });
  } catch (error) {
    report(error);
    return;
  }
  if (view.current !== conversation) return;
  const page = data.conversation.messages;
  const list = $('#messages');
  const scroller = $('#chat-scroll');
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const nodes = page.edges.map((e) => messageElement(e.node));
  if (latest) list.replaceChildren(...nodes);
  else list.prepend(...nodes);
  view.before = page.pageInfo.startCursor;
  $('#earlier').hidden = !page.pageInfo.hasPreviousPage;
  if (latest) scrollToEnd();
  else scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep the reader's place
  if (latest && !page.edges.length) {
    list.append(h('p', { class: 'empty-hint', text: 'No messages yet. Say hello below.' }));
  }
}

// ---------- messages ----------

function messageElement(message) {
  const assistant = message.role === 'ASSISTANT';
  const content = h('div', { class: 'content' });
  const el = h('article', {
    class: `message ${assistant ? 'from-assistant' : 'from-user'}`,
    'data-id': message.id || '',
    'aria-label': assistant ? 'Assistant' : 'You',
  },
  h('div', { class: 'bubble' }, content),
  h('div', { class: 'message-foot' }),
  h('div', { class: 'message-extra' }));
  el.message = { ...message };
  renderContent(el);
  renderFoot(el);
  if (message.id) view.messages.set(message.id, el);
  return el;
}

function renderContent(el) {
  const { role, content } = el.message;
  const target = $('.content', el);
  if (role === 'ASSISTANT') target.replaceChildren(renderMarkdown(content));
  else target.replaceChildren(h('p', { class: 'plain', text: content }));
  if (role === 'ASSISTANT' && el.message.status === 'STREAMING') {
    // The cursor goes at the end of the text, inside the last paragraph or list item.
    let end = target;
    while (end.lastElementChild && !['PRE', 'TABLE', 'HR', 'BR', 'DIV'].includes(end.lastElementChild.tagName)) end = end.lastElementChild;
    end.append(h('span', { class: 'cursor', 'aria-hidden': 'true' }));
  }
}

function renderFoot(el) {
  const { role, status, id } = el.message;
  el.dataset.status = status || '';
  el.setAttribute('aria-busy', String(status === 'STREAMING'));
  const foot = $('.message-foot', el);
  foot.replaceChildren();
  if (status && status !== 'COMPLETE') {
    foot.append(h('span', { class: `badge status-${status.toLowerCase()}`, text: STATUS_TEXT[status] || status }));
  }
  if (role === 'ASSISTANT' && id && status !== 'STREAMING') {
    const rated = el.rating;
    foot.append(
      iconButton('up', 'Good answer', () => rate(el, 'UP'), { 'aria-pressed': String(rated === 'UP'), className: 'icon-btn rate-up' }),
      iconButton('down', 'Poor answer', () => rate(el, 'DOWN'), { 'aria-pressed': String(rated === 'DOWN'), className: 'icon-btn rate-down' }),
      iconButton('why', 'Why this answer', () => knowledge.why(id, view.current?.id), { text: 'Why this answer', className: 'link-btn why' }),
    );
  }
}

let renderQueued = null;
function scheduleRender(el) {
  if (renderQueued) return;
  renderQueued = requestAnimationFrame(() => {
    renderQueued = null;
    const nearEnd = isNearEnd();
    renderContent(el);
    if (nearEnd) scrollToEnd();
  });
}

function isNearEnd() {
  const s = $('#chat-scroll');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToEnd() {
  const s = $('#chat-scroll');
  s.scrollTop = s.scrollHeight;
}

// ---------- ratings ----------

function rate(el, rating) {
  const extra = $('.message-extra', el);
  const existing = $('.rate-form', extra);
  if (existing?.dataset.rating === rating) { existing.remove(); return; }
  existing?.remove();
  const reason = h('input', { type: 'text', maxLength: 500, placeholder: 'Optional: say why', 'aria-label': 'Why (optional)' });
  const send = async () => {
    try {
      const data = await client.request(Q.rate, { input: { messageId: el.message.id, rating, reason: reason.value.trim() || null } });
      el.rating = rating;
      form.remove();
      renderFoot(el);
      extra.append(h('p', { class: 'thanks', role: 'status', text: rating === 'UP' ? 'Thanks, noted.' : 'Thanks: the assistant will adjust.' }));
      knowledge.showStyle(data.rateMessage.styleProfile.dimensions);
      $(`.rate-${rating.toLowerCase()}`, el)?.focus();
    } catch (error) {
      report(error);
    }
  };
  const chips = REASONS[rating].map((text) => h('button', { type: 'button', class: 'chip', text, onclick: () => { reason.value = text.toLowerCase(); send(); } }));
  const form = h('form', { class: 'rate-form', 'data-rating': rating, onsubmit: (e) => { e.preventDefault(); send(); } },
    h('p', { class: 'rate-question', text: rating === 'UP' ? 'What was good?' : 'What was wrong?' }),
    h('div', { class: 'chips' }, chips),
    h('div', { class: 'rate-row' }, reason, h('button', { type: 'submit', class: 'primary small', text: 'Send' })));
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') { form.remove(); $(`.rate-${rating.toLowerCase()}`, el)?.focus(); } });
  $('.thanks', extra)?.remove();
  extra.append(form);
  chips[0].focus();
}

// ---------- sending and streaming ----------

async function send(text) {
  if (view.streaming) return;
  clearStatus();
  let conversation = view.current;
  if (!conversation) {
    try {
      conversation = await newConversation(text.length > 60 ? `${text.slice(0, 57).trimEnd()}…` : text);
    } catch (error) {
      report(error);
      return;
    }
    view.current = conversation;
    setTitle(conversation);
    markCurrent();
    history.replaceState(null, '', `#c=${encodeURIComponent(conversation.id)}`);
    $('#messages').replaceChildren();
  }
  $('.empty-hint')?.remove();
  const user = messageElement({ role: 'USER', content: text, status: 'COMPLETE' });
  const assistant = messageElement({ role: 'ASSISTANT', content: '', status: 'STREAMING' });
  $('#messages').append(user, assistant);
  scrollToEnd();
  stream(conversation, text, user, assistant);
}

function stream(conversation, text, user, assistant) {
  setStreaming(true);
  let finished = false;
  const finish = () => {
    finished = true;
    view.streaming = null;
    setStreaming(false);
  };
  const stop = client.subscribe(Q.chat, { input: { conversationId: conversation.id, message: text } }, {
    next: (data) => {
      const event = data?.chat;
      if (!event || view.current?.id !== conversation.id) return;
      switch (event.__typename) {
        case 'ChatStarted':
          user.message.id = event.userMessageId;
          user.dataset.id = event.userMessageId;
          assistant.message.id = event.assistantMessageId;
          assistant.dataset.id = event.assistantMessageId;
          view.messages.set(event.userMessageId, user);
          view.messages.set(event.assistantMessageId, assistant);
          break;
        case 'ChatDelta':
          assistant.message.content += event.text;
          scheduleRender(assistant);
          break;
        case 'ChatCompleted':
          Object.assign(assistant.message, event.message);
          renderContent(assistant);
          renderFoot(assistant);
          finish();
          announce('The answer is complete.');
          knowledge.afterTurn();
          break;
        case 'ChatFailed':
          if (event.partialMessage) Object.assign(assistant.message, event.partialMessage);
          else assistant.message.status = 'FAILED';
          renderContent(assistant);
          renderFoot(assistant);
          showFailure(assistant, event.message, event.retryable ? () => retry(conversation, text) : null);
          finish();
          break;
        default:
          break;
      }
    },
    error: (error) => {
      if (finished) return;
      finish();
      if (!assistant.message.id) {
        // Refused before it began (rate limit, bad input): nothing was stored.
        assistant.remove();
        user.classList.add('not-sent');
        const retryable = error.code === 'RATE_LIMITED' || error.code === 'NETWORK';
        showFailure(user, describeError(error), retryable ? () => { user.remove(); retry(conversation, text); } : null);
      } else {
        assistant.message.status = 'INTERRUPTED';
        renderContent(assistant);
        renderFoot(assistant);
        showFailure(assistant, describeError(error), null);
        confirmStored(conversation, assistant);
      }
    },
    complete: () => {
      if (!finished) finish();
    },
  });
  view.streaming = {
    assistant,
    stop: () => {
      if (finished) return;
      stop();
      finish();
      // Unsubscribing stops the answer; the server keeps what arrived as INTERRUPTED.
      assistant.message.status = 'INTERRUPTED';
      renderContent(assistant);
      renderFoot(assistant);
      announce('Stopped. The answer so far is kept.');
      confirmStored(conversation, assistant);
    },
  };
}

function retry(conversation, text) {
  if (view.current?.id !== conversation.id || view.streaming) return;
  const user = messageElement({ role: 'USER', content: text, status: 'COMPLETE' });
  const assistant = messageElement({ role: 'ASSISTANT', content: '', status: 'STREAMING' });
  $('#messages').append(user, assistant);
  scrollToEnd();
  stream(conversation, text, user, assistant);
}

function showFailure(el, text, onRetry) {
  const extra = $('.message-extra', el);
  extra.replaceChildren(h('p', { class: 'message-error', role: 'alert' },
    h('span', { text }),
    onRetry ? iconButton('retry', 'Retry', () => { extra.replaceChildren(); onRetry(); }, { text: 'Retry', className: 'link-btn retry' }) : null));
}

/** Shows the stored status of an answer once the server has written it. */
async function confirmStored(conversation, el) {
  const id = el.message.id;
  if (!id) return;
  for (let attempt = 0; attempt < 20; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (!client || view.current?.id !== conversation.id) return;
    try {
      const data = await client.request(Q.latest, { id: conversation.id });
      const stored = data.conversation.messages.nodes.find((m) => m.id === id);
      if (stored && stored.status !== 'STREAMING') {
        Object.assign(el.message, stored);
        renderContent(el);
        renderFoot(el);
        return;
      }
    } catch {
      return;
    }
  }
}

function setStreaming(on) {
  $('#send').hidden = on;
  $('#stop').hidden = !on;
  if (on) $('#stop').focus({ preventScroll: true });
  else if (document.activeElement === $('#stop') || document.activeElement === document.body) $('#message-input').focus({ preventScroll: true });
}

function setUpComposer() {
  const input = $('#message-input');
  const grow = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  };
  input.addEventListener('input', grow);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('#composer').requestSubmit();
    }
  });
  $('#composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || view.streaming) return;
    input.value = '';
    grow();
    send(text);
  });
  $('#stop').addEventListener('click', () => view.streaming?.stop());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && view.streaming && !document.querySelector('dialog[open]')) view.streaming.stop();
  });
}

// ---------- account ----------

async function exportData() {
  try {
    const data = await client.request(Q.export);
    const blob = new Blob([JSON.stringify(data.exportMyData, null, 2)], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `assistant-export-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    announce('Your data was exported.');
  } catch (error) {
    report(error);
  }
}

async function deleteAll() {
  const ok = await confirmDialog({
    title: 'Delete all your data?',
    body: 'Every conversation, memory, preference and everything learned about you will be deleted for good, and your API keys will stop working. Export your data first to keep a copy.',
    confirm: 'Delete everything',
    requireText: 'delete',
  });
  if (!ok) return;
  try {
    await client.request(Q.deleteAll);
    signOut('Everything stored about you was deleted.');
  } catch (error) {
    report(error);
  }
}

// ---------- layout ----------

function closeSidebar() {
  document.body.classList.remove('sidebar-open');
  $('#toggle-sidebar').setAttribute('aria-expanded', 'false');
}

function setUpLayout() {
  $('#toggle-sidebar').addEventListener('click', () => {
    const open = document.body.classList.toggle('sidebar-open');
    $('#toggle-sidebar').setAttribute('aria-expanded', String(open));
    if (open) $('#new-conversation').focus();
  });
  $('#scrim').addEventListener('click', () => { closeSidebar(); knowledge?.close(); });
  $('#new-conversation').addEventListener('click', async () => {
    try {
      const conversation = await newConversation(null);
      await openConversation(conversation);
      closeSidebar();
      $('#message-input').focus();
    } catch (error) {
      report(error);
    }
  });
  $('#more-conversations').addEventListener('click', loadConversations);
  $('#earlier').addEventListener('click', () => loadMessages(false));
  $('#open-knowledge').addEventListener('click', () => knowledge?.toggle());
  $('#export').addEventListener('click', () => { $('#account-menu').open = false; exportData(); });
  $('#delete-data').addEventListener('click', () => { $('#account-menu').open = false; deleteAll(); });
  $('#sign-out').addEventListener('click', () => { $('#account-menu').open = false; signOut(); });
  $('#theme').addEventListener('click', cycleTheme);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('#account-menu').open) { $('#account-menu').open = false; $('#account-menu summary').focus(); }
  });
  applyTheme(localStorage.getItem('assistant.theme') || 'auto');
}

const THEMES = ['auto', 'light', 'dark'];
function applyTheme(theme) {
  if (theme === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  $('#theme-name').textContent = { auto: 'Theme: system', light: 'Theme: light', dark: 'Theme: dark' }[theme];
}

function cycleTheme() {
  const now = localStorage.getItem('assistant.theme') || 'auto';
  const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
  localStorage.setItem('assistant.theme', next);
  applyTheme(next);
}

// ---------- start ----------

setUpSignIn();
setUpComposer();
setUpLayout();
const key = storedKey();
if (key) {
  // A refused key is forgotten; a server that cannot be reached just now keeps it for a retry.
  signIn(key, false).catch((error) => signOut(error.message, { forget: !(error instanceof GraphQLError && error.code === 'NETWORK') }));
} else {
  signOut();
}
