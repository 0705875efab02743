/**
 * The NATS subjects of one edgeml service (docs/protocol.md, "NATS mapping"). `nats://host:4222/<service>` names the
 * service; every subject starts with the deployment prefix and the service name.
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { Endpoint } from '../../core/types.js';

/** A subject token: letters, digits, `_` and `-`. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Service of a `nats://` URL without a path. */
export const DEFAULT_SERVICE = 'default';

/** The service named by an endpoint's path (`/detector` → `detector`). @throws {@link InvalidArgumentError} */
export function serviceOf(endpoint: Endpoint, field = 'endpoint'): string {
  const name = endpoint.path.replace(/^\//, '');
  if (name === '') return DEFAULT_SERVICE;
  if (!TOKEN.test(name)) {
    throw new InvalidArgumentError(
      field,
      `the path of ${endpoint.url} must name a service: one token of [A-Za-z0-9_-], such as nats://host:4222/detector`,
    );
  }
  return name;
}

/** A topic as one subject token: percent-encoded, with `.` and `*` encoded too. */
export function topicToken(topic: string): string {
  return encodeURIComponent(topic).replace(/[.*!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The subjects of one service. */
export class Subjects {
  /** `<prefix>.<service>` */
  readonly base: string;
  /** Requests, served by a queue group named {@link base}. */
  readonly request: string;
  private readonly inboxPrefix: string;
  constructor(
    readonly prefix: string,
    readonly service: string,
  ) {
    this.base = `${prefix}.${service}`;
    this.request = `${this.base}.req`;
    this.inboxPrefix = `${this.base}.inbox.`;
  }
  /** The service's name in the NATS service API (`$SRV`): `edgeml_detector` (prefix, `_`, service; `.` → `_`). */
  get serviceName(): string {
    return `${this.prefix.replace(/\./g, '_')}_${this.service}`;
  }
  /** The queue group of the request subject. */
  get queue(): string {
    return this.base;
  }
  /** A server's own subject (the chunks after the first of a large request). */
  server(id: string): string {
    return `${this.base}.srv.${id}`;
  }
  /** A client's or subscriber's inbox; replies and re-sent values go to subjects below it. */
  inbox(id: string): string {
    return `${this.base}.inbox.${id}`;
  }
  /** Whether `subject` is exactly an inbox of this service (the identity of a requesting peer). */
  isInbox(subject: string): boolean {
    return subject.startsWith(this.inboxPrefix) && TOKEN.test(subject.slice(this.inboxPrefix.length));
  }
  /** Published messages of `topic`. */
  topic(topic: string): string {
    return `${this.base}.pub.${topicToken(topic)}`;
  }
  /** The JetStream subject of a trainer table's items (`jetstream` option). */
  table(name: string): string {
    return `${this.base}.table.${topicToken(name)}`;
  }
  /** Subscription announcements (late joiners). */
  get subscribe(): string {
    return `${this.base}.sub`;
  }
  /** A server came up (`'up'`) or went (`'down'`); publishers: `'pubup'`, `'pubdown'`. */
  event(what: 'up' | 'down' | 'pubup' | 'pubdown'): string {
    return `${this.base}.${what}`;
  }
}
