/**
 * The backends: the interface ({@linkcode Backend}, from `types.ts`), the
 * registry that picks one by URL scheme (from `registry.ts`), and the
 * built-in kinds `sim:`, `devmem:`, `pixeldump:`, `ssh://`, registered here.
 * Every built-in backend is imported statically, so `deno compile` embeds
 * them all; further ones can be registered at run time
 * ({@linkcode registerBackend}, {@linkcode loadBackendModule}).
 *
 * The dumper knows only {@linkcode Backend}; a backend knows nothing of the
 * dumper.
 *
 * @module
 */
import { registerBackend } from "./registry.ts";
import { simBackend } from "./sim.ts";
import { devmemBackend } from "./devmem.ts";
import { pixeldumpBackend } from "./pixeldump.ts";
import { sshBackend } from "./ssh/mod.ts";

export type {
  Backend,
  BackendFactory,
  BackendOpenOptions,
  BackendOption,
  BackendProbe,
  RegisterWidth,
} from "./types.ts";
export {
  findBackend,
  listBackends,
  loadBackendModule,
  openBackend,
  parseBackendUrl,
  registerBackend,
} from "./registry.ts";

registerBackend(simBackend);
registerBackend(devmemBackend);
registerBackend(pixeldumpBackend);
registerBackend(sshBackend);
