import { ringGeometry } from "../lib/ring.ts";
import { emulatorEnv } from "./backends.ts";
import { EMULATORS, ROOT, runWithCpu, startSim } from "./util.ts";
import { COMPILE_PERMISSIONS } from "../tools/compile.ts";
const extra = Deno.args;
const g = ringGeometry({ base: 0n, pageSize: 4096, pages: 32 * 256 });
const image = "/dev/shm/prof_pd.img";
const sim = await startSim({ image, geometry: g, rate: 8 << 20, duration: 70_000 });
const hexa = (v: bigint | number) => `0x${v.toString(16)}`;
const argv = [
  Deno.execPath(),
  "run",
  ...COMPILE_PERMISSIONS,
  ...extra,
  `${ROOT}cli.ts`,
  "capture",
  "--backend",
  `pixeldump:?bin=${EMULATORS.pixeldump}&reg=${EMULATORS.devmem}`,
  "--base",
  "0x0",
  "--page-size",
  "4096",
  "--pages",
  String(g.pages),
  "--counter",
  hexa(g.counterAddress),
  "--counter-wrap",
  hexa(g.counterWrap),
  "--period",
  "1000ms",
  "--duration",
  "10000ms",
  "--format",
  "raw",
  "--no-progress",
  "--out",
  "/tmp/prof/out.bin",
];
const r = await runWithCpu(argv, { env: emulatorEnv(image) });
console.log(r.code, r.cpu, r.stderr.slice(-600));
await sim.stop();
await Deno.remove(image);
