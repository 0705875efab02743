// A TrainerServer for the Python actors. Publishes weights version 1 before it prints its bound config;
// request 'publish' publishes the next version, request 'size' returns a table's size. Prints the bound config.
import { edgeml, say, tensor, untilStdinCloses } from './common.js';

const config = new edgeml.TrainerConfig({
  portNumber: 0,
  broadcastPort: 0,
  requestTypes: ['publish', 'size'],
  dataTable: [
    new edgeml.DataTable({ name: 'agent1', size: 10 }),
    new edgeml.DataTable({ name: 'agent2', size: 3, fifo: false }),
  ],
});
const server: edgeml.TrainerServer = new edgeml.TrainerServer(
  config,
  (table, payload) => ({ table, n: server.getData(table)!.length, got: payload }),
  (type, payload) => {
    if (type === 'publish') return server.publishWeights({ w: tensor('float32', [2, 2]), tag: payload });
    return server.getData(String(payload))!.length;
  },
);
await server.start();
server.publishWeights({ w: tensor('float32', [2, 2]), tag: 'first' });
say(server.boundConfig.toJSON());
await untilStdinCloses();
await server.stop();
