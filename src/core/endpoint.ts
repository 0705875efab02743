/**
 * Endpoint URLs: parsing, and the `tcp://` URLs the seed's `(host, port)` shapes stand for.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';
import type { Endpoint } from './types.js';

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** Default ports of schemes that have one, for URLs that leave the port out. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { ws: 80, wss: 443, nats: 4222 };

/**
 * Parses an endpoint URL (`tcp://0.0.0.0:5555`, `inproc://name`, `ws://host:8080/edgeml`).
 * @param field names the option in errors
 * @throws {@link InvalidArgumentError} for a string that is not such a URL, or a port outside 0..65535
 */
export function parseEndpoint(url: string, field = 'endpoint'): Endpoint {
  if (typeof url !== 'string' || !SCHEME.test(url)) {
    throw new InvalidArgumentError(field, `must be a URL such as tcp://127.0.0.1:5555, got ${JSON.stringify(url)}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(field, `is not a valid URL: ${JSON.stringify(url)}`);
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host.length === 0) throw new InvalidArgumentError(field, `names no host: ${JSON.stringify(url)}`);
  const port = parsed.port === '' ? (DEFAULT_PORTS[scheme] ?? 0) : Number(parsed.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(field, `has a port outside 0..65535: ${JSON.stringify(url)}`);
  }
  const path = parsed.pathname === '/' ? '' : parsed.pathname;
  return { url: parsed.href, scheme, host, port, path };
}

/** The `tcp://` endpoint of a host and port (IPv6 hosts in brackets). */
export function tcpEndpoint(host: string, port: number): Endpoint {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return parseEndpoint(`tcp://${h}:${port}`, 'host');
}

/** The same endpoint on another port (the broadcast port of a mode whose transport listens on one port per socket). */
export function withPort(endpoint: Endpoint, port: number): Endpoint {
  const h = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return parseEndpoint(`${endpoint.scheme}://${h}:${port}${endpoint.path}`);
}

/** The endpoint as `host:port` (or its URL when it has a path), for messages. */
export function describeEndpoint(endpoint: Endpoint): string {
  return endpoint.path === '' ? `${endpoint.host}:${endpoint.port}` : endpoint.url;
}
