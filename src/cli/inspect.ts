/**
 * `edgeml ping` and `edgeml interfaces`: look at a running server from the command line. Both work against any
 * edgeml server (inference, action, trainer); `interfaces` asks an inference server for its interface names.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../core/defaults.js';
import { TimeoutError } from '../core/errors.js';
import { ClientEndpoint } from '../messaging/mode-options.js';
import { RpcClient } from '../messaging/rpc-client.js';
import { M_PING } from '../messaging/rpc-server.js';

/** Options both commands take. */
const TARGET_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  timeout: { type: 'string' },
  'server-key': { type: 'string' },
  key: { type: 'string' },
  prefix: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Usage lines shared by both commands. */
export const TARGET_USAGE = [
  '  URL           the server as an endpoint URL (tcp://host:5555, ws://host:8080/edgeml, nats://host:4222/service),',
  '                instead of --host and --port',
  '  --host        server address (default 127.0.0.1)',
  '  --port        server request port',
  `  --timeout     deadline of each request in ms (default ${DEFAULT_CONNECT_TIMEOUT_MS})`,
  "  --server-key  the server's public key file (.key) when it uses CURVE",
  '  --key         the key pair file (.key_secret) of this client, when the server restricts clients',
  "  --prefix      the deployment's subject prefix, for nats:// URLs (default edgeml)",
];

interface Target {
  client: RpcClient;
  timeoutMs: number;
  where: string;
}

interface TargetValues {
  host?: string | undefined;
  port?: string | undefined;
  timeout?: string | undefined;
  'server-key'?: string | undefined;
  key?: string | undefined;
  prefix?: string | undefined;
}

function timeoutOf(values: TargetValues): number {
  const timeoutMs = values.timeout === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : Number(values.timeout);
  if (!(timeoutMs > 0)) throw new UsageArgumentError('--timeout must be a positive number of ms');
  return timeoutMs;
}

/** The URL given as the positional argument, if any (then --host and --port may not be given). */
function urlOf(values: TargetValues, positionals: string[]): string | undefined {
  if (positionals.length > 1) throw new UsageArgumentError(`one target URL, not ${positionals.length}`);
  const url = positionals[0];
  if (url === undefined) return undefined;
  if (!url.includes('://')) throw new UsageArgumentError(`${url} is not a URL (tcp://, ws://, nats://...)`);
  if (values.host !== undefined || values.port !== undefined) {
    throw new UsageArgumentError('give either a URL or --host/--port, not both');
  }
  return url;
}

async function target(values: TargetValues, positionals: string[]): Promise<Target> {
  const url = urlOf(values, positionals);
  const timeoutMs = timeoutOf(values);
  const serverKey = values['server-key'];
  if (values.key !== undefined && serverKey === undefined) throw new UsageArgumentError('--key needs --server-key');
  const security =
    serverKey === undefined
      ? {}
      : { security: { serverPublicKey: serverKey, ...(values.key !== undefined ? { keyPair: values.key } : {}) } };
  if (url?.startsWith('nats://')) await import('../nats.js');
  const nats = values.prefix === undefined ? {} : { nats: { prefix: values.prefix } };
  let where: ClientEndpoint;
  if (url !== undefined) where = new ClientEndpoint(url, undefined, { ...security, ...nats });
  else {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageArgumentError('give a URL, or --port 1..65535');
    }
    where = new ClientEndpoint(values.host ?? '127.0.0.1', port, security);
  }
  return {
    client: new RpcClient(where.transport, where.endpoint, { timeoutMs }),
    timeoutMs,
    where: url ?? `${values.host ?? '127.0.0.1'}:${values.port}`,
  };
}

/** A bad argument: the CLI prints it with the command's usage and exits 2. */
export class UsageArgumentError extends Error {}

type Print = (line: string) => void;

/** `edgeml ping`: round trips to a server; exit 0 when every ping was answered. */
export async function ping(args: string[], out: Print, err: Print): Promise<number | 'help'> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { ...TARGET_OPTIONS, count: { type: 'string' } },
  });
  if (values.help) return 'help';
  const count = values.count === undefined ? 3 : Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new UsageArgumentError('--count must be a positive integer');
  const { client, where } = await target(values, positionals);
  let failed = 0;
  try {
    for (let i = 1; i <= count; i++) {
      const t = performance.now();
      try {
        await client.call(M_PING, undefined, null);
        out(`pong from ${where}: seq=${i} time=${(performance.now() - t).toFixed(2)} ms`);
      } catch (e) {
        failed++;
        err(`no answer from ${where}: seq=${i}: ${e instanceof TimeoutError ? e.message : String(e)}`);
      }
    }
  } finally {
    client.close();
  }
  out(`${count} pings, ${count - failed} answered`);
  return failed === 0 ? 0 : 1;
}

/**
 * `edgeml interfaces`: the interface names of an inference server; for a `nats://` service, every worker that
 * answers the NATS service API, with its endpoints and their counts.
 */
export async function interfaces(args: string[], out: Print, err: Print): Promise<number | 'help'> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { ...TARGET_OPTIONS, wait: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (values.help) return 'help';
  const url = urlOf(values, positionals);
  if (url?.startsWith('nats://')) return natsWorkers(url, values, out, err);
  if (values.json || values.wait !== undefined) throw new UsageArgumentError('--json and --wait are for nats:// URLs');
  const { client, where } = await target(values, positionals);
  try {
    const names = (await client.call('interfaces', undefined, null)) as unknown;
    if (!Array.isArray(names)) throw new Error('the server answered with something other than a list of names');
    for (const n of names) out(String(n));
    return 0;
  } catch (e) {
    err(`cannot list the interfaces of ${where}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    client.close();
  }
}

/** The workers of a NATS service and their counts (`$SRV.STATS`); exit 1 when none answers. */
async function natsWorkers(
  url: string,
  values: TargetValues & { wait?: string | undefined; json?: boolean | undefined },
  out: Print,
  err: Print,
): Promise<number> {
  const waitMs = values.wait === undefined ? 1000 : Number(values.wait);
  if (!(waitMs > 0)) throw new UsageArgumentError('--wait must be a positive number of ms');
  if (values['server-key'] !== undefined || values.key !== undefined) {
    throw new UsageArgumentError('--server-key and --key are for tcp:// servers');
  }
  const { discoverNatsService } = await import('../nats.js');
  let workers: Awaited<ReturnType<typeof discoverNatsService>>;
  try {
    workers = await discoverNatsService(url, {
      waitMs,
      ...(values.prefix === undefined ? {} : { nats: { prefix: values.prefix } }),
    });
  } catch (e) {
    err(`cannot list the workers of ${url}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  if (values.json) out(JSON.stringify(workers, null, 2));
  else {
    out(`${url}: ${workers.length} worker${workers.length === 1 ? '' : 's'}`);
    for (const w of workers) {
      out(`worker ${w.id} (${w.kind}, edgeml ${w.version}, serving since ${w.started})`);
      const width = Math.max(0, ...w.endpoints.map((e) => e.name.length));
      for (const e of w.endpoints) {
        out(
          `  ${e.name.padEnd(width)}  requests ${e.requests}  errors ${e.errors}  ` +
            `average ${e.averageMs.toFixed(2)} ms`,
        );
      }
    }
  }
  if (workers.length === 0) {
    err(`no worker of ${url} answered within ${waitMs} ms`);
    return 1;
  }
  return 0;
}
