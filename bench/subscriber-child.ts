/**
 * Child process of the broadcast and stream sets: `subs` edgeml {@link Subscriber}s and `subs` raw zeromq.js SUB
 * sockets, all on one topic, connected to the edgeml and raw publishers of the parent. Every message received is
 * reported to the parent with the time on the shared monotonic clock, its data bytes, and the publish time it
 * carries (edgeml: the payload's `t`; raw: an 8-byte frame after the topic).
 *
 * Arguments: one JSON object `{ edgemlPort, rawPort, subs, topic }`.
 *
 * @module
 */
import * as zmq from 'zeromq';
import { tcpEndpoint } from '../src/core/endpoint.js';
import { type Delivery, latestFetcher, Subscriber } from '../src/messaging/broadcast.js';
import { RpcClient } from '../src/messaging/rpc-client.js';
import { ZmqTransport } from '../src/transport/zmq/zmq-transport.js';
import { SOCKET_OPTIONS } from './baseline-zmq.js';
import { clockMs, onParentStop, toParent } from './children.js';
import { dataBytes } from './payloads.js';
import { HOST } from './target-edgeml.js';

/** What the child reports for each message: `got` is the target, `sub` the subscriber's index. */
export interface Got {
  got: 'edgeml' | 'raw-zmq';
  sub: number;
  /** Data bytes of the message (tensors and byte frames). */
  bytes: number;
  /** When the subscriber had it (monotonic clock, ms). */
  t: number;
  /** When it was published (monotonic clock, ms), if it says. */
  sent?: number;
}

const { edgemlPort, latestPort, rawPort, subs, topic } = JSON.parse(process.argv[2] ?? '{}') as {
  edgemlPort: number;
  latestPort: number;
  rawPort: number;
  subs: number;
  topic: string;
};

const transport = new ZmqTransport();
// Late joiners fetch the latest value over a request connection of their own, as the mode clients do.
function fetchLatestOf(): ReturnType<typeof latestFetcher> {
  const client = new RpcClient(transport, tcpEndpoint(HOST, latestPort), { timeoutMs: 10_000 });
  return latestFetcher((m, n, p) => client.call(m, n, p));
}
const edgeml: Subscriber[] = [];
const raw: zmq.Subscriber[] = [];

for (let i = 0; i < subs; i++) {
  edgeml.push(
    new Subscriber(
      transport,
      tcpEndpoint(HOST, edgemlPort),
      [topic],
      (d: Delivery) => {
        const t = clockMs();
        const payload = d.payload as { t?: unknown };
        const got: Got = { got: 'edgeml', sub: i, bytes: dataBytes(d.payload), t };
        if (typeof payload.t === 'number') got.sent = payload.t;
        void toParent(got);
      },
      { fetchLatest: fetchLatestOf() },
    ),
  );
  const sub = new zmq.Subscriber(SOCKET_OPTIONS);
  sub.connect(`tcp://${HOST}:${rawPort}`);
  sub.subscribe(topic);
  raw.push(sub);
  void (async () => {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await sub.receive();
      } catch {
        return;
      }
      const t = clockMs();
      let bytes = 0;
      for (let f = 2; f < msg.length; f++) bytes += msg[f]!.byteLength;
      const stamp = msg[1];
      const got: Got = { got: 'raw-zmq', sub: i, bytes, t };
      if (stamp?.byteLength === 8) got.sent = stamp.readDoubleLE(0);
      void toParent(got);
    }
  })();
}

onParentStop(() => {
  for (const s of edgeml) s.close();
  for (const s of raw) s.close();
});
