/**
 * The client sides over NATS. A request socket owns one inbox (its `PeerId` on the servers); it learns whether any
 * server serves its service by a probe (answered by one server of the queue group, or refused by the NATS server's
 * "no responders" status), holds requests while none does, and takes back a request the NATS server bounced. A
 * message bounced is known to have reached no server: the NATS server answers "no responders" before it answers the
 * next flush, so a request still unbounced after a flush is let go. That flush (a PING the NATS server answers) is not
 * sent per request: one covers every request sent within {@link CONFIRM_AFTER_MS}, sooner for a large request or many
 * (a sequential caller would otherwise pay a PING and a PONG per call). A subscribe socket announces each topic on
 * (re)connect and when a publisher comes up, and gets the latest values on its own inbox.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Msg, Subscription } from '@nats-io/transport-node';
import type { AuthenticationError, EdgeMLError } from '../../core/errors.js';
import type { ConnectionStatus, Frame } from '../../core/types.js';
import type { ClientHandlers, RequestSocket, SubscribeSocket } from '../types.js';
import {
  chunkCount,
  decodeChunk,
  decodeGo,
  decodeMessage,
  encodeChunk,
  encodeControl,
  encodeMessage,
  KIND,
} from './framing.js';
import type { LinkState, NatsLink } from './link.js';
import { Outbox } from './outbox.js';
import { Reassembler } from './reassembly.js';
import type { ReceiveLimits } from './server-sockets.js';
import type { Subjects } from './subjects.js';

const PROBE_MIN_MS = 100;
const PROBE_MAX_MS = 1_000;
/** Longest a sent request is held for a bounce before the flush that lets it go is sent. */
const CONFIRM_AFTER_MS = 10;
/** A request body larger than this, or this many requests held, sends that flush at once (bounds what is held). */
const CONFIRM_AT_ONCE_BYTES = 16 * 1024;
const CONFIRM_AT_ONCE_COUNT = 256;

function noResponders(m: Msg): boolean {
  return m.data.length === 0 && m.headers?.code === 503;
}

/** What both client sockets share: the link's state, an inbox, status reports, a probe loop with backoff. */
abstract class NatsClient {
  status: ConnectionStatus = 'reconnecting';
  failure: EdgeMLError | undefined;
  readonly inbox: string;
  protected readonly subs: Subscription[] = [];
  protected readonly outbox: Outbox;
  protected readonly reassembly: Reassembler;
  private readonly unwatch: () => void;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = PROBE_MIN_MS;
  protected serving = false;

  constructor(
    protected readonly link: NatsLink,
    protected readonly subjects: Subjects,
    limits: ReceiveLimits,
    private readonly handlers: ClientHandlers | undefined,
  ) {
    this.inbox = subjects.inbox(randomBytes(8).toString('hex'));
    this.outbox = new Outbox(link);
    this.reassembly = new Reassembler(limits.maxMessageBytes + 1024, limits.reassemblyTimeoutMs);
    link.ref();
    this.unwatch = link.watchState((s) => this.onLink(s));
    // After the subclass's constructor: attach() uses its fields.
    queueMicrotask(() =>
      link.whenReady(() => {
        if (this.status === 'closed') return;
        this.attach();
        this.check();
      }),
    );
  }

  get authFailure(): AuthenticationError | undefined {
    return this.status === 'unauthorized' ? this.link.authFailure : undefined;
  }

  get secure(): boolean {
    return false;
  }

  /** Subscribes once the connection is there (nats.js subscribes again by itself after a reconnect). */
  protected abstract attach(): void;
  /** Asks whether the other side is there (a probe, announcements). */
  protected abstract ask(): void;

  protected subscribe(subject: string, onMsg: (m: Msg) => void): void {
    const s = this.link.subscribe(subject, onMsg);
    if (s) this.subs.push(s);
  }

  protected setStatus(s: ConnectionStatus): void {
    if (this.status === 'closed' || this.status === s) return;
    this.status = s;
    this.handlers?.onStatus?.(s);
  }

  private onLink(s: LinkState): void {
    if (s === 'up') this.check();
    else if (s === 'down') this.lost();
    else if (s === 'unauthorized') this.setStatus('unauthorized');
  }

  /** The other side answered. */
  protected found(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryMs = PROBE_MIN_MS;
    this.serving = true;
    this.setStatus('connected');
  }

  /** The other side is gone (or the connection is). */
  protected lost(): void {
    const was = this.serving;
    this.serving = false;
    this.setStatus('disconnected');
    if (was) this.check();
  }

  /** Asks now, and again with backoff until {@link found}. */
  protected check(): void {
    if (this.status === 'closed' || this.link.state !== 'up') return;
    this.ask();
    if (this.retryTimer) return;
    const again = (): void => {
      this.retryTimer = undefined;
      if (this.serving || this.status === 'closed' || this.link.state !== 'up') return;
      this.ask();
      this.retryMs = Math.min(this.retryMs * 2, PROBE_MAX_MS);
      this.retryTimer = setTimeout(again, this.retryMs);
      this.retryTimer.unref();
    };
    this.retryTimer = setTimeout(again, this.retryMs);
    this.retryTimer.unref();
  }

  close(): void {
    if (this.status === 'closed') return;
    this.setStatus('closed');
    clearTimeout(this.retryTimer);
    this.unwatch();
    for (const s of this.subs) s.unsubscribe();
    this.reassembly.close();
    void this.link.unref();
  }
}

interface Item {
  frames: Frame[];
  isStale: (() => boolean) | undefined;
}

/** The request side: see the module comment. */
export class NatsRequestSocket extends NatsClient implements RequestSocket {
  private queue: Item[] = [];
  /** Sent, not yet known to have reached a server: by reply token. */
  private readonly unconfirmed = new Map<string, Item>();
  /** Large requests whose first chunk is out, waiting for the server's go: by reply token. */
  private readonly awaitingGo = new Map<string, { item: Item; body: Uint8Array; id: Uint8Array; at: number }>();
  private seq = 0;
  /** A flush is out: the requests sent before it are let go when it returns. */
  private confirming = false;
  /** The next flush is due at once (a large request, or many, held). */
  private confirmSoon = false;
  private confirmTimer: NodeJS.Timeout | undefined;

  constructor(
    link: NatsLink,
    subjects: Subjects,
    private readonly onReply: (frames: Frame[]) => void,
    limits: ReceiveLimits,
    handlers: ClientHandlers | undefined,
    private readonly goTimeoutMs: number,
  ) {
    super(link, subjects, limits, handlers);
  }

  protected attach(): void {
    this.subscribe(`${this.inbox}.>`, (m) => this.onInbox(m));
    this.subscribe(this.subjects.event('up'), () => {
      if (!this.serving) this.check();
    });
    // A server went: check that another one is still there.
    this.subscribe(this.subjects.event('down'), () => this.ask());
  }

  protected ask(): void {
    this.link.publish(this.subjects.request, encodeControl(KIND.probe), `${this.inbox}.p`);
  }

  protected override found(): void {
    super.found();
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) this.transmit(item);
  }

  send(frames: Frame[], isStale?: () => boolean): void {
    if (this.status === 'closed') return;
    const item = { frames, isStale };
    if (this.serving && this.link.state === 'up') this.transmit(item);
    else this.queue.push(item);
  }

  private transmit(item: Item): void {
    if (item.isStale?.()) return;
    const token = `q${++this.seq}`;
    const reply = `${this.inbox}.${token}`;
    const body = encodeMessage(item.frames);
    if (body.length <= this.link.maxBody) {
      this.outbox.send(this.subjects.request, body, reply, () => this.sent(token, item, body.length));
      return;
    }
    // The first chunk goes to the queue group; the server that takes it tells where the others go.
    const id = this.link.messageId();
    this.sweepGo();
    this.awaitingGo.set(token, { item, body, id, at: Date.now() });
    this.outbox.after(() => {
      this.link.publish(this.subjects.request, encodeChunk(body, id, 0, this.link.maxBody), reply);
    });
  }

  /** Keeps `item` until a flush shows it was not bounced (see the module comment). */
  private sent(token: string, item: Item, bytes: number): void {
    this.unconfirmed.set(token, item);
    if (bytes > CONFIRM_AT_ONCE_BYTES || this.unconfirmed.size >= CONFIRM_AT_ONCE_COUNT) this.confirmSoon = true;
    this.scheduleConfirm();
  }

  private scheduleConfirm(): void {
    if (this.confirming || this.unconfirmed.size === 0 || this.status === 'closed') return;
    if (this.confirmSoon) this.confirm();
    else if (this.confirmTimer === undefined) {
      this.confirmTimer = setTimeout(() => this.confirm(), CONFIRM_AFTER_MS);
      this.confirmTimer.unref();
    }
  }

  /** Flushes, then lets go of the requests sent before the flush. */
  private confirm(): void {
    clearTimeout(this.confirmTimer);
    this.confirmTimer = undefined;
    this.confirmSoon = false;
    if (this.confirming || this.unconfirmed.size === 0) return;
    this.confirming = true;
    const tokens = [...this.unconfirmed.keys()];
    void this.link.flush().then(() => {
      for (const t of tokens) this.unconfirmed.delete(t);
      this.confirming = false;
      this.scheduleConfirm();
    });
  }

  private sweepGo(): void {
    const now = Date.now();
    for (const [t, g] of this.awaitingGo) {
      if (now - g.at > this.goTimeoutMs || g.item.isStale?.()) this.awaitingGo.delete(t);
    }
  }

  private onInbox(m: Msg): void {
    if (this.status === 'closed') return;
    const token = m.subject.slice(this.inbox.length + 1);
    if (token === 'p') {
      if (noResponders(m)) this.lost();
      else if (m.data[0] === KIND.ack) this.found();
      return;
    }
    if (token === 'r') {
      this.onReplyBody(m.data);
      return;
    }
    if (noResponders(m)) {
      // Nobody took it: hold it again (in front, it was sent first) unless its caller has given up.
      const item = this.unconfirmed.get(token) ?? this.awaitingGo.get(token)?.item;
      this.unconfirmed.delete(token);
      this.awaitingGo.delete(token);
      if (item && !item.isStale?.()) this.queue.unshift(item);
      this.lost();
      return;
    }
    const go = this.awaitingGo.get(token);
    if (!go || m.data[0] !== KIND.go) return;
    this.awaitingGo.delete(token);
    let subject: string;
    try {
      subject = decodeGo(m.data).subject;
    } catch {
      return;
    }
    if (!subject.startsWith(`${this.subjects.base}.srv.`)) return;
    const reply = `${this.inbox}.${token}`;
    if (chunkCount(go.body.length, this.link.maxBody) < 2) return;
    this.outbox.after(() => this.link.publishChunks(subject, go.body, go.id, 1, reply));
  }

  private onReplyBody(body: Uint8Array): void {
    try {
      let whole: Uint8Array | undefined = body;
      if (body[0] === KIND.chunk) whole = this.reassembly.add('', decodeChunk(body));
      if (whole !== undefined) this.onReply(decodeMessage(whole, Number.MAX_SAFE_INTEGER));
    } catch {
      // Garbage on our inbox: dropped.
    }
  }

  override close(): void {
    this.queue = [];
    clearTimeout(this.confirmTimer);
    this.confirmTimer = undefined;
    this.unconfirmed.clear();
    this.awaitingGo.clear();
    super.close();
  }
}

/** The subscribe side: see the module comment. */
export class NatsSubscribeSocket extends NatsClient implements SubscribeSocket {
  private readonly byToken = new Map<string, string>();

  constructor(
    link: NatsLink,
    subjects: Subjects,
    private readonly topics: readonly string[],
    private readonly onMessage: (topic: string, frames: Frame[]) => void,
    limits: ReceiveLimits,
    handlers: ClientHandlers | undefined,
  ) {
    super(link, subjects, limits, handlers);
  }

  protected attach(): void {
    for (const topic of this.topics) {
      const subject = this.subjects.topic(topic);
      this.byToken.set(subject.slice(subject.lastIndexOf('.') + 1), topic);
      this.subscribe(subject, (m) => this.onBody(topic, subject, m.data));
    }
    this.subscribe(`${this.inbox}.>`, (m) => this.onInbox(m));
    this.subscribe(this.subjects.event('pubup'), () => this.ask());
    this.subscribe(this.subjects.event('pubdown'), () => this.ask());
  }

  protected ask(): void {
    for (const t of this.topics) {
      this.link.publish(this.subjects.subscribe, encodeControl(KIND.subscribe, t), `${this.inbox}.a`);
    }
  }

  private onInbox(m: Msg): void {
    const token = m.subject.slice(this.inbox.length + 1);
    if (token === 'a') {
      if (noResponders(m)) this.lost();
      else if (m.data[0] === KIND.ack) this.found();
      return;
    }
    if (!token.startsWith('t.')) return;
    const topic = this.byToken.get(token.slice(2));
    if (topic !== undefined) this.onBody(topic, m.subject, m.data);
  }

  private onBody(topic: string, from: string, body: Uint8Array): void {
    if (this.status === 'closed') return;
    try {
      let whole: Uint8Array | undefined = body;
      if (body[0] === KIND.chunk) whole = this.reassembly.add(from, decodeChunk(body));
      if (whole !== undefined) this.onMessage(topic, decodeMessage(whole, Number.MAX_SAFE_INTEGER));
    } catch {
      // Garbage on a topic subject: dropped.
    }
  }
}
