// An ActionServer for the Python clients. Publishes one observation before it prints its config (late joiners get
// it); act 'publish' publishes another. Prints {"port", "broadcastPort"}.
import { edgeml, say, tensor, untilStdinCloses } from './common.js';

const config = new edgeml.ActionConfig({
  portNumber: 0,
  broadcastPort: 0,
  actionKeys: ['move', 'publish'],
  observationKeys: ['cam', 'state'],
});
let frame = 0;
const obs = () => ({
  cam: tensor('uint8', [4, 5, 3]),
  state: new edgeml.Tensor('float32', new Float32Array([frame, 0.5]), [2]),
  frame,
});
const server = new edgeml.ActionServer(
  config,
  (keys) => Object.fromEntries(keys.map((k) => [k, (obs() as never)[k]])),
  (key, payload) => {
    if (key === 'publish') {
      frame++;
      server.publishObs(obs());
      return frame;
    }
    return { key, payload };
  },
);
await server.start();
server.publishObs(obs());
say({ port: server.port, broadcastPort: server.broadcastPort });
await untilStdinCloses();
await server.stop();
