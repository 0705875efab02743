// Writes (argv: write PATH) or reads (argv: read PATH) a trainer data file with the TypeScript TrainerServer.
import { edgeml, say } from './common.js';

const [mode, path] = process.argv.slice(2) as [string, string];
if (mode === 'write') {
  const s = new edgeml.TrainerServer(
    new edgeml.TrainerConfig({ dataTable: [new edgeml.DataTable({ name: 'a', size: 4 })] }),
  );
  s.insert('a', { t: new edgeml.Tensor('float32', new Float32Array([1, 2]), [2]), n: 1 });
  await s.saveData(path);
  say({ ok: true });
} else {
  const s = await edgeml.TrainerServer.makeFromFile(path);
  const item = s.getData('a')![0] as { n: number; t: edgeml.Tensor };
  say({ n: item.n, t: Array.from(item.t.data as Float32Array), version: s.weightsVersion });
}
