// Building the page without innerHTML: every text from the server, the model or the user goes
// into the DOM as a text node, so none of it can become markup.

/**
 * Makes an element. `props`: `class`, `text`, `on{Event}` handlers, `aria-*`/`data-*`/other
 * attributes (set with setAttribute), and DOM properties for the rest (`hidden`, `disabled`,
 * `value`, `type`, ...). Children: nodes, strings (as text), or null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key.includes('-') || key === 'role' || key === 'for') el.setAttribute(key, value === true ? '' : value);
    else el[key] = value;
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

const SVG = 'http://www.w3.org/2000/svg';
// Stroke icons drawn on a 24-unit grid (paths are ours, not from an icon set).
const ICONS = {
  send: ['M4 12l16-8-6 16-3-7z', 'M11 13l9-9'],
  stop: ['M7 7h10v10H7z'],
  up: ['M7 11v9H4v-9z', 'M7 11l4-7c1.5 0 2.5 1 2.2 2.6L12.6 10H18a2 2 0 0 1 2 2.3l-1.2 6A2 2 0 0 1 16.8 20H7'],
  down: ['M7 13V4H4v9z', 'M7 13l4 7c1.5 0 2.5-1 2.2-2.6L12.6 14H18a2 2 0 0 0 2-2.3l-1.2-6A2 2 0 0 0 16.8 4H7'],
  edit: ['M4 20h4L19 9l-4-4L4 16z', 'M13 7l4 4'],
  trash: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13'],
  menu: ['M4 6h16', 'M4 12h16', 'M4 18h16'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  plus: ['M12 5v14', 'M5 12h14'],
  why: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.7.3-1 .9-1 1.7', 'M12 17h.01'],
  brain: ['M9 4a3 3 0 0 0-3 3 3 3 0 0 0-2 5 3 3 0 0 0 2 5 3 3 0 0 0 6 1V5a2 2 0 0 0-3-1z',
    'M15 4a3 3 0 0 1 3 3 3 3 0 0 1 2 5 3 3 0 0 1-2 5 3 3 0 0 1-6 1'],
  retry: ['M4 12a8 8 0 1 0 2.3-5.6', 'M4 4v4h4'],
  history: ['M12 7v5l3 2', 'M3.5 12a8.5 8.5 0 1 0 2.5-6', 'M3 4v4h4'],
  sun: ['M12 16a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M12 2v2', 'M12 20v2', 'M4.9 4.9l1.4 1.4', 'M17.7 17.7l1.4 1.4',
    'M2 12h2', 'M20 12h2', 'M4.9 19.1l1.4-1.4', 'M17.7 6.3l1.4-1.4'],
  moon: ['M20 14.5A8 8 0 0 1 9.5 4 8 8 0 1 0 20 14.5z'],
  check: ['M5 12l5 5 9-10'],
};

export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** A button with an icon; `label` is its accessible name (and tooltip) when it shows no text. */
export function iconButton(name, label, onclick, { text, className = 'icon-btn', ...rest } = {}) {
  return h('button', { type: 'button', class: className, 'aria-label': text ? null : label, title: label, onclick, ...rest },
    icon(name), text ? h('span', { text }) : null);
}

/** Says something to screen readers (and shows it briefly). */
export function announce(text) {
  const region = $('#announcer');
  if (!region) return;
  region.textContent = '';
  requestAnimationFrame(() => { region.textContent = text; });
}

/** Asks for confirmation in a modal dialog; resolves to true when confirmed. */
export function confirmDialog({ title, body, confirm, danger = true, requireText }) {
  return new Promise((resolve) => {
    const input = requireText
      ? h('input', { type: 'text', id: 'confirm-input', autocomplete: 'off', spellcheck: false, 'aria-describedby': 'confirm-body' })
      : null;
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', disabled: !!requireText, text: confirm });
    const cancel = h('button', { type: 'button', text: 'Cancel', onclick: () => dialog.close('cancel') });
    input?.addEventListener('input', () => { ok.disabled = input.value.trim() !== requireText; });
    const dialog = h('dialog', { class: 'dialog confirm', 'aria-labelledby': 'confirm-title' },
      h('form', { method: 'dialog', onsubmit: (e) => { e.preventDefault(); dialog.close('ok'); } },
        h('h2', { id: 'confirm-title', text: title }),
        h('p', { id: 'confirm-body', text: body }),
        input ? h('label', { for: 'confirm-input', text: `Type “${requireText}” to confirm` }) : null,
        input,
        h('div', { class: 'dialog-actions' }, cancel, ok)));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok');
    });
    document.body.append(dialog);
    dialog.showModal();
    (input || cancel).focus();
  });
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
export function ago(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, 'second'], [60, 'minute'], [24, 'hour'], [7, 'day'], [4.35, 'week'], [12, 'month'], [Infinity, 'year']];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return unit === 'second' && Math.abs(value) < 45 ? 'just now' : relative.format(Math.round(value), unit);
    value /= size;
  }
  return '';
}

export const percent = (x) => `${Math.round(x * 100)}%`;
