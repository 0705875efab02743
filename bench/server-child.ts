/**
 * Child process of the request/reply sets (unless `--in-process`): starts the request/reply servers of servers.ts, sends their ports to the parent,
 * and closes them when the parent asks (or goes away).
 *
 * @module
 */
import { onParentStop, toParent } from './children.js';
import { startLocalServers } from './servers.js';

const servers = await startLocalServers();
onParentStop(() => servers.close());
void toParent({ ports: servers.ports });
