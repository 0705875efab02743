/**
 * Discovery over NATS: every edgeml server socket on a `nats://` endpoint answers the NATS service API (`$SRV.PING`,
 * `$SRV.INFO`, `$SRV.STATS`, each also per service name and per instance id), so that `edgeml interfaces
 * nats://host:4222/<service>`, the `nats micro` tools and any NATS client can list a service's workers with their
 * endpoints and counts. {@link discoverNatsService} is the asking side. docs/protocol.md, "NATS mapping", gives the
 * subjects and the answers' fields.
 *
 * @module
 */
import { LIBRARY_VERSION, PROTOCOL_VERSION } from '../../core/defaults.js';
import { parseEndpoint } from '../../core/endpoint.js';
import { EdgeMLError, InvalidArgumentError } from '../../core/errors.js';
import { checkNatsOptions, DEFAULT_NATS_PREFIX, type NatsOptions } from '../nats-options.js';
import type { ServiceDescription } from '../types.js';
import { connectOptions, hostPort, type NatsLink, natsModule } from './link.js';
import { Subjects, serviceOf } from './subjects.js';

/** First token of the NATS service API's subjects. */
const SRV = '$SRV';
const VERBS = ['PING', 'INFO', 'STATS'] as const;
type Verb = (typeof VERBS)[number];
/** Discovery answers per second a server sends at most; requests beyond are dropped. */
const ANSWERS_PER_SECOND = 50;

/** The subjects one socket answers: `$SRV.<verb>`, `$SRV.<verb>.<name>`, `$SRV.<verb>.<name>.<id>`. */
export function discoverySubjects(subjects: Subjects, id: string): { verb: Verb; subject: string }[] {
  return VERBS.flatMap((verb) =>
    [`${SRV}.${verb}`, `${SRV}.${verb}.${subjects.serviceName}`, `${SRV}.${verb}.${subjects.serviceName}.${id}`].map(
      (subject) => ({ verb, subject }),
    ),
  );
}

/** The JSON answer of one verb (the NATS micro v1 schema), from a server's description. */
export function discoveryAnswer(verb: Verb, subjects: Subjects, id: string, d: ServiceDescription): object {
  const head = {
    type: `io.nats.micro.v1.${verb.toLowerCase()}_response`,
    name: subjects.serviceName,
    id,
    version: LIBRARY_VERSION,
    metadata: {
      edgeml: LIBRARY_VERSION,
      protocol: String(PROTOCOL_VERSION),
      kind: d.kind,
      prefix: subjects.prefix,
      service: subjects.service,
    },
  };
  const where = { subject: subjects.request, queue_group: subjects.queue };
  if (verb === 'PING') return head;
  if (verb === 'INFO') {
    return {
      ...head,
      description: `edgeml ${d.kind} server`,
      endpoints: d.endpoints.map((e) => ({ name: e.name, ...where, metadata: null })),
    };
  }
  return {
    ...head,
    started: new Date(d.startedAt).toISOString(),
    endpoints: d.endpoints.map((e) => {
      const calls = e.stats?.calls ?? 0;
      const ns = Math.round((e.stats?.totalMs ?? 0) * 1e6);
      return {
        name: e.name,
        ...where,
        num_requests: calls,
        num_errors: e.stats?.errors ?? 0,
        last_error: '',
        processing_time: ns,
        average_processing_time: calls > 0 ? Math.round(ns / calls) : 0,
      };
    }),
  };
}

/** Answers the service API for one server socket, at most {@link ANSWERS_PER_SECOND} answers a second. */
export class DiscoveryResponder {
  private readonly subs: { unsubscribe(): void }[] = [];
  private windowStart = 0;
  private answered = 0;

  constructor(
    private readonly link: NatsLink,
    private readonly subjects: Subjects,
    private readonly id: string,
    private readonly describe: () => ServiceDescription,
  ) {}

  /** Subscribes to the discovery subjects (the caller flushes). */
  start(): void {
    for (const { verb, subject } of discoverySubjects(this.subjects, this.id)) {
      const sub = this.link.subscribe(subject, (m) => {
        if (m.reply === undefined || m.reply === '' || !this.allow()) return;
        const answer = discoveryAnswer(verb, this.subjects, this.id, this.describe());
        this.link.publish(m.reply, new TextEncoder().encode(JSON.stringify(answer)));
      });
      if (sub) this.subs.push(sub);
    }
  }

  private allow(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.answered = 0;
    }
    return ++this.answered <= ANSWERS_PER_SECOND;
  }

  /** Stops answering. */
  close(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }
}

/** One endpoint of a worker, as {@link discoverNatsService} reports it. */
export interface NatsEndpointStats {
  /** The endpoint's name: an inference interface, or a method of the other servers. */
  name: string;
  /** The NATS subject and queue group it is served on. */
  subject: string;
  queueGroup: string;
  /** Calls answered, and those answered with an error. */
  requests: number;
  errors: number;
  /** Time spent in its calls, in ms: all together, and per call. */
  processingMs: number;
  averageMs: number;
}

/** One server (worker) of a service, as {@link discoverNatsService} reports it. */
export interface NatsServiceWorker {
  /** The instance id (`$SRV.<verb>.<name>.<id>` reaches this worker alone). */
  id: string;
  /** The NATS service name: `<prefix with _ for .>_<service>`. */
  name: string;
  /** `'inference'`, `'action'`, `'trainer'`. */
  kind: string;
  /** The edgeml version the worker runs. */
  version: string;
  /** When it started serving (ISO 8601). */
  started: string;
  endpoints: NatsEndpointStats[];
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A `$SRV.STATS` answer as a worker, or undefined when it is not an edgeml server's (or not one at all). */
export function parseStatsAnswer(body: Uint8Array): NatsServiceWorker | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const meta = (typeof o.metadata === 'object' && o.metadata !== null ? o.metadata : {}) as Record<string, unknown>;
  if (o.type !== 'io.nats.micro.v1.stats_response' || typeof meta.edgeml !== 'string') return undefined;
  const endpoints = Array.isArray(o.endpoints) ? o.endpoints : [];
  return {
    id: str(o.id),
    name: str(o.name),
    kind: str(meta.kind),
    version: str(o.version),
    started: str(o.started),
    endpoints: endpoints
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
      .map((e) => ({
        name: str(e.name),
        subject: str(e.subject),
        queueGroup: str(e.queue_group),
        requests: num(e.num_requests),
        errors: num(e.num_errors),
        processingMs: num(e.processing_time) / 1e6,
        averageMs: num(e.average_processing_time) / 1e6,
      })),
  };
}

/** Options of {@link discoverNatsService}. */
export interface DiscoverOptions {
  /** NATS connection options (credentials, TLS, the deployment prefix), as servers and clients take them. */
  nats?: NatsOptions;
  /** How long to collect answers, in ms. @default 1000 */
  waitMs?: number;
}

/**
 * The workers of the service at `url` (`nats://host:4222/<service>`) with their endpoints and counts: asks
 * `$SRV.STATS.<name>` and collects the answers for `waitMs`. Sorted by id; empty when no worker answers.
 * @throws {@link InvalidArgumentError} for a bad URL or option; {@link EdgeMLError} when NATS cannot be reached
 */
export async function discoverNatsService(url: string, options: DiscoverOptions = {}): Promise<NatsServiceWorker[]> {
  const endpoint = parseEndpoint(url, 'url');
  if (endpoint.scheme !== 'nats') throw new InvalidArgumentError('url', `must be a nats:// URL, not ${url}`);
  const nats = checkNatsOptions(options.nats, 'nats');
  const waitMs = options.waitMs ?? 1000;
  if (!(waitMs > 0)) throw new InvalidArgumentError('waitMs', 'must be a positive number');
  const subjects = new Subjects(nats.prefix ?? DEFAULT_NATS_PREFIX, serviceOf(endpoint));
  const mod = await natsModule();
  const server = hostPort(endpoint);
  let nc: Awaited<ReturnType<typeof mod.connect>>;
  try {
    nc = await mod.connect({ ...(await connectOptions(mod, server, nats)), maxReconnectAttempts: 0 });
  } catch (e) {
    throw new EdgeMLError(`cannot connect to the NATS server at ${server}: ${(e as Error).message}`);
  }
  const workers = new Map<string, NatsServiceWorker>();
  try {
    const replies = await nc.requestMany(`${SRV}.STATS.${subjects.serviceName}`, new Uint8Array(0), {
      strategy: 'timer',
      maxWait: waitMs,
    });
    for await (const m of replies) {
      const w = parseStatsAnswer(m.data);
      if (w && !workers.has(w.id)) workers.set(w.id, w);
    }
  } catch {
    // No responders: no workers.
  } finally {
    await nc.close().catch(() => undefined);
  }
  return [...workers.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
