/**
 * The server sides over NATS: a reply socket serving a service's request subject in its queue group (N servers
 * behind one name share the calls), and a publish socket that acknowledges subscription announcements (subscribers
 * then fetch the latest values over their request channel).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Msg, Subscription } from '@nats-io/transport-node';
import type { Frame, PeerId } from '../../core/types.js';
import type { PublishSocket, ReplySocket, ServiceDescription } from '../types.js';
import { DiscoveryResponder } from './discovery.js';
import {
  decodeChunk,
  decodeMessage,
  decodeSubscribe,
  encodeControl,
  encodeMessage,
  FramingError,
  KIND,
  MESSAGE_ID_BYTES,
} from './framing.js';
import type { NatsLink } from './link.js';
import { Outbox } from './outbox.js';
import { Reassembler } from './reassembly.js';
import type { Subjects } from './subjects.js';

/** Limits of a socket's incoming messages. */
export interface ReceiveLimits {
  maxMessageBytes: number;
  reassemblyTimeoutMs: number;
}

/** The inbox of a reply subject `<inbox>.<token>`, when it is an inbox of this service. */
export function inboxOf(subjects: Subjects, reply: string | undefined): string | undefined {
  if (reply === undefined) return undefined;
  const dot = reply.lastIndexOf('.');
  const inbox = reply.slice(0, dot);
  return dot > 0 && subjects.isInbox(inbox) ? inbox : undefined;
}

/** Inboxes whose {@link PeerId} a reply socket keeps (then it starts over), so a client's requests share one. */
const PEER_CACHE_MAX = 4096;

/** Counters of a NATS server socket (for tests and diagnostics). */
export interface NatsSocketStats {
  /** Messages dropped: garbage, a reply subject outside the service, over the limits. */
  dropped: number;
}

/** The reply side: see the module comment. */
export class NatsReplySocket implements ReplySocket {
  readonly id = randomBytes(8).toString('hex');
  readonly stats: NatsSocketStats = { dropped: 0 };
  private readonly subs: Subscription[] = [];
  private readonly outbox: Outbox;
  private readonly reassembly: Reassembler;
  private readonly discovery: DiscoveryResponder | undefined;
  private unwatch: (() => void) | undefined;
  private closed = false;
  /** The peer id of each recent inbox, and back: a reply needs no decoding and checking of its peer id. */
  private readonly peers = new Map<string, PeerId>();
  private readonly inboxes = new WeakMap<PeerId, string>();

  constructor(
    private readonly link: NatsLink,
    private readonly subjects: Subjects,
    readonly port: number,
    private readonly onRequest: (peer: PeerId, frames: Frame[]) => void,
    private readonly limits: ReceiveLimits,
    describe?: () => ServiceDescription,
  ) {
    this.outbox = new Outbox(link);
    this.reassembly = new Reassembler(limits.maxMessageBytes + 1024, limits.reassemblyTimeoutMs);
    this.discovery = describe && new DiscoveryResponder(link, subjects, this.id, describe);
  }

  /** Subscribes, waits until the NATS server has the subscriptions, and tells waiting clients. */
  async start(): Promise<void> {
    const req = this.link.subscribe(this.subjects.request, (m) => this.onMsg(m, true), this.subjects.queue);
    const own = this.link.subscribe(this.subjects.server(this.id), (m) => this.onMsg(m, false));
    for (const s of [req, own]) if (s) this.subs.push(s);
    this.discovery?.start();
    await this.link.flush();
    this.link.publish(this.subjects.event('up'), new Uint8Array(0));
    // Back after the NATS connection was lost (nats.js has subscribed again): waiting clients probe at once.
    this.unwatch = this.link.watchState((state) => {
      if (state === 'up' && !this.closed) this.link.publish(this.subjects.event('up'), new Uint8Array(0));
    });
  }

  private onMsg(m: Msg, viaQueue: boolean): void {
    if (this.closed) return;
    const body = m.data;
    const inbox = inboxOf(this.subjects, m.reply);
    if (inbox === undefined || body.length === 0) {
      this.stats.dropped++;
      return;
    }
    try {
      if (body[0] === KIND.probe) {
        if (viaQueue) this.link.publish(m.reply!, encodeControl(KIND.ack));
        return;
      }
      let whole: Uint8Array | undefined = body;
      if (body[0] === KIND.chunk) {
        const chunk = decodeChunk(body);
        if (chunk.index === 0) {
          if (!viaQueue) throw new FramingError('a first chunk on a server subject');
          // Tell the client where the rest goes: this server, not the queue group.
          const id = body.subarray(1, 1 + MESSAGE_ID_BYTES);
          this.link.publish(m.reply!, encodeControl(KIND.go, this.subjects.server(this.id), id));
        } else if (viaQueue) throw new FramingError('a later chunk on the queue subject');
        whole = this.reassembly.add(inbox, chunk);
        if (whole === undefined) return;
      } else if (body.length > this.limits.maxMessageBytes + 1024) {
        throw new FramingError('message too large');
      }
      const frames = decodeMessage(whole, Number.MAX_SAFE_INTEGER);
      this.onRequest(this.peerOf(inbox), frames);
    } catch {
      this.stats.dropped++;
    }
  }

  /** The peer id of `inbox` (an inbox of this service): its UTF-8 bytes, the same object for its every request. */
  private peerOf(inbox: string): PeerId {
    let peer = this.peers.get(inbox);
    if (peer === undefined) {
      if (this.peers.size >= PEER_CACHE_MAX) this.peers.clear();
      peer = Buffer.from(inbox, 'utf8');
      this.peers.set(inbox, peer);
      this.inboxes.set(peer, inbox);
    }
    return peer;
  }

  send(peer: PeerId, frames: Frame[]): void {
    if (this.closed) return;
    let inbox = this.inboxes.get(peer);
    if (inbox === undefined) {
      inbox = Buffer.from(peer).toString('utf8');
      if (!this.subjects.isInbox(inbox)) return;
    }
    this.outbox.send(`${inbox}.r`, encodeMessage(frames));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    for (const s of this.subs) s.unsubscribe();
    this.discovery?.close();
    this.reassembly.close();
    await this.link.flush();
    this.link.publish(this.subjects.event('down'), new Uint8Array(0));
    await this.link.unref();
  }
}

/** The publish side: see the module comment. */
export class NatsPublishSocket implements PublishSocket {
  readonly stats: NatsSocketStats = { dropped: 0 };
  private sub: Subscription | undefined;
  private readonly outbox: Outbox;
  private closed = false;

  constructor(
    private readonly link: NatsLink,
    private readonly subjects: Subjects,
    readonly port: number,
    private readonly onSubscribe: ((topic: string) => void) | undefined,
  ) {
    this.outbox = new Outbox(link);
  }

  async start(): Promise<void> {
    this.sub = this.link.subscribe(this.subjects.subscribe, (m) => this.onAnnounce(m));
    await this.link.flush();
    this.link.publish(this.subjects.event('pubup'), new Uint8Array(0));
  }

  private onAnnounce(m: Msg): void {
    const topic = decodeSubscribe(m.data);
    const inbox = inboxOf(this.subjects, m.reply);
    if (this.closed || topic === undefined || inbox === undefined) {
      this.stats.dropped++;
      return;
    }
    // Announced, acknowledged; the subscriber fetches the topic's latest value over its request channel (`latest`),
    // so a late joiner costs the others nothing.
    this.onSubscribe?.(topic);
    this.outbox.send(m.reply!, encodeControl(KIND.ack));
  }

  publish(topic: string, frames: Frame[]): void {
    if (this.closed) return;
    this.outbox.send(this.subjects.topic(topic), encodeMessage(frames));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sub?.unsubscribe();
    await this.link.flush();
    this.link.publish(this.subjects.event('pubdown'), new Uint8Array(0));
    await this.link.unref();
  }
}
