// The web chat: conversations kept in this browser's localStorage, replies streamed from
// POST /v1/chat/completions (SSE) and rendered as markdown, a stop button that aborts the
// request (the server then cancels the generation), sampling settings whose defaults come from
// the server (GET /v1/models/{id}: the same defaults `jisu run` and `jisu chat` use).
import { render_markdown } from './markdown.js';

const conversations_key = 'jisu.conversations.v1';
const settings_key = 'jisu.settings.v1';
const sampling_fields = ['temperature', 'top_p', 'top_k', 'min_p', 'repetition_penalty', 'max_tokens', 'seed'];
const element = (id) => document.getElementById(id);

const state = {
  model: null,                // the server's model object, with jisu's details
  defaults: { max_tokens: 512, seed: '' },
  conversations: load_json(conversations_key, []),
  active_id: null,
  request: null,              // AbortController of the reply streaming now
};

function load_json(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}
const save_conversations = () => localStorage.setItem(conversations_key, JSON.stringify(state.conversations));
const active_conversation = () => state.conversations.find((c) => c.id === state.active_id) ?? null;

function show_error(message) {
  const box = element('error');
  box.textContent = message;
  box.hidden = !message;
}

function api_headers() {
  const headers = { 'Content-Type': 'application/json' };
  const key = element('api-key').value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

// ---- model information and settings ------------------------------------------------------

function format_bytes(bytes) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  for (; value >= 1000 && unit < units.length - 1; unit++) value /= 1000;
  return `${value.toFixed(value < 10 && unit ? 1 : 0)} ${units[unit]}`;
}

async function load_model() {
  const list = await fetch('/v1/models', { headers: api_headers() });
  if (!list.ok) throw new Error(list.status === 401 ? 'the server needs an API key (Settings)' : `GET /v1/models: ${list.status}`);
  const id = (await list.json()).data[0].id;
  const detail = await fetch(`/v1/models/${encodeURIComponent(id)}`, { headers: api_headers() });
  state.model = detail.ok ? await detail.json() : { id };
  Object.assign(state.defaults, state.model.default_sampling ?? {});
  const m = state.model;
  const parts = [`<strong>${escape_text(m.id)}</strong>`];
  if (m.architecture) parts.push(escape_text(m.architecture), `${m.n_layer} layers`, `width ${m.n_embd}`,
    `vocabulary ${m.n_vocab}`, `context ${m.max_model_len}`, format_bytes(m.weight_bytes));
  element('model-info').innerHTML = parts.join(' · ');
  apply_settings(load_json(settings_key, {}));
}

const escape_text = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function apply_settings(saved) {
  for (const field of sampling_fields) element(field).value = saved[field] ?? state.defaults[field] ?? '';
  element('system-prompt').value = saved.system_prompt ?? '';
}

function save_settings() {
  const settings = { system_prompt: element('system-prompt').value, api_key: element('api-key').value };
  for (const field of sampling_fields) settings[field] = element(field).value;
  localStorage.setItem(settings_key, JSON.stringify(settings));
}

function sampling_request() {
  const body = {};
  for (const field of sampling_fields) {
    const text = element(field).value.trim();
    if (text !== '') body[field] = Number(text);
  }
  return body;
}

// ---- conversations ---------------------------------------------------------------------------

function render_conversation_list() {
  const nav = element('conversations');
  nav.replaceChildren();
  for (const conversation of [...state.conversations].sort((a, b) => b.updated - a.updated)) {
    const row = document.createElement('div');
    row.className = 'conversation' + (conversation.id === state.active_id ? ' active' : '');
    const title = document.createElement('button');
    title.className = 'title';
    title.type = 'button';
    title.textContent = conversation.title;
    title.title = conversation.title;
    title.addEventListener('click', () => open_conversation(conversation.id));
    const remove = document.createElement('button');
    remove.className = 'delete';
    remove.type = 'button';
    remove.textContent = '×';
    remove.setAttribute('aria-label', `Delete ${conversation.title}`);
    remove.addEventListener('click', () => delete_conversation(conversation.id));
    row.append(title, remove);
    nav.append(row);
  }
}

function message_view(message) {
  const view = document.createElement('div');
  view.className = `message ${message.role}`;
  const content = document.createElement('div');
  content.className = 'content';
  if (message.role === 'assistant') content.innerHTML = render_markdown(message.content);
  else content.textContent = message.content;
  view.append(content);
  if (message.stats) {
    const stats = document.createElement('div');
    stats.className = 'stats muted';
    stats.textContent = message.stats;
    view.append(stats);
  }
  return view;
}

function render_messages() {
  const conversation = active_conversation();
  const list = element('messages');
  list.replaceChildren();
  const messages = conversation ? conversation.messages : [];
  if (!messages.length) {
    const hint = document.createElement('p');
    hint.id = 'empty-hint';
    hint.className = 'muted';
    hint.textContent = 'Send a message to start. Replies stream from the model on this server.';
    list.append(hint);
  }
  for (const message of messages) list.append(message_view(message));
  list.scrollTop = list.scrollHeight;
}

function open_conversation(id) {
  state.request?.abort();
  state.active_id = id;
  render_conversation_list();
  render_messages();
}

function delete_conversation(id) {
  if (id === state.active_id) state.request?.abort();
  state.conversations = state.conversations.filter((c) => c.id !== id);
  save_conversations();
  if (id === state.active_id) state.active_id = null;
  render_conversation_list();
  render_messages();
}

function new_conversation(first_message) {
  const conversation = {
    id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    title: first_message.replace(/\s+/g, ' ').slice(0, 48) || 'New chat',
    messages: [],
    updated: Date.now(),
  };
  state.conversations.push(conversation);
  state.active_id = conversation.id;
  return conversation;
}

// ---- streaming a reply -----------------------------------------------------------------------

// Calls on_event with each parsed `data:` payload of an SSE body until [DONE].
async function read_events(response, on_event) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let boundary;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;  // ": keep-alive" comments
        const data = line.slice(6);
        if (data === '[DONE]') return;
        on_event(JSON.parse(data));
      }
    }
  }
}

function reply_stats(usage, seconds, finish_reason, stopped) {
  const parts = [];
  if (usage) {
    parts.push(`${usage.completion_tokens} tokens`);
    if (seconds > 0) parts.push(`${(usage.completion_tokens / seconds).toFixed(1)} tokens/s`);
    const cached = usage.prompt_tokens_details?.cached_tokens;
    parts.push(`prompt ${usage.prompt_tokens} tokens` + (cached ? ` (${cached} cached)` : ''));
  }
  if (stopped) parts.push('stopped');
  else if (finish_reason) parts.push(`finished: ${finish_reason}`);
  return parts.join(' · ');
}

function set_busy(busy) {
  element('send').hidden = busy;
  element('stop').hidden = !busy;
}

async function send_message(text) {
  show_error('');
  const conversation = active_conversation() ?? new_conversation(text);
  conversation.messages.push({ role: 'user', content: text });
  const history = conversation.messages.map(({ role, content }) => ({ role, content }));
  const system_prompt = element('system-prompt').value.trim();
  if (system_prompt) history.unshift({ role: 'system', content: system_prompt });
  const reply = { role: 'assistant', content: '' };
  conversation.messages.push(reply);
  conversation.updated = Date.now();
  save_conversations();
  render_conversation_list();
  render_messages();

  const view = element('messages').lastElementChild;
  const content = view.querySelector('.content');
  view.classList.add('streaming');
  const controller = new AbortController();
  state.request = controller;
  set_busy(true);

  let usage = null;
  let finish_reason = null;
  let stopped = false;
  let first_token_time = null;
  let frame = 0;
  const redraw = () => {
    frame = 0;
    content.innerHTML = render_markdown(reply.content);
    const list = element('messages');
    list.scrollTop = list.scrollHeight;
  };
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: api_headers(),
      signal: controller.signal,
      body: JSON.stringify({ model: state.model?.id, messages: history, stream: true,
                             stream_options: { include_usage: true }, ...sampling_request() }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error?.message ?? `the server answered ${response.status}`);
    }
    await read_events(response, (chunk) => {
      const choice = chunk.choices?.[0];
      const piece = choice?.delta?.content;
      if (piece) {
        first_token_time ??= performance.now();
        reply.content += piece;
        frame ||= requestAnimationFrame(redraw);
      }
      if (choice?.finish_reason) finish_reason = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    });
  } catch (error) {
    if (error.name === 'AbortError') stopped = true;
    else show_error(error.message);
  } finally {
    if (frame) cancelAnimationFrame(frame);
    redraw();
    const seconds = first_token_time ? (performance.now() - first_token_time) / 1000 : 0;
    reply.stats = reply_stats(usage, seconds, finish_reason, stopped);
    view.classList.remove('streaming');
    const stats = document.createElement('div');
    stats.className = 'stats muted';
    stats.textContent = reply.stats;
    view.append(stats);
    conversation.updated = Date.now();
    save_conversations();
    if (state.request === controller) state.request = null;
    set_busy(false);
  }
}

// ---- wiring ------------------------------------------------------------------------------------

function submit_prompt() {
  const box = element('prompt');
  const text = box.value.trim();
  if (!text || state.request) return;
  box.value = '';
  send_message(text);
}

function wire() {
  element('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    submit_prompt();
  });
  element('prompt').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit_prompt();
    }
  });
  element('stop').addEventListener('click', () => state.request?.abort());
  element('new-chat').addEventListener('click', () => open_conversation(null));
  element('settings-toggle').addEventListener('click', (event) => {
    const panel = element('settings');
    panel.hidden = !panel.hidden;
    event.currentTarget.setAttribute('aria-expanded', String(!panel.hidden));
  });
  element('settings').addEventListener('change', save_settings);
  // A key entered after a 401 takes effect at once: the model's details load again.
  element('api-key').addEventListener('change', () => {
    load_model().then(() => show_error(''), (error) => show_error(error.message));
  });
  element('settings-reset').addEventListener('click', () => {
    apply_settings({ api_key: element('api-key').value });
    save_settings();
  });
  // Copy buttons of code blocks (rendered markdown), one listener for all.
  element('messages').addEventListener('click', (event) => {
    const button = event.target.closest('pre .copy');
    if (!button) return;
    navigator.clipboard?.writeText(button.parentElement.querySelector('code').textContent);
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy'; }, 1200);
  });
}

async function start() {
  wire();
  element('api-key').value = load_json(settings_key, {}).api_key ?? '';
  state.active_id = [...state.conversations].sort((a, b) => b.updated - a.updated)[0]?.id ?? null;
  render_conversation_list();
  render_messages();
  try {
    await load_model();
  } catch (error) {
    element('model-info').textContent = 'model unknown';
    apply_settings(load_json(settings_key, {}));
    show_error(error.message);
  }
}

start();
