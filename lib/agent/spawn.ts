/**
 * Starting the agent as a subprocess (locally, or over ssh) and connecting an
 * {@linkcode AgentClient} to it.
 *
 * @module
 */
import { BackendError, errorMessage } from "../errors.ts";
import { AgentClient, type AgentClientOptions } from "./client.ts";
import { growChildPipe } from "../../backends/libc_util.ts";

/**
 * Starts an agent command (`ringdump agent ...`, or `ssh host ringdump agent
 * ...`) and connects an {@linkcode AgentClient} to its stdin/stdout; its
 * stderr is kept for error messages. `close()` ends the process.
 *
 * @example
 * ```ts ignore
 * import { spawnAgent } from "./spawn.ts";
 * import { ringGeometry } from "../ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const client = await spawnAgent(["ringdump", "agent", "--mem", "/dev/shm/ring.img"], { geometry });
 * console.log(await client.readRegister(geometry.counterAddress, 32));
 * await client.close();
 * ```
 */
export async function spawnAgent(
  command: string[],
  options: AgentClientOptions & { env?: Record<string, string> },
): Promise<AgentClient> {
  const name = options.name ?? "agent";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
    }).spawn();
  } catch (e) {
    throw new BackendError(`${name}: cannot start ${command[0]}: ${errorMessage(e)}`, {
      backend: name,
      command,
      cause: e,
    });
  }
  // ssh writes the replies into this pipe: 1 MiB, not 64 KiB (backends/libc_util.ts).
  growChildPipe(child.pid, 1);
  let stderr = "";
  const decoder = new TextDecoder();
  const drained = (async () => {
    try {
      for await (const chunk of child.stderr) {
        stderr += decoder.decode(chunk, { stream: true });
        if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
      }
    } catch {
      // the process is gone
    }
  })();
  const onClose = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), 3000)),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // exited meanwhile
      }
      await child.status;
    }
    await drained;
    await options.onClose?.();
  };
  return await AgentClient.connect(
    { readable: child.stdout, writable: child.stdin },
    { ...options, stderr: () => stderr, onClose },
  );
}
