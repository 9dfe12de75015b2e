// GraphQL for the chat page: queries and mutations over HTTP POST, subscriptions over one
// WebSocket speaking graphql-transport-ws. Hand-written because the protocol is small and the
// page has no build step and no dependencies.

const ENDPOINT = '/graphql';
const KEEP_ALIVE_MS = 15_000; // proxies close idle sockets; a ping keeps ours busy
const RECONNECT_MAX_MS = 15_000;

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors[0]?.message || 'The request failed.');
    this.errors = errors;
    this.code = errors[0]?.extensions?.code || 'INTERNAL';
    this.retryAfter = errors[0]?.extensions?.retryAfter;
  }
}

const networkError = (message) => new GraphQLError([{ message, extensions: { code: 'NETWORK' } }]);

export class Client {
  constructor(apiKey) {
    this.apiKey = apiKey;
    this.socket = null;
    this.onUnauthenticated = () => {};
  }

  /** Runs a query or mutation; returns `data` and `errors` as they came (partial results). */
  async execute(query, variables = {}) {
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${this.apiKey}`,
        },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw networkError('The server cannot be reached. Check the connection and try again.');
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw networkError(`The server answered with HTTP ${response.status}.`);
    }
    if (body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) this.onUnauthenticated();
    return body;
  }

  /** Runs a query or mutation; throws a GraphQLError on any error. */
  async request(query, variables = {}) {
    const body = await this.execute(query, variables);
    if (body.errors?.length) throw new GraphQLError(body.errors);
    return body.data;
  }

  /**
   * Starts a subscription; `sink` gets `next(data)`, `error(GraphQLError)` and `complete()`.
   * With `resume: true` it is started again after a lost connection (and `sink.resumed()` is
   * told, so the caller can catch up on what it missed). Returns a function that stops it.
   */
  subscribe(query, variables, sink, { resume = false } = {}) {
    if (!this.socket) this.socket = new Socket(this.apiKey, () => this.onUnauthenticated());
    return this.socket.subscribe({ query, variables }, sink, resume);
  }

  close() {
    this.socket?.close();
    this.socket = null;
  }
}

class Socket {
  constructor(apiKey, onUnauthenticated) {
    this.apiKey = apiKey;
    this.onUnauthenticated = onUnauthenticated;
    this.ws = null;
    this.acknowledged = false;
    this.nextId = 1;
    this.active = new Map(); // id -> { payload, sink, resume, sent }
    this.attempts = 0;
    this.closed = false;
    this.keepAlive = null;
  }

  subscribe(payload, sink, resume) {
    const id = String(this.nextId++);
    this.active.set(id, { payload, sink, resume, sent: false });
    this.connect();
    this.flush();
    return () => {
      const entry = this.active.get(id);
      if (!entry) return;
      this.active.delete(id);
      if (entry.sent && this.acknowledged) this.send({ id, type: 'complete' });
    };
  }

  connect() {
    if (this.ws || this.closed) return;
    const url = new URL(ENDPOINT, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    this.acknowledged = false;
    ws.onopen = () => this.send({ type: 'connection_init', payload: { authorization: `Bearer ${this.apiKey}` } });
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => this.lost(ws, event.code);
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  flush() {
    if (!this.acknowledged) return;
    for (const [id, entry] of this.active) {
      if (!entry.sent) {
        entry.sent = true;
        this.send({ id, type: 'subscribe', payload: entry.payload });
      }
    }
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const entry = message.id && this.active.get(message.id);
    switch (message.type) {
      case 'connection_ack': {
        const resumed = this.attempts > 0;
        this.acknowledged = true;
        this.attempts = 0;
        clearInterval(this.keepAlive);
        this.keepAlive = setInterval(() => this.send({ type: 'ping' }), KEEP_ALIVE_MS);
        this.flush();
        if (resumed) for (const e of this.active.values()) e.sink.resumed?.();
        break;
      }
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'next':
        if (entry) {
          if (message.payload?.errors?.length && !message.payload.data) {
            this.active.delete(message.id);
            entry.sink.error(new GraphQLError(message.payload.errors));
          } else {
            entry.sink.next(message.payload.data);
          }
        }
        break;
      case 'error':
        if (entry) {
          this.active.delete(message.id);
          const errors = Array.isArray(message.payload) ? message.payload : [{ message: 'The subscription failed.' }];
          entry.sink.error(new GraphQLError(errors));
        }
        break;
      case 'complete':
        if (entry) {
          this.active.delete(message.id);
          entry.sink.complete?.();
        }
        break;
      default:
        break;
    }
  }

  lost(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.acknowledged = false;
    clearInterval(this.keepAlive);
    if (code === 4401 || code === 4403) {
      this.closed = true;
      this.onUnauthenticated();
    }
    // A stream cut off mid-answer cannot be resumed (the server kept it as INTERRUPTED); live
    // views are started again once the connection is back.
    for (const [id, entry] of this.active) {
      if (entry.resume && !this.closed) {
        entry.sent = false;
      } else {
        this.active.delete(id);
        entry.sink.error(networkError('The connection to the server was lost.'));
      }
    }
    if (this.active.size > 0 && !this.closed) {
      const delay = Math.min(RECONNECT_MAX_MS, 500 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
      this.attempts += 1;
      setTimeout(() => this.connect(), delay);
    }
  }

  close() {
    this.closed = true;
    clearInterval(this.keepAlive);
    this.active.clear();
    this.ws?.close(1000);
    this.ws = null;
  }
}
