/**
 * `edgeml/nats`: the NATS transport. Importing this entry registers the `nats://` scheme, so that servers listen on
 * and clients connect to `nats://host:4222/<service>` URLs; several servers listening on one service share its calls.
 * It needs the optional peer dependency `@nats-io/transport-node` (loaded when a `nats://` endpoint is first used).
 * Options (credentials, TLS, the deployment's subject prefix) go in a server's or client's `nats` option; see
 * docs/security.md and docs/protocol.md, "NATS mapping". Every server on a `nats://` endpoint answers the NATS service
 * API (`$SRV.PING`, `INFO`, `STATS`); {@link discoverNatsService} (and `edgeml interfaces nats://…`) lists them.
 *
 * @example
 * ```ts
 * import 'edgeml/nats';
 * import { InferenceClient, InferenceServer } from 'edgeml';
 * const server = new InferenceServer({ listen: 'nats://127.0.0.1:4222/detector' });
 * const client = new InferenceClient('nats://127.0.0.1:4222/detector');
 * ```
 *
 * @packageDocumentation
 */

import { checkNatsOptions } from './transport/nats-options.js';
import { registerScheme } from './transport/registry.js';

export {
  type DiscoverOptions,
  discoverNatsService,
  type NatsEndpointStats,
  type NatsServiceWorker,
} from './transport/nats/discovery.js';
export { NatsTransport } from './transport/nats/nats-transport.js';
export { DEFAULT_NATS_PREFIX, type NatsOptions, type NatsTlsOptions } from './transport/nats-options.js';

registerScheme('nats', {
  sharedStream: true,
  prepare(context) {
    const options = checkNatsOptions(context.options.nats, 'nats');
    return async () => {
      const { NatsTransport } = await import('./transport/nats/nats-transport.js');
      return NatsTransport.load(options);
    };
  },
});
