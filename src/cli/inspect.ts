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
  help: { type: 'boolean', short: 'h' },
} as const;

/** Usage lines shared by both commands. */
export const TARGET_USAGE = [
  '  --host        server address (default 127.0.0.1)',
  '  --port        server request port (required)',
  `  --timeout     deadline of each request in ms (default ${DEFAULT_CONNECT_TIMEOUT_MS})`,
  "  --server-key  the server's public key file (.key) when it uses CURVE",
  '  --key         the key pair file (.key_secret) of this client, when the server restricts clients',
];

interface Target {
  client: RpcClient;
  timeoutMs: number;
  where: string;
}

function target(values: {
  host?: string | undefined;
  port?: string | undefined;
  timeout?: string | undefined;
  'server-key'?: string | undefined;
  key?: string | undefined;
}): Target {
  const host = values.host ?? '127.0.0.1';
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageArgumentError('--port must be 1..65535');
  const timeoutMs = values.timeout === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : Number(values.timeout);
  if (!(timeoutMs > 0)) throw new UsageArgumentError('--timeout must be a positive number of ms');
  const serverKey = values['server-key'];
  if (values.key !== undefined && serverKey === undefined) throw new UsageArgumentError('--key needs --server-key');
  const security =
    serverKey === undefined
      ? {}
      : { security: { serverPublicKey: serverKey, ...(values.key !== undefined ? { keyPair: values.key } : {}) } };
  const where = new ClientEndpoint(host, port, security);
  return {
    client: new RpcClient(where.transport, where.endpoint, { timeoutMs }),
    timeoutMs,
    where: `${host}:${port}`,
  };
}

/** A bad argument: the CLI prints it with the command's usage and exits 2. */
export class UsageArgumentError extends Error {}

type Print = (line: string) => void;

/** `edgeml ping`: round trips to a server; exit 0 when every ping was answered. */
export async function ping(args: string[], out: Print, err: Print): Promise<number | 'help'> {
  const { values } = parseArgs({ args, strict: true, options: { ...TARGET_OPTIONS, count: { type: 'string' } } });
  if (values.help) return 'help';
  const count = values.count === undefined ? 3 : Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new UsageArgumentError('--count must be a positive integer');
  const { client, where } = target(values);
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

/** `edgeml interfaces`: the interface names of an inference server. */
export async function interfaces(args: string[], out: Print, err: Print): Promise<number | 'help'> {
  const { values } = parseArgs({ args, strict: true, options: TARGET_OPTIONS });
  if (values.help) return 'help';
  const { client, where } = target(values);
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
