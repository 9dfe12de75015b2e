// "What I know about you" (memories, preferences, style, interests; live through memoryEvents)
// and "Why this answer" (what a turn recorded it used, and a preview of the next prompt).

import { $, ago, announce, append, confirmDialog, h, iconButton, percent } from './dom.js';

export const STYLE_FIELDS = 'name value confidence evidenceCount description instruction';
const MEMORY = 'id content category importance source createdAt updatedAt validTo';

const Q = {
  memories: `query($after: String) { memories(first: 20, after: $after) {
    edges { node { ${MEMORY} } } pageInfo { hasNextPage endCursor } } }`,
  search: `query($query: String!) { searchMemories(query: $query, limit: 20) { score memory { ${MEMORY} } } }`,
  history: `query($id: ID!) { memory(id: $id) { id history { content change validFrom validTo } } }`,
  update: `mutation($id: ID!, $content: String!) { updateMemory(id: $id, input: {content: $content}) { ${MEMORY} } }`,
  forget: 'mutation($id: ID!) { forgetMemory(id: $id) }',
  events: `subscription { memoryEvents { kind memory { ${MEMORY} } } }`,
  preferences: `query { preferences { key value source confidence evidenceCount updatedAt }
    preferenceHistory { key value source change validTo } }`,
  setPreference: 'mutation($key: String!, $value: String!) { setPreference(input: {key: $key, value: $value}) { key } }',
  confirmPreference: 'mutation($key: String!) { confirmPreference(key: $key) { key } }',
  rejectPreference: 'mutation($key: String!) { rejectPreference(key: $key) }',
  deletePreference: 'mutation($key: String!) { deletePreference(key: $key) }',
  style: `query { styleProfile { dimensions { ${STYLE_FIELDS} } } }`,
  patterns: 'query { learnedPatterns { kind key value confidence evidenceCount } }',
  export: 'query { exportMyData }',
  preview: `query($id: ID!, $message: String!) { contextPreview(conversationId: $id, message: $message) {
    systemPrompt estimatedSystemTokens systemTokenBudget
    memories { score memory { id content } } coreMemories { id content } } }`,
};

const CATEGORY = { FACT: 'Fact', PREFERENCE: 'Preference', GOAL: 'Goal', RELATIONSHIP: 'Person', EVENT: 'Event', OTHER: 'Note' };
const SOURCE = { EXPLICIT: 'you asked me to remember it', EXTRACTED: 'from a conversation', RULE: 'from something you said' };
const PREFERENCE_SOURCE = { EXPLICIT: 'You set this', INFERRED: 'Inferred', FEEDBACK: 'From your ratings' };

// What each end of a style dimension means, in words a person would use.
const STYLE_WORDS = {
  verbosity: ['answer length', 'short, to-the-point answers', 'thorough, detailed answers'],
  formality: ['tone', 'a casual, friendly tone', 'a formal, professional tone'],
  technical_depth: ['technical depth', 'plain language without jargon', 'technical depth and precise terms'],
  examples: ['examples', 'answers without examples unless you ask', 'concrete examples (and code)'],
  structure: ['layout', 'flowing prose', 'headings and bullet points'],
};

const TABS = [['memories', 'Memories'], ['preferences', 'Preferences'], ['style', 'Style'], ['interests', 'Interests']];

const humanKey = (key) => key.replace(/[_.-]+/g, ' ').replace(/^./, (c) => c.toUpperCase());
/** Replaces an element's children, skipping the absent (null) ones. */
const fill = (el, ...children) => {
  el.replaceChildren();
  return append(el, children);
};
const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const certainty = (c) => (c >= 0.75 ? 'sure' : c >= 0.45 ? 'fairly sure' : 'not sure yet');

/** Says a style dimension as a sentence ("You prefer short, to-the-point answers."). */
export function styleSentence(d) {
  const [topic, low, high] = STYLE_WORDS[d.name] || [humanKey(d.name), 'the low end', 'the high end'];
  if (!d.evidenceCount) return `Nothing learned about ${topic} yet.`;
  if (!d.instruction) return `No clear preference about ${topic} yet.`;
  return `You prefer ${d.value < 0.5 ? low : high}.`;
}

export class Knowledge {
  constructor(client, root, { onOpenChange }) {
    this.client = client;
    this.root = root;
    this.onOpenChange = onOpenChange;
    this.tab = 'memories';
    this.query = '';
    this.after = null;
    this.items = new Map();
    this.stopEvents = null;
    this.build();
  }

  build() {
    this.tabs = TABS.map(([id, label]) => h('button', {
      type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`, text: label,
      onclick: () => this.select(id), onkeydown: (e) => this.tabKey(e, id),
    }));
    this.panels = Object.fromEntries(TABS.map(([id]) => [id, h('section', {
      role: 'tabpanel', id: `panel-${id}`, 'aria-labelledby': `tab-${id}`, class: 'panel', hidden: true,
    })]));
    this.search = h('input', { type: 'search', id: 'memory-search', placeholder: 'Search memories', autocomplete: 'off' });
    let timer = null;
    this.search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => { this.query = this.search.value.trim(); this.loadMemories(); }, 250);
    });
    this.memoryList = h('ul', { class: 'memory-list', 'aria-label': 'Memories' });
    this.more = h('button', { type: 'button', class: 'link-btn', text: 'Load more', hidden: true, onclick: () => this.loadMemories(true) });
    this.panels.memories.append(
      h('label', { for: 'memory-search', class: 'visually-hidden', text: 'Search memories' }),
      this.search,
      h('p', { class: 'panel-note', text: 'What the assistant remembers about you. New memories appear here as you chat.' }),
      this.memoryList, this.more);
    this.root.replaceChildren(
      h('div', { class: 'knowledge-head' },
        h('h2', { id: 'knowledge-title', text: 'What I know about you' }),
        iconButton('close', 'Close', () => this.close())),
      h('div', { role: 'tablist', 'aria-label': 'Kinds of knowledge', class: 'tabs' }, this.tabs),
      ...Object.values(this.panels));
    this.root.setAttribute('aria-labelledby', 'knowledge-title');
    this.root.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !document.querySelector('dialog[open]')) this.close(); });
    this.select('memories', false);
  }

  start() {
    this.loadMemories();
    this.stopEvents = this.client.subscribe(Q.events, {}, {
      next: (data) => this.onEvent(data.memoryEvents),
      error: () => {},
      resumed: () => this.loadMemories(),
    }, { resume: true });
  }

  destroy() {
    this.stopEvents?.();
    this.close();
    this.root.replaceChildren();
  }

  get isOpen() {
    return !this.root.hidden;
  }

  open() {
    this.root.hidden = false;
    document.body.classList.add('knowledge-open');
    this.onOpenChange(true);
    this.load(this.tab);
    this.tabs.find((t) => t.getAttribute('aria-selected') === 'true')?.focus();
  }

  close() {
    if (this.root.hidden) return;
    this.root.hidden = true;
    document.body.classList.remove('knowledge-open');
    this.onOpenChange(false);
    $('#open-knowledge')?.focus();
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  select(id, load = true) {
    this.tab = id;
    for (const tab of this.tabs) {
      const selected = tab.id === `tab-${id}`;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    for (const [name, panel] of Object.entries(this.panels)) panel.hidden = name !== id;
    if (load) this.load(id);
  }

  tabKey(event, id) {
    const at = TABS.findIndex(([t]) => t === id);
    const step = { ArrowRight: 1, ArrowLeft: -1, Home: -at, End: TABS.length - 1 - at }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    const next = TABS[(at + step + TABS.length) % TABS.length][0];
    this.select(next);
    $(`#tab-${next}`).focus();
  }

  load(id) {
    if (id === 'memories') return this.loadMemories();
    if (id === 'preferences') return this.loadPreferences();
    if (id === 'style') return this.loadStyle();
    return this.loadInterests();
  }

  /** After an answer, learning runs in the background: look again once it has had time. */
  afterTurn() {
    if (!this.isOpen || this.tab === 'memories') return;
    for (const delay of [1500, 5000]) setTimeout(() => this.isOpen && this.load(this.tab), delay);
  }

  fail(panel, error) {
    panel.querySelector('.panel-error')?.remove();
    panel.prepend(h('p', { class: 'panel-error', role: 'alert', text: error.message }));
  }

  // ---------- memories ----------

  async loadMemories(more = false) {
    const panel = this.panels.memories;
    try {
      if (this.query) {
        const data = await this.client.request(Q.search, { query: this.query });
        this.items.clear();
        this.memoryList.replaceChildren(...data.searchMemories.map((r) => this.memoryItem(r.memory, r.score)));
        this.more.hidden = true;
        if (!data.searchMemories.length) this.memoryList.append(h('li', { class: 'muted', text: 'Nothing related to that.' }));
      } else {
        const data = await this.client.request(Q.memories, { after: more ? this.after : null });
        if (!more) { this.items.clear(); this.memoryList.replaceChildren(); }
        this.memoryList.append(...data.memories.edges.map((e) => this.memoryItem(e.node)));
        this.after = data.memories.pageInfo.endCursor;
        this.more.hidden = !data.memories.pageInfo.hasNextPage;
        this.emptyNote();
      }
      panel.querySelector('.panel-error')?.remove();
    } catch (error) {
      this.fail(panel, error);
    }
  }

  emptyNote() {
    this.memoryList.querySelector('.muted')?.remove();
    if (!this.items.size) this.memoryList.append(h('li', { class: 'muted', text: 'Nothing yet. Tell the assistant about yourself, e.g. “I am vegetarian”.' }));
  }

  memoryItem(memory, score) {
    const meta = [CATEGORY[memory.category] || memory.category, SOURCE[memory.source], `importance ${percent(memory.importance)}`,
      ago(memory.updatedAt)];
    if (score !== undefined) meta.push(`match ${score.toFixed(2)}`);
    const text = h('p', { class: 'memory-content', text: memory.content });
    const history = h('div', { class: 'memory-history', hidden: true });
    const li = h('li', { class: 'memory', 'data-id': memory.id },
      text,
      h('p', { class: 'meta', text: meta.filter(Boolean).join(' · ') }),
      h('div', { class: 'row-actions' },
        iconButton('edit', `Edit “${memory.content}”`, () => this.edit(li, memory), { text: 'Edit', className: 'link-btn' }),
        iconButton('history', `History of “${memory.content}”`, () => this.history(li, memory, history), { text: 'History', className: 'link-btn', 'aria-expanded': 'false' }),
        iconButton('trash', `Forget “${memory.content}”`, () => this.forget(memory), { text: 'Forget', className: 'link-btn danger-text forget' })),
      history);
    li.memory = memory;
    this.items.set(memory.id, li);
    return li;
  }

  edit(li, memory) {
    const area = h('textarea', { value: memory.content, rows: 3, maxLength: 2000, 'aria-label': 'Memory text' });
    const cancel = () => li.replaceWith(this.memoryItem(memory));
    const save = async () => {
      const content = area.value.trim();
      if (!content || content === memory.content) return cancel();
      try {
        const data = await this.client.request(Q.update, { id: memory.id, content });
        const shown = this.items.get(memory.id); // a memoryEvent may have redrawn it meanwhile
        const fresh = this.memoryItem(data.updateMemory);
        (shown?.isConnected ? shown : li).replaceWith(fresh);
        fresh.querySelector('button')?.focus();
        announce('Memory updated. The former version is kept in its history.');
      } catch (error) {
        this.fail(this.panels.memories, error);
      }
    };
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); cancel(); }
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) save();
    });
    li.replaceChildren(area, h('div', { class: 'row-actions' },
      h('button', { type: 'button', class: 'primary small', text: 'Save', onclick: save }),
      h('button', { type: 'button', class: 'small', text: 'Cancel', onclick: cancel })));
    area.focus();
  }

  async history(li, memory, box) {
    const button = li.querySelector('[aria-expanded]');
    if (!box.hidden) {
      box.hidden = true;
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    try {
      const data = await this.client.request(Q.history, { id: memory.id });
      const versions = data.memory?.history || [];
      box.replaceChildren(versions.length
        ? h('ol', {}, versions.map((v) => h('li', {},
          h('span', { text: `“${v.content}”` }),
          h('span', { class: 'meta', text: ` ${v.change === 'RETIRED' ? 'retired' : 'changed'} ${ago(v.validTo)}` }))))
        : h('p', { class: 'meta', text: 'No earlier versions.' }));
      box.hidden = false;
      button.setAttribute('aria-expanded', 'true');
    } catch (error) {
      this.fail(this.panels.memories, error);
    }
  }

  async forget(memory) {
    const ok = await confirmDialog({
      title: 'Forget this?',
      body: `“${memory.content}” will be forgotten for good, with its history.`,
      confirm: 'Forget',
    });
    if (!ok) return;
    try {
      await this.client.request(Q.forget, { id: memory.id });
      this.remove(memory.id);
      announce('Forgotten.');
    } catch (error) {
      this.fail(this.panels.memories, error);
    }
  }

  remove(id) {
    this.items.get(id)?.remove();
    this.items.delete(id);
    this.emptyNote();
  }

  onEvent(event) {
    if (!event) return;
    const { kind, memory } = event;
    if (kind === 'REMOVED') {
      this.remove(memory.id);
      return;
    }
    const existing = this.items.get(memory.id);
    if (existing) {
      const fresh = this.memoryItem(memory);
      existing.replaceWith(fresh);
      fresh.classList.add('is-new');
    } else if (!this.query) {
      const fresh = this.memoryItem(memory);
      fresh.classList.add('is-new');
      this.memoryList.prepend(fresh);
      this.emptyNote();
    }
    if (kind === 'ADDED') announce(`Remembered: ${memory.content}`);
  }

  // ---------- preferences ----------

  async loadPreferences() {
    const panel = this.panels.preferences;
    let data;
    try {
      data = await this.client.request(Q.preferences);
    } catch (error) {
      this.fail(panel, error);
      return;
    }
    const act = (query, key, message) => async () => {
      try {
        await this.client.request(query, { key });
        announce(message);
        this.loadPreferences();
      } catch (error) {
        this.fail(panel, error);
      }
    };
    const items = data.preferences.map((p) => h('li', { class: 'preference', 'data-key': p.key },
      h('p', {}, h('strong', { text: humanKey(p.key) }), h('span', { text: `: ${p.value}` })),
      h('p', { class: 'meta', text: p.source === 'EXPLICIT'
        ? PREFERENCE_SOURCE.EXPLICIT
        : `${PREFERENCE_SOURCE[p.source]}, ${certainty(p.confidence)} (${percent(p.confidence)}, ${p.evidenceCount} ${p.evidenceCount === 1 ? 'sign' : 'signs'})` }),
      h('div', { class: 'row-actions' },
        p.source !== 'EXPLICIT' ? h('button', { type: 'button', class: 'link-btn', text: 'Confirm', 'aria-label': `Confirm ${humanKey(p.key)}: ${p.value}`, onclick: act(Q.confirmPreference, p.key, 'Confirmed.') }) : null,
        p.source !== 'EXPLICIT' ? h('button', { type: 'button', class: 'link-btn danger-text', text: 'Reject', 'aria-label': `Reject ${humanKey(p.key)}: ${p.value}`, onclick: act(Q.rejectPreference, p.key, 'Rejected: it will not be inferred again.') }) : null,
        p.source === 'EXPLICIT' ? h('button', { type: 'button', class: 'link-btn danger-text', text: 'Remove', 'aria-label': `Remove ${humanKey(p.key)}`, onclick: act(Q.deletePreference, p.key, 'Removed.') }) : null)));
    const key = h('input', { type: 'text', id: 'pref-key', required: true, pattern: '[A-Za-z0-9_.\\-]+', placeholder: 'response_length', maxLength: 100 });
    const value = h('input', { type: 'text', id: 'pref-value', required: true, placeholder: 'short', maxLength: 1000 });
    const form = h('form', { class: 'set-preference', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await this.client.request(Q.setPreference, { key: key.value.trim(), value: value.value.trim() });
        announce('Preference saved.');
        this.loadPreferences();
      } catch (error) {
        this.fail(panel, error);
      }
    } },
    h('h3', { text: 'Set a preference' }),
    h('div', { class: 'field-row' },
      h('label', { for: 'pref-key' }, 'Name', key),
      h('label', { for: 'pref-value' }, 'Value', value)),
    h('button', { type: 'submit', class: 'primary small', text: 'Save' }));
    const former = data.preferenceHistory.length
      ? h('details', { class: 'former' }, h('summary', { text: `Former values (${data.preferenceHistory.length})` }),
        h('ul', {}, data.preferenceHistory.map((v) => h('li', { text: `${humanKey(v.key)}: ${v.value} (${v.change.toLowerCase()} ${ago(v.validTo)})` }))))
      : null;
    fill(panel,
      h('p', { class: 'panel-note', text: 'How you like to be helped. What you set always wins over what was inferred.' }),
      items.length ? h('ul', { class: 'preference-list' }, items) : h('p', { class: 'muted', text: 'No preferences yet.' }),
      form, former);
  }

  // ---------- style ----------

  async loadStyle() {
    try {
      const data = await this.client.request(Q.style);
      this.showStyle(data.styleProfile.dimensions);
    } catch (error) {
      this.fail(this.panels.style, error);
    }
  }

  showStyle(dimensions) {
    const items = dimensions.map((d) => {
      const [low, high] = d.description.split(',').map((s) => s.replace(/^\s*[01]\s*=\s*/, '').trim());
      return h('li', { class: 'style-dimension', 'data-name': d.name },
        h('p', { class: 'style-sentence', text: styleSentence(d) }),
        h('div', { class: 'scale', 'aria-hidden': 'true' },
          h('span', { text: low || '' }),
          h('meter', { min: 0, max: 1, value: d.value, class: d.instruction ? 'is-set' : '' }),
          h('span', { text: high || '' })),
        h('p', { class: 'meta', text: d.evidenceCount
          ? `${certainty(d.confidence)} (${percent(d.confidence)}), from ${d.evidenceCount} ${d.evidenceCount === 1 ? 'signal' : 'signals'}`
          : 'no signals yet' }),
        d.instruction ? h('p', { class: 'instruction' }, h('span', { class: 'meta', text: 'The assistant is told: ' }), `“${d.instruction}”`) : null);
    });
    this.panels.style.replaceChildren(
      h('p', { class: 'panel-note', text: 'How you like answers, learned from what you say and how you rate answers (thumbs up or down).' }),
      h('ul', { class: 'style-list' }, items));
  }

  // ---------- interests ----------

  async loadInterests() {
    const panel = this.panels.interests;
    try {
      const data = await this.client.request(Q.patterns);
      const interests = data.learnedPatterns.filter((p) => p.kind === 'INTEREST');
      const others = data.learnedPatterns.filter((p) => p.kind !== 'INTEREST');
      const label = { ACTIVITY: 'When you are active', HABIT: 'Habit', RECURRING_REQUEST: 'You often ask' };
      fill(panel,
        h('p', { class: 'panel-note', text: 'Topics you come back to, and habits the assistant noticed.' }),
        interests.length
          ? h('ul', { class: 'chips interest-list' }, interests.map((p) => h('li', { class: 'chip', title: `${p.evidenceCount} mentions`, text: `${p.key} · ${percent(p.confidence)}` })))
          : h('p', { class: 'muted', text: 'No interests noticed yet.' }),
        others.length ? h('h3', { text: 'Also noticed' }) : null,
        others.length ? h('ul', { class: 'pattern-list' }, others.map((p) => h('li', {},
          // Habits say what they measure in their key; activity and requests in their value.
          h('strong', { text: `${label[p.kind] || p.kind}: ` }), p.kind === 'HABIT' ? `${humanKey(p.key)}: ${p.value}` : p.value,
          h('span', { class: 'meta', text: ` (${percent(p.confidence)})` })))) : null);
    } catch (error) {
      this.fail(panel, error);
    }
  }

  // ---------- why this answer ----------

  async why(messageId, conversationId) {
    const body = h('div', { class: 'why-body' }, h('p', { class: 'muted', text: 'Looking at what this answer was given…' }));
    const dialog = h('dialog', { class: 'dialog why-dialog', 'aria-labelledby': 'why-title' },
      h('div', { class: 'dialog-head' },
        h('h2', { id: 'why-title', text: 'Why this answer' }),
        iconButton('close', 'Close', () => dialog.close())),
      body);
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    try {
      body.replaceChildren(...await this.explain(messageId), this.previewForm(conversationId));
    } catch (error) {
      body.replaceChildren(h('p', { class: 'panel-error', role: 'alert', text: error.message }));
    }
  }

  async explain(messageId) {
    // The API records what each answer used but exposes it only in the data export.
    const data = await this.client.request(Q.export);
    const message = (data.exportMyData.conversations || []).flatMap((c) => c.messages || []).find((m) => m.id === messageId);
    const used = message?.contextUsed;
    if (!used) return [h('p', { class: 'muted', text: 'Nothing was recorded for this answer: it ended before the assistant was given its context.' })];
    const scored = used.memories || [];
    const core = (used.core_memories || []).filter((id) => !scored.some((m) => m.id === id));
    const ids = [...scored.map((m) => m.id), ...core];
    const contents = await this.memoryTexts(ids);
    const memoryItems = [
      ...core.map((id) => h('li', {}, contents.get(id) || h('em', { text: 'a memory since forgotten' }), h('span', { class: 'meta', text: ' · always included' }))),
      ...scored.map((m) => h('li', {}, contents.get(m.id) || h('em', { text: 'a memory since forgotten' }),
        h('span', { class: 'meta', text: ` · relevance ${Number(m.score).toFixed(2)}` }))),
    ];
    const section = (title, items, empty) => [h('h3', { text: title }), items.length ? h('ul', { class: 'why-list' }, items) : h('p', { class: 'muted', text: empty })];
    return [
      ...section('Memories it used', memoryItems, 'No memories.'),
      ...section('Preferences', (used.preferences || []).map((p) => h('li', { text: `${humanKey(p.key)}: ${p.value} (${percent(p.confidence)})` })), 'No preferences.'),
      ...section('Style instructions', (used.style || []).map((s) => h('li', { text: s.instruction })), 'None: no style learned with enough confidence.'),
      ...section('Interests', (used.interests || []).map((i) => h('li', { text: `${i.topic} (${percent(i.confidence)})` })), 'None.'),
      h('p', { class: 'meta', text: `About ${used.estimated_system_tokens ?? '?'} tokens of context.` }),
    ];
  }

  async memoryTexts(ids) {
    const texts = new Map();
    if (!ids.length) return texts;
    const variables = Object.fromEntries(ids.map((id, n) => [`m${n}`, id]));
    const query = `query(${ids.map((_, n) => `$m${n}: ID!`).join(', ')}) { ${ids.map((_, n) => `m${n}: memory(id: $m${n}) { id content validTo }`).join(' ')} }`;
    const result = await this.client.execute(query, variables); // forgotten ones come back as errors
    for (const memory of Object.values(result.data || {})) {
      if (memory) texts.set(memory.id, memory.validTo ? `${memory.content} (no longer holds)` : memory.content);
    }
    return texts;
  }

  previewForm(conversationId) {
    if (!conversationId) return h('div');
    const draft = $('#message-input')?.value.trim();
    const input = h('input', { type: 'text', id: 'preview-message', value: draft || 'What should I cook tonight?', maxLength: 2000 });
    const out = h('div', { class: 'preview-out', 'aria-live': 'polite' });
    const run = async () => {
      out.replaceChildren(h('p', { class: 'muted', text: 'Assembling…' }));
      try {
        const data = await this.client.request(Q.preview, { id: conversationId, message: input.value.trim() || '…' });
        const p = data.contextPreview;
        out.replaceChildren(
          h('p', { class: 'meta', text: `${p.estimatedSystemTokens} of ${p.systemTokenBudget} tokens · ${count(p.memories.length + p.coreMemories.length, 'memory', 'memories')}` }),
          h('pre', { class: 'prompt', tabIndex: 0, 'aria-label': 'System prompt', text: p.systemPrompt }));
      } catch (error) {
        out.replaceChildren(h('p', { class: 'panel-error', role: 'alert', text: error.message }));
      }
    };
    const form = h('form', { class: 'preview', onsubmit: (e) => { e.preventDefault(); run(); } },
      h('h3', { text: 'The next prompt' }),
      h('label', { for: 'preview-message', text: 'If you said next:' }),
      h('div', { class: 'rate-row' }, input, h('button', { type: 'submit', class: 'small', text: 'Preview' })),
      out);
    run();
    return form;
  }
}
